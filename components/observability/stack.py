"""``Observability``: metrics, GPU telemetry, dashboards, alerts, logs and cost guardrails.

- kube-prometheus-stack: Prometheus with retention and encrypted gp3 storage, Alertmanager routing
  to Slack or PagerDuty whose webhook and key are mounted from Secrets Manager (files, never Helm
  values), Grafana whose admin login comes from Secrets Manager through External Secrets.
- The NVIDIA DCGM exporter on GPU nodes only, scraped through a Service and ServiceMonitor this
  component renders itself, so the selector provably matches the exporter's pod labels.
- Dashboards as ConfigMaps; alert rules as PrometheusRules, each with severity, summary,
  description and a runbook under docs/runbooks; ``slo_rule_groups`` for services.
- Fluent Bit shipping container logs to a KMS-encrypted CloudWatch log group.
- An encrypted SNS topic, CloudWatch alarms (``watch_database``, ``watch_nat_gateways``) and a
  monthly AWS Budget.

Example::

    observability = Observability("observability", ObservabilityArgs(
        environment=Environment.PROD, tags=tags, cluster_name=cluster.cluster_name, secrets=secrets,
        runbook_base_url="https://github.com/acme/mlops-platform/blob/main/docs/runbooks",
        receivers=[AlertReceiver(name="oncall", kind=ReceiverKind.PAGERDUTY, secret="pagerduty-key")],
        budget=BudgetArgs(monthly_limit_usd=20000, subscriber_emails=["ml-platform@example.com"])),
        opts=pulumi.ResourceOptions(providers=[aws_provider, cluster.provider]))
    observability.watch_database(mlflow.database_identifier, allocated_storage_gib=50)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from mlops_platform.components.data.platform_secrets import (
    PlatformSecrets,
    SecretRef,
    external_secret,
    generated_value,
)
from mlops_platform.components.foundation import kms
from mlops_platform.components.foundation.load_balancer_controller import INGRESS_CLASS, INTERNAL_GROUP
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from mlops_platform.components.observability.alerting import Alert, Severity, prometheus_rule
from mlops_platform.components.support import helm, iam, kube
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.tagging import tag_problems
from mlops_platform.components.support.validation import Problem, raise_if_any, retention_problems

NAMESPACE = "monitoring"
LOGGING_NAMESPACE = "logging"
TRACING_NAMESPACE = "tracing"
STACK_RELEASE = "kube-prometheus-stack"
GRAFANA_SERVICE_ACCOUNT = "grafana"
FLUENT_BIT_SERVICE_ACCOUNT = "fluent-bit"
RECEIVER_SECRET = "alertmanager-receivers"
DCGM_PORT = 9400
DCGM_POD_LABELS = {
    "app.kubernetes.io/name": "dcgm-exporter",
    "app.kubernetes.io/component": "gpu-telemetry",
    "app.kubernetes.io/part-of": kube.PART_OF,
}
"""Labels the DCGM exporter's pods get (Helm ``podLabels``); the Service selects on exactly these."""
DASHBOARDS = ("gpu", "model-serving", "platform")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class ReceiverKind(StrEnum):
    SLACK = "slack"
    PAGERDUTY = "pagerduty"


@dataclass(frozen=True, kw_only=True)
class AlertReceiver:
    """Where Alertmanager sends alerts of the given severities."""

    name: str
    """Receiver name in Alertmanager."""
    kind: ReceiverKind
    """SLACK (webhook URL) or PAGERDUTY (Events API v2 routing key)."""
    secret: str
    """Platform secret (``PlatformSecrets`` name) holding the webhook URL or routing key."""
    channel: str | None = None
    """Slack channel, e.g. ``#ml-alerts``. Default: the webhook's own channel."""
    severities: Sequence[Severity] = (Severity.CRITICAL, Severity.WARNING)
    """Severities routed here. Default: critical and warning."""


@dataclass(frozen=True, kw_only=True)
class BudgetArgs:
    """A monthly cost budget for the stack."""

    monthly_limit_usd: float
    """Monthly limit in USD."""
    thresholds_percent: Sequence[int] = (50, 80, 100)
    """Actual-spend thresholds that notify, in percent of the limit. Default: 50, 80, 100."""
    forecast_threshold_percent: int | None = 100
    """Notify when the forecast crosses this percentage. Default: 100."""
    subscriber_emails: Sequence[str] = ()
    """Who is emailed (the alert topic is always notified). Default: nobody."""

    def problems(self) -> list[Problem]:
        found = []
        if self.monthly_limit_usd <= 0:
            found.append(Problem("monthly_limit_usd", f"must be > 0 (got {self.monthly_limit_usd})"))
        for i, threshold in enumerate(self.thresholds_percent):
            if not 1 <= threshold <= 1000:
                found.append(
                    Problem(f"thresholds_percent[{i}]", f"must be between 1 and 1000 (got {threshold})")
                )
        for i, email in enumerate(self.subscriber_emails):
            if not _EMAIL.match(email):
                found.append(Problem(f"subscriber_emails[{i}]", f"must be an email address (got {email!r})"))
        if len(self.subscriber_emails) > 10:
            found.append(
                Problem(
                    "subscriber_emails", f"AWS Budgets allows at most 10 (got {len(self.subscriber_emails)})"
                )
            )
        return found


