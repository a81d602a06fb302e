"""Observability: metrics stack, GPU telemetry wiring, dashboards, alerts, logs, alarms, budget."""

from __future__ import annotations

import json
import re

import pytest

from mlops_platform.components.data.platform_secrets import PlatformSecrets, PlatformSecretsSpec, SecretSpec
from mlops_platform.components.data.postgres import max_connections
from mlops_platform.components.observability import telemetry
from mlops_platform.components.observability.alarms import CloudWatchAlarms, WatchedDatabase
from mlops_platform.components.observability.alerting import ServiceLevelObjective, Severity, slo_rule_groups
from mlops_platform.components.observability.budgets import BudgetSpec
from mlops_platform.components.observability.gpu import DCGM_POD_LABELS
from mlops_platform.components.observability.spec import AlertReceiver, ObservabilitySpec, ReceiverKind
from mlops_platform.components.observability.stack import Observability
from mlops_platform.components.support import pins
from mlops_platform.components.support.exporters import EXPORTERS, metric_names
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import CLUSTER, ROOT, context, only, run, stack

RUNBOOKS = "https://github.com/acme/mlops-platform/blob/main/docs/runbooks"
SECRETS = [
    SecretSpec(name="slack-webhook", description="Slack webhook"),
    SecretSpec(name="pagerduty-key", description="PagerDuty routing key"),
]


def observability(**overrides):
    def program():
        import pulumi

        ctx = context()
        secrets = PlatformSecrets("secrets", PlatformSecretsSpec(entries=SECRETS), ctx, CLUSTER)
        spec = ObservabilitySpec(**{"runbook_base_url": RUNBOOKS, **overrides})
        o = Observability("obs", spec, ctx, CLUSTER, secrets)
        CloudWatchAlarms(
            "obs-alarms",
            ctx,
            topic_arn=o.alert_topic_arn,
            runbook_base_url=spec.runbook_base_url,
            databases=[WatchedDatabase("mlflow-db-1", allocated_storage_gib=50, max_connections=450)],
            nat_gateway_ids=["nat-1", "nat-2"],
            nat_gateway_count=2,
        )
        pulumi.export("grafana", o.grafana_url)

    return run(program).graph


def release(graph, chart):
    return next(r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == chart)


def test_prometheus_keeps_metrics_on_encrypted_storage_for_the_retention():
    values = release(
        observability(prometheus_retention_days=30, prometheus_storage_gib=200), "kube-prometheus-stack"
    ).inputs["values"]
    spec = values["prometheus"]["prometheusSpec"]
    assert spec["retention"] == "30d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["storageClassName"] == "encrypted-gp3"
    assert claim["resources"]["requests"]["storage"] == "200Gi"
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["ruleSelectorNilUsesHelmValues"] is False


