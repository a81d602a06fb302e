"""``ModelEndpoint``: one model served from its own image, with canary, autoscaling, SLO alerts and
least privilege built in.

It renders, in the team's namespace: a ServiceAccount whose Pod Identity role reads only the model's
artifact prefix and pulls only the model's ECR repository; a Deployment, Service and autoscaler per
version plus a stable Service; a PodDisruptionBudget when at least two replicas must stay up; a
NetworkPolicy admitting only the load balancer and Prometheus; a ServiceMonitor; burn-rate SLO alerts;
and an internal ALB Ingress that splits traffic between the stable version and the canary by weight.

Example (a team's own project; ``platform`` is a ``StackReference`` to the platform stack)::

    ModelEndpoint("scorer", ModelEndpointArgs(
        environment=Environment.PROD, tags=tags, team="fraud",
        cluster_name=platform.get_output("clusterName"), region="us-east-1",
        artifact_bucket_name=platform.get_output("artifactBucket"),
        artifact_kms_key_arn=platform.get_output("artifactKmsKeyArn"),
        registry_kms_key_arn=platform.get_output("registryKmsKeyArn"),
        node_role_arn=platform.get_output("nodeRoleArn"),
        stable=ModelVersion(name="v3", image_tag="3.0.1", weight=90),
        canary=ModelVersion(name="v4", image_tag="4.0.0-rc1", weight=10),
        resources=ComputeResources(cpu="2", memory="8Gi", gpus=1, gpu_pool="gpu-baseline"),
        replicas=Replicas(min=2, max=8), slo=ServiceLevel(availability_target=99.9, latency_p95_ms=300)))
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
from mlops_platform.components.data.container_registry import ContainerRegistry, ContainerRegistryArgs
from mlops_platform.components.data.platform_secrets import SecretRef, external_secret
from mlops_platform.components.foundation.load_balancer_controller import INGRESS_CLASS, INTERNAL_GROUP
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from mlops_platform.components.observability.alerting import (
    ServiceLevelObjective,
    prometheus_rule,
    slo_rule_groups,
)
from mlops_platform.components.serving.team_namespace import (
    TEAM_LABEL,
    NamespaceQuota,
    TeamNamespace,
    TeamNamespaceArgs,
)
from mlops_platform.components.support import iam, kube
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.tagging import tag_problems
from mlops_platform.components.support.validation import Problem, dns_label_problem, raise_if_any

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")
SERVICE_ROLE_LABEL = f"{kube.LABEL_DOMAIN}/service-role"
MODEL_LABEL = f"{kube.LABEL_DOMAIN}/model"
RESERVED_ENV = ("MODEL_NAME", "MODEL_VERSION", "MODEL_URI", "BASE_PATH", "PORT")
"""Environment variables the platform sets itself; user env may not override them."""


@dataclass(frozen=True, kw_only=True)
class ModelVersion:
    """One version of the model: an image in the model's repository and its share of traffic."""

    name: str
    """Version name, e.g. ``v3``; part of the Deployment and Service names."""
    image_tag: str | None = None
    """Immutable image tag. One of tag or digest is required; ``latest`` is refused."""
    image_digest: str | None = None
    """Image digest ``sha256:...``; wins over the tag when both are set."""
    weight: int = 100
    """Percentage of traffic. Stable and canary must sum to 100. Default: 100."""
    model_path: str | None = None
    """Path of the artifact under the endpoint's prefix. Default: the version name."""

    def problems(self) -> list[Problem]:
        found = [p for p in [dns_label_problem("name", self.name, max_length=20)] if p]
        if self.image_tag is None and self.image_digest is None:
            found.append(Problem("image_tag", "set an immutable image tag or a digest (got neither)"))
        if self.image_tag is not None:
            if self.image_tag == "latest":
                found.append(Problem("image_tag", "must not be 'latest': pin a version or a digest"))
            elif not _TAG.match(self.image_tag):
                found.append(Problem("image_tag", f"must be a valid image tag (got {self.image_tag!r})"))
        if self.image_digest is not None and not _DIGEST.match(self.image_digest):
            found.append(
                Problem("image_digest", f"must be sha256:<64 hex characters> (got {self.image_digest!r})")
            )
        if not 0 <= self.weight <= 100:
            found.append(Problem("weight", f"must be between 0 and 100 (got {self.weight})"))
        return found

    def reference(self) -> str:
        return f"@{self.image_digest}" if self.image_digest else f":{self.image_tag}"