@dataclass(frozen=True, kw_only=True)
class ObservabilityArgs:
    environment: Environment
    """Environment of the stack."""
    tags: Mapping[str, str]
    """Tags for every AWS resource; must carry the platform's required tags."""
    cluster_name: pulumi.Input[str]
    """Cluster to observe; names the container log group."""
    secrets: PlatformSecrets
    """Creates the Grafana admin secret; receivers' secrets must be among its secrets."""
    runbook_base_url: str
    """URL of the docs/runbooks folder that alerts link to, e.g. ``https://github.com/<org>/<repo>/blob/main/docs/runbooks``."""
    log_kms_key_arn: pulumi.Input[str] | None = None
    """Key for the log groups. Default: a dedicated key."""
    log_retention_days: int = 30
    """Retention of the container log group. Default: 30."""
    prometheus_retention_days: int = 15
    """Days of metrics Prometheus keeps. Default: 15."""
    prometheus_storage_gib: int = 50
    """Prometheus volume size (encrypted gp3). Default: 50."""
    storage_class: str = "encrypted-gp3"
    """StorageClass of the Prometheus, Alertmanager and Grafana volumes. Default: the cluster's encrypted gp3."""
    high_availability: bool = False
    """Two Prometheus and Alertmanager replicas. Default: off."""
    grafana_hostname: str | None = None
    """DNS name of Grafana. Default: served under ``/grafana`` on the shared internal ALB."""
    certificate_arn: str | None = None
    """ACM certificate for HTTPS. Default: HTTP inside the VPC."""
    receivers: Sequence[AlertReceiver] = ()
    """Alertmanager receivers. Default: none (alerts are visible in Alertmanager only)."""
    alert_emails: Sequence[str] = ()
    """Email subscribers of the SNS alert topic (CloudWatch alarms, budgets). Default: none."""
    gpu_idle_hours: int = 2
    """Hours a GPU may sit idle (below 5% utilisation) before the cost alert. Default: 2."""
    budget: BudgetArgs | None = None
    """Monthly AWS Budget. Default: none."""
    tracing: bool = False
    """Run an OpenTelemetry collector exporting traces to AWS X-Ray. Default: off."""
    load_balancer_controller: Sequence[pulumi.Resource] = ()
    """Resources the Grafana Ingress waits for (the controller's release)."""

    def problems(self) -> list[Problem]:
        found = tag_problems(self.tags)
        found += retention_problems("log_retention_days", self.log_retention_days)
        if not self.runbook_base_url.startswith("https://"):
            found.append(
                Problem("runbook_base_url", f"must be an https:// URL (got {self.runbook_base_url!r})")
            )
        if not 1 <= self.prometheus_retention_days <= 365:
            found.append(
                Problem(
                    "prometheus_retention_days",
                    f"must be between 1 and 365 (got {self.prometheus_retention_days})",
                )
            )
        if self.prometheus_storage_gib < 10:
            found.append(
                Problem("prometheus_storage_gib", f"must be >= 10 (got {self.prometheus_storage_gib})")
            )
        if not 1 <= self.gpu_idle_hours <= 72:
            found.append(Problem("gpu_idle_hours", f"must be between 1 and 72 (got {self.gpu_idle_hours})"))
        names = [r.name for r in self.receivers]
        known = set(self.secrets.paths)
        for i, receiver in enumerate(self.receivers):
            if not re.match(r"^[a-z0-9][a-z0-9-]*$", receiver.name) or names.index(receiver.name) != i:
                found.append(
                    Problem(
                        f"receivers[{i}].name", f"must be a unique lowercase name (got {receiver.name!r})"
                    )
                )
            if receiver.secret not in known:
                found.append(
                    Problem(
                        f"receivers[{i}].secret",
                        f"must name a platform secret (got {receiver.secret!r}; known: {', '.join(sorted(known)) or 'none'})",
                    )
                )
            if receiver.channel is not None and receiver.kind is not ReceiverKind.SLACK:
                found.append(Problem(f"receivers[{i}].channel", "only applies to slack receivers"))
        for i, email in enumerate(self.alert_emails):
            if not _EMAIL.match(email):
                found.append(Problem(f"alert_emails[{i}]", f"must be an email address (got {email!r})"))
        if self.budget is not None:
            found += [p.nested("budget") for p in self.budget.problems()]
        if self.certificate_arn is not None and not self.certificate_arn.startswith("arn:aws:acm:"):
            found.append(
                Problem("certificate_arn", f"must be an ACM certificate ARN (got {self.certificate_arn!r})")
            )
        return found


