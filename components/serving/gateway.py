"""``ModelGateway``: Envoy Gateway (Gateway API), the in-cluster gateway every model is served through.

It installs Envoy Gateway from its vendored chart (with the Gateway API CRDs it requires), and
declares one GatewayClass, its EnvoyProxy settings and one Gateway, ``models``, whose listener admits
HTTPRoutes from team namespaces only. Each ``ModelEndpoint`` attaches one HTTPRoute to it: A/B header
rules, the weighted split Argo Rollouts moves, and the shadow's mirror.

The AWS Load Balancer Controller puts an internal NLB in front of the proxies; an ALB instead when a
WAF web ACL or a TLS certificate is configured (an NLB's TLS listener closes idle connections after
350 s, before a GPU cold start is over). In dev the proxies share the platform's internal ALB
instead, on a port of their own (``SHARED_PORT``), so no model path can shadow MLflow's or Grafana's:
one load balancer less. Each keeps a connection idle up to ``IDLE_TIMEOUT_SECONDS``,
longer than the longest cold start a model may budget. Envoy keeps or generates ``x-request-id`` and
copies it to mirrored requests, so the shadow's predictions join the stable's.

Example::

    ModelGateway("model-gateway", ModelGatewaySpec(), context, on_cluster, runbook_base_url=url,
                 dependencies=PlatformDependencies(load_balancer_controller=[lbc.release],
                                                   prometheus_operator=[observability.prometheus_operator]))
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.foundation.load_balancer_controller import (
    INTERNAL_GROUP,
    internal_ingress,
    load_balancer_hostname,
)
from mlops_platform.components.observability.engine_alerts import engine_alerts
from mlops_platform.components.observability.monitors import monitor
from mlops_platform.components.refs import PlatformDependencies
from mlops_platform.components.serving.autoscaling import COLD_START_LIMIT_SECONDS
from mlops_platform.components.support import helm, kube
from mlops_platform.components.support.aws import certificate_problem
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, range_problems

NAMESPACE = "envoy-gateway-system"
"""Envoy Gateway's controller, the Gateway and its proxies."""
GATEWAY = "models"
"""The Gateway every model's HTTPRoute attaches to (``parentRefs``)."""
GATEWAY_CLASS = "mlops-models"
LISTENER = "http"
LISTENER_PORT = 8080
"""Unprivileged, so Envoy listens on it as is; the load balancer serves port 80 (443 with TLS)."""
FRONT_SERVICE = "model-gateway"
"""The Service the load balancer sends traffic to."""
IDLE_TIMEOUT_SECONDS = COLD_START_LIMIT_SECONDS + 60
"""Load balancer idle timeout: a request held through the longest cold start must not be cut."""
SHARED_PORT = 8080
"""The shared internal ALB's listener for the models (MLflow and Grafana keep port 80)."""
ENVOY_READINESS_PORT = 19003
"""Envoy's readiness listener (``/ready``), which the load balancer health-checks."""
CONTROLLER_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
PROXY_RESOURCES = {"requests": {"cpu": "200m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
SHUTDOWN_MANAGER_RESOURCES = {"requests": {"cpu": "10m", "memory": "32Mi"}}
"""Envoy Gateway's default for the shutdown-manager sidecar of every proxy pod."""
DEFAULT_REPLICAS = {Environment.DEV: 1, Environment.STAGE: 2, Environment.PROD: 3}
PROXY_LABELS = {
    "app.kubernetes.io/name": "envoy",
    "app.kubernetes.io/component": "proxy",
    "app.kubernetes.io/managed-by": "envoy-gateway",
    "gateway.envoyproxy.io/owning-gateway-name": GATEWAY,
    "gateway.envoyproxy.io/owning-gateway-namespace": NAMESPACE,
}
"""The labels Envoy Gateway puts on the proxy pods of the ``models`` Gateway."""


@spec
class ModelGatewaySpec:
    """The model gateway and its load balancer."""

    replicas: int | None = None
    """Envoy proxy replicas. Default: 1 in dev, 2 in stage, 3 in prod."""
    hostname: str | None = None
    """DNS name clients use (a CNAME to the load balancer); HTTPRoutes with a model ``hostname`` match
    their own. Default: the load balancer's DNS name."""
    certificate_arns: Sequence[str] = ()
    """ACM certificates for HTTPS (an ALB with SNI; the platform adds its models' ``certificateArn``).
    Default: none (HTTP inside the VPC, on an NLB)."""
    waf_acl_arn: str | None = None
    """A WAFv2 web ACL to put in front of the models (an ALB). Default: none."""
    shared_load_balancer: bool | None = None
    """Serve the models from the platform's shared internal ALB, on port 8080 beside MLflow and
    Grafana on 80, rather than from a load balancer of their own: one load balancer less. Not with
    certificates or a web ACL, which would apply to the whole ALB. Default: on in dev unless a
    certificate or a web ACL is configured; off elsewhere."""

    def problems(self, model_certificate_arns: Sequence[str] = ()) -> list[Problem]:
        """``model_certificate_arns``: the ``certificateArn`` of the models it serves."""
        found = [] if self.replicas is None else range_problems("replicas", self.replicas, 1, 20)
        found += [
            p
            for i, arn in enumerate(self.certificate_arns)
            if (p := certificate_problem(f"certificate_arns[{i}]", arn))
        ]
        if self.waf_acl_arn is not None and ":wafv2:" not in self.waf_acl_arn:
            found.append(
                Problem(
                    "waf_acl_arn",
                    f"must be a WAFv2 web ACL ARN, arn:aws:wafv2:... (got {self.waf_acl_arn!r})",
                )
            )
        if self.shared_load_balancer and self._needs_own_alb(model_certificate_arns):
            found.append(
                Problem(
                    "shared_load_balancer",
                    "cannot be true with certificateArns, wafAclArn or a model's certificateArn: they "
                    "would apply to MLflow and Grafana on the shared ALB too; set it to false",
                )
            )
        return found

    def _needs_own_alb(self, model_certificate_arns: Sequence[str]) -> bool:
        return bool(self.certificate_arns or self.waf_acl_arn or model_certificate_arns)

    def shares_load_balancer(self, environment: Environment, model_certificate_arns: Sequence[str]) -> bool:
        """Whether the models are served from the shared internal ALB (``shared_load_balancer``)."""
        if self.shared_load_balancer is not None:
            return self.shared_load_balancer
        return environment is Environment.DEV and not self._needs_own_alb(model_certificate_arns)


class ModelGateway(PlatformComponent):
    """Envoy Gateway, the ``models`` Gateway, its load balancer, scrape targets and alerts."""

    url: pulumi.Output[str]
    """Base URL of the gateway: ``http(s)://<hostname or load balancer>``."""
    release: pulumi.Resource
    """The Envoy Gateway release (the Gateway API CRDs): HTTPRoutes wait for it."""
    gateway: pulumi.Resource
    """The Gateway object."""

    def __init__(
        self,
        name: str,
        spec: ModelGatewaySpec,
        context: StackContext,
        opts: pulumi.ResourceOptions,
        *,
        runbook_base_url: str,
        dependencies: PlatformDependencies,
        model_certificate_arns: Sequence[str] = (),
    ):
        """``model_certificate_arns``: the ``certificateArn`` of the models served here, added to the
        load balancer's certificates (served by SNI)."""
        environment = context.environment
        problems = spec.problems(model_certificate_arns)
        super().__init__("mlops:gateway:ModelGateway", name, "ModelGatewaySpec", problems, opts)
        certificates = sorted({*spec.certificate_arns, *model_certificate_arns})
        shared = spec.shares_load_balancer(environment, model_certificate_arns)
        replicas = spec.replicas or DEFAULT_REPLICAS[environment]
        on_system = {"nodeSelector": kube.SYSTEM_NODE_SELECTOR}
        self.release = helm.release(
            f"{name}-release",
            "gateway-helm",
            namespace=NAMESPACE,
            create_namespace=True,
            values={
                "deployment": {
                    "replicas": 2 if environment is Environment.PROD else 1,
                    "envoyGateway": {"resources": CONTROLLER_RESOURCES},
                    "pod": on_system,
                },
            },
            opts=self.child,
            footprint=helm.Footprint(
                system_pods=((2 if environment is Environment.PROD else 1, CONTROLLER_RESOURCES),),
                operated_pods=((replicas, PROXY_RESOURCES), (replicas, SHUTDOWN_MANAGER_RESOURCES)),
            ),
        )
        after_release = self.after([self.release])
        labels = kube.labels(GATEWAY, "model-gateway")
        proxy_config = k8s.apiextensions.CustomResource(
            f"{name}-proxy-config",
            api_version="gateway.envoyproxy.io/v1alpha1",
            kind="EnvoyProxy",
            metadata={"name": GATEWAY, "namespace": NAMESPACE, "labels": labels},
            spec={
                "provider": {
                    "type": "Kubernetes",
                    "kubernetes": {
                        "envoyDeployment": {
                            "replicas": replicas,
                            "container": {"resources": PROXY_RESOURCES},
                            "pod": on_system,
                        },
                        # Envoy's own Service stays internal; FRONT_SERVICE carries the load balancer.
                        "envoyService": {"type": "ClusterIP", "name": f"envoy-{GATEWAY}"},
                    },
                },
            },
            opts=after_release,
        )
        gateway_class = k8s.apiextensions.CustomResource(
            f"{name}-class",
            api_version="gateway.networking.k8s.io/v1",
            kind="GatewayClass",
            metadata={"name": GATEWAY_CLASS, "labels": labels},
            spec={
                "controllerName": "gateway.envoyproxy.io/gatewayclass-controller",
                "parametersRef": {
                    "group": "gateway.envoyproxy.io",
                    "kind": "EnvoyProxy",
                    "name": GATEWAY,
                    "namespace": NAMESPACE,
                },
            },
            opts=self.after([self.release, proxy_config]),
        )
        self.gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version="gateway.networking.k8s.io/v1",
            kind="Gateway",
            metadata={"name": GATEWAY, "namespace": NAMESPACE, "labels": labels},
            spec={
                "gatewayClassName": GATEWAY_CLASS,
                "listeners": [
                    {
                        "name": LISTENER,
                        "protocol": "HTTP",
                        "port": LISTENER_PORT,
                        # Team namespaces only: nothing else may publish a route on the model gateway.
                        "allowedRoutes": {
                            "namespaces": {
                                "from": "Selector",
                                "selector": {
                                    "matchExpressions": [{"key": kube.TEAM_LABEL, "operator": "Exists"}]
                                },
                            }
                        },
                    }
                ],
            },
            opts=self.after([self.release, gateway_class]),
        )
        # Every request carries an ID (the client's, or a new one); mirrored copies keep it.
        k8s.apiextensions.CustomResource(
            f"{name}-request-ids",
            api_version="gateway.envoyproxy.io/v1alpha1",
            kind="ClientTrafficPolicy",
            metadata={"name": f"{GATEWAY}-request-ids", "namespace": NAMESPACE, "labels": labels},
            spec={
                "targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}],
                "headers": {"requestID": "PreserveOrGenerate"},
            },
            opts=self.after([self.release, self.gateway]),
        )
        host = self._front_door(name, spec, certificates, labels, dependencies, shared=shared)
        scheme = "https" if certificates else "http"
        port = f":{SHARED_PORT}" if shared else ""
        self.url = pulumi.Output.concat(scheme, "://", spec.hostname or host, port)
        self._telemetry(name, runbook_base_url, dependencies)
        self.register_outputs({"url": self.url})

    def _front_door(
        self,
        name: str,
        spec: ModelGatewaySpec,
        certificates: list[str],
        labels: dict[str, str],
        dependencies: PlatformDependencies,
        *,
        shared: bool,
    ) -> pulumi.Output[str]:
        """The load balancer in front of the proxies, and its DNS name."""
        ports = [{"name": "http", "port": 80, "targetPort": LISTENER_PORT, "protocol": "TCP"}]
        opts = self.after(dependencies.load_balancer_controller, [self.gateway])
        if not shared and not certificates and spec.waf_acl_arn is None:
            service = k8s.core.v1.Service(
                f"{name}-load-balancer",
                metadata={
                    "name": FRONT_SERVICE,
                    "namespace": NAMESPACE,
                    "labels": labels,
                    "annotations": {
                        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
                        "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
                        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port": str(
                            ENVOY_READINESS_PORT
                        ),
                        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/ready",
                        "service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-80": (
                            f"tcp.idle_timeout.seconds={IDLE_TIMEOUT_SECONDS}"
                        ),
                    },
                },
                spec={
                    "type": "LoadBalancer",
                    "loadBalancerClass": "service.k8s.aws/nlb",
                    "selector": PROXY_LABELS,
                    "ports": ports,
                },
                opts=opts,
            )
            return service.status.apply(lambda s: s.load_balancer.ingress[0].hostname)
        k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": FRONT_SERVICE, "namespace": NAMESPACE, "labels": labels},
            spec={"type": "ClusterIP", "selector": PROXY_LABELS, "ports": ports},
            opts=opts,
        )
        annotations = {
            "alb.ingress.kubernetes.io/healthcheck-port": str(ENVOY_READINESS_PORT),
            "alb.ingress.kubernetes.io/load-balancer-attributes": f"idle_timeout.timeout_seconds={IDLE_TIMEOUT_SECONDS}",
        }
        if spec.waf_acl_arn:
            annotations["alb.ingress.kubernetes.io/wafv2-acl-arn"] = spec.waf_acl_arn
        ingress = internal_ingress(
            f"{name}-ingress",
            object_name=FRONT_SERVICE,
            namespace=NAMESPACE,
            labels=labels,
            path="/",
            backend={"service": {"name": FRONT_SERVICE, "port": {"name": "http"}}},
            health_check_path="/ready",
            certificate_arn=",".join(certificates) or None,
            # Shared: its own port, so "/" here shadows nothing on port 80, and the idle timeout (a
            # load-balancer setting) only lengthens MLflow's and Grafana's. Else its own ALB, for the
            # timeout and the web ACL.
            group=INTERNAL_GROUP if shared else "mlops-platform-models",
            http_port=SHARED_PORT if shared else 80,
            annotations=annotations,
            opts=opts,
        )
        return load_balancer_hostname(ingress)

    def _telemetry(self, name: str, runbook_base_url: str, dependencies: PlatformDependencies) -> None:
        """Prometheus scrapes the controller and every proxy; the 5xx alert reads the proxies."""
        opts = self.after(dependencies.prometheus_operator, [self.release])
        labels = kube.labels("envoy-gateway", "model-gateway")
        monitor(
            f"{name}-controller-monitor",
            "ServiceMonitor",
            namespace=NAMESPACE,
            labels=labels,
            selector={"control-plane": "envoy-gateway"},
            endpoints=[{"port": "metrics", "path": "/metrics", "interval": "30s"}],
            object_name="envoy-gateway",
            opts=opts,
        )
        monitor(
            f"{name}-proxy-monitor",
            "PodMonitor",
            namespace=NAMESPACE,
            labels=labels,
            selector={k: PROXY_LABELS[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/component")},
            endpoints=[{"port": "metrics", "path": "/stats/prometheus", "interval": "30s"}],
            object_name="envoy-proxies",
            opts=opts,
        )
        engine_alerts(name, "model-gateway", runbook_base_url, opts)