@dataclass(frozen=True, kw_only=True)
class ComputeResources:
    """What one replica requests (requests equal limits for GPUs; memory limit equals request)."""

    cpu: str = "1"
    """CPU request. Default: 1."""
    memory: str = "2Gi"
    """Memory request and limit. Default: 2Gi."""
    cpu_limit: str | None = None
    """CPU limit. Default: twice the request."""
    gpus: int = 0
    """``nvidia.com/gpu`` per replica. Default: 0."""
    gpu_pool: str | None = None
    """GPU pool to run on; required when ``gpus`` > 0."""

    def problems(self) -> list[Problem]:
        found = []
        for name in ("cpu", "memory", "cpu_limit"):
            value = getattr(self, name)
            if value is not None and not _QUANTITY.match(value):
                found.append(
                    Problem(name, f"must be a Kubernetes quantity such as 500m, 2 or 4Gi (got {value!r})")
                )
        if self.gpus < 0:
            found.append(Problem("gpus", f"must be >= 0 (got {self.gpus})"))
        if self.gpus > 0 and not self.gpu_pool:
            found.append(
                Problem("gpu_pool", f"must name a GPU pool when gpus > 0 (got gpus={self.gpus} and no pool)")
            )
        if self.gpu_pool and self.gpus == 0:
            found.append(Problem("gpus", f"must be >= 1 to run on GPU pool {self.gpu_pool!r} (got 0)"))
        return found

    def cpu_limit_value(self) -> str:
        if self.cpu_limit:
            return self.cpu_limit
        if self.cpu.endswith("m"):
            return f"{int(float(self.cpu[:-1]) * 2)}m"
        return str(float(self.cpu) * 2).removesuffix(".0")


@dataclass(frozen=True, kw_only=True)
class Replicas:
    min: int = 1
    """Replicas kept at all times. Default: 1."""
    max: int = 3
    """Upper bound for the autoscaler. Default: 3."""

    def problems(self) -> list[Problem]:
        found = []
        if self.min < 1:
            found.append(Problem("min", f"must be >= 1 (got {self.min})"))
        if self.max < self.min:
            found.append(Problem("max", f"must be >= replicas.min (got {self.max} < {self.min})"))
        return found


class ScalingMetric(StrEnum):
    CPU = "cpu"
    """Average CPU utilisation of the pods."""
    CUSTOM = "custom"
    """A per-pod metric served by a metrics adapter (e.g. requests in flight)."""


@dataclass(frozen=True, kw_only=True)
class Autoscaling:
    metric: ScalingMetric = ScalingMetric.CPU
    """What the autoscaler follows. Default: CPU."""
    target_cpu_utilization: int = 70
    """Target average CPU utilisation, in percent. Default: 70."""
    custom_metric: str | None = None
    """Name of the per-pod metric, with ``metric: custom``."""
    target_value: str | None = None
    """Target average value of that metric per pod, e.g. ``10``."""

    def problems(self) -> list[Problem]:
        found = []
        if self.metric is ScalingMetric.CPU and not 10 <= self.target_cpu_utilization <= 95:
            found.append(
                Problem(
                    "target_cpu_utilization", f"must be between 10 and 95 (got {self.target_cpu_utilization})"
                )
            )
        if self.metric is ScalingMetric.CUSTOM:
            if not self.custom_metric:
                found.append(Problem("custom_metric", "must name the metric when metric is custom"))
            if not self.target_value or not _QUANTITY.match(self.target_value):
                found.append(
                    Problem(
                        "target_value", f"must be a quantity such as 10 or 500m (got {self.target_value!r})"
                    )
                )
        return found


@dataclass(frozen=True, kw_only=True)
class ServiceLevel:
    availability_target: float = 99.9
    """Percentage of requests that must not fail with 5xx over 30 days. Default: 99.9."""
    latency_p95_ms: int = 500
    """95% of requests must finish within this many milliseconds. Default: 500."""


