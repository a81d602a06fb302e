"""How requests reach a model: its HTTPRoute on the model gateway, and, when it scales to zero, the
KEDA objects that hold the first request and scale its Rollout.

The HTTPRoute has, in order of precedence: one rule per A/B test (a header match, to that version's
Service), the mirrored paths (the weighted split plus a ``RequestMirror`` to the shadow), and the
default rule (the weighted split). Argo Rollouts' Gateway API plugin owns the split's weights, so
Pulumi ignores them after creation. A model that scales to zero sends its split to the KEDA
interceptor instead, which holds requests until a replica is ready; Envoy's circuit breaker bounds
how many wait.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.serving.autoscaling import (
    EXTERNAL_SCALER,
    INTERCEPTOR_PORT,
    INTERCEPTOR_SERVICE,
)
from mlops_platform.components.serving.autoscaling import NAMESPACE as KEDA_NAMESPACE
from mlops_platform.components.serving.gateway import GATEWAY, LISTENER
from mlops_platform.components.serving.gateway import NAMESPACE as GATEWAY_NAMESPACE
from mlops_platform.components.serving.model_endpoint.spec import ModelEndpointSpec
from mlops_platform.components.support import kube

REQUEST_TIMEOUT_SECONDS = 60
"""Gateway timeout of a request to a running model (the ALB's idle timeout the endpoints had before)."""


def _split(name: str, spec: ModelEndpointSpec) -> list[dict[str, Any]]:
    """The backends of live traffic: Argo's stable and canary Services (weights 100/0 until the
    plugin moves them), or the interceptor for a model that scales to zero."""
    if spec.scale_to_zero is not None:
        return [
            {
                "group": "",
                "kind": "Service",
                "name": INTERCEPTOR_SERVICE,
                "namespace": KEDA_NAMESPACE,
                "port": INTERCEPTOR_PORT,
            }
        ]
    return [
        {"group": "", "kind": "Service", "name": f"{name}-stable", "port": 80, "weight": 100},
        {"group": "", "kind": "Service", "name": f"{name}-canary", "port": 80, "weight": 0},
    ]


def http_route(
    name: str,
    spec: ModelEndpointSpec,
    *,
    base_path: str,
    metadata: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """The model's HTTPRoute on the ``models`` Gateway."""
    elastic = spec.scale_to_zero
    # A cold start is the node, the pull and the load: the gateway waits for it, and a little more.
    seconds = elastic.cold_start_seconds + 60 if elastic is not None else REQUEST_TIMEOUT_SECONDS
    timeouts = {"request": f"{seconds}s"}
    mirrored = [f"{base_path}{p}" for p in spec.shadow.paths] if spec.shadow is not None else []

    def prefixes(paths: list[str], headers: list[dict[str, str]] | None = None) -> list[dict[str, Any]]:
        return [
            {"path": {"type": "PathPrefix", "value": path}, **({"headers": headers} if headers else {})}
            for path in paths
        ]

    rules: list[dict[str, Any]] = []
    for i, test in enumerate(spec.ab_tests):
        header = [{"type": "Exact", "name": test.header, "value": test.value}]
        rules.append(
            {
                "name": f"ab-{i}",
                # Also on the mirrored paths: a longer path would otherwise win over the header.
                "matches": prefixes([base_path, *mirrored], header),
                "backendRefs": [
                    {"group": "", "kind": "Service", "name": f"{name}-{test.version}", "port": 80}
                ],
                "timeouts": timeouts,
            }
        )
    split_rules = []
    if spec.shadow is not None:
        mirror = {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {
                    "group": "",
                    "kind": "Service",
                    "name": f"{name}-{spec.shadow.version.name}",
                    "port": 80,
                },
                "percent": spec.shadow.percent,
            },
        }
        split_rules.append(len(rules))
        rules.append(
            {
                "name": "mirrored",
                "matches": prefixes(mirrored),
                "filters": [mirror],
                "backendRefs": _split(name, spec),
                "timeouts": timeouts,
            }
        )
    split_rules.append(len(rules))
    rules.append(
        {
            "name": "default",
            "matches": prefixes([base_path]),
            "backendRefs": _split(name, spec),
            "timeouts": timeouts,
        }
    )
    weights = [
        f"spec.rules[{rule}].backendRefs[{ref}].weight"
        for rule in split_rules
        for ref in range(len(_split(name, spec)))
        if elastic is None
    ]
    route = {
        "parentRefs": [
            {
                "group": "gateway.networking.k8s.io",
                "kind": "Gateway",
                "name": GATEWAY,
                "namespace": GATEWAY_NAMESPACE,
                "sectionName": LISTENER,
            }
        ],
        "rules": rules,
    }
    if spec.hostname:
        route["hostnames"] = [spec.hostname]
    # Argo Rollouts' plugin sets the weights while a canary runs; Pulumi must not set them back.
    ignored = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(ignore_changes=weights))
    return kube.custom_resource(
        f"{name}-route", "gateway.networking.k8s.io/v1/HTTPRoute", metadata, route, ignored
    )


def scale_to_zero(
    name: str,
    spec: ModelEndpointSpec,
    *,
    base_path: str,
    metadata: dict[str, Any],
    route: pulumi.Resource,
    opts: pulumi.ResourceOptions,
) -> None:
    """The interceptor's route to the model, the ScaledObject that scales its Rollout from zero on
    waiting requests (in place of an HPA), and the bound on requests waiting through a cold start."""
    elastic = spec.scale_to_zero
    assert elastic is not None
    cold_start = f"{elastic.cold_start_seconds}s"
    rule: dict[str, Any] = {"paths": [{"value": base_path}]}
    if spec.hostname:
        rule["hosts"] = [spec.hostname]
    interceptor_route = {
        "target": {"service": name, "port": 80},
        "rules": [rule],
        "scalingMetric": {"requestRate": {"targetValue": max(1, int(spec.throughput_per_replica))}},
        "timeouts": {"readiness": cold_start, "responseHeader": cold_start},
    }
    scaled_object = {
        "scaleTargetRef": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name},
        "minReplicaCount": 0,
        "maxReplicaCount": spec.replicas.max,
        "cooldownPeriod": elastic.idle_minutes * 60,
        "triggers": [
            {
                "type": "external-push",
                "metadata": {"scalerAddress": EXTERNAL_SCALER, "interceptorRoute": name},
            }
        ],
    }
    # Requests beyond the bound get a 503 at once instead of piling up in the interceptor.
    queue = {
        "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": name}],
        "circuitBreaker": {
            "maxPendingRequests": elastic.max_pending_requests,
            "maxParallelRequests": elastic.max_pending_requests,
        },
    }
    after_route = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[route]))
    for suffix, kind, body, options in (
        ("interceptor-route", "http.keda.sh/v1beta1/InterceptorRoute", interceptor_route, opts),
        ("scaled-object", "keda.sh/v1alpha1/ScaledObject", scaled_object, opts),
        ("cold-start-queue", "gateway.envoyproxy.io/v1alpha1/BackendTrafficPolicy", queue, after_route),
    ):
        kube.custom_resource(f"{name}-{suffix}", kind, metadata, body, options)
