"""kube-prometheus-stack: Prometheus, Alertmanager and Grafana, as the platform configures them.

Prometheus keeps metrics on encrypted gp3 for the retention; Alertmanager routes by severity to Slack
or PagerDuty with webhooks and keys mounted from Secrets Manager (files, never Helm values); Grafana's
admin login comes from Secrets Manager through External Secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlops_platform.components.observability.spec import AlertReceiver, ObservabilitySpec, ReceiverKind
from mlops_platform.components.support import helm, kube

STACK_RELEASE = "kube-prometheus-stack"
PROMETHEUS_URL = f"http://{STACK_RELEASE}-prometheus.monitoring.svc:9090"
"""Prometheus inside the cluster, for the canaries' analysis (the chart's Service in ``monitoring``)."""


def prometheus_resources(cpu: str) -> helm.Resources:
    """Prometheus's requests: ``cpu`` from the spec (``prometheusCpu``), 2Gi of memory."""
    return {"requests": {"cpu": cpu, "memory": "2Gi"}, "limits": {"memory": "4Gi"}}


def stack_footprint(spec: ObservabilitySpec, replicas: int) -> helm.Footprint:
    """Prometheus and Alertmanager at ``replicas``; Grafana, kube-state-metrics and the operator at
    one; node-exporter on every node. Only Prometheus sets requests (the rest render without)."""
    none = helm.NO_REQUESTS
    prometheus = prometheus_resources(spec.prometheus_cpu)
    return helm.Footprint(
        system_pods=((replicas, prometheus), (replicas, none), (1, none), (1, none), (1, none)),
        every_node=none,
    )


GRAFANA_SERVICE_ACCOUNT = "grafana"
RECEIVER_SECRET = "alertmanager-receivers"
"""Kubernetes Secret holding one key per receiver (its webhook URL or routing key)."""


INHIBIT_EQUAL = (
    "alertname",
    "namespace",
    "model",
    "slo_service",
    "Hostname",
    "gpu",
    "node",
    "persistentvolumeclaim",
)
"""Labels a critical alert must share with a warning to silence it: the same alert on the same thing."""


def alertmanager_config(receivers: Sequence[AlertReceiver]) -> dict[str, Any]:
    """Routes by severity; the receivers' secrets are files under the mounted Secret."""
    configured: list[dict[str, Any]] = [{"name": "null"}]
    routes: list[dict[str, Any]] = [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]
    secret_dir = f"/etc/alertmanager/secrets/{RECEIVER_SECRET}"
    for receiver in receivers:
        if receiver.kind is ReceiverKind.SLACK:
            config: dict[str, Any] = {"api_url_file": f"{secret_dir}/{receiver.name}", "send_resolved": True}
            if receiver.channel:
                config["channel"] = receiver.channel
            configured.append({"name": receiver.name, "slack_configs": [config]})
        else:
            configured.append(
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
    return {
        "route": {
            "receiver": "null",
            "group_by": ["alertname", "namespace", "model", "slo_service"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "receivers": configured,
        # Replaces the chart's defaults, which match on namespace and alertname only: SLO alerts of two
        # models in one namespace share both, so one model's critical burn would silence the other's
        # warning. Every label that tells two alerts apart is in ``equal`` (absent on both sides counts
        # as equal, so alerts without a model label still inhibit only their own kind).
        "inhibit_rules": [
            {
                "source_matchers": ['severity = "critical"'],
                "target_matchers": ['severity = "warning"'],
                "equal": list(INHIBIT_EQUAL),
            }
        ],
    }


def _volume(storage_class: str, size: str) -> dict[str, Any]:
    return {
        "volumeClaimTemplate": {
            "spec": {
                "storageClassName": storage_class,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": size}},
            }
        }
    }


def stack_values(spec: ObservabilitySpec, *, region: str, replicas: int) -> dict[str, Any]:
    """The chart's values."""
    grafana_hostname, certificate_arn = spec.grafana_hostname, spec.certificate_arn
    storage_class, storage_gib, receivers = spec.storage_class, spec.prometheus_storage_gib, spec.receivers
    if grafana_hostname:
        grafana_root = f"{'https' if certificate_arn else 'http'}://{grafana_hostname}/"
    else:
        grafana_root = "%(protocol)s://%(domain)s/grafana/"
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
                "retention": f"{spec.prometheus_retention_days}d",
                # Leave headroom on the volume: retention by size triggers before the disk is full.
                "retentionSize": f"{int(storage_gib * 0.85)}GB",
                "storageSpec": _volume(storage_class, f"{storage_gib}Gi"),
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "ruleSelectorNilUsesHelmValues": False,
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "resources": prometheus_resources(spec.prometheus_cpu),
            }
        },
        "alertmanager": {
            "alertmanagerSpec": {
                "replicas": replicas,
                "storage": _volume(storage_class, "5Gi"),
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "secrets": [RECEIVER_SECRET] if receivers else [],
            },
            "config": alertmanager_config(receivers),
        },
        "grafana": {
            "admin": {
                "existingSecret": "grafana-admin",
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "serviceAccount": {"create": True, "name": GRAFANA_SERVICE_ACCOUNT},
            "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
            "persistence": {"enabled": True, "storageClassName": storage_class, "size": "10Gi"},
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
                    "jsonData": {"authType": "default", "defaultRegion": region},
                }
            ],
            "grafana.ini": {
                "server": {"root_url": grafana_root, "serve_from_sub_path": not grafana_hostname},
                "analytics": {"reporting_enabled": False, "check_for_updates": False},
                "security": {"disable_gravatar": True, "cookie_secure": bool(certificate_arn)},
                "users": {"allow_sign_up": False},
                "auth.anonymous": {"enabled": False},
            },
        },
        "kube-state-metrics": {
            "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
            # Node labels the GPU alerts and dashboards group by.
            "metricLabelsAllowlist": [
                f"nodes=[{kube.GPU_PRESENT_LABEL},{kube.GPU_POOL_LABEL}]",
                # Cost per team and model (the cost dashboard joins OpenCost's allocations on these).
                f"pods=[{kube.TEAM_LABEL},{kube.MODEL_LABEL},{kube.VERSION_LABEL}]",
            ],
        },
        "prometheus-node-exporter": {"tolerations": [{"operator": "Exists"}]},
        "prometheusOperator": {"nodeSelector": kube.SYSTEM_NODE_SELECTOR},
    }