@dataclass(frozen=True, kw_only=True)
class HealthChecks:
    liveness_path: str = "/healthz"
    """Liveness probe path. Default: /healthz."""
    readiness_path: str = "/ready"
    """Readiness probe path (also the load balancer's health check). Default: /ready."""
    startup_seconds: int = 600
    """Time a replica may take to load its model before liveness applies. Default: 600."""

    def problems(self) -> list[Problem]:
        found = [
            Problem(n, f"must be an absolute path (got {getattr(self, n)!r})")
            for n in ("liveness_path", "readiness_path")
            if not _PATH.match(getattr(self, n))
        ]
        if not 10 <= self.startup_seconds <= 3600:
            found.append(
                Problem("startup_seconds", f"must be between 10 and 3600 (got {self.startup_seconds})")
            )
        return found


@dataclass(frozen=True, kw_only=True)
class SecretEnv:
    """An environment variable filled from a platform secret (through an ExternalSecret)."""

    env: str
    """Environment variable name."""
    secret: str
    """Secret path under the platform prefix (``<project>/<env>/<secret>``)."""
    property: str | None = None
    """JSON property of the secret. Default: the whole value."""


@dataclass(frozen=True)
class GpuPoolInfo:
    """What an endpoint needs to know about a GPU pool (the platform's ``gpuNodePools`` output)."""

    node_labels: Mapping[str, str]
    gpus_per_node: int


