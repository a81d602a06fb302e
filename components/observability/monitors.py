"""Scrape targets for Prometheus: the one way components declare a ServiceMonitor or a PodMonitor."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s


def monitor(
    name: str,
    kind: str,
    *,
    namespace: str,
    labels: Mapping[str, str],
    selector: Mapping[str, str],
    endpoints: Sequence[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    object_name: str | None = None,
    namespaces: Sequence[str] = (),
    match_expressions: Sequence[Mapping[str, Any]] = (),
) -> k8s.apiextensions.CustomResource:
    """A ``ServiceMonitor`` (``endpoints`` are its ``endpoints``) or a ``PodMonitor`` (its
    ``podMetricsEndpoints``) selecting ``selector``; ``namespaces``: where the targets run, when
    not in ``namespace``."""
    key = {"ServiceMonitor": "endpoints", "PodMonitor": "podMetricsEndpoints"}[kind]
    chosen: dict[str, Any] = {"matchLabels": dict(selector)}
    if match_expressions:
        chosen["matchExpressions"] = [dict(e) for e in match_expressions]
    spec: dict[str, Any] = {"selector": chosen, key: [dict(e) for e in endpoints]}
    if namespaces:
        spec["namespaceSelector"] = {"matchNames": list(namespaces)}
    return k8s.apiextensions.CustomResource(
        name,
        api_version="monitoring.coreos.com/v1",
        kind=kind,
        metadata={"name": object_name or name, "namespace": namespace, "labels": dict(labels)},
        spec=spec,
        opts=opts,
    )
