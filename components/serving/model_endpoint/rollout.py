"""A model's Rollout: Argo Rollouts runs the live versions (its template is the newest one's: the
canary's, else the stable's), walks the canary through its steps, and analyses it on Prometheus at
every step and in the background; a failed analysis aborts the rollout and sends all traffic back to
stable.

The analysis reads recording rules the endpoint's PrometheusRule writes per version
(``version_recording_rules``) and the SLO's own error-ratio record, so what judges a canary is what
the SLO alerts see.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.observability.metrics import PROMETHEUS_URL
from mlops_platform.components.serving.model_endpoint.delivery import DEFAULT_MAX_ERROR_RATIO
from mlops_platform.components.serving.model_endpoint.spec import ModelEndpointSpec
from mlops_platform.components.serving.model_endpoint.workloads import PodTemplate, model_service
from mlops_platform.components.serving.rollouts import PLUGIN
from mlops_platform.components.support import kube

ARGO = "argoproj.io/v1alpha1"
ERROR_RATIO_RECORD = "model_version:http_errors:ratio_rate5m"
LATENCY_P95_RECORD = "model_version:http_request_duration_seconds:p95_5m"
BACKGROUND = "0"
"""``measurements`` of the background run: no count, it measures until the rollout ends."""
STEP_MEASUREMENTS = 3
"""Measurements of the analysis that closes each step, after its pause."""


def live_selector(name: str) -> dict[str, str]:
    """The model's live pods (stable and canary; not the shadow's)."""
    return {kube.MODEL_LABEL: name, kube.TRAFFIC_LABEL: "live"}


def version_recording_rules(namespace: str, name: str) -> dict[str, Any]:
    """Per-version error ratio and p95 latency of the live pods, over 5 minutes."""
    selected = f'namespace="{namespace}",model="{name}",traffic="live"'
    by = "by (namespace, model, version)"
    return {
        "name": f"{name}-versions",
        "interval": "30s",
        "rules": [
            {
                "record": ERROR_RATIO_RECORD,
                "expr": f'sum {by} (rate(http_requests_total{{{selected},code=~"5.."}}[5m])) '
                f"/ sum {by} (rate(http_requests_total{{{selected}}}[5m]))",
            },
            {
                "record": LATENCY_P95_RECORD,
                "expr": f"histogram_quantile(0.95, sum by (namespace, model, version, le) "
                f"(rate(http_request_duration_seconds_bucket{{{selected}}}[5m])))",
            },
        ],
    }


def _measured(threshold: float) -> tuple[str, str]:
    """(success, failure) conditions: no data (no canary traffic yet) is neither, so it counts as
    inconclusive and, past the limit, pauses the rollout for a person instead of promoting it."""
    data = "len(result) > 0 && !isNaN(result[0])"
    return f"{data} && result[0] <= {threshold:g}", f"{data} && result[0] > {threshold:g}"


def analysis_metrics(name: str, namespace: str, spec: ModelEndpointSpec) -> list[dict[str, Any]]:
    """The template's metrics: the canary's error ratio and p95 latency, the model's burn rate."""
    assert spec.canary is not None
    analysis, slo = spec.canary.analysis, spec.slo
    budget = round(1 - slo.availability_target / 100, 6) if slo else None
    max_errors = analysis.max_error_ratio or budget or DEFAULT_MAX_ERROR_RATIO
    latency_ms = analysis.max_latency_p95_ms or (slo.latency_p95_ms if slo else None)
    version = f'namespace="{namespace}",model="{name}",version="{{{{args.version}}}}"'
    queries: list[tuple[str, str, float]] = []
    queries.append(("error-ratio", f"{ERROR_RATIO_RECORD}{{{version}}}", max_errors))
    if latency_ms is not None:
        queries.append(("latency-p95", f"{LATENCY_P95_RECORD}{{{version}}}", latency_ms / 1000))
    if budget is not None:
        burn = f'slo:availability_errors:ratio_rate5m{{slo_service="{spec.team}-{name}"}} / {budget:g}'
        queries.append(("burn-rate", burn, analysis.max_burn_rate))
    metrics = []
    for metric, query, threshold in queries:
        success, failure = _measured(threshold)
        metrics.append(
            {
                "name": metric,
                "interval": f"{analysis.interval_seconds}s",
                "count": "{{args.measurements}}",
                "failureLimit": analysis.failure_limit,
                "inconclusiveLimit": STEP_MEASUREMENTS,
                "successCondition": success,
                "failureCondition": failure,
                "provider": {"prometheus": {"address": PROMETHEUS_URL, "query": query}},
            }
        )
    return metrics