@dataclass(frozen=True, kw_only=True)
class ModelEndpointArgs:
    environment: Environment
    """Environment of the platform stack; prod requires an SLO and spreads replicas across zones."""
    tags: Mapping[str, str]
    """Tags for the AWS resources (role, repository); must carry the platform's required tags."""
    team: str
    """Owning team; the namespace and a label."""
    cluster_name: pulumi.Input[str]
    """Cluster to run on (the platform's ``clusterName`` output)."""
    region: str
    """AWS region of the cluster and the bucket."""
    artifact_bucket_name: pulumi.Input[str]
    """The platform's artifact bucket (``artifactBucket``)."""
    artifact_kms_key_arn: pulumi.Input[str]
    """Its key (``artifactKmsKeyArn``)."""
    registry_kms_key_arn: pulumi.Input[str]
    """Key for the model's repository (``registryKmsKeyArn``)."""
    node_role_arn: pulumi.Input[str]
    """Node role (``nodeRoleArn``): the kubelet pulls images with it."""
    stable: ModelVersion
    """The version serving most traffic."""
    canary: ModelVersion | None = None
    """A new version taking a slice of traffic. Default: none."""
    artifact_prefix: str | None = None
    """Prefix of the model's artifacts in the bucket. Default: ``models/<team>/<name>/``."""
    resources: ComputeResources = field(default_factory=ComputeResources)
    """Per-replica resources. Default: 1 CPU, 2Gi, no GPU."""
    replicas: Replicas | Mapping[Environment, Replicas] = field(default_factory=Replicas)
    """Replica range, or one per environment. Default: 1-3."""
    autoscaling: Autoscaling = field(default_factory=Autoscaling)
    """Autoscaling target. Default: 70% CPU."""
    slo: ServiceLevel | None = None
    """Availability and latency objective; required in prod. Default: none (no SLO alerts)."""
    port: int = 8080
    """Port the server listens on (HTTP and ``/metrics``). Default: 8080."""
    health: HealthChecks = field(default_factory=HealthChecks)
    """Probe paths. Default: /healthz and /ready."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables. Default: none."""
    secrets: Sequence[SecretEnv] = ()
    """Environment variables from platform secrets. Default: none."""
    secret_path_prefix: str | None = None
    """Platform secret prefix (``secretsPathPrefix``); required with ``secrets``."""
    gpu_pools: Mapping[str, GpuPoolInfo] | None = None
    """Known GPU pools; an unknown ``resources.gpu_pool`` is refused. Default: pools are not checked
    and the pool label convention is used."""
    namespace: TeamNamespace | str | None = None
    """An existing TeamNamespace or namespace name. Default: the endpoint creates the team namespace."""
    namespace_quota: NamespaceQuota = field(default_factory=NamespaceQuota)
    """Quota when the endpoint creates the namespace. Default: 32 CPU, 128Gi, 4 GPUs."""
    load_balancer_source_cidrs: Sequence[str] = ("10.0.0.0/8",)
    """Where the ALB's traffic comes from (the VPC CIDR): the only source the NetworkPolicy admits
    on the serving port besides Prometheus. Default: 10.0.0.0/8."""
    hostname: str | None = None
    """Host for the Ingress rule. Default: none; the endpoint is served at ``/<team>/<name>/``."""
    certificate_arn: str | None = None
    """ACM certificate for HTTPS. Default: HTTP inside the VPC."""
    runbook_base_url: str = "https://github.com/acme/mlops-platform/blob/main/docs/runbooks"
    """Where SLO alerts link to (the platform's ``runbookBaseUrl``)."""
    needs_service_account_token: bool = False
    """Mount a Kubernetes API token in the pods. Default: no; servers do not call the API."""
    load_balancer_controller: Sequence[pulumi.Resource] = ()
    """What the Ingress waits for (the controller's release, whose webhook checks Ingresses). Default: none."""
    prometheus_operator: Sequence[pulumi.Resource] = ()
    """What the ServiceMonitor and PrometheusRule wait for (the operator's CRDs). Default: none."""
    external_secrets: Sequence[pulumi.Resource] = ()
    """What the ExternalSecret waits for (the operator and its ClusterSecretStore). Default: none."""

    def replica_range(self) -> Replicas:
        if isinstance(self.replicas, Replicas):
            return self.replicas
        return self.replicas[self.environment]

    def problems(self, name: str) -> list[Problem]:
        found = tag_problems(self.tags)
        found += [
            p
            for p in [dns_label_problem("name", name, max_length=40), dns_label_problem("team", self.team)]
            if p
        ]
        found += [p.nested("stable") for p in self.stable.problems()]
        if self.canary is not None:
            found += [p.nested("canary") for p in self.canary.problems()]
            if self.canary.name == self.stable.name:
                found.append(
                    Problem("canary.name", f"must differ from the stable version (both {self.stable.name!r})")
                )
            total = self.stable.weight + self.canary.weight
            if total != 100:
                found.append(
                    Problem(
                        "canary.weight",
                        f"stable and canary weights must sum to 100 (got {self.stable.weight} + {self.canary.weight} = {total})",
                    )
                )
        elif self.stable.weight != 100:
            found.append(Problem("stable.weight", f"must be 100 without a canary (got {self.stable.weight})"))
        found += [p.nested("resources") for p in self.resources.problems()]
        pool = self.resources.gpu_pool
        if pool and self.gpu_pools is not None:
            if pool not in self.gpu_pools:
                known = ", ".join(sorted(self.gpu_pools)) or "none"
                found.append(
                    Problem("resources.gpu_pool", f"unknown GPU pool {pool!r}; known pools: {known}")
                )
            elif self.resources.gpus > self.gpu_pools[pool].gpus_per_node:
                found.append(
                    Problem(
                        "resources.gpus",
                        f"pool {pool!r} has {self.gpu_pools[pool].gpus_per_node} GPU(s) per node; a replica cannot use {self.resources.gpus}",
                    )
                )
        if isinstance(self.replicas, Replicas):
            found += [p.nested("replicas") for p in self.replicas.problems()]
        elif self.environment not in self.replicas:
            found.append(Problem("replicas", f"has no entry for {self.environment.value}"))
        else:
            found += [
                p.nested(f"replicas.{self.environment.value}")
                for p in self.replicas[self.environment].problems()
            ]
        found += [p.nested("autoscaling") for p in self.autoscaling.problems()]
        found += [p.nested("health") for p in self.health.problems()]
        if self.slo is None and self.environment is Environment.PROD:
            found.append(Problem("slo", "is required in prod: set an availability target and a p95 latency"))
        if self.slo is not None:
            objective = ServiceLevelObjective(
                service=name,
                selector={},
                availability_target=self.slo.availability_target,
                latency_p95_ms=self.slo.latency_p95_ms,
            )
            found += [p.nested("slo") for p in objective.problems()]
        if not 1024 <= self.port <= 65535:
            found.append(
                Problem("port", f"must be between 1024 and 65535: servers run as non-root (got {self.port})")
            )
        for key in self.env:
            if not _ENV_NAME.match(key):
                found.append(Problem(f"env.{key}", "must be a valid environment variable name"))
            elif key in RESERVED_ENV:
                found.append(
                    Problem(
                        f"env.{key}",
                        f"is set by the platform; choose another name (reserved: {', '.join(RESERVED_ENV)})",
                    )
                )
        for i, secret in enumerate(self.secrets):
            if not _ENV_NAME.match(secret.env):
                found.append(
                    Problem(
                        f"secrets[{i}].env", f"must be a valid environment variable name (got {secret.env!r})"
                    )
                )
        if self.secrets and not self.secret_path_prefix:
            found.append(
                Problem("secret_path_prefix", "is required with secrets (the platform's secretsPathPrefix)")
            )
        if self.artifact_prefix is not None and not re.match(
            r"^([a-z0-9][a-z0-9._-]*/)+$", self.artifact_prefix
        ):
            found.append(
                Problem(
                    "artifact_prefix",
                    f"must be a key prefix ending in '/', such as models/fraud/scorer/ (got {self.artifact_prefix!r})",
                )
            )
        return found


