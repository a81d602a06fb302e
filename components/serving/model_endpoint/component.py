"""``ModelEndpoint``: one model served from its own image, with an analysed canary, shadow, A/B rules,
autoscaling or scale to zero, SLO alerts and least privilege built in.

It renders, in the team's namespace: a ServiceAccount whose Pod Identity role reads only the model's
artifact prefix and pulls only the model's ECR repository; a Service per version; a Rollout that runs
the live versions (its template is the newest one's) and walks the canary through its steps with an
AnalysisTemplate on the SLO signals; an HPA on the Rollout,
or KEDA's ScaledObject and InterceptorRoute when it scales to zero; the shadow's Deployment and HPA; a
PodDisruptionBudget when at least two replicas must stay up; a NetworkPolicy admitting only the model
gateway, the KEDA interceptor and Prometheus; a ServiceMonitor; per-version recording rules and
burn-rate SLO alerts; an HTTPRoute on the model gateway (A/B header rules, the weighted split Argo
Rollouts moves, the shadow's mirror); and a Grafana dashboard of its delivery.

Example (a team's own project)::

    platform = await PlatformRef.from_stack_reference(
        pulumi.StackReference("acme/mlops-platform/prod"), owner="fraud-team", cost_center="cc-7")
    ModelEndpoint("scorer", ModelEndpointSpec(
        team="fraud",
        stable=ModelVersion(name="v3", image_tag="3.0.1"),
        canary=CanaryVersion(name="v4", image_tag="4.0.0-rc1", steps=[5, 25, 50, 100]),
        shadow=Shadow(version=ModelVersion(name="v5", image_tag="5.0.0-rc1"), percent=20, paths=["/predict"]),
        ab_tests=[AbTest(header="x-cohort", value="b", version="v4")],
        resources=ComputeResources(cpu="2", memory="8Gi", gpus=1, gpu_pool="gpu-baseline"),
        replicas=Replicas(min=2, max=8), slo=ServiceLevel(availability_target=99.9, latency_p95_ms=250)),
        platform, opts=pulumi.ResourceOptions(provider=platform.provider()))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform.components.data.container_registry import ContainerRegistry, ContainerRegistrySpec
from mlops_platform.components.data.platform_secrets import SecretRef, external_secret
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.lifecycle.model_monitor import ModelMonitor, monitoring_problems
from mlops_platform.components.observability.alerting import (
    ServiceLevelObjective,
    prometheus_rule,
    slo_rule_groups,
)
from mlops_platform.components.observability.monitors import monitor
from mlops_platform.components.observability.stack import NAMESPACE as MONITORING
from mlops_platform.components.refs import PlatformRef
from mlops_platform.components.serving.autoscaling import INTERCEPTOR_LABELS
from mlops_platform.components.serving.autoscaling import NAMESPACE as KEDA_NAMESPACE
from mlops_platform.components.serving.gateway import NAMESPACE as GATEWAY_NAMESPACE
from mlops_platform.components.serving.gateway import PROXY_LABELS
from mlops_platform.components.serving.model_endpoint.dashboard import dashboard_config_map
from mlops_platform.components.serving.model_endpoint.rollout import (
    live_selector,
    model_rollout,
    version_recording_rules,
)
from mlops_platform.components.serving.model_endpoint.routing import http_route, scale_to_zero
from mlops_platform.components.serving.model_endpoint.spec import ModelEndpointSpec
from mlops_platform.components.serving.model_endpoint.workloads import (
    MODEL_LABEL,
    SERVICE_ROLE_LABEL,
    artifact_uri,
    autoscaler,
    model_service,
    pod_template,
    shadow_workload,
    version_service,
)
from mlops_platform.components.serving.team_namespace import TeamNamespace, TeamSpec
from mlops_platform.components.support import iam, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.tagging import LINEAGE_TAG_PREFIX


class ModelEndpoint(PlatformComponent):
    """Everything one model needs to serve traffic safely."""

    url: pulumi.Output[str]
    """URL of the endpoint (through the model gateway)."""
    role_arn: pulumi.Output[str]
    """Role the model's pods assume."""
    lineage: dict[str, dict[str, pulumi.Input[str]]]
    """Version -> what it is made of: registered model and version, image digest or tag, artifact URI,
    training run, dataset, commit (the ``lineage.mlops-platform.io/*`` annotations, as data)."""
    repository_url: pulumi.Output[str]
    """ECR repository to push the model's images to."""
    namespace: str
    """Namespace the endpoint runs in."""

    def __init__(
        self,
        name: str,
        spec: ModelEndpointSpec,
        platform: PlatformRef,
        *,
        namespace: TeamNamespace | str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``platform``: everything the endpoint needs from the platform; ``namespace``: an existing
        TeamNamespace or namespace name (default: the endpoint creates its team's namespace)."""
        # Lineage as tags too, so an AWS-side reader (Cost Explorer, Config, the audit trail) sees
        # which registry version and digest each version of the role and repository serves.
        lineage_tags = {
            f"{LINEAGE_TAG_PREFIX}{version.name}/{key}": value
            for version in spec.all_versions()
            for key, value in version.lineage().items()
        }
        super().__init__(
            "mlops:model_endpoint:ModelEndpoint",
            name,
            "ModelEndpointSpec",
            [
                *spec.problems(name, platform.environment, platform.gpu_pools),
                *platform.context.problems(),
                *(monitoring_problems(platform) if spec.monitor is not None else []),
            ],
            opts,
        )
        child = self.child
        # The same owner on the AWS side as on the pods, so billing and the cost model agree.
        context = platform.context.tagged(team=spec.team, model=name, **lineage_tags)
        depends = platform.dependencies
        prefix = spec.artifact_prefix or f"models/{spec.team}/{name}/"
        replicas = spec.replicas

        if isinstance(namespace, TeamNamespace):
            namespace_name, namespace_ready = namespace.name, [namespace.namespace]
        elif isinstance(namespace, str):
            namespace_name, namespace_ready = namespace, []
        else:
            team_namespace = TeamNamespace(
                f"{name}-team", TeamSpec(name=spec.team, quota=spec.namespace_quota), opts=child
            )
            namespace_name, namespace_ready = team_namespace.name, [team_namespace.namespace]
        self.namespace = namespace_name

        role = PodIdentityRole(
            f"{name}-identity",
            PodIdentitySpec(namespace=namespace_name, service_account=name),
            cluster_name=platform.cluster_name,
            tags=context.tags,
            opts=child,
        )
        repository = f"{spec.team}/{name}"
        registry = ContainerRegistry(
            f"{name}-registry",
            ContainerRegistrySpec(repositories=[repository]),
            context,
            pull_principal_arns=[role.arn, platform.node_role_arn],
            kms_key_arn=platform.registry_kms_key_arn,
            opts=child,
        )
        repository_arn = registry.repository_arns[repository]
        self.repository_url = registry.repository_urls[repository]
        bucket_arn = pulumi.Output.concat("arn:aws:s3:::", platform.artifact_bucket_name)
        policy = pulumi.Output.all(
            bucket_arn, platform.artifact_kms_key_arn, repository_arn, platform.registry_kms_key_arn
        ).apply(
            lambda a: iam.document(
                [*iam.s3_read_statements(a[0], prefix, a[1]), *iam.ecr_pull_statements([a[2]], a[3])]
            )
        )
        # Exactly this model's prefix and repository: nothing else in the bucket or the registry.
        aws.iam.RolePolicy(f"{name}-access", role=role.role.id, policy=policy, opts=child)

        # Each object waits for its namespace and only for the platform piece it needs.
        def after(*extra: Sequence[pulumi.Resource]) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(
                parent=self, depends_on=[*namespace_ready, *(r for group in extra for r in group)]
            )

        labels = {
            **kube.labels(name, "model-server", instance=name),
            MODEL_LABEL: name,
            kube.TEAM_LABEL: spec.team,
        }
        in_namespace = after()
        k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata={"name": name, "namespace": namespace_name, "labels": labels},
            automount_service_account_token=spec.needs_service_account_token,
            opts=in_namespace,
        )
        secret_name = f"{name}-secrets" if spec.secrets else None
        if secret_name:
            external_secret(
                f"{name}-secret-sync",
                namespace=namespace_name,
                target=secret_name,
                entries={
                    s.env: SecretRef(f"{platform.secrets_path_prefix}/{s.secret}", s.property)
                    for s in spec.secrets
                },
                labels=labels,
                opts=after(depends.external_secrets),
            )

        base_path = f"/{spec.team}/{name}"
        uris = {v.name: artifact_uri(platform, prefix, v) for v in spec.all_versions()}
        templates = {
            v.name: pod_template(
                name,
                spec,
                platform,
                v,
                labels=labels,
                model_uri=uris[v.name],
                base_path=base_path,
                repository_url=self.repository_url,
                secret_name=secret_name,
            )
            for v in spec.all_versions()
        }
        for version in spec.versions():
            version_service(name, version, templates[version.name], namespace_name, False, in_namespace)
        if spec.shadow is not None:
            shadow_workload(
                name, spec, templates[spec.shadow.version.name], namespace=namespace_name, opts=in_namespace
            )
        metadata = {"name": name, "namespace": namespace_name, "labels": labels}
        # Every live pod, stable and canary: in-cluster callers and the KEDA interceptor use it.
        model_service(f"{name}-stable-service", metadata, "stable", live_selector(name), in_namespace)
        routed = spec.scale_to_zero is None
        newest = spec.canary or spec.stable
        rollout = model_rollout(
            name,
            spec,
            labels=labels,
            namespace=namespace_name,
            pods=templates[newest.name],
            routed=routed,
            opts=after(depends.rollouts),
        )
        if routed:
            autoscaler(
                f"{name}-autoscaler",
                spec,
                metadata,
                {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": name},
                *spec.replica_range(spec.stable),
                after([rollout]),
            )
        if replicas.min >= 2 and routed:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=metadata,
                spec={"maxUnavailable": 1, "selector": {"matchLabels": live_selector(name)}},
                opts=in_namespace,
            )
        self._network_policy(name, spec, labels, namespace_name, in_namespace)
        self._telemetry(name, spec, platform, labels, namespace_name, after(depends.prometheus_operator))
        route = http_route(name, spec, base_path=base_path, metadata=metadata, opts=after(depends.gateway))
        if not routed:
            scale_to_zero(
                name,
                spec,
                base_path=base_path,
                metadata=metadata,
                route=route,
                opts=after(depends.autoscaling, depends.gateway, [rollout]),
            )
        host = (
            pulumi.Output.from_input(platform.gateway_url).apply(
                lambda url: f"{url.split('://')[0]}://{spec.hostname}"
            )
            if spec.hostname
            else pulumi.Output.from_input(platform.gateway_url)
        )
        if spec.monitor is not None:
            ModelMonitor(
                name,
                spec.monitor,
                platform,
                team=spec.team,
                versions=[v.name for v in spec.all_versions()],
                namespace_ready=namespace_ready,
                opts=child,
            )
        self.url = pulumi.Output.concat(host, base_path, "/")
        self.role_arn = role.arn
        self.lineage = {v.name: {**v.lineage(), "artifact-uri": uris[v.name]} for v in spec.all_versions()}
        self.register_outputs(
            {
                "url": self.url,
                "roleArn": self.role_arn,
                "repositoryUrl": self.repository_url,
                "lineage": self.lineage,
            }
        )

    def _telemetry(
        self,
        name: str,
        spec: ModelEndpointSpec,
        platform: PlatformRef,
        labels: dict[str, str],
        namespace: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Scrape every pod once, labelled with its version and traffic (live or shadow); record the
        per-version signals the canary analysis reads; alert on the SLO of live traffic only."""
        pod_label = "__meta_kubernetes_pod_label_"
        monitor(
            f"{name}-service-monitor",
            "ServiceMonitor",
            namespace=namespace,
            labels=labels,
            selector={MODEL_LABEL: name},
            # Per-version and shadow Services only (each pod behind exactly one of them).
            match_expressions=[
                {"key": SERVICE_ROLE_LABEL, "operator": "In", "values": ["version", "shadow"]}
            ],
            endpoints=[
                {
                    "port": "http",
                    "path": "/metrics",
                    "interval": "30s",
                    "relabelings": [
                        {"action": "replace", "targetLabel": "model", "replacement": name},
                        {
                            "action": "replace",
                            "sourceLabels": [f"{pod_label}app_kubernetes_io_version"],
                            "targetLabel": "version",
                        },
                        {
                            "action": "replace",
                            "sourceLabels": [f"{pod_label}mlops_platform_io_traffic"],
                            "targetLabel": "traffic",
                        },
                    ],
                }
            ],
            object_name=name,
            opts=opts,
        )
        prometheus_rule(
            f"{name}-delivery",
            namespace=namespace,
            groups=[version_recording_rules(namespace, name)],
            labels=labels,
            object_name=f"{name}-delivery",
            opts=opts,
        )
        if spec.slo is not None:
            objective = ServiceLevelObjective(
                service=f"{spec.team}-{name}",
                # The shadow's requests are copies whose answers nobody gets: never in the SLO.
                selector={"namespace": namespace, "model": name, "traffic": "live"},
                availability_target=spec.slo.availability_target,
                latency_p95_ms=spec.slo.latency_p95_ms,
            )
            prometheus_rule(
                f"{name}-slo",
                namespace=namespace,
                groups=slo_rule_groups(objective, platform.runbook_base_url),
                labels=labels,
                opts=opts,
            )
        dashboard_config_map(name, namespace=namespace, labels=labels, opts=opts)

    def _network_policy(
        self,
        name: str,
        spec: ModelEndpointSpec,
        labels: dict[str, str],
        namespace: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Only the model gateway's proxies, the KEDA interceptor and Prometheus reach the pods."""

        def peer(namespace: str, pods: dict[str, str]) -> dict[str, Any]:
            return {
                "from": [
                    {
                        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                        "podSelector": {"matchLabels": pods},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": spec.port}],
            }

        proxies = {k: PROXY_LABELS[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/component")}
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata={"name": name, "namespace": namespace, "labels": labels},
            spec={
                "podSelector": {"matchLabels": {MODEL_LABEL: name}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    peer(GATEWAY_NAMESPACE, proxies),
                    peer(KEDA_NAMESPACE, dict(INTERCEPTOR_LABELS)),
                    peer(MONITORING, {"app.kubernetes.io/name": "prometheus"}),
                ],
            },
            opts=opts,
        )
