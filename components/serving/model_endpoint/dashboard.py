"""A Grafana dashboard per model: how its traffic is split, where its canary stands, and what the
analysis found. Grafana's sidecar loads it from a ConfigMap in the team's namespace."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.observability.grafana import grafana_dashboard
from mlops_platform.components.serving.model_endpoint.rollout import ERROR_RATIO_RECORD, LATENCY_P95_RECORD

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
"""The platform dashboards' convention: a data-source variable that defaults to Prometheus."""


def _panel(title: str, y: int, x: int, targets: list[tuple[str, str]], unit: str = "short") -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "gridPos": {"h": 8, "w": 12, "x": x, "y": y},
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": chr(65 + i)}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def delivery_dashboard(namespace: str, name: str) -> dict[str, Any]:
    """The dashboard JSON of one model."""
    model = f'namespace="{namespace}",model="{name}"'
    rollout = f'namespace="{namespace}",name="{name}"'
    requests = f'sum by (version) (rate(http_requests_total{{{model},traffic="live"}}[5m]))'
    return {
        "uid": f"delivery-{namespace}-{name}"[:40],
        "title": f"Model delivery: {namespace}/{name}",
        "tags": ["mlops-platform", "model-delivery"],
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {"text": "Prometheus", "value": "prometheus"},
                    "hide": 0,
                }
            ]
        },
        "panels": [
            _panel("Live requests per second, by version", 0, 0, [(requests, "{{version}}")], "reqps"),
            _panel(
                "Traffic split (share of live requests)",
                0,
                12,
                [(f"{requests} / ignoring(version) group_left sum({requests})", "{{version}}")],
                "percentunit",
            ),
            _panel(
                "Canary step: updated replicas of desired",
                8,
                0,
                [
                    (f"rollout_info_replicas_updated{{{rollout}}}", "updated (canary)"),
                    (f"rollout_info_replicas_desired{{{rollout}}}", "desired"),
                    (f"max by (phase) (rollout_phase{{{rollout}}})", "phase {{phase}}"),
                ],
            ),
            _panel(
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
            _panel(
                "Error ratio by version (what the analysis reads)",
                16,
                0,
                [(f"{ERROR_RATIO_RECORD}{{{model}}}", "{{version}}")],
                "percentunit",
            ),
            _panel(
                "p95 latency by version (what the analysis reads)",
                16,
                12,
                [(f"{LATENCY_P95_RECORD}{{{model}}}", "{{version}}")],
                "s",
            ),
            _panel(
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
    }


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