def canary_steps(name: str, spec: ModelEndpointSpec, *, routed: bool) -> list[dict[str, Any]]:
    """Each step: bound the canary's replicas to its weight (``routed``: the gateway splits by
    weight), shift the weight, hold it for the pause, then analyse. A held split (legacy ``weight``)
    pauses until someone promotes."""
    canary = spec.canary
    assert canary is not None
    steps: list[dict[str, Any]] = []
    for weight in canary.traffic_steps():
        if routed:
            scale = {"matchTrafficWeight": True} if weight == 100 else {"weight": weight}
            steps.append({"setCanaryScale": scale})
        steps.append({"setWeight": weight})
        if canary.holds:
            steps.append({"pause": {}})
        elif weight < 100:
            steps.append({"pause": {"duration": f"{canary.pause_minutes}m"}})
            steps.append({"analysis": analysis_reference(name, canary.name, str(STEP_MEASUREMENTS))})
    return steps


def analysis_reference(name: str, version: str, measurements: str) -> dict[str, Any]:
    return {
        "templates": [{"templateName": name}],
        "args": [{"name": "version", "value": version}, {"name": "measurements", "value": measurements}],
    }


def model_rollout(
    name: str,
    spec: ModelEndpointSpec,
    *,
    labels: dict[str, str],
    namespace: str,
    pods: PodTemplate,
    routed: bool,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """The Rollout, the stable and canary Services it steers, and the canary's AnalysisTemplate.
    ``pods``: the newest live version's pod template. ``routed``: the HTTPRoute splits traffic by
    weight (else the interceptor forwards to every live pod and the canary's share follows its
    replicas)."""
    metadata = {"name": name, "namespace": namespace, "labels": labels}
    # Argo adds its pod-template hash to these selectors; Pulumi must not take it away again.
    steered = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=["spec.selector"]))
    for role in ("stable", "canary"):
        service = {**metadata, "name": f"{name}-{role}"}
        model_service(f"{name}-rollout-{role}-service", service, "rollout", live_selector(name), steered)
    strategy: dict[str, Any] = {
        "stableService": f"{name}-stable",
        "canaryService": f"{name}-canary",
        "abortScaleDownDelaySeconds": 30,
        "steps": [],
    }
    if routed:
        strategy["trafficRouting"] = {"plugins": {PLUGIN: {"httpRoute": name, "namespace": namespace}}}
        strategy["scaleDownDelaySeconds"] = 30
    if spec.canary is not None:
        metrics = analysis_metrics(name, namespace, spec)
        arguments = [{"name": "version"}, {"name": "measurements", "value": BACKGROUND}]
        template = {"args": arguments, "metrics": metrics}
        kube.custom_resource(f"{name}-analysis", f"{ARGO}/AnalysisTemplate", metadata, template, opts)
        strategy["steps"] = canary_steps(name, spec, routed=routed)
        # In the background from the first pause: every minute of the canary is watched.
        strategy["analysis"] = {
            **analysis_reference(name, spec.canary.name, BACKGROUND),
            "startingStep": 2 if routed else 1,
        }
    versions = {
        v.name: {"traffic": spec.share(v), "replicas": spec.replica_percent(v)} for v in spec.versions()
    }
    annotations = {
        kube.ROLLOUT_VERSIONS_ANNOTATION: json.dumps(versions),
        kube.THROUGHPUT_ANNOTATION: f"{spec.throughput_per_replica:g}",
        kube.TIER_ANNOTATION: str(spec.tier),
        kube.MONITORING_ANNOTATION: ",".join(spec.monitoring_kinds()),
        **pods.lineage,
    }
    rollout = {
        # No replica count: the autoscaler (HPA or KEDA) owns it through /scale.
        "selector": {"matchLabels": live_selector(name)},
        "template": pods.template,
        "revisionHistoryLimit": 3,
        # A new revision must be ready within its startup budget plus a node's start, or it aborts.
        "progressDeadlineSeconds": spec.health.startup_seconds + 600,
        "progressDeadlineAbort": True,
        "strategy": {"canary": strategy},
    }
    return kube.custom_resource(
        f"{name}-rollout", f"{ARGO}/Rollout", {**metadata, "annotations": annotations}, rollout, opts
    )