def platform_alerts(gpu_idle_hours: int) -> list[tuple[str, list[Alert]]]:
    """The platform's own alert rules, grouped as they are deployed."""
    return [
        (
            "gpu",
            [
                Alert(
                    "GpuIdle",
                    "max by (Hostname, gpu) (DCGM_FI_DEV_GPU_UTIL) < 5",
                    f"{gpu_idle_hours}h",
                    Severity.WARNING,
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} has been idle for "
                    + f"{gpu_idle_hours}h",
                    "A GPU node is paid for but below 5% utilisation. Scale the workload down or let the pool scale to zero.",
                    "gpu-idle",
                ),
                Alert(
                    "GpuXidError",
                    "max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS) > 0",
                    "1m",
                    Severity.WARNING,
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}",
                    "The NVIDIA driver reported an XID error: an application fault, a driver problem or failing hardware.",
                    "gpu-xid-errors",
                ),
                Alert(
                    "GpuHealthDegraded",
                    "max by (Hostname, gpu) (DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS) > 0"
                    " or max by (Hostname, gpu) (DCGM_FI_DEV_ROW_REMAP_FAILURE) > 0",
                    "5m",
                    Severity.CRITICAL,
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} has uncorrectable memory errors",
                    "DCGM reports uncorrectable remapped rows or a row-remap failure: the GPU's memory is failing. Drain the node.",
                    "gpu-health",
                ),
                Alert(
                    "GpuTemperatureHigh",
                    "max by (Hostname, gpu) (DCGM_FI_DEV_GPU_TEMP) > 85",
                    "10m",
                    Severity.WARNING,
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} is at {{ $value }} C",
                    "A GPU has run above 85 C for 10 minutes and will throttle.",
                    "gpu-temperature",
                ),
                Alert(
                    "GpuTelemetryMissing",
                    '(count(kube_node_labels{label_nvidia_com_gpu_present="true"}) or vector(0))'
                    " > (count(count by (Hostname) (DCGM_FI_DEV_GPU_UTIL)) or vector(0))",
                    "15m",
                    Severity.WARNING,
                    "GPU nodes are running without DCGM telemetry",
                    "Some GPU nodes export no DCGM metrics: the exporter is not scheduled there or is not scraped.",
                    "gpu-telemetry-missing",
                ),
            ],
        ),
        (
            "kubernetes",
            [
                Alert(
                    "NodeNotReady",
                    'kube_node_status_condition{condition="Ready", status="true"} == 0',
                    "5m",
                    Severity.CRITICAL,
                    "Node {{ $labels.node }} is not ready",
                    "The kubelet on a node has not reported ready for 5 minutes; its pods are being evicted.",
                    "node-not-ready",
                ),
                Alert(
                    "PodCrashLooping",
                    'max_over_time(kube_pod_container_status_waiting_reason{reason="CrashLoopBackOff"}[5m]) >= 1',
                    "15m",
                    Severity.WARNING,
                    "Pod {{ $labels.namespace }}/{{ $labels.pod }} is crash-looping",
                    "A container keeps exiting and Kubernetes is backing off its restarts.",
                    "pod-crash-looping",
                ),
            ],
        ),
        (
            "prometheus",
            [
                Alert(
                    "PrometheusStorageFillingUp",
                    'kubelet_volume_stats_available_bytes{persistentvolumeclaim=~"prometheus-.*"}'
                    ' / kubelet_volume_stats_capacity_bytes{persistentvolumeclaim=~"prometheus-.*"} < 0.15',
                    "15m",
                    Severity.WARNING,
                    "Prometheus volume {{ $labels.persistentvolumeclaim }} is over 85% full",
                    "Prometheus will stop ingesting when its volume fills. Grow the volume or shorten retention.",
                    "prometheus-storage",
                ),
                Alert(
                    "PrometheusStorageFullIn24h",
                    'predict_linear(kubelet_volume_stats_available_bytes{persistentvolumeclaim=~"prometheus-.*"}[6h], 86400) < 0',
                    "30m",
                    Severity.CRITICAL,
                    "Prometheus volume {{ $labels.persistentvolumeclaim }} will be full within a day",
                    "At the current growth the Prometheus volume fills within 24 hours.",
                    "prometheus-storage",
                ),
            ],
        ),
    ]


