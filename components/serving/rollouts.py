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

import pulumi

from mlops_platform.components.observability.engine_alerts import engine_alerts
from mlops_platform.components.refs import PlatformDependencies
from mlops_platform.components.support import helm, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.pins import ROLLOUTS_GATEWAY_API_PLUGIN_IMAGE

NAMESPACE = "argo-rollouts"
PLUGIN = "argoproj-labs/gatewayAPI"
"""The traffic router a Rollout names in ``trafficRouting.plugins``."""
PLUGIN_PATH = "/plugins/rollouts-plugin-trafficrouter-gatewayapi"
"""Where the init container puts the plugin's binary (from ``/bin`` of its image)."""
RESOURCES = {
    "controller": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    "plugin-copy": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
}


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
        plugin_dir, _, binary = PLUGIN_PATH.rpartition("/")
        plugins = {"name": "plugins", "mountPath": plugin_dir}
        values = {
            "controller": {
                "replicas": replicas,
                "resources": RESOURCES["controller"],
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "metrics": {"enabled": True, "serviceMonitor": {"enabled": True}},
                # The plugin binary comes from its pinned image, not from a URL at start-up.
                "initContainers": [
                    {
                        "name": "copy-gateway-api-plugin",
                        "image": ROLLOUTS_GATEWAY_API_PLUGIN_IMAGE,
                        "command": ["/bin/sh", "-c"],
                        "args": [f"cp /bin/{binary} {plugin_dir}/"],
                        "volumeMounts": [plugins],
                        "resources": RESOURCES["plugin-copy"],
                        "securityContext": kube.restricted_container_security(),
                    }
                ],
                "trafficRouterPlugins": [{"name": PLUGIN, "location": f"file://{PLUGIN_PATH}"}],
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
        }
        controller = helm.Footprint(system_pods=((replicas, RESOURCES["controller"]),))
        monitored = self.after(dependencies.prometheus_operator)
        self.release = helm.release(
            f"{name}-release",
            "argo-rollouts",
            namespace=NAMESPACE,
            create_namespace=True,
            values=values,
            opts=monitored,
            footprint=controller,
        )
        engine_alerts(name, "model-rollouts", runbook_base_url, monitored)
        self.register_outputs({})
