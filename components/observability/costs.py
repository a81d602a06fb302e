"""Measured cost: OpenCost, wired to the stack's Prometheus and its region's prices, and the Grafana
dashboard that shows actual cost per namespace, team and model beside the program's estimate."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.observability.metrics import STACK_RELEASE
from mlops_platform.components.support import helm, kube

OPENCOST_RELEASE = "opencost"
PROMETHEUS_PORT = 9090
OPENCOST_RESOURCES = {"requests": {"cpu": "50m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


def pricing_url(region: str) -> str:
    """The AWS public price list OpenCost reads for on-demand node prices, in the stack's region
    (its default follows each node's region label; pinning it keeps actuals and estimate comparable)."""
    return f"https://pricing.us-east-1.amazonaws.com/offers/v1.0/aws/AmazonEC2/current/{region}/index.json"


def cost_telemetry(
    name: str, *, namespace: str, cluster_name: pulumi.Input[str], region: str, opts: pulumi.ResourceOptions
) -> pulumi.Resource:
    """The OpenCost release; Prometheus scrapes its allocation metrics through the chart's ServiceMonitor."""
    return helm.release(
        f"{name}-opencost",
        OPENCOST_RELEASE,
        namespace=namespace,
        values={
            "fullnameOverride": OPENCOST_RELEASE,
            "clusterName": cluster_name,
            "opencost": {
                "exporter": {
                    "defaultClusterId": cluster_name,
                    "extraEnv": {"AWS_PRICING_URL": pricing_url(region)},
                    "resources": OPENCOST_RESOURCES,
                },
                "prometheus": {
                    "internal": {
                        "enabled": True,
                        "serviceName": f"{STACK_RELEASE}-prometheus",
                        "namespaceName": namespace,
                        "port": PROMETHEUS_PORT,
                    }
                },
                "metrics": {"serviceMonitor": {"enabled": True}},
                # The UI is a second container nobody is routed to; Grafana shows the figures.
                "ui": {"enabled": False},
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
            },
        },
        opts=opts,
        footprint=helm.Footprint(system_pods=((1, OPENCOST_RESOURCES),)),
    )


def _money(value: float) -> str:
    return f"{value:,.2f}"


def estimate_markdown(estimate: Mapping[str, Any]) -> str:
    """The program's estimate as a Markdown table for a Grafana text panel."""
    lines = [
        f"**Estimate** (`blueprint cost {estimate.get('stack', '')}`, prices of {estimate.get('priceTableDate')}), "
        "USD per month",
        "",
        "| team/model | idle | expected | peak | per 1k inferences | SageMaker per 1k |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, model in sorted((estimate.get("byModel") or {}).items()):
        per_1k = model.get("costPer1kInferences") or {}
        cells = [_money(model.get(s, 0.0)) for s in ("idle", "expected", "peak")]
        cells += [str(per_1k.get("platform")), str(per_1k.get("sagemaker"))]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    monthly = estimate.get("monthly") or {}
    lines.append(
        "| **total** | "
        + " | ".join(_money(monthly.get(s, 0.0)) for s in ("idle", "expected", "peak"))
        + " | | |"
    )
    return "\n".join(lines)


def cost_dashboard(
    name: str, estimate: Mapping[str, Any], *, namespace: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.ConfigMap:
    """The cost dashboard (dashboards/cost.json) with the estimate as its first panel."""
    board = json.loads((Path(__file__).parent / "dashboards" / "cost.json").read_text())
    board["panels"].insert(
        0,
        {
            "id": 100,
            "type": "text",
            "title": "Estimate from the stack's program",
            "gridPos": {"h": 8, "w": 24, "x": 0, "y": 0},
            "options": {"mode": "markdown", "content": estimate_markdown(estimate)},
            "targets": [],
        },
    )
    return k8s.core.v1.ConfigMap(
        f"{name}-dashboard-cost",
        metadata={
            "name": "dashboard-cost",
            "namespace": namespace,
            "labels": {**kube.labels("dashboard-cost", "dashboard"), "grafana_dashboard": "1"},
        },
        data={"cost.json": json.dumps(board, indent=1, sort_keys=True)},
        opts=opts,
    )