def test_grafana_admin_comes_from_secrets_manager_never_from_values():
    graph = observability()
    values = release(graph, "kube-prometheus-stack").inputs["values"]
    assert values["grafana"]["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert "adminPassword" not in json.dumps(values["grafana"])
    sync = next(
        r
        for r in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
        if r.inputs["metadata"]["name"] == "grafana-admin"
    )
    assert {d["remoteRef"]["key"] for d in sync.inputs["spec"]["data"]} == {
        "mlops-platform/dev/grafana/admin"
    }
    assert "mlops-platform/dev/grafana/admin" in {
        s.inputs["name"] for s in graph.of_type("aws:secretsmanager/secret:Secret")
    }


def test_alertmanager_routes_by_severity_and_reads_keys_from_mounted_secrets():
    receivers = [
        AlertReceiver(
            name="oncall", kind=ReceiverKind.PAGERDUTY, secret="pagerduty-key", severities=[Severity.CRITICAL]
        ),
        AlertReceiver(name="team", kind=ReceiverKind.SLACK, secret="slack-webhook", channel="#ml-alerts"),
    ]
    graph = observability(receivers=receivers)
    alertmanager = release(graph, "kube-prometheus-stack").inputs["values"]["alertmanager"]
    config = alertmanager["config"]
    by_name = {r["name"]: r for r in config["receivers"]}
    assert (
        by_name["oncall"]["pagerduty_configs"][0]["routing_key_file"]
        == "/etc/alertmanager/secrets/alertmanager-receivers/oncall"
    )
    assert (
        by_name["team"]["slack_configs"][0]["api_url_file"]
        == "/etc/alertmanager/secrets/alertmanager-receivers/team"
    )
    assert by_name["team"]["slack_configs"][0]["channel"] == "#ml-alerts"
    routes = {r["receiver"]: r for r in config["route"]["routes"]}
    assert routes["oncall"]["matchers"] == ['severity =~ "critical"']
    assert alertmanager["alertmanagerSpec"]["secrets"] == ["alertmanager-receivers"]
    sync = next(
        r
        for r in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
        if r.inputs["metadata"]["name"] == "alertmanager-receivers"
    )
    assert {d["secretKey"]: d["remoteRef"]["key"] for d in sync.inputs["spec"]["data"]} == {
        "oncall": "mlops-platform/dev/pagerduty-key",
        "team": "mlops-platform/dev/slack-webhook",
    }


def test_dcgm_service_monitor_selector_matches_the_exporter_labels():
    graph = observability()
    dcgm = release(graph, "dcgm-exporter")
    pod_labels = dcgm.inputs["values"]["podLabels"]
    assert pod_labels == DCGM_POD_LABELS
    assert dcgm.inputs["values"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in dcgm.inputs["values"][
        "tolerations"
    ]
    service = graph.find("kubernetes:core/v1:Service", "obs-dcgm-service").inputs
    monitor = graph.find(
        "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "obs-dcgm-service-monitor"
    ).inputs
    # The Service picks exactly the exporter's pods ...
    assert service["spec"]["selector"].items() <= pod_labels.items()
    # ... and the ServiceMonitor picks exactly that Service, on the port it names.
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in service["spec"]["ports"]}


def alert_rules(graph):
    for rule_set in graph.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule"):
        for group in rule_set.inputs["spec"]["groups"]:
            for rule in group["rules"]:
                yield rule_set, group, rule


def test_prometheus_rules_have_the_crd_shape_and_complete_alerts():
    graph = observability()
    rules = list(alert_rules(graph))
    names = {rule["alert"] for _, _, rule in rules if "alert" in rule}
    assert {
        "GpuIdle",
        "GpuXidError",
        "GpuHealthDegraded",
        "NodeNotReady",
        "PodCrashLooping",
        "PrometheusStorageFillingUp",
    } <= names
    for rule_set, group, rule in rules:
        assert (
            rule_set.inputs["apiVersion"] == "monitoring.coreos.com/v1"
            and rule_set.inputs["kind"] == "PrometheusRule"
        )
        assert group["name"] and isinstance(group["rules"], list)
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        runbook = rule["annotations"]["runbook_url"]
        assert runbook.startswith(RUNBOOKS)
        assert (ROOT / "docs" / "runbooks" / runbook.rsplit("/", 1)[1]).is_file(), runbook


def test_gpu_idle_alert_uses_the_configured_hours():
    graph = observability(gpu_idle_hours=6)
    idle = next(rule for _, _, rule in alert_rules(graph) if rule.get("alert") == "GpuIdle")
    assert idle["for"] == "6h"


def test_every_alert_and_dashboard_query_reads_known_metrics():
    graph = stack("dev").graph  # with its models, whose SLO recording rules the dashboards read
    expressions = [rule["expr"] for _, _, rule in alert_rules(graph)]
    dashboards = [
        c
        for c in graph.of_type("kubernetes:core/v1:ConfigMap")
        if c.inputs["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
    ]
    for dashboard in dashboards:
        for text in dashboard.inputs["data"].values():
            board = json.loads(text)
            assert board["uid"] and board["panels"]
            for panel in board["panels"]:
                for target in panel["targets"]:
                    if target["datasource"]["type"] == "cloudwatch":
                        assert target["metricName"] in telemetry.CLOUDWATCH_METRICS[target["namespace"]]
                    else:
                        expressions.append(target["expr"])
            for variable in board["templating"]["list"]:
                if (
                    variable["type"] == "query"
                    and isinstance(variable["query"], dict)
                    and "query" in variable["query"]
                ):
                    expressions.append(
                        re.sub(r"^label_values\((.*),\s*\w+\)$", r"\1", variable["query"]["query"])
                    )
    known = {m for exporter in EXPORTERS.values() for m in exporter.metrics}
    known |= {rule["record"] for _, _, rule in alert_rules(graph) if "record" in rule}
    unknown = {name for e in expressions for name in metric_names(e) if name not in known}
    assert unknown == set()
    assert len(expressions) > 30


def test_metric_name_parser():
    assert metric_names(
        'sum by (le) (rate(http_request_duration_seconds_bucket{code=~"5..", le="0.25"}[5m]))'
    ) == {"http_request_duration_seconds_bucket"}
    assert metric_names("1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes") == {
        "node_memory_MemAvailable_bytes",
        "node_memory_MemTotal_bytes",
    }
    assert metric_names('count(kube_node_labels{a="b"}) or vector(0) > slo:x:ratio_rate5m') == {
        "kube_node_labels",
        "slo:x:ratio_rate5m",
    }


def test_container_logs_go_to_an_encrypted_group_through_a_scoped_role():
    graph = observability(log_retention_days=90)
    group = graph.find("aws:cloudwatch/logGroup:LogGroup", "obs-container-logs")
    assert group.inputs["name"] == "/aws/eks/mlops-platform-test/containers"
    assert group.inputs["retentionInDays"] == 90 and group.inputs["kmsKeyId"]
    policy = json.loads(graph.find("aws:iam/rolePolicy:RolePolicy", "obs-fluent-bit-policy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Resource"][0].startswith(
        "arn:aws:logs:us-east-1:123456789012:log-group:/aws/eks/mlops-platform-test/containers"
    )
    values = release(graph, "aws-for-fluent-bit").inputs["values"]
    assert values["cloudWatchLogs"]["logGroupName"] == "/aws/eks/mlops-platform-test/containers"
    assert values["cloudWatchLogs"]["autoCreateGroup"] is False


def test_alert_topic_is_encrypted_and_alarms_and_budget_notify_it():
    graph = observability(budget=BudgetSpec(monthly_limit_usd=5000, subscriber_emails=["ml@example.com"]))
    topic = only(graph, "aws:sns/topic:Topic")
    assert topic.inputs["kmsMasterKeyId"].startswith("arn:aws:kms:")
    key_policy = json.loads(graph.find("aws:kms/key:Key", "obs-alerts-key").inputs["policy"])
    services = {s["Principal"].get("Service") for s in key_policy["Statement"]}
    assert {"cloudwatch.amazonaws.com", "budgets.amazonaws.com"} <= services
    alarms = {a.name: a for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert set(alarms) == {
        "obs-alarms-rds-cpu",
        "obs-alarms-rds-free-storage",
        "obs-alarms-rds-connections",
        "obs-alarms-nat-0-port-allocation",
        "obs-alarms-nat-0-dropped-packets",
        "obs-alarms-nat-1-port-allocation",
        "obs-alarms-nat-1-dropped-packets",
    }
    topic_arn = alarms["obs-alarms-rds-cpu"].inputs["alarmActions"][0]
    assert topic_arn.startswith("arn:aws:sns:us-east-1:123456789012:")
    assert alarms["obs-alarms-rds-free-storage"].inputs["threshold"] == int(50 * 1024**3 * 0.1)
    assert alarms["obs-alarms-rds-connections"].inputs["threshold"] == 360  # 80% of 450
    assert alarms["obs-alarms-nat-1-port-allocation"].inputs["dimensions"] == {"NatGatewayId": "nat-2"}
    budget = only(graph, "aws:budgets/budget:Budget").inputs
    assert budget["limitAmount"] == "5000.00" and budget["timeUnit"] == "MONTHLY"
    # This stack's spend only: its project and its environment, so two platforms in one account differ.
    assert budget["filterExpression"] == {
        "ands": [
            {"tags": {"key": "project", "values": ["mlops-platform"], "matchOptions": ["EQUALS"]}},
            {"tags": {"key": "environment", "values": ["dev"], "matchOptions": ["EQUALS"]}},
        ]
    }
    thresholds = sorted((n["notificationType"], n["threshold"]) for n in budget["notifications"])
    assert thresholds == [("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)]
    assert all(n["subscriberSnsTopicArns"] == [topic_arn] for n in budget["notifications"])


def test_grafana_is_served_through_the_shared_internal_alb():
    graph = observability()
    ingress = graph.find("kubernetes:networking.k8s.io/v1:Ingress", "obs-grafana-ingress").inputs
    assert ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert ingress["spec"]["rules"][0]["http"]["paths"][0]["path"] == "/grafana"
    assert graph.outputs["grafana"].endswith(".elb.amazonaws.com/grafana")


def test_tracing_is_off_by_default_and_exports_to_xray_when_on():
    assert not any(
        r.inputs["name"] == "opentelemetry-collector"
        for r in observability().of_type("kubernetes:helm.sh/v3:Release")
    )
    graph = observability(tracing=True)
    collector = release(graph, "opentelemetry-collector")
    assert collector.inputs["version"] == pins.CHARTS["opentelemetry-collector"].version
    assert "awsxray" in collector.inputs["values"]["config"]["exporters"]


def test_slo_builder_pairs_long_and_short_windows():
    groups = slo_rule_groups(
        ServiceLevelObjective(
            service="fraud", selector={"namespace": "fraud"}, availability_target=99.9, latency_p95_ms=250
        ),
        RUNBOOKS,
    )
    recording, alerting = groups
    records = {r["record"] for r in recording["rules"]}
    assert "slo:availability_errors:ratio_rate5m" in records and "slo:latency_slow:ratio_rate3d" in records
    latency_5m = next(r for r in recording["rules"] if r["record"] == "slo:latency_slow:ratio_rate5m")
    assert 'le="0.25"' in latency_5m["expr"]
    availability = [r for r in alerting["rules"] if r["alert"] == "SLOAvailabilityBudgetBurn"]
    assert [(r["labels"]["burn_window"], r["labels"]["severity"]) for r in availability] == [
        ("1h", "critical"),
        ("6h", "critical"),
        ("1d", "warning"),
        ("3d", "warning"),
    ]
    fastest = availability[0]["expr"]
    assert fastest == (
        'slo:availability_errors:ratio_rate1h{slo_service="fraud"} > 0.0144 and '
        'slo:availability_errors:ratio_rate5m{slo_service="fraud"} > 0.0144'
    )
    assert all(
        r["annotations"]["runbook_url"].endswith(("slo-availability-burn.md", "slo-latency-burn.md"))
        for r in alerting["rules"]
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"runbook_base_url": "http://wiki"}, "runbook_base_url: must be an https:// URL"),
        ({"log_retention_days": 11}, "log_retention_days: must be a CloudWatch Logs retention period"),
        ({"prometheus_retention_days": 0}, "prometheus_retention_days: must be between 1 and 365 (got 0)"),
        ({"prometheus_storage_gib": 1}, "prometheus_storage_gib: must be between 10 and 16384 (got 1)"),
        ({"gpu_idle_hours": 0}, "gpu_idle_hours: must be between 1 and 72 (got 0)"),
        (
            {"receivers": [AlertReceiver(name="x", kind=ReceiverKind.SLACK, secret="nope")]},
            "receivers[0].secret: must name an entry of secrets.entries (got 'nope'; known: pagerduty-key, slack-webhook)",
        ),
        (
            {
                "receivers": [
                    AlertReceiver(name="x", kind=ReceiverKind.PAGERDUTY, secret="pagerduty-key", channel="#c")
                ]
            },
            "receivers[0].channel: only applies to slack receivers",
        ),
        (
            {"alert_emails": ["not-an-email"]},
            "alert_emails[0]: must be an email address (got 'not-an-email')",
        ),
        (
            {"budget": BudgetSpec(monthly_limit_usd=0)},
            "budget.monthly_limit_usd: must be > 0 and at most 1e9 (got 0)",
        ),
        (
            {"budget": BudgetSpec(monthly_limit_usd=1, thresholds_percent=[0])},
            "budget.thresholds_percent[0]: must be between 1 and 1000 (got 0)",
        ),
        ({"certificate_arn": "x"}, "certificate_arn: must be an ACM certificate ARN"),
    ],
)
def test_rejects_bad_spec(overrides, message):
    with pytest.raises(Exception) as caught:
        observability(**overrides)
    assert message in str(caught.value)
    assert isinstance(caught.value.__cause__, InvalidArgs)


def test_connection_alarms_follow_each_database_class():
    # RDS PostgreSQL allows LEAST(memory / 9531392, 5000) connections: 1 GiB -> 112, 4 GiB -> 450.
    assert [
        max_connections(c) for c in ("db.t4g.micro", "db.t4g.small", "db.t4g.medium", "db.r7g.2xlarge")
    ] == [
        112,
        225,
        450,
        5000,
    ]
    assert max_connections("db.x9.huge") == 100
    # dev's MLflow database is a db.t4g.micro: its alarm fires above 89 connections, not 160.
    alarms = stack("dev").graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    (alarm,) = [a for a in alarms if a.name.endswith("connections")]
    assert alarm.inputs["threshold"] == 89
