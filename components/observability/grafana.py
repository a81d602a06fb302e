"""Grafana: its dashboards (package data, loaded by Grafana's sidecar from ConfigMaps) and its place
on the shared internal ALB."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.foundation.load_balancer_controller import (
    internal_ingress,
    load_balancer_hostname,
)
from mlops_platform.components.observability.metrics import STACK_RELEASE
from mlops_platform.components.support import kube

DASHBOARDS = ("gpu", "model-serving", "platform")


def dashboard(name: str) -> str:
    """A dashboard's JSON, shipped as package data next to this module."""
    return (Path(__file__).parent / "dashboards" / f"{name}.json").read_text()


DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
"""The platform dashboards' convention: a data-source variable that defaults to Prometheus."""


def timeseries_panel(
    title: str, y: int, x: int, targets: Sequence[tuple[str, str]], unit: str = "short"
) -> dict[str, Any]:
    """A half-width time series of ``(PromQL, legend)`` targets at row ``y``, column ``x``."""
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


def dashboard_document(
    uid: str, title: str, tags: Sequence[str], panels: Sequence[dict[str, Any]], time_from: str = "now-6h"
) -> dict[str, Any]:
    """A dashboard with the data-source variable and the given panels."""
    return {
        "uid": uid[:40],
        "title": title,
        "tags": ["mlops-platform", *tags],
        "schemaVersion": 39,
        "time": {"from": time_from, "to": "now"},
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
        "panels": list(panels),
    }


def grafana_dashboard(
    name: str,
    *,
    object_name: str,
    namespace: str,
    labels: Mapping[str, str],
    dashboards: Mapping[str, pulumi.Input[str]],
    opts: pulumi.ResourceOptions,
) -> k8s.core.v1.ConfigMap:
    """A ConfigMap of dashboards (file name -> JSON) that Grafana's sidecar loads, wherever it is:
    the ``grafana_dashboard`` label is what it watches."""
    return k8s.core.v1.ConfigMap(
        name,
        metadata={
            "name": object_name,
            "namespace": namespace,
            "labels": {**labels, "grafana_dashboard": "1"},
        },
        data=dict(dashboards),
        opts=opts,
    )


def dashboard_config_map(
    name: str, dashboard_name: str, *, namespace: str, opts: pulumi.ResourceOptions
) -> k8s.core.v1.ConfigMap:
    """One packaged dashboard (``dashboards/<dashboard_name>.json``)."""
    return grafana_dashboard(
        f"{name}-dashboard-{dashboard_name}",
        object_name=f"dashboard-{dashboard_name}",
        namespace=namespace,
        labels=kube.labels(f"dashboard-{dashboard_name}", "dashboard"),
        dashboards={f"{dashboard_name}.json": dashboard(dashboard_name)},
        opts=opts,
    )


def dashboard_config_maps(name: str, *, namespace: str, opts: pulumi.ResourceOptions) -> None:
    """The observability stack's own dashboards (engines add theirs with ``dashboard_config_map``)."""
    for dashboard_name in DASHBOARDS:
        dashboard_config_map(name, dashboard_name, namespace=namespace, opts=opts)


def grafana_ingress(
    name: str,
    *,
    namespace: str,
    hostname: str | None,
    certificate_arn: str | None,
    opts: pulumi.ResourceOptions,
) -> pulumi.Output[str]:
    """Grafana at its own hostname, or under ``/grafana`` on the shared ALB; returns its URL."""
    ingress = internal_ingress(
        f"{name}-grafana-ingress",
        object_name="grafana",
        namespace=namespace,
        labels=kube.labels("grafana", "dashboards"),
        path="/" if hostname else "/grafana",
        backend={"service": {"name": f"{STACK_RELEASE}-grafana", "port": {"number": 80}}},
        health_check_path="/api/health" if hostname else "/grafana/api/health",
        hostname=hostname,
        certificate_arn=certificate_arn,
        order=900,
        opts=opts,
    )
    scheme = "https" if certificate_arn else "http"
    if hostname:
        return pulumi.Output.from_input(f"{scheme}://{hostname}")
    return load_balancer_hostname(ingress).apply(lambda host: f"{scheme}://{host}/grafana")
