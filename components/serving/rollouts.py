"""``ArgoRollouts``: the controller that moves a model's canary by steps, runs its analysis on Prometheus
and rolls it back on its own.

Argo Rollouts from its vendored chart, with the Gateway API traffic-router plugin copied in from its
pinned image by an init container (no download at start), so the controller sets the weights of each
model's HTTPRoute. RBAC is the chart's, for the Gateway API provider only. Prometheus scrapes the
controller; two alerts say when a canary was aborted (and the revert must be made permanent in the
stack file) and when an analysis cannot measure.

Example::

    ArgoRollouts("rollouts", context, on_cluster, runbook_base_url=url,
                 dependencies=PlatformDependencies(prometheus_operator=[observability.prometheus_operator]))
"""

from __future__ import annotations

from typing import Any

import pulumi

from mlops_platform.components.observability.alerting import Alert, Severity, prometheus_rule, rule_labels
from mlops_platform.components.observability.stack import NAMESPACE as MONITORING
from mlops_platform.components.refs import PlatformDependencies
from mlops_platform.components.support import helm, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.pins import ROLLOUTS_GATEWAY_API_PLUGIN_IMAGE

NAMESPACE = "argo-rollouts"
PLUGIN = "argoproj-labs/gatewayAPI"
"""The traffic router a Rollout names in ``trafficRouting.plugins``."""
PLUGIN_DIR = "/plugins"
PLUGIN_BINARY = "rollouts-plugin-trafficrouter-gatewayapi"
CONTROLLER_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}
PLUGIN_COPY_RESOURCES = {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}}


def rollout_alerts(runbook_base_url: str) -> list[dict[str, Any]]:
    """A canary aborted by its analysis; an analysis that errs instead of measuring."""
    return [
        Alert(
            name="ModelRolloutAborted",
            expr='max by (namespace, name) (rollout_phase{phase="Abort"}) == 1',
            duration="1m",
            severity=Severity.WARNING,
            summary="Canary of {{ $labels.namespace }}/{{ $labels.name }} aborted: all traffic is back on stable",
            description="Its analysis failed (error ratio, p95 latency or burn rate over the threshold) and Argo "
            "Rollouts sent 100% of traffic back to the stable version. Make the revert permanent in the stack file.",
            runbook="rollout-aborted",
        ).rule(runbook_base_url),
        Alert(
            name="ModelAnalysisErroring",
            expr='max by (namespace, name, metric) (analysis_run_metric_phase{phase="Error"}) == 1',
            duration="5m",
            severity=Severity.WARNING,
            summary="Analysis {{ $labels.namespace }}/{{ $labels.name }} cannot measure {{ $labels.metric }}",
            description="The canary's analysis gets errors from Prometheus instead of measurements; after its "
            "error limit the rollout aborts, so a canary is never promoted unmeasured.",
            runbook="analysis-erroring",
        ).rule(runbook_base_url),
    ]


class ArgoRollouts(PlatformComponent):
    """The Argo Rollouts release with the Gateway API plugin, and its alerts."""

    release: pulumi.Resource
    """The release (Rollout and AnalysisTemplate CRDs): Rollouts wait for it."""

    def __init__(
        self,
        name: str,
        context: StackContext,
        opts: pulumi.ResourceOptions,
        *,
        runbook_base_url: str,
        dependencies: PlatformDependencies,
    ):
        super().__init__("mlops:rollouts:ArgoRollouts", name, "ArgoRollouts", context.problems(), opts)
        # Two in prod: leader election keeps one active, the other takes over within seconds.
        replicas = 2 if context.environment is Environment.PROD else 1
        plugins = {"name": "plugins", "mountPath": PLUGIN_DIR}
        self.release = helm.release(
            f"{name}-release",
            "argo-rollouts",
            namespace=NAMESPACE,
            create_namespace=True,
            values={
                "controller": {
                    "replicas": replicas,
                    "resources": CONTROLLER_RESOURCES,
                    "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                    "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
                    # The plugin binary comes from its pinned image, not from a URL at start-up.
                    "initContainers": [
                        {
                            "name": "copy-gateway-api-plugin",
                            "image": ROLLOUTS_GATEWAY_API_PLUGIN_IMAGE,
                            "command": ["/bin/sh", "-c"],
                            "args": [f"cp /bin/{PLUGIN_BINARY} {PLUGIN_DIR}/"],
                            "volumeMounts": [plugins],
                            "resources": PLUGIN_COPY_RESOURCES,
                            "securityContext": kube.restricted_container_security(),
                        }
                    ],
                    "trafficRouterPlugins": [
                        {"name": PLUGIN, "location": f"file://{PLUGIN_DIR}/{PLUGIN_BINARY}"}
                    ],
                    "volumes": [{"name": "plugins", "emptyDir": {}}],
                    "volumeMounts": [plugins],
                },
                # RBAC for the one traffic router in use, the Gateway API's.
                "providerRBAC": {
                    "providers": {
                        provider: provider == "gatewayAPI"
                        for provider in (
                            "istio",
                            "smi",
                            "ambassador",
                            "awsLoadBalancerController",
                            "awsAppMesh",
                            "traefik",
                            "apisix",
                            "contour",
                            "glooPlatform",
                            "gatewayAPI",
                        )
                    }
                },
                "dashboard": {"enabled": False},
            },
            opts=self.after(dependencies.prometheus_operator),
            footprint=helm.Footprint(system_pods=((replicas, CONTROLLER_RESOURCES),)),
        )
        prometheus_rule(
            f"{name}-alerts",
            namespace=MONITORING,
            groups=[{"name": "model-rollouts", "rules": rollout_alerts(runbook_base_url)}],
            labels=rule_labels("model-rollouts"),
            object_name="model-rollouts",
            opts=self.after(dependencies.prometheus_operator),
        )
        self.register_outputs({})
