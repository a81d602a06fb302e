"""``KedaAutoscaling``: KEDA and its HTTP add-on, so an endpoint can scale to zero and hold the first
request while a replica starts.

KEDA from its vendored chart may scale only Argo Rollouts (its RBAC for custom ``/scale`` targets is
narrowed to them). The HTTP add-on's interceptor holds requests for a model at zero replicas until one
is ready: its readiness and response-header timeouts are raised to the longest cold start an endpoint
may budget (a GPU node, an image pull, a model load) and its memory limit to what the held requests
need. The add-on is beta (docs/adr/0002-progressive-delivery.md states its limits). A ReferenceGrant
lets team HTTPRoutes send traffic to the interceptor; Prometheus scrapes KEDA and the interceptor.

Example::

    KedaAutoscaling("autoscaling", context, on_cluster, team_names=["risk"], runbook_base_url=url,
                    dependencies=PlatformDependencies(prometheus_operator=[observability.prometheus_operator]))
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.observability.engine_alerts import engine_alerts
from mlops_platform.components.observability.monitors import monitor
from mlops_platform.components.refs import PlatformDependencies
from mlops_platform.components.support import helm, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment

NAMESPACE = "keda"
COLD_START_LIMIT_SECONDS = 900
"""The longest cold start any endpoint may budget: the interceptor's timeouts and the gateway's load
balancer idle timeout are set to it, so no hop gives up before the first request is answered."""
INTERCEPTOR_SERVICE = "keda-add-ons-http-interceptor-proxy"
"""The interceptor's proxy Service: a scaled-to-zero model's HTTPRoute sends its requests here."""
INTERCEPTOR_PORT = 8080
EXTERNAL_SCALER = f"keda-add-ons-http-external-scaler.{NAMESPACE}:9090"
"""Where a model's ScaledObject asks how many requests wait (its ``external-push`` trigger)."""
INTERCEPTOR_METRICS_PORT = 2223
"""The interceptor's Prometheus endpoint (OTEL_PROM_EXPORTER_PORT's default)."""
INTERCEPTOR_LABELS = {"app.kubernetes.io/component": "interceptor", "app.kubernetes.io/name": "http-add-on"}
KEDA_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
ADD_ON_RESOURCES = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
INTERCEPTOR_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
"""Held requests live in the interceptor's memory through a cold start: well above the chart's 64Mi."""


class KedaAutoscaling(PlatformComponent):
    """KEDA, the HTTP add-on, the ReferenceGrant to its interceptor, scrape targets and alerts."""

    releases: list[pulumi.Resource]
    """KEDA's release (ScaledObject CRD) and its HTTP add-on's (InterceptorRoute CRD, after KEDA's):
    ScaledObjects and InterceptorRoutes wait for them."""

    def __init__(
        self,
        name: str,
        context: StackContext,
        opts: pulumi.ResourceOptions,
        *,
        team_names: Sequence[str],
        runbook_base_url: str,
        dependencies: PlatformDependencies,
    ):
        """``team_names``: the namespaces whose HTTPRoutes may reach the interceptor."""
        super().__init__(
            "mlops:autoscaling:KedaAutoscaling", name, "KedaAutoscaling", context.problems(), opts
        )
        replicas = 2 if context.environment is Environment.PROD else 1
        on_system = {"nodeSelector": kube.SYSTEM_NODE_SELECTOR}
        monitored = {"enabled": True, "serviceMonitor": {"enabled": True}}
        keda = helm.release(
            f"{name}-keda",
            "keda",
            namespace=NAMESPACE,
            create_namespace=True,
            values={
                "operator": {"replicaCount": replicas},
                "metricsServer": {"replicaCount": replicas},
                "webhooks": {"replicaCount": replicas},
                "resources": {part: KEDA_RESOURCES for part in ("operator", "metricServer", "webhooks")},
                **on_system,
                # Scale targets besides Deployments: Argo Rollouts only, not every /scale in the cluster.
                "rbac": {"scaledRefKinds": [{"apiGroup": "argoproj.io", "kind": "Rollout"}]},
                "prometheus": {part: monitored for part in ("operator", "metricServer", "webhooks")},
            },
            opts=self.after(dependencies.prometheus_operator),
            footprint=helm.Footprint(system_pods=((3 * replicas, KEDA_RESOURCES),)),
        )
        cold_start = f"{COLD_START_LIMIT_SECONDS}s"
        add_on = helm.release(
            f"{name}-http-add-on",
            "keda-add-ons-http",
            namespace=NAMESPACE,
            values={
                "operator": {"resources": ADD_ON_RESOURCES, **on_system},
                "scaler": {"replicas": replicas, "resources": ADD_ON_RESOURCES, **on_system},
                "interceptor": {
                    "replicas": {"min": replicas, "max": 10},
                    # A request may wait this long for the first replica, then for its first byte.
                    "readinessTimeout": cold_start,
                    "responseHeaderTimeout": cold_start,
                    "resources": INTERCEPTOR_RESOURCES,
                    **on_system,
                },
            },
            opts=self.after([keda]),
            footprint=helm.Footprint(
                system_pods=(
                    (1, ADD_ON_RESOURCES),
                    (replicas, ADD_ON_RESOURCES),
                    (replicas, INTERCEPTOR_RESOURCES),
                )
            ),
        )
        self.releases = [keda, add_on]
        labels = kube.labels("keda-add-ons-http", "autoscaling")
        k8s.apiextensions.CustomResource(
            f"{name}-interceptor-grant",
            api_version="gateway.networking.k8s.io/v1beta1",
            kind="ReferenceGrant",
            metadata={"name": "team-routes-to-interceptor", "namespace": NAMESPACE, "labels": labels},
            spec={
                "from": [
                    {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": team}
                    for team in sorted(team_names)
                ],
                "to": [{"group": "", "kind": "Service", "name": INTERCEPTOR_SERVICE}],
            },
            opts=self.after(dependencies.gateway, [add_on]),
        )
        telemetry = self.after(dependencies.prometheus_operator, [add_on])
        monitor(
            f"{name}-interceptor-monitor",
            "PodMonitor",
            namespace=NAMESPACE,
            labels=labels,
            selector=INTERCEPTOR_LABELS,
            endpoints=[{"portNumber": INTERCEPTOR_METRICS_PORT, "path": "/metrics", "interval": "30s"}],
            object_name="keda-http-interceptor",
            opts=telemetry,
        )
        engine_alerts(name, "model-autoscaling", runbook_base_url, telemetry)
        self.register_outputs({})
