"""``ModelEndpoint``: one model served from its own image, with canary, autoscaling, SLO alerts and
least privilege built in.

It renders, in the team's namespace: a ServiceAccount whose Pod Identity role reads only the model's
artifact prefix and pulls only the model's ECR repository; a Deployment, Service and autoscaler per
version plus a stable Service; a PodDisruptionBudget when at least two replicas must stay up; a
NetworkPolicy admitting only the load balancer and Prometheus; a ServiceMonitor; burn-rate SLO alerts;
and an internal ALB Ingress that splits traffic between the stable version and the canary by weight.

Example (a team's own project)::

    platform = await PlatformRef.from_stack_reference(
        pulumi.StackReference("acme/mlops-platform/prod"), owner="fraud-team", cost_center="cc-7")
    ModelEndpoint("scorer", ModelEndpointSpec(
        team="fraud",
        stable=ModelVersion(name="v3", image_tag="3.0.1", weight=90),
        canary=ModelVersion(name="v4", image_tag="4.0.0-rc1", weight=10),
        resources=ComputeResources(cpu="2", memory="8Gi", gpus=1, gpu_pool="gpu-baseline"),
        replicas=Replicas(min=2, max=8), slo=ServiceLevel(availability_target=99.9, latency_p95_ms=250)),
        platform, opts=pulumi.ResourceOptions(provider=platform.provider()))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform.components.data.container_registry import ContainerRegistry, ContainerRegistrySpec
from mlops_platform.components.data.platform_secrets import SecretRef, external_secret
from mlops_platform.components.foundation.load_balancer_controller import (
    internal_ingress,
    load_balancer_hostname,
)
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.observability.alerting import (
    ServiceLevelObjective,
    prometheus_rule,
    slo_rule_groups,
)
from mlops_platform.components.refs import PlatformRef
from mlops_platform.components.serving.model_endpoint.spec import ModelEndpointSpec
from mlops_platform.components.serving.model_endpoint.workloads import (
    MODEL_LABEL,
    SERVICE_ROLE_LABEL,
    artifact_uri,
    model_service,
    version_workload,
)
from mlops_platform.components.serving.team_namespace import TeamNamespace, TeamSpec
from mlops_platform.components.support import iam, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.tagging import LINEAGE_TAG_PREFIX


class ModelEndpoint(PlatformComponent):
    """Everything one model needs to serve traffic safely."""

    url: pulumi.Output[str]
    """URL of the endpoint (through the internal ALB)."""
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
            for version in spec.versions()
            for key, value in version.lineage().items()
        }
        super().__init__(
            "mlops:model_endpoint:ModelEndpoint",
            name,
            "ModelEndpointSpec",
            [*spec.problems(name, platform.environment, platform.gpu_pools), *platform.context.problems()],
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
        for version in spec.versions():
            version_workload(
                name,
                spec,
                platform,
                version,
                labels=labels,
                namespace=namespace_name,
                prefix=prefix,
                base_path=base_path,
                repository_url=self.repository_url,
                secret_name=secret_name,
                opts=in_namespace,
            )
        metadata = {"name": name, "namespace": namespace_name, "labels": labels}
        model_service(f"{name}-stable-service", metadata, "stable", {MODEL_LABEL: name}, in_namespace)
        if replicas.min >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata={"name": name, "namespace": namespace_name, "labels": labels},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": {MODEL_LABEL: name}}},
                opts=in_namespace,
            )
        self._network_policy(name, spec, platform, labels, namespace_name, in_namespace)
        monitoring = after(depends.prometheus_operator)
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": name, "namespace": namespace_name, "labels": labels},
            spec={
                # Per-version Services only, so each pod is scraped once.
                "selector": {"matchLabels": {MODEL_LABEL: name, SERVICE_ROLE_LABEL: "version"}},
                "endpoints": [
                    {
                        "port": "http",
                        "path": "/metrics",
                        "interval": "30s",
                        "relabelings": [{"action": "replace", "targetLabel": "model", "replacement": name}],
                    }
                ],
            },
            opts=monitoring,
        )
        if spec.slo is not None:
            objective = ServiceLevelObjective(
                service=f"{spec.team}-{name}",
                selector={"namespace": namespace_name, "model": name},
                availability_target=spec.slo.availability_target,
                latency_p95_ms=spec.slo.latency_p95_ms,
            )
            prometheus_rule(
                f"{name}-slo",
                namespace=namespace_name,
                groups=slo_rule_groups(objective, platform.runbook_base_url),
                labels=labels,
                opts=monitoring,
            )
        ingress = self._ingress(
            name, spec, labels, namespace_name, base_path, after(depends.load_balancer_controller)
        )
        scheme = "https" if spec.certificate_arn else "http"
        host = pulumi.Output.from_input(spec.hostname) if spec.hostname else load_balancer_hostname(ingress)
        self.url = pulumi.Output.concat(scheme, "://", host, base_path, "/")
        self.role_arn = role.arn
        self.lineage = {
            v.name: {**v.lineage(), "artifact-uri": artifact_uri(platform, prefix, v)}
            for v in spec.versions()
        }
        self.register_outputs(
            {
                "url": self.url,
                "roleArn": self.role_arn,
                "repositoryUrl": self.repository_url,
                "lineage": self.lineage,
            }
        )

    def _network_policy(
        self,
        name: str,
        spec: ModelEndpointSpec,
        platform: PlatformRef,
        labels: dict[str, str],
        namespace: str,
        opts: pulumi.ResourceOptions,
    ) -> None:
        """Only the load balancer (IP targets, from inside the VPC) and Prometheus reach the pods."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata={"name": name, "namespace": namespace, "labels": labels},
            spec={
                "podSelector": {"matchLabels": {MODEL_LABEL: name}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"ipBlock": {"cidr": platform.vpc_cidr}}],
                        "ports": [{"protocol": "TCP", "port": spec.port}],
                    },
                    {
                        "from": [
                            {
                                "namespaceSelector": {
                                    "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                                },
                                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
                            }
                        ],
                        "ports": [{"protocol": "TCP", "port": spec.port}],
                    },
                ],
            },
            opts=opts,
        )

    def _ingress(
        self,
        name: str,
        spec: ModelEndpointSpec,
        labels: dict[str, str],
        namespace: str,
        base_path: str,
        opts: pulumi.ResourceOptions,
    ) -> k8s.networking.v1.Ingress:
        """The ALB splits traffic between the versions by weight (a forward action annotation)."""
        action = "weighted-versions"
        forward: dict[str, Any] = {
            "type": "forward",
            "forwardConfig": {
                "targetGroups": [
                    {"serviceName": f"{name}-{v.name}", "servicePort": "80", "weight": v.weight}
                    for v in spec.versions()
                ],
                "targetGroupStickinessConfig": {"enabled": False},
            },
        }
        return internal_ingress(
            f"{name}-ingress",
            object_name=name,
            namespace=namespace,
            labels=labels,
            path=base_path,
            backend={"service": {"name": action, "port": {"name": "use-annotation"}}},
            health_check_path=spec.health.readiness_path,
            hostname=spec.hostname,
            certificate_arn=spec.certificate_arn,
            annotations={f"alb.ingress.kubernetes.io/actions.{action}": json.dumps(forward, sort_keys=True)},
            opts=opts,
        )