class ModelEndpoint(pulumi.ComponentResource):
    """Everything one model needs to serve traffic safely."""

    url: pulumi.Output[str]
    """URL of the endpoint (through the internal ALB)."""
    role_arn: pulumi.Output[str]
    """Role the model's pods assume."""
    repository_url: pulumi.Output[str]
    """ECR repository to push the model's images to."""
    namespace: str
    """Namespace the endpoint runs in."""

    def __init__(self, name: str, args: ModelEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        raise_if_any(f"ModelEndpointArgs for {name!r}", args.problems(name))
        super().__init__("mlops:model_endpoint:ModelEndpoint", name, None, opts)
        self._prefix = name
        child = pulumi.ResourceOptions(parent=self)
        tags = {**args.tags, "team": args.team}
        prefix = args.artifact_prefix or f"models/{args.team}/{name}/"
        replicas = args.replica_range()

        if isinstance(args.namespace, TeamNamespace):
            namespace, namespace_ready = args.namespace.name, [args.namespace.namespace]
        elif isinstance(args.namespace, str):
            namespace, namespace_ready = args.namespace, []
        else:
            team_namespace = TeamNamespace(
                f"{name}-team", TeamNamespaceArgs(team=args.team, quota=args.namespace_quota), opts=child
            )
            namespace, namespace_ready = team_namespace.name, [team_namespace.namespace]
        self.namespace = namespace

        role = PodIdentityRole(
            f"{name}-identity",
            PodIdentityRoleArgs(
                cluster_name=args.cluster_name, namespace=namespace, service_account=name, tags=tags
            ),
            opts=child,
        )
        registry = ContainerRegistry(
            f"{name}-registry",
            ContainerRegistryArgs(
                environment=args.environment,
                tags=tags,
                repositories=[f"{args.team}/{name}"],
                kms_key_arn=args.registry_kms_key_arn,
                pull_principal_arns=[role.arn, args.node_role_arn],
            ),
            opts=child,
        )
        repository_arn = registry.repository_arns[f"{args.team}/{name}"]
        self.repository_url = registry.repository_urls[f"{args.team}/{name}"]
        bucket_arn = pulumi.Output.concat("arn:aws:s3:::", args.artifact_bucket_name)
        policy = pulumi.Output.all(
            bucket_arn, args.artifact_kms_key_arn, repository_arn, args.registry_kms_key_arn
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
            TEAM_LABEL: args.team,
        }
        in_namespace = after()
        k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata={"name": name, "namespace": namespace, "labels": labels},
            automount_service_account_token=args.needs_service_account_token,
            opts=in_namespace,
        )
        secret_name = f"{name}-secrets" if args.secrets else None
        if args.secrets:
            external_secret(
                f"{name}-secret-sync",
                namespace=namespace,
                target=secret_name,
                entries={
                    s.env: SecretRef(f"{args.secret_path_prefix}/{s.secret}", s.property)
                    for s in args.secrets
                },
                labels=labels,
                opts=after(args.external_secrets),
            )

        versions = [args.stable, *([args.canary] if args.canary is not None else [])]
        base_path = f"/{args.team}/{name}"
        for version in versions:
            self._render_version(
                name, args, version, labels, namespace, prefix, base_path, replicas, secret_name, in_namespace
            )
        k8s.core.v1.Service(
            f"{name}-stable-service",
            metadata={
                "name": name,
                "namespace": namespace,
                "labels": {**labels, SERVICE_ROLE_LABEL: "stable"},
            },
            spec={
                "selector": {MODEL_LABEL: name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=in_namespace,
        )
        if replicas.min >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata={"name": name, "namespace": namespace, "labels": labels},
                spec={"maxUnavailable": 1, "selector": {"matchLabels": {MODEL_LABEL: name}}},
                opts=in_namespace,
            )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-network-policy",
            metadata={"name": name, "namespace": namespace, "labels": labels},
            spec={
                "podSelector": {"matchLabels": {MODEL_LABEL: name}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        # The ALB (IP targets) connects from addresses inside the VPC.
                        "from": [{"ipBlock": {"cidr": cidr}} for cidr in args.load_balancer_source_cidrs],
                        "ports": [{"protocol": "TCP", "port": args.port}],
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
                        "ports": [{"protocol": "TCP", "port": args.port}],
                    },
                ],
            },
            opts=in_namespace,
        )
        monitoring = after(args.prometheus_operator)
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": name, "namespace": namespace, "labels": labels},
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
        if args.slo is not None:
            objective = ServiceLevelObjective(
                service=f"{args.team}-{name}",
                selector={"namespace": namespace, "model": name},
                availability_target=args.slo.availability_target,
                latency_p95_ms=args.slo.latency_p95_ms,
            )
            prometheus_rule(
                f"{name}-slo",
                namespace=namespace,
                groups=slo_rule_groups(objective, args.runbook_base_url),
                labels=labels,
                opts=monitoring,
            )
        ingress = self._ingress(
            name, args, versions, labels, namespace, base_path, after(args.load_balancer_controller)
        )
        scheme = "https" if args.certificate_arn else "http"
        host = (
            pulumi.Output.from_input(args.hostname)
            if args.hostname
            else ingress.status.apply(lambda s: s.load_balancer.ingress[0].hostname)
        )
        self.url = pulumi.Output.concat(scheme, "://", host, base_path, "/")
        self.role_arn = role.arn
        self.register_outputs(
            {"url": self.url, "roleArn": self.role_arn, "repositoryUrl": self.repository_url}
        )

    def _render_version(
        self,
        name: str,
        args: ModelEndpointArgs,
        version: ModelVersion,
        labels: dict[str, str],
        namespace: str,
        prefix: str,
        base_path: str,
        replicas: Replicas,
        secret_name: str | None,
        opts: pulumi.ResourceOptions,
    ) -> None:
        resource = f"{name}-{version.name}"
        version_labels = {
            **labels,
            "app.kubernetes.io/instance": resource,
            "app.kubernetes.io/version": version.name,
        }
        selector = {MODEL_LABEL: name, "app.kubernetes.io/instance": resource}
        res = args.resources
        requests: dict[str, str] = {"cpu": res.cpu, "memory": res.memory}
        limits: dict[str, str] = {"cpu": res.cpu_limit_value(), "memory": res.memory}
        scheduling: dict[str, Any] = {}
        if res.gpus:
            # Extended resources must request what they limit; the scheduler counts whole GPUs.
            requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(res.gpus)
            pool = (args.gpu_pools or {}).get(res.gpu_pool or "")
            node_labels = (
                dict(pool.node_labels)
                if pool
                else {kube.GPU_POOL_LABEL: res.gpu_pool, kube.GPU_PRESENT_LABEL: "true"}
            )
            scheduling = {
                "nodeSelector": {
                    k: node_labels[k]
                    for k in (kube.GPU_POOL_LABEL, kube.GPU_PRESENT_LABEL)
                    if k in node_labels
                },
                "tolerations": [kube.GPU_TOLERATION],
            }
        if args.environment is Environment.PROD:
            scheduling["topologySpreadConstraints"] = [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    # GPU capacity is scarce in some zones: prefer spreading rather than refuse to schedule.
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": selector},
                }
            ]
        model_uri = pulumi.Output.concat(
            "s3://", args.artifact_bucket_name, "/", prefix, version.model_path or version.name, "/"
        )
        env = [
            {"name": "MODEL_NAME", "value": name},
            {"name": "MODEL_VERSION", "value": version.name},
            {"name": "MODEL_URI", "value": model_uri},
            {"name": "BASE_PATH", "value": base_path},
            {"name": "PORT", "value": str(args.port)},
            {"name": "AWS_DEFAULT_REGION", "value": args.region},
            {"name": "HOME", "value": "/tmp"},
            *({"name": k, "value": v} for k, v in sorted(args.env.items())),
        ]

        def probe(path: str) -> dict[str, Any]:
            return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}

        container: dict[str, Any] = {
            "name": "model",
            "image": pulumi.Output.concat(self.repository_url, version.reference()),
            "ports": [{"name": "http", "containerPort": args.port, "protocol": "TCP"}],
            "env": env,
            "resources": {"requests": requests, "limits": limits},
            "startupProbe": {
                **probe(args.health.readiness_path),
                "failureThreshold": max(1, args.health.startup_seconds // 10),
            },
            "readinessProbe": {**probe(args.health.readiness_path), "failureThreshold": 3},
            "livenessProbe": {**probe(args.health.liveness_path), "failureThreshold": 3},
            "securityContext": kube.restricted_container_security(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        }
        if secret_name:
            container["envFrom"] = [{"secretRef": {"name": secret_name}}]
        is_canary = version is not args.stable
        k8s.apps.v1.Deployment(
            f"{resource}-deployment",
            metadata={"name": resource, "namespace": namespace, "labels": version_labels},
            spec={
                # No replica count: the autoscaler owns it, and a count here would reset it on every update.
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": version_labels},
                    "spec": {
                        "serviceAccountName": name,
                        "automountServiceAccountToken": args.needs_service_account_token,
                        "securityContext": kube.restricted_pod_security(),
                        "containers": [container],
                        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}}],
                        "terminationGracePeriodSeconds": 60,
                        **scheduling,
                    },
                },
            },
            opts=opts,
        )
        k8s.core.v1.Service(
            f"{resource}-service",
            metadata={
                "name": resource,
                "namespace": namespace,
                "labels": {**version_labels, SERVICE_ROLE_LABEL: "version"},
            },
            spec={
                "selector": selector,
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
            opts=opts,
        )
        share = version.weight / 100.0 if is_canary else 1.0
        minimum = 1 if is_canary else replicas.min
        maximum = max(minimum, math.ceil(replicas.max * share)) if is_canary else replicas.max
        if args.autoscaling.metric is ScalingMetric.CPU:
            metric = {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": args.autoscaling.target_cpu_utilization,
                    },
                },
            }
        else:
            metric = {
                "type": "Pods",
                "pods": {
                    "metric": {"name": args.autoscaling.custom_metric},
                    "target": {"type": "AverageValue", "averageValue": args.autoscaling.target_value},
                },
            }
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{resource}-autoscaler",
            metadata={"name": resource, "namespace": namespace, "labels": version_labels},
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": resource},
                "minReplicas": minimum,
                "maxReplicas": maximum,
                "metrics": [metric],
                # Scale down slowly: GPU replicas take minutes to load a model.
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
            },
            opts=opts,
        )

    def _ingress(
        self,
        name: str,
        args: ModelEndpointArgs,
        versions: list[ModelVersion],
        labels: dict[str, str],
        namespace: str,
        base_path: str,
        opts: pulumi.ResourceOptions,
    ) -> k8s.networking.v1.Ingress:
        action = "weighted-versions"
        forward = {
            "type": "forward",
            "forwardConfig": {
                "targetGroups": [
                    {"serviceName": f"{name}-{v.name}", "servicePort": "80", "weight": v.weight}
                    for v in versions
                ],
                "targetGroupStickinessConfig": {"enabled": False},
            },
        }
        annotations = {
            "alb.ingress.kubernetes.io/scheme": "internal",
            "alb.ingress.kubernetes.io/target-type": "ip",
            "alb.ingress.kubernetes.io/group.name": INTERNAL_GROUP,
            "alb.ingress.kubernetes.io/healthcheck-path": args.health.readiness_path,
            f"alb.ingress.kubernetes.io/actions.{action}": json.dumps(forward, sort_keys=True),
        }
        if args.certificate_arn:
            annotations["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTPS": 443}]'
            annotations["alb.ingress.kubernetes.io/certificate-arn"] = args.certificate_arn
        else:
            annotations["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTP": 80}]'
        rule: dict[str, Any] = {
            "http": {
                "paths": [
                    {
                        "path": base_path,
                        "pathType": "Prefix",
                        "backend": {"service": {"name": action, "port": {"name": "use-annotation"}}},
                    }
                ]
            }
        }
        if args.hostname:
            rule["host"] = args.hostname
        return k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata={"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
            spec={"ingressClassName": INGRESS_CLASS, "rules": [rule]},
            opts=opts,
        )
