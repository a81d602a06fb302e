"""A Grafana dashboard per model: how its traffic is split, where its canary stands, and what the
analysis found. Grafana's sidecar loads it from a ConfigMap in the team's namespace."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.observability.grafana import (
    dashboard_document,
    grafana_dashboard,
    timeseries_panel,
)
from mlops_platform.components.serving.model_endpoint.rollout import ERROR_RATIO_RECORD, LATENCY_P95_RECORD


def delivery_dashboard(namespace: str, name: str) -> dict[str, Any]:
    """The dashboard JSON of one model."""
    model = f'namespace="{namespace}",model="{name}"'
    rollout = f'namespace="{namespace}",name="{name}"'
    requests = f'sum by (version) (rate(http_requests_total{{{model},traffic="live"}}[5m]))'
    return dashboard_document(
        f"delivery-{namespace}-{name}",
        f"Model delivery: {namespace}/{name}",
        ["model-delivery"],
        [
            timeseries_panel(
                "Live requests per second, by version", 0, 0, [(requests, "{{version}}")], "reqps"
            ),
            timeseries_panel(
                "Traffic split (share of live requests)",
                0,
                12,
                [(f"{requests} / ignoring(version) group_left sum({requests})", "{{version}}")],
                "percentunit",
            ),
            timeseries_panel(
                "Canary step: updated replicas of desired",
                8,
                0,
                [
                    (f"rollout_info_replicas_updated{{{rollout}}}", "updated (canary)"),
                    (f"rollout_info_replicas_desired{{{rollout}}}", "desired"),
                    (f"max by (phase) (rollout_phase{{{rollout}}})", "phase {{phase}}"),
                ],
            ),
            timeseries_panel(
                "Analysis results (1 = current phase)",
                8,
                12,
                [
                    (
                        f'max by (metric, phase) (analysis_run_metric_phase{{namespace="{namespace}",name=~"{name}-.*"}})',
                        "{{metric}}: {{phase}}",
                    )
                ],
            ),
            timeseries_panel(
                "Error ratio by version (what the analysis reads)",
                16,
                0,
                [(f"{ERROR_RATIO_RECORD}{{{model}}}", "{{version}}")],
                "percentunit",
            ),
            timeseries_panel(
                "p95 latency by version (what the analysis reads)",
                16,
                12,
                [(f"{LATENCY_P95_RECORD}{{{model}}}", "{{version}}")],
                "s",
            ),
            timeseries_panel(
                "Shadow: mirrored requests and its errors",
                24,
                0,
                [
                    (
                        f'sum by (version) (rate(http_requests_total{{{model},traffic="shadow"}}[5m]))',
                        "{{version}} requests",
                    ),
                    (
                        f'sum by (version) (rate(http_requests_total{{{model},traffic="shadow",code=~"5.."}}[5m]))',
                        "{{version}} 5xx",
                    ),
                ],
                "reqps",
            ),
        ],
    )


def dashboard_config_map(
    name: str, *, namespace: str, labels: dict[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.ConfigMap:
    return grafana_dashboard(
        f"{name}-dashboard",
        object_name=f"{name}-delivery-dashboard",
        namespace=namespace,
        labels=labels,
        dashboards={f"{name}-delivery.json": json.dumps(delivery_dashboard(namespace, name), sort_keys=True)},
        opts=opts,
    )