def dashboard(name: str) -> str:
    """A dashboard's JSON, shipped as package data next to this module."""
    return (Path(__file__).parent / "dashboards" / f"{name}.json").read_text()


class Observability(pulumi.ComponentResource):
    """kube-prometheus-stack, DCGM exporter, dashboards, alert rules, Fluent Bit, SNS, alarms, budget."""

    grafana_url: pulumi.Output[str]
    """URL of Grafana."""
    alert_topic_arn: pulumi.Output[str]
    """SNS topic CloudWatch alarms and budgets notify."""
    log_group_names: list[pulumi.Output[str]]
    """Log groups this component created (container logs)."""
    prometheus_operator: pulumi.Resource
    """The kube-prometheus-stack release: ServiceMonitors and PrometheusRules elsewhere must depend on it."""
    namespace: str = NAMESPACE
    """Namespace of Prometheus, Grafana and the alert rules."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None):
        raise_if_any(f"ObservabilityArgs for {name!r}", args.problems())
        super().__init__("mlops:observability:Observability", name, None, opts)
        self._prefix = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)
        invoke = pulumi.InvokeOptions(parent=self)
        self._account_id = aws.get_caller_identity(opts=invoke).account_id
        self._region = aws.get_region(opts=invoke).region
        tags = dict(args.tags)

        self._alerts_topic(name, args, tags)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": NAMESPACE, "labels": kube.labels(NAMESPACE, "namespace")},
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace, *args.secrets.ready])
        grafana_admin = generated_value(f"{name}-grafana-admin-password", opts=child, username="admin")
        args.secrets.secret(
            f"{name}-grafana-admin",
            "grafana/admin",
            description="Grafana admin login",
            value=grafana_admin,
            opts=child,
        )
        secrets = [
            external_secret(
                f"{name}-grafana-admin-secret",
                namespace=NAMESPACE,
                target="grafana-admin",
                entries={
                    "admin-user": SecretRef(args.secrets.path("grafana/admin"), "username"),
                    "admin-password": SecretRef(args.secrets.path("grafana/admin"), "password"),
                },
                opts=in_namespace,
            )
        ]
        if args.receivers:
            secrets.append(
                external_secret(
                    f"{name}-receivers-secret",
                    namespace=NAMESPACE,
                    target=RECEIVER_SECRET,
                    entries={r.name: SecretRef(args.secrets.path(r.secret)) for r in args.receivers},
                    opts=in_namespace,
                )
            )
        grafana_role = PodIdentityRole(
            f"{name}-grafana",
            PodIdentityRoleArgs(
                cluster_name=args.cluster_name,
                namespace=NAMESPACE,
                service_account=GRAFANA_SERVICE_ACCOUNT,
                tags=tags,
                policy=iam.document(
                    [
                        iam.statement(
                            "ReadCloudWatchMetrics",
                            [
                                "cloudwatch:DescribeAlarms",
                                "cloudwatch:GetMetricData",
                                "cloudwatch:GetMetricStatistics",
                                "cloudwatch:ListMetrics",
                                "ec2:DescribeRegions",
                                "tag:GetResources",
                            ],
                            "*",
                        )
                    ]
                ),
            ),
            opts=child,
        )
        self.prometheus_operator = helm.release(
            f"{name}-kube-prometheus-stack",
            STACK_RELEASE,
            namespace=NAMESPACE,
            values=self._stack_values(args),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, grafana_role, *secrets]),
        )
        after_operator = pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus_operator])
        self._gpu_telemetry(name, after_operator)
        for dashboard_name in DASHBOARDS:
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{dashboard_name}",
                metadata={
                    "name": f"dashboard-{dashboard_name}",
                    "namespace": NAMESPACE,
                    "labels": {
                        **kube.labels(f"dashboard-{dashboard_name}", "dashboard"),
                        "grafana_dashboard": "1",
                    },
                },
                data={f"{dashboard_name}.json": dashboard(dashboard_name)},
                opts=in_namespace,
            )
        labels = kube.labels("platform-alerts", "alert-rules")
        prometheus_rule(
            "platform-alerts",
            namespace=NAMESPACE,
            groups=[
                {"name": f"platform-{group}", "rules": [a.rule(args.runbook_base_url) for a in alerts]}
                for group, alerts in platform_alerts(args.gpu_idle_hours)
            ],
            labels=labels,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus_operator]),
        )
        self.grafana_url = self._grafana_ingress(
            name, args, [self.prometheus_operator, *args.load_balancer_controller]
        )
        self.log_group_names = [self._logging(name, args, tags)]
        if args.tracing:
            self._tracing(name, args, tags)
        if args.budget is not None:
            self._budget(name, args.budget)
        self.register_outputs({"grafanaUrl": self.grafana_url, "alertTopicArn": self.alert_topic_arn})

    # --- AWS-level signals ------------------------------------------------------------------------
    def _alerts_topic(self, name: str, args: ObservabilityArgs, tags: dict[str, str]) -> None:
        child = pulumi.ResourceOptions(parent=self)
        account = self._account_id
        key = kms.customer_managed_key(
            f"{name}-alerts-key",
            description="Encrypts the platform's alert topic",
            environment=args.environment,
            tags=tags,
            policy=kms.key_policy(
                [
                    kms.root_statement(account),
                    kms.service_statement("AllowCloudWatchAlarms", "cloudwatch.amazonaws.com", account),
                    kms.service_statement("AllowBudgets", "budgets.amazonaws.com", account),
                ]
            ),
            opts=child,
        )
        topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=key.arn, tags=tags, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-alerts-policy",
            arn=topic.arn,
            policy=topic.arn.apply(lambda arn: alert_topic_policy(arn, account)),
            opts=child,
        )
        for i, email in enumerate(args.alert_emails):
            aws.sns.TopicSubscription(
                f"{name}-alerts-email-{i}", topic=topic.arn, protocol="email", endpoint=email, opts=child
            )
        self.alert_topic_arn = topic.arn

    def watch_database(
        self, identifier: pulumi.Input[str], *, allocated_storage_gib: int, max_connections: int = 200
    ) -> None:
        """CloudWatch alarms on an RDS instance: CPU, free storage, connections."""
        storage_floor = int(allocated_storage_gib * 1024**3 * 0.1)
        self._alarms(
            "rds",
            "AWS/RDS",
            {"DBInstanceIdentifier": identifier},
            [
                (
                    "cpu",
                    "CPUUtilization",
                    "Average",
                    "GreaterThanThreshold",
                    80,
                    3,
                    "CPU above 80% for 15 minutes",
                    "rds-cpu",
                ),
                (
                    "free-storage",
                    "FreeStorageSpace",
                    "Minimum",
                    "LessThanThreshold",
                    storage_floor,
                    1,
                    "under 10% storage free",
                    "rds-storage",
                ),
                (
                    "connections",
                    "DatabaseConnections",
                    "Maximum",
                    "GreaterThanThreshold",
                    int(max_connections * 0.8),
                    3,
                    "connections above 80% of the limit",
                    "rds-connections",
                ),
            ],
        )

    def watch_nat_gateways(self, nat_gateway_ids: pulumi.Input[Sequence[str]], count: int) -> None:
        """CloudWatch alarms on each NAT gateway: port-allocation errors and dropped packets."""
        ids = pulumi.Output.from_input(nat_gateway_ids)
        for i in range(count):
            self._alarms(
                f"nat-{i}",
                "AWS/NATGateway",
                {"NatGatewayId": ids.apply(lambda values, i=i: values[i])},
                [
                    (
                        "port-allocation",
                        "ErrorPortAllocation",
                        "Sum",
                        "GreaterThanThreshold",
                        0,
                        1,
                        "could not allocate source ports",
                        "nat-gateway-errors",
                    ),
                    (
                        "dropped-packets",
                        "PacketsDropCount",
                        "Sum",
                        "GreaterThanThreshold",
                        100,
                        3,
                        "dropping packets",
                        "nat-gateway-errors",
                    ),
                ],
            )

    def _alarms(
        self, prefix: str, namespace: str, dimensions: Mapping[str, pulumi.Input[str]], specs: list[tuple]
    ) -> None:
        for role, metric, statistic, comparison, threshold, periods, what, runbook in specs:
            aws.cloudwatch.MetricAlarm(
                f"{self._prefix}-{prefix}-{role}",
                namespace=namespace,
                metric_name=metric,
                dimensions=dict(dimensions),
                statistic=statistic,
                period=300,
                evaluation_periods=periods,
                comparison_operator=comparison,
                threshold=threshold,
                treat_missing_data="notBreaching",
                alarm_description=f"{namespace} {metric}: {what}. Runbook: {self._args.runbook_base_url.rstrip('/')}/{runbook}.md",
                alarm_actions=[self.alert_topic_arn],
                ok_actions=[self.alert_topic_arn],
                tags=dict(self._args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _budget(self, name: str, budget: BudgetArgs) -> None:
        notifications = [
            {
                "comparison_operator": "GREATER_THAN",
                "threshold": threshold,
                "threshold_type": "PERCENTAGE",
                "notification_type": "ACTUAL",
                "subscriber_email_addresses": list(budget.subscriber_emails),
                "subscriber_sns_topic_arns": [self.alert_topic_arn],
            }
            for threshold in budget.thresholds_percent
        ]
        if budget.forecast_threshold_percent is not None:
            notifications.append(
                {
                    "comparison_operator": "GREATER_THAN",
                    "threshold": budget.forecast_threshold_percent,
                    "threshold_type": "PERCENTAGE",
                    "notification_type": "FORECASTED",
                    "subscriber_email_addresses": list(budget.subscriber_emails),
                    "subscriber_sns_topic_arns": [self.alert_topic_arn],
                }
            )
        tags = self._args.tags
        aws.budgets.Budget(
            f"{name}-budget",
            budget_type="COST",
            limit_amount=f"{budget.monthly_limit_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            # The stack's spend: resources carrying its project and environment cost-allocation tags.
            cost_filters=[
                {"name": "TagKeyValue", "values": [f"user:environment${tags['environment']}"]},
            ],
            notifications=notifications,
            tags=dict(tags),
            opts=pulumi.ResourceOptions(parent=self),
        )

    # --- in-cluster -----------------------------------------------------------------------------
    def _stack_values(self, args: ObservabilityArgs) -> dict[str, Any]:
        replicas = 2 if args.high_availability else 1
        volume = lambda size: {  # noqa: E731 - a tiny local template
            "volumeClaimTemplate": {
                "spec": {
                    "storageClassName": args.storage_class,
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": size}},
                }
            }
        }
        receivers: list[dict[str, Any]] = [{"name": "null"}]
        routes: list[dict[str, Any]] = [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
        secret_dir = f"/etc/alertmanager/secrets/{RECEIVER_SECRET}"
        for receiver in args.receivers:
            if receiver.kind is ReceiverKind.SLACK:
                config: dict[str, Any] = {
                    "api_url_file": f"{secret_dir}/{receiver.name}",
                    "send_resolved": True,
                }
                if receiver.channel:
                    config["channel"] = receiver.channel
                receivers.append({"name": receiver.name, "slack_configs": [config]})
            else:
                receivers.append(
                    {
                        "name": receiver.name,
                        "pagerduty_configs": [
                            {"routing_key_file": f"{secret_dir}/{receiver.name}", "send_resolved": True}
                        ],
                    }
                )
            severities = "|".join(s.value for s in receiver.severities)
            routes.append(
                {"receiver": receiver.name, "matchers": [f'severity =~ "{severities}"'], "continue": True}
            )
        grafana_root = (
            f"https://{args.grafana_hostname}/"
            if args.grafana_hostname and args.certificate_arn
            else (
                f"http://{args.grafana_hostname}/"
                if args.grafana_hostname
                else "%(protocol)s://%(domain)s/grafana/"
            )
        )
        return {
            "fullnameOverride": STACK_RELEASE,
            "defaultRules": {
                "create": True,
                # The platform ships its own versions, with runbooks in this repository.
                "disabled": {"KubePodCrashLooping": True, "KubeNodeNotReady": True},
            },
            "prometheus": {
                "prometheusSpec": {
                    "replicas": replicas,
                    "retention": f"{args.prometheus_retention_days}d",
                    # Leave headroom on the volume: retention by size triggers before the disk is full.
                    "retentionSize": f"{int(args.prometheus_storage_gib * 0.85)}GB",
                    "storageSpec": volume(f"{args.prometheus_storage_gib}Gi"),
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                    "ruleSelectorNilUsesHelmValues": False,
                    "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                    "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
                }
            },
            "alertmanager": {
                "alertmanagerSpec": {
                    "replicas": replicas,
                    "storage": volume("5Gi"),
                    "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                    "secrets": [RECEIVER_SECRET] if args.receivers else [],
                },
                "config": {
                    "route": {
                        "receiver": "null",
                        "group_by": ["alertname", "namespace", "slo_service"],
                        "group_wait": "30s",
                        "group_interval": "5m",
                        "repeat_interval": "4h",
                        "routes": routes,
                    },
                    "receivers": receivers,
                },
            },
            "grafana": {
                "admin": {
                    "existingSecret": "grafana-admin",
                    "userKey": "admin-user",
                    "passwordKey": "admin-password",
                },
                "serviceAccount": {"create": True, "name": GRAFANA_SERVICE_ACCOUNT},
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "persistence": {"enabled": True, "storageClassName": args.storage_class, "size": "10Gi"},
                "sidecar": {
                    "dashboards": {
                        "enabled": True,
                        "label": "grafana_dashboard",
                        "labelValue": "1",
                        "searchNamespace": "ALL",
                    }
                },
                "additionalDataSources": [
                    {
                        "name": "CloudWatch",
                        "uid": "cloudwatch",
                        "type": "cloudwatch",
                        "jsonData": {"authType": "default", "defaultRegion": self._region},
                    }
                ],
                "grafana.ini": {
                    "server": {"root_url": grafana_root, "serve_from_sub_path": not args.grafana_hostname},
                    "analytics": {"reporting_enabled": False, "check_for_updates": False},
                    "security": {"disable_gravatar": True, "cookie_secure": bool(args.certificate_arn)},
                    "users": {"allow_sign_up": False},
                    "auth.anonymous": {"enabled": False},
                },
            },
            "kube-state-metrics": {
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                # Node labels the GPU alerts and dashboards group by.
                "metricLabelsAllowlist": [f"nodes=[{kube.GPU_PRESENT_LABEL},{kube.GPU_POOL_LABEL}]"],
            },
            "prometheus-node-exporter": {"tolerations": [{"operator": "Exists"}]},
            "prometheusOperator": {"nodeSelector": kube.SYSTEM_NODE_SELECTOR},
        }

    def _gpu_telemetry(self, name: str, opts: pulumi.ResourceOptions) -> None:
        release = helm.release(
            f"{name}-dcgm-exporter",
            "dcgm-exporter",
            namespace=NAMESPACE,
            values={
                "fullnameOverride": "dcgm-exporter",
                "podLabels": DCGM_POD_LABELS,
                "nodeSelector": {kube.GPU_PRESENT_LABEL: "true"},
                "tolerations": [kube.GPU_TOLERATION],
                # This component renders the Service and ServiceMonitor, so their selectors are checked.
                "serviceMonitor": {"enabled": False},
                "service": {"enable": False},
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
            },
            opts=opts,
        )
        service_labels = kube.labels("dcgm-exporter", "gpu-telemetry")
        after = pulumi.ResourceOptions(parent=self, depends_on=[release])
        k8s.core.v1.Service(
            f"{name}-dcgm-service",
            metadata={"name": "dcgm-exporter", "namespace": NAMESPACE, "labels": service_labels},
            spec={
                "selector": dict(DCGM_POD_LABELS),
                "ports": [{"name": "metrics", "port": DCGM_PORT, "targetPort": DCGM_PORT, "protocol": "TCP"}],
            },
            opts=after,
        )
        k8s.apiextensions.CustomResource(
            f"{name}-dcgm-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": "dcgm-exporter", "namespace": NAMESPACE, "labels": service_labels},
            spec={
                "selector": {"matchLabels": kube.selector_labels(service_labels)},
                "namespaceSelector": {"matchNames": [NAMESPACE]},
                "endpoints": [{"port": "metrics", "interval": "30s", "path": "/metrics"}],
            },
            opts=after,
        )

    def _grafana_ingress(
        self, name: str, args: ObservabilityArgs, depends_on: list[pulumi.Resource]
    ) -> pulumi.Output[str]:
        annotations = {
            "alb.ingress.kubernetes.io/scheme": "internal",
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/group.name": INTERNAL_GROUP,
            "alb.ingress.kubernetes.io/group.order": "900",
            "alb.ingress.kubernetes.io/healthcheck-path": "/api/health"
            if args.grafana_hostname
            else "/grafana/api/health",
        }
        if args.certificate_arn:
            annotations["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTPS": 443}]'
            annotations["alb.ingress.kubernetes.io/certificate-arn"] = args.certificate_arn
        else:
            annotations["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTP": 80}]'
        path = "/" if args.grafana_hostname else "/grafana"
        rule: dict[str, Any] = {
            "http": {
                "paths": [
                    {
                        "path": path,
                        "pathType": "Prefix",
                        "backend": {"service": {"name": f"{STACK_RELEASE}-grafana", "port": {"number": 80}}},
                    }
                ]
            }
        }
        if args.grafana_hostname:
            rule["host"] = args.grafana_hostname
        ingress = k8s.networking.v1.Ingress(
            f"{name}-grafana-ingress",
            metadata={
                "name": "grafana",
                "namespace": NAMESPACE,
                "labels": kube.labels("grafana", "dashboards"),
                "annotations": annotations,
            },
            spec={"ingressClassName": INGRESS_CLASS, "rules": [rule]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
        scheme = "https" if args.certificate_arn else "http"
        if args.grafana_hostname:
            return pulumi.Output.from_input(f"{scheme}://{args.grafana_hostname}")
        return ingress.status.apply(lambda s: f"{scheme}://{s.load_balancer.ingress[0].hostname}/grafana")

    def _logging(self, name: str, args: ObservabilityArgs, tags: dict[str, str]) -> pulumi.Output[str]:
        child = pulumi.ResourceOptions(parent=self)
        key_arn = args.log_kms_key_arn
        if key_arn is None:
            key_arn = kms.customer_managed_key(
                f"{name}-logs-key",
                description="Encrypts the container log group",
                environment=args.environment,
                tags=tags,
                policy=kms.key_policy(
                    [
                        kms.root_statement(self._account_id),
                        kms.logs_service_statement(self._account_id, self._region),
                    ]
                ),
                opts=child,
            ).arn
        group_name = pulumi.Output.concat("/aws/eks/", args.cluster_name, "/containers")
        group = aws.cloudwatch.LogGroup(
            f"{name}-container-logs",
            name=group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=key_arn,
            tags=tags,
            opts=child,
        )
        role = PodIdentityRole(
            f"{name}-fluent-bit",
            PodIdentityRoleArgs(
                cluster_name=args.cluster_name,
                namespace=LOGGING_NAMESPACE,
                service_account=FLUENT_BIT_SERVICE_ACCOUNT,
                tags=tags,
                policy=group.arn.apply(
                    lambda arn: iam.document(
                        [
                            iam.statement(
                                "ShipContainerLogs",
                                ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                                [arn, f"{arn}:*"],
                            )
                        ]
                    )
                ),
            ),
            opts=child,
        )
        helm.release(
            f"{name}-fluent-bit",
            "aws-for-fluent-bit",
            namespace=LOGGING_NAMESPACE,
            create_namespace=True,
            values={
                "serviceAccount": {"create": True, "name": FLUENT_BIT_SERVICE_ACCOUNT},
                "cloudWatchLogs": {
                    "enabled": True,
                    "region": self._region,
                    "logGroupName": group_name,
                    "logStreamPrefix": "container-",
                    "autoCreateGroup": False,
                },
                "firehose": {"enabled": False},
                "kinesis": {"enabled": False},
                "elasticsearch": {"enabled": False},
                # Logs from every node, GPU nodes included.
                "tolerations": [{"operator": "Exists"}],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role, group]),
        )
        return group.name

    def _tracing(self, name: str, args: ObservabilityArgs, tags: dict[str, str]) -> None:
        role = PodIdentityRole(
            f"{name}-otel",
            PodIdentityRoleArgs(
                cluster_name=args.cluster_name,
                namespace=TRACING_NAMESPACE,
                service_account="otel-collector",
                tags=tags,
                policy=iam.document(
                    [
                        # X-Ray has no resource-level permissions: these are documented exceptions in the policy pack.
                        iam.statement(
                            "SendTraces",
                            [
                                "xray:GetSamplingRules",
                                "xray:GetSamplingTargets",
                                "xray:PutTelemetryRecords",
                                "xray:PutTraceSegments",
                            ],
                            "*",
                        )
                    ]
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        helm.release(
            f"{name}-otel-collector",
            "opentelemetry-collector",
            namespace=TRACING_NAMESPACE,
            create_namespace=True,
            values={
                "mode": "deployment",
                "image": {"repository": "otel/opentelemetry-collector-contrib"},
                "serviceAccount": {"create": True, "name": "otel-collector"},
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "config": {
                    "receivers": {
                        "otlp": {
                            "protocols": {
                                "grpc": {"endpoint": "0.0.0.0:4317"},
                                "http": {"endpoint": "0.0.0.0:4318"},
                            }
                        }
                    },
                    "processors": {"batch": {}},
                    "exporters": {"awsxray": {"region": self._region}},
                    "service": {
                        "pipelines": {
                            "traces": {
                                "receivers": ["otlp"],
                                "processors": ["batch"],
                                "exporters": ["awsxray"],
                            }
                        }
                    },
                },
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
        )


def alert_topic_policy(topic_arn: str, account_id: str) -> str:
    """CloudWatch alarms and AWS Budgets of this account may publish; nobody else."""
    statements = [
        {
            "Sid": "AllowAccountServices",
            "Effect": "Allow",
            "Principal": {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)
