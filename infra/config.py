"""Typed, validated stack configuration.

Stack files (``stacks/Pulumi.<stack>.yaml``) set top-level keys in the ``mlops-platform`` namespace.
This module turns them into component arguments, or reports every problem at once, each naming its
key path, the bad value and the fix::

    mlops-platform:gpuNodePools[1].maxSize: must be >= minSize (got 0 < 2)

Defaults depend on the environment (``ENVIRONMENT_DEFAULTS``); a stack file only says what differs.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, Literal, Union, get_args, get_origin

import pulumi
from mlops_platform.components.data.artifact_store import ArtifactStoreArgs
from mlops_platform.components.data.container_registry import (
    ContainerRegistryArgs,
    PullThroughCache,
    Scanning,
)
from mlops_platform.components.data.mlflow import MlflowDatabaseArgs
from mlops_platform.components.data.platform_secrets import SecretSpec
from mlops_platform.components.foundation.cluster import EksClusterArgs, SystemNodesArgs
from mlops_platform.components.foundation.gpu_node_pool import CapacityType, GpuAmiType, GpuNodePoolArgs
from mlops_platform.components.foundation.network import (
    ExistingNetwork,
    InterfaceEndpoint,
    NatGateways,
    NetworkArgs,
)
from mlops_platform.components.observability.alerting import Severity
from mlops_platform.components.observability.stack import (
    AlertReceiver,
    BudgetArgs,
    ObservabilityArgs,
    ReceiverKind,
)
from mlops_platform.components.serving.model_endpoint import (
    Autoscaling,
    ComputeResources,
    GpuPoolInfo,
    HealthChecks,
    ModelEndpointArgs,
    ModelVersion,
    Replicas,
    ScalingMetric,
    SecretEnv,
    ServiceLevel,
)
from mlops_platform.components.serving.team_namespace import NamespaceQuota, TeamNamespaceArgs
from mlops_platform.components.support import kube, pins
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.tagging import platform_tags
from mlops_platform.components.support.validation import Problem, image_problems
from mlops_platform.components.support.validation import to_camel as path_to_camel
from mlops_platform.infra.cost.model import DEFAULT_SPOT_PRICE_FACTORS, CostAssumptions, price_problems
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic.alias_generators import to_camel

NAMESPACE = "mlops-platform"
AWS_KEYS = {"aws:region", "aws:profile", "aws:allowedAccountIds"}
"""Provider keys a stack may set; any other ``aws:`` key is a typo."""
REGION_PATTERN = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")


class ConfigError(pulumi.RunError):
    """Bad stack configuration. ``pulumi up`` prints a RunError without a traceback."""

    exit_code = 2

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(
            f"invalid stack configuration ({len(self.problems)} problem(s)):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


class _Problems(ValueError):
    """Semantic problems found by a section; carried through pydantic to the formatter."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.render() for p in self.problems))


class _Section(BaseModel):
    """A config object: camelCase keys, unknown keys rejected, semantic checks after structure.

    Semantic checks (``semantic_problems``) run even when some fields are structurally wrong, on the
    fields that are right, so one run reports every problem.
    """

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False, frozen=True)

    def semantic_problems(self) -> list[Problem]:
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _with_semantics(cls, data: Any, handler: Any) -> Any:
        try:
            model = handler(data)
        except ValidationError as exc:
            problems = cls._partial_problems(data, exc)
            if not problems:
                raise
            errors: list[Any] = [
                {k: e[k] for k in ("type", "loc", "input", "ctx") if k in e} for e in exc.errors()
            ]
            errors.append(
                {"type": "value_error", "loc": (), "input": data, "ctx": {"error": _Problems(problems)}}
            )
            raise ValidationError.from_exception_data(cls.__name__, errors) from None
        problems = model.semantic_problems()
        if problems:
            raise _Problems(problems)
        return model

    @classmethod
    def _partial_problems(cls, data: Any, exc: ValidationError) -> list[Problem]:
        """Semantic problems of the fields that are structurally fine; wrong ones get a neutral
        placeholder, and any problem that mentions a wrong field is dropped (its own error stands)."""
        if not isinstance(data, dict):
            return []
        bad = {e["loc"][0] for e in exc.errors() if e["loc"]}
        values = {}
        for name, info in cls.model_fields.items():
            key = info.alias or name
            if key in data and key not in bad:
                try:
                    values[name] = TypeAdapter(info.annotation).validate_python(data[key])
                    continue
                except ValidationError:
                    pass
            bad.add(key)
            values[name] = (
                info.get_default(call_default_factory=True)
                if not info.is_required()
                else _placeholder(info.annotation)
            )
        try:
            problems = cls.model_construct(**values).semantic_problems()
        except (AttributeError, TypeError, KeyError, ValueError, IndexError):
            return []
        return [p for p in problems if not (_mentioned(p) & bad)]


def _placeholder(annotation: Any) -> Any:
    """A harmless stand-in of the right type for a field that failed validation."""
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return None
    return {int: 0, str: "", bool: False, float: 0.0}.get(
        annotation, [] if get_origin(annotation) is list else None
    )


def _mentioned(problem: Problem) -> set[str]:
    """camelCase top-level names a problem is about: its field and any ``<<field>>`` in its message."""
    names = {problem.field, *re.findall(r"<<([a-z_][a-z0-9_]*)>>", problem.message)}
    return {path_to_camel(n).split(".")[0].split("[")[0] for n in names}


# --- sections -----------------------------------------------------------------------------------


class FlowLogsConfig(_Section):
    enabled: bool = Field(description="Send VPC flow logs to an encrypted CloudWatch log group.")
    retention_days: int = Field(description="Retention of the flow-log group in days.")


class ExistingNetworkConfig(_Section):
    vpc_id: str = Field(description="ID of an existing VPC (bring your own network).")
    private_subnet_ids: list[str] = Field(description="Its private subnets, at least two AZs.")
    public_subnet_ids: list[str] = Field(default_factory=list, description="Its public subnets.")


class NetworkConfig(_Section):
    az_count: int = Field(description="Availability zones to spread over (2-6).")
    cidr: str = Field(description="VPC CIDR, /16 to /20.")
    nat_gateways: NatGateways = Field(description="`single` or `perAz`.")
    interface_endpoints: list[InterfaceEndpoint] = Field(
        description="Interface endpoints: any of ecr.api, ecr.dkr, sts, logs."
    )
    flow_logs: FlowLogsConfig = Field(description="VPC flow logs.")
    existing: ExistingNetworkConfig | None = Field(
        default=None, description="Use this VPC instead of creating one."
    )

    def to_args(self, environment: Environment, tags: Mapping[str, str]) -> NetworkArgs:
        existing = None
        if self.existing is not None:
            existing = ExistingNetwork(
                vpc_id=self.existing.vpc_id,
                private_subnet_ids=list(self.existing.private_subnet_ids),
                public_subnet_ids=list(self.existing.public_subnet_ids),
            )
        return NetworkArgs(
            environment=environment,
            tags=tags,
            az_count=self.az_count,
            cidr_block=self.cidr,
            nat_gateways=self.nat_gateways,
            interface_endpoints=list(self.interface_endpoints),
            flow_logs=self.flow_logs.enabled,
            flow_logs_retention_days=self.flow_logs.retention_days,
            existing=existing,
        )

    def semantic_problems(self) -> list[Problem]:
        problems = self.to_args(Environment.DEV, _PLACEHOLDER_TAGS).problems()
        renames = {"cidr_block": "cidr", "flow_logs_retention_days": "flow_logs.retention_days"}
        return [
            Problem(_rename(p.field, renames), p.message) for p in problems if not p.field.startswith("tags")
        ]


class EndpointConfig(_Section):
    public_access: bool = Field(
        description="Expose the API endpoint publicly, restricted to `publicAccessCidrs`."
    )
    public_access_cidrs: list[str] = Field(
        default_factory=list, description="CIDRs allowed to reach a public endpoint."
    )


class ClusterConfig(_Section):
    kubernetes_version: str = Field(description="EKS Kubernetes minor version.")
    admin_principal_arns: list[str] = Field(
        description="IAM roles/users given cluster-admin through access entries; include the identity that runs `pulumi up`."
    )
    endpoint: EndpointConfig = Field(description="API endpoint access.")

    def semantic_problems(self) -> list[Problem]:
        problems = self.to_args(
            Environment.DEV, _PLACEHOLDER_TAGS, "placeholder", SystemNodesArgs()
        ).problems()
        renames = {
            "endpoint_public_access": "endpoint.public_access",
            "public_access_cidrs": "endpoint.public_access_cidrs",
        }
        problems = [
            Problem(_rename(p.field, renames), p.message)
            for p in problems
            if not p.field.startswith(("tags", "system_nodes"))
        ]
        if not self.admin_principal_arns:
            problems.append(
                Problem(
                    "admin_principal_arns",
                    "must list at least one IAM role, including the one that runs pulumi up",
                )
            )
        return problems

    def to_args(
        self,
        environment: Environment,
        tags: Mapping[str, str],
        cluster_name: str,
        system_nodes: SystemNodesArgs,
        log_retention_days: int = 30,
    ) -> EksClusterArgs:
        return EksClusterArgs(
            environment=environment,
            tags=tags,
            subnet_ids=[],
            cluster_name=cluster_name,
            kubernetes_version=self.kubernetes_version,
            admin_principal_arns=list(self.admin_principal_arns),
            endpoint_public_access=self.endpoint.public_access,
            public_access_cidrs=list(self.endpoint.public_access_cidrs),
            system_nodes=system_nodes,
            control_plane_log_retention_days=log_retention_days,
        )


class SystemNodesConfig(_Section):
    instance_types: list[str] = Field(description="Instance types of the system node group.")
    min_size: int = Field(description="Minimum nodes.")
    desired_size: int = Field(description="Nodes at creation.")
    max_size: int = Field(description="Maximum nodes.")
    disk_size_gib: int = Field(description="Root volume size in GiB.")

    def to_args(self) -> SystemNodesArgs:
        return SystemNodesArgs(
            instance_types=list(self.instance_types),
            min_size=self.min_size,
            desired_size=self.desired_size,
            max_size=self.max_size,
            disk_size_gib=self.disk_size_gib,
        )

    def semantic_problems(self) -> list[Problem]:
        return self.to_args().problems()


class GpuNodePoolConfig(_Section):
    name: str = Field(description="Pool name: node label value and the name models use to pick the pool.")
    instance_types: list[str] = Field(description="GPU instance types, same GPU count each.")
    capacity_type: CapacityType = Field(default=CapacityType.ON_DEMAND, description="`ON_DEMAND` or `SPOT`.")
    ami_type: GpuAmiType = Field(
        default=GpuAmiType.AL2023_NVIDIA,
        description="`AL2023_x86_64_NVIDIA` or `BOTTLEROCKET_x86_64_NVIDIA`.",
    )
    min_size: int = Field(default=0, description="Nodes kept when idle (0 scales to zero).")
    desired_size: int | None = Field(default=None, description="Nodes at creation. Default: minSize.")
    max_size: int = Field(description="Upper bound for the cluster-autoscaler.")
    disk_size_gib: int = Field(default=100, description="Container volume size in GiB.")

    def to_args(self, tags: Mapping[str, str]) -> GpuNodePoolArgs:
        return GpuNodePoolArgs(
            cluster_name="",
            node_role_arn="",
            subnet_ids=[],
            ebs_kms_key_arn="",
            tags=tags,
            pool_name=self.name,
            instance_types=list(self.instance_types),
            capacity_type=self.capacity_type,
            ami_type=self.ami_type,
            min_size=self.min_size,
            desired_size=self.desired_size,
            max_size=self.max_size,
            disk_size_gib=self.disk_size_gib,
        )

    def semantic_problems(self) -> list[Problem]:
        problems = self.to_args(_PLACEHOLDER_TAGS).problems()
        return [Problem(_rename(p.field, {"pool_name": "name"}), p.message) for p in problems]


class ArtifactGrantConfig(_Section):
    role_arn: str = Field(description="IAM role to grant (a team's CI, a training job).")
    prefix: str = Field(description="Key prefix, ending in '/', e.g. models/risk/.")
    access: Literal["read", "write", "readwrite"] = Field(
        default="read", description="`read`, `write` or `readwrite`."
    )

    def semantic_problems(self) -> list[Problem]:
        problems = []
        if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$", self.role_arn):
            problems.append(Problem("role_arn", f"must be an IAM role ARN (got {self.role_arn!r})"))
        if not re.match(r"^([a-z0-9][a-z0-9._-]*/)+$", self.prefix):
            problems.append(
                Problem(
                    "prefix",
                    f"must be a key prefix ending in '/', such as models/risk/ (got {self.prefix!r})",
                )
            )
        return problems


class ArtifactsConfig(_Section):
    noncurrent_version_expiration_days: int = Field(
        description="Days an overwritten or deleted object version is kept."
    )
    intelligent_tiering_after_days: int | None = Field(
        default=None,
        description="Move objects to Intelligent-Tiering after this many days; null keeps them in Standard.",
    )
    access_log_retention_days: int = Field(description="Days S3 server access logs are kept.")
    force_destroy: bool = Field(description="Let `pulumi destroy` delete a non-empty bucket (dev only).")
    replication_region: str | None = Field(default=None, description="Replicate every object to this region.")
    grants: list[ArtifactGrantConfig] = Field(
        default_factory=list,
        description="Roles given read or write access to a prefix (e.g. a team's CI to models/<team>/).",
    )

    def to_args(self, environment: Environment, tags: Mapping[str, str]) -> ArtifactStoreArgs:
        return ArtifactStoreArgs(
            environment=environment,
            tags=tags,
            noncurrent_version_expiration_days=self.noncurrent_version_expiration_days,
            intelligent_tiering_after_days=self.intelligent_tiering_after_days,
            access_log_retention_days=self.access_log_retention_days,
            force_destroy=self.force_destroy,
            replication_region=self.replication_region,
        )


class PullThroughCacheConfig(_Section):
    prefix: str = Field(description="Repository prefix the upstream appears under.")
    upstream_registry_url: str = Field(description="Upstream registry host, e.g. public.ecr.aws.")
    credential_arn: str | None = Field(
        default=None, description="Secret with upstream credentials, if it needs them."
    )


class RegistryConfig(_Section):
    repositories: list[str] = Field(description="Platform repositories (models get their own).")
    scanning: Scanning = Field(
        description="`scanOnPush` per repository or `enhanced` (Inspector) for the registry."
    )
    keep_tagged_images: int = Field(description="Tagged images kept per repository.")
    untagged_expiry_days: int = Field(description="Days before untagged images expire.")
    pull_through_caches: list[PullThroughCacheConfig] = Field(description="Upstream registries to mirror.")
    push_role_arns: list[str] = Field(
        default_factory=list, description="Roles (CI) allowed to push to the platform repositories."
    )

    def to_args(self, environment: Environment, tags: Mapping[str, str]) -> ContainerRegistryArgs:
        return ContainerRegistryArgs(
            environment=environment,
            tags=tags,
            repositories=list(self.repositories),
            scanning=self.scanning,
            keep_tagged_images=self.keep_tagged_images,
            untagged_expiry_days=self.untagged_expiry_days,
            pull_through_caches=[
                PullThroughCache(
                    prefix=c.prefix,
                    upstream_registry_url=c.upstream_registry_url,
                    credential_arn=c.credential_arn,
                )
                for c in self.pull_through_caches
            ],
        )

    def semantic_problems(self) -> list[Problem]:
        problems = [
            p
            for p in self.to_args(Environment.DEV, _PLACEHOLDER_TAGS).problems()
            if not p.field.startswith("tags")
        ]
        for i, arn in enumerate(self.push_role_arns):
            if not re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$", arn):
                problems.append(Problem(f"push_role_arns[{i}]", f"must be an IAM role ARN (got {arn!r})"))
        return problems


class SecretConfig(_Section):
    name: str = Field(description="Name under `<project>/<env>/`.")
    description: str = Field(description="What the secret is for and who sets it.")
    generate: bool = Field(
        default=False, description="Generate a random value; otherwise created empty for an operator to set."
    )
    length: int = Field(default=32, description="Length of a generated value.")
    username: str | None = Field(default=None, description="With generate: store {username, password} JSON.")

    def to_spec(self) -> SecretSpec:
        return SecretSpec(
            name=self.name,
            description=self.description,
            generate=self.generate,
            length=self.length,
            username=self.username,
        )

    def semantic_problems(self) -> list[Problem]:
        return self.to_spec().problems()


class SecretsConfig(_Section):
    recovery_window_days: int = Field(description="Days a deleted secret stays recoverable (7-30).")
    entries: list[SecretConfig] = Field(description="Secrets to create; values never live in config.")


class MlflowDatabaseConfig(_Section):
    instance_class: str = Field(description="RDS instance class.")
    allocated_storage_gib: int = Field(description="Initial storage.")
    max_allocated_storage_gib: int = Field(description="Storage autoscaling ceiling.")
    multi_az: bool = Field(description="Standby in a second AZ (required in prod).")
    backup_retention_days: int = Field(description="Automated backup retention (prod: 14 or more).")
    deletion_protection: bool = Field(description="Refuse deletion (required in stage and prod).")
    final_snapshot: bool = Field(description="Snapshot on deletion (required in stage and prod).")
    performance_insights: bool = Field(description="Performance Insights.")

    def to_args(self) -> MlflowDatabaseArgs:
        return MlflowDatabaseArgs(**{name: getattr(self, name) for name in type(self).model_fields})


class MlflowConfig(_Section):
    image: str | None = Field(
        default=None,
        description="Server image pinned by tag or digest. Default: `<registry>/mlflow-server:<pinned MLflow>` "
        "built from infra/images/mlflow.",
    )
    replicas: int = Field(description="Server replicas (prod: 2 or more).")
    hostname: str | None = Field(
        default=None, description="DNS name for the server; default: the ALB's name."
    )
    certificate_arn: str | None = Field(default=None, description="ACM certificate to serve HTTPS.")
    database: MlflowDatabaseConfig = Field(description="The PostgreSQL backend store.")


class ReceiverConfig(_Section):
    name: str = Field(description="Receiver name.")
    kind: ReceiverKind = Field(description="`slack` or `pagerduty`.")
    secret: str = Field(
        description="Name of the entry in `secrets.entries` holding the webhook URL or routing key."
    )
    channel: str | None = Field(default=None, description="Slack channel.")
    severities: list[Severity] = Field(
        default_factory=lambda: [Severity.CRITICAL, Severity.WARNING], description="Severities routed to it."
    )

    def to_receiver(self) -> AlertReceiver:
        return AlertReceiver(
            name=self.name,
            kind=self.kind,
            secret=self.secret,
            channel=self.channel,
            severities=list(self.severities),
        )


class BudgetConfig(_Section):
    monthly_limit_usd: float = Field(description="Monthly cost limit in USD.")
    thresholds_percent: list[int] = Field(description="Actual-spend percentages that notify.")
    forecast_threshold_percent: int | None = Field(
        description="Forecast percentage that notifies; null for none."
    )
    subscriber_emails: list[str] = Field(description="Emails notified (the alert topic always is).")

    def to_args(self) -> BudgetArgs:
        return BudgetArgs(
            monthly_limit_usd=self.monthly_limit_usd,
            thresholds_percent=list(self.thresholds_percent),
            forecast_threshold_percent=self.forecast_threshold_percent,
            subscriber_emails=list(self.subscriber_emails),
        )

    def semantic_problems(self) -> list[Problem]:
        return self.to_args().problems()


class ObservabilityConfig(_Section):
    log_retention_days: int = Field(description="Retention of the container and control-plane log groups.")
    prometheus_retention_days: int = Field(description="Days of metrics Prometheus keeps.")
    prometheus_storage_gib: int = Field(description="Prometheus volume size (encrypted gp3).")
    gpu_idle_hours: int = Field(description="Hours below 5% GPU utilisation before the idle-GPU cost alert.")
    runbook_base_url: str = Field(
        description="URL of docs/runbooks in your copy of this repository; alerts link there."
    )
    grafana_hostname: str | None = Field(
        default=None, description="DNS name for Grafana; default: /grafana on the ALB."
    )
    certificate_arn: str | None = Field(
        default=None, description="ACM certificate to serve Grafana over HTTPS."
    )
    receivers: list[ReceiverConfig] = Field(description="Alertmanager receivers.")
    alert_emails: list[str] = Field(description="Email subscribers of the SNS alert topic.")
    budget: BudgetConfig = Field(description="The monthly AWS Budget of the stack.")
    tracing: bool = Field(description="Run an OpenTelemetry collector exporting traces to X-Ray.")


class CostAssumptionsConfig(_Section):
    gpu_busy_hours_per_day: float = Field(
        description="Hours per day autoscaled GPU pools run the nodes their models need above minSize."
    )
    average_replicas: dict[str, float] = Field(
        default_factory=dict,
        description="Model name -> average replicas per version while busy. Default: replicas.min.",
    )
    s3_storage_gb: float = Field(
        description="Average GB stored in each bucket (access-log buckets excluded)."
    )
    log_gb_per_day: float = Field(description="CloudWatch Logs GB ingested per day, across the stack.")
    nat_gb_per_month: float = Field(description="GB processed by the NAT gateways per month.")
    ecr_storage_gb_per_repository: float = Field(description="Average image GB stored per ECR repository.")
    alb_lcus: float = Field(description="Average load balancer capacity units per ALB.")
    spot_price_factors: dict[str, float] = Field(
        default_factory=dict,
        description="Instance family -> spot price as a fraction of on-demand, over the built-in factors.",
    )

    def to_assumptions(self) -> CostAssumptions:
        return CostAssumptions(
            gpu_busy_hours_per_day=self.gpu_busy_hours_per_day,
            average_replicas=dict(self.average_replicas),
            s3_storage_gb=self.s3_storage_gb,
            log_gb_per_day=self.log_gb_per_day,
            nat_gb_per_month=self.nat_gb_per_month,
            ecr_storage_gb_per_repository=self.ecr_storage_gb_per_repository,
            alb_lcus=self.alb_lcus,
            spot_price_factors={**DEFAULT_SPOT_PRICE_FACTORS, **self.spot_price_factors},
        )

    def semantic_problems(self) -> list[Problem]:
        return self.to_assumptions().problems()


class ModelVersionConfig(_Section):
    name: str = Field(description="Version name, e.g. v3.")
    image_tag: str | None = Field(default=None, description="Immutable image tag (not `latest`).")
    image_digest: str | None = Field(default=None, description="Image digest sha256:...; wins over the tag.")
    weight: int = Field(default=100, description="Percentage of traffic; stable + canary = 100.")
    model_path: str | None = Field(
        default=None, description="Artifact path under the model prefix; default: the version name."
    )

    def to_version(self) -> ModelVersion:
        return ModelVersion(
            name=self.name,
            image_tag=self.image_tag,
            image_digest=self.image_digest,
            weight=self.weight,
            model_path=self.model_path,
        )


class ModelResourcesConfig(_Section):
    cpu: str = Field(default="1", description="CPU request per replica.")
    memory: str = Field(default="2Gi", description="Memory request and limit per replica.")
    cpu_limit: str | None = Field(default=None, description="CPU limit; default: twice the request.")
    gpus: int = Field(default=0, description="GPUs per replica.")
    gpu_pool: str | None = Field(
        default=None, description="GPU pool (a `gpuNodePools` name); required with gpus."
    )


class ReplicasConfig(_Section):
    min: int = Field(default=1, description="Replicas kept at all times.")
    max: int = Field(default=3, description="Upper bound for the autoscaler.")


class AutoscalingConfig(_Section):
    metric: ScalingMetric = Field(default=ScalingMetric.CPU, description="`cpu` or `custom`.")
    target_cpu_utilization: int = Field(default=70, description="Target average CPU utilisation (%).")
    custom_metric: str | None = Field(default=None, description="Per-pod metric name, with metric: custom.")
    target_value: str | None = Field(default=None, description="Target average value of that metric.")


class SloConfig(_Section):
    availability_target: float = Field(description="Percent of requests that must succeed over 30 days.")
    latency_p95_ms: int = Field(description="p95 latency objective in milliseconds.")


class HealthConfig(_Section):
    liveness_path: str = Field(default="/healthz", description="Liveness probe path.")
    readiness_path: str = Field(default="/ready", description="Readiness probe path.")
    startup_seconds: int = Field(default=600, description="Time allowed to load the model.")


class SecretEnvConfig(_Section):
    env: str = Field(description="Environment variable name.")
    secret: str = Field(description="Name of an entry of `secrets.entries`.")
    property: str | None = Field(default=None, description="JSON property of the secret.")


class ModelConfig(_Section):
    name: str = Field(description="Model name, unique in the stack (DNS label).")
    team: str = Field(description="Owning team; its namespace.")
    stable: ModelVersionConfig = Field(description="The version serving most traffic.")
    canary: ModelVersionConfig | None = Field(
        default=None, description="A new version taking a slice of traffic."
    )
    artifact_prefix: str | None = Field(
        default=None, description="Artifact prefix; default: models/<team>/<name>/."
    )
    resources: ModelResourcesConfig = Field(
        default_factory=ModelResourcesConfig, description="Per-replica resources."
    )
    replicas: ReplicasConfig = Field(default_factory=ReplicasConfig, description="Replica range.")
    autoscaling: AutoscalingConfig = Field(
        default_factory=AutoscalingConfig, description="Autoscaling target."
    )
    slo: SloConfig | None = Field(default=None, description="Service-level objective; required in prod.")
    port: int = Field(default=8080, description="HTTP port (serving and /metrics).")
    health: HealthConfig = Field(default_factory=HealthConfig, description="Probe paths.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment variables.")
    secrets: list[SecretEnvConfig] = Field(
        default_factory=list, description="Environment variables from platform secrets."
    )

    def to_args(
        self, environment: Environment, tags: Mapping[str, str], gpu_pools: Mapping[str, GpuPoolInfo]
    ) -> ModelEndpointArgs:
        r, a, h = self.resources, self.autoscaling, self.health
        return ModelEndpointArgs(
            environment=environment,
            tags=tags,
            team=self.team,
            cluster_name="",
            region="",
            artifact_bucket_name="",
            artifact_kms_key_arn="",
            registry_kms_key_arn="",
            node_role_arn="",
            stable=self.stable.to_version(),
            canary=self.canary.to_version() if self.canary else None,
            artifact_prefix=self.artifact_prefix,
            resources=ComputeResources(
                cpu=r.cpu, memory=r.memory, cpu_limit=r.cpu_limit, gpus=r.gpus, gpu_pool=r.gpu_pool
            ),
            replicas=Replicas(min=self.replicas.min, max=self.replicas.max),
            autoscaling=Autoscaling(
                metric=a.metric,
                target_cpu_utilization=a.target_cpu_utilization,
                custom_metric=a.custom_metric,
                target_value=a.target_value,
            ),
            slo=ServiceLevel(
                availability_target=self.slo.availability_target, latency_p95_ms=self.slo.latency_p95_ms
            )
            if self.slo
            else None,
            port=self.port,
            health=HealthChecks(
                liveness_path=h.liveness_path,
                readiness_path=h.readiness_path,
                startup_seconds=h.startup_seconds,
            ),
            env=dict(self.env),
            secrets=[SecretEnv(env=s.env, secret=s.secret, property=s.property) for s in self.secrets],
            secret_path_prefix="placeholder/prefix" if self.secrets else None,
            gpu_pools=gpu_pools,
        )


class NamespaceQuotaConfig(_Section):
    cpu: str = Field(default="32", description="Total CPU requests.")
    memory: str = Field(default="128Gi", description="Total memory requests.")
    gpus: int = Field(default=4, description="Total GPU requests.")
    pods: int = Field(default=100, description="Pods.")


class TeamConfig(_Section):
    name: str = Field(description="Team name (its namespace).")
    quota: NamespaceQuotaConfig = Field(
        default_factory=NamespaceQuotaConfig, description="ResourceQuota of the namespace."
    )

    def to_args(self) -> TeamNamespaceArgs:
        q = self.quota
        return TeamNamespaceArgs(
            team=self.name, quota=NamespaceQuota(cpu=q.cpu, memory=q.memory, gpus=q.gpus, pods=q.pods)
        )

    def semantic_problems(self) -> list[Problem]:
        return [Problem(_rename(p.field, {"team": "name"}), p.message) for p in self.to_args().problems()]


def _rename(field: str, renames: Mapping[str, str]) -> str:
    head, sep, rest = field.partition("[")
    return renames.get(head, head) + sep + rest


_PLACEHOLDER_TAGS = platform_tags(environment="dev", project="p", owner="o", cost_center="c")
"""Sections validate their own fields; tags are checked at the root, once."""


# --- the whole stack ----------------------------------------------------------------------------

RUNBOOK_BASE_URL = "https://github.com/acme/mlops-platform/blob/main/docs/runbooks"
"""Where alerts link by default; set observability.runbookBaseUrl to your fork."""

MLFLOW_REPOSITORY = "mlflow-server"
"""Platform repository the default MLflow image is pushed to (infra/images/mlflow)."""

ENVIRONMENT_DEFAULTS: dict[str, dict[str, Any]] = {
    "dev": {
        "network": {
            "azCount": 2,
            "cidr": "10.0.0.0/16",
            "natGateways": "single",
            "interfaceEndpoints": [],
            "flowLogs": {"enabled": False, "retentionDays": 7},
        },
        "cluster": {
            "kubernetesVersion": pins.KUBERNETES_VERSION,
            "endpoint": {"publicAccess": True},
        },
        "systemNodes": {
            "instanceTypes": ["t3.large"],
            "minSize": 2,
            "desiredSize": 2,
            "maxSize": 3,
            "diskSizeGib": 50,
        },
        "gpuNodePools": [],
        "costAssumptions": {
            "gpuBusyHoursPerDay": 4,
            "s3StorageGb": 50,
            "logGbPerDay": 1,
            "natGbPerMonth": 50,
            "ecrStorageGbPerRepository": 5,
            "albLcus": 1,
        },
        "observability": {
            "logRetentionDays": 14,
            "prometheusRetentionDays": 7,
            "prometheusStorageGib": 20,
            "gpuIdleHours": 1,
            "runbookBaseUrl": RUNBOOK_BASE_URL,
            "receivers": [],
            "alertEmails": [],
            "budget": {
                "monthlyLimitUsd": 3000,
                "thresholdsPercent": [50, 80, 100],
                "forecastThresholdPercent": 100,
                "subscriberEmails": [],
            },
            "tracing": False,
        },
        "artifacts": {
            "noncurrentVersionExpirationDays": 7,
            "accessLogRetentionDays": 30,
            "forceDestroy": True,
        },
        "registry": {
            "repositories": ["mlflow-server"],
            "scanning": "scanOnPush",
            "keepTaggedImages": 10,
            "untaggedExpiryDays": 3,
            "pullThroughCaches": [],
        },
        "secrets": {"recoveryWindowDays": 7, "entries": []},
        "mlflow": {
            "replicas": 1,
            "database": {
                "instanceClass": "db.t4g.small",
                "allocatedStorageGib": 20,
                "maxAllocatedStorageGib": 50,
                "multiAz": False,
                "backupRetentionDays": 7,
                "deletionProtection": False,
                "finalSnapshot": False,
                "performanceInsights": False,
            },
        },
    },
    "stage": {
        "network": {
            "azCount": 2,
            "cidr": "10.0.0.0/16",
            "natGateways": "perAz",
            "interfaceEndpoints": ["ecr.api", "ecr.dkr", "sts", "logs"],
            "flowLogs": {"enabled": True, "retentionDays": 30},
        },
        "cluster": {
            "kubernetesVersion": pins.KUBERNETES_VERSION,
            "endpoint": {"publicAccess": False},
        },
        "systemNodes": {
            "instanceTypes": ["m6i.large"],
            "minSize": 2,
            "desiredSize": 2,
            "maxSize": 4,
            "diskSizeGib": 50,
        },
        "gpuNodePools": [],
        "costAssumptions": {
            "gpuBusyHoursPerDay": 8,
            "s3StorageGb": 200,
            "logGbPerDay": 3,
            "natGbPerMonth": 200,
            "ecrStorageGbPerRepository": 10,
            "albLcus": 1,
        },
        "observability": {
            "logRetentionDays": 30,
            "prometheusRetentionDays": 15,
            "prometheusStorageGib": 50,
            "gpuIdleHours": 2,
            "runbookBaseUrl": RUNBOOK_BASE_URL,
            "receivers": [],
            "alertEmails": [],
            "budget": {
                "monthlyLimitUsd": 8000,
                "thresholdsPercent": [50, 80, 100],
                "forecastThresholdPercent": 100,
                "subscriberEmails": [],
            },
            "tracing": False,
        },
        "artifacts": {
            "noncurrentVersionExpirationDays": 30,
            "accessLogRetentionDays": 90,
            "forceDestroy": False,
        },
        "registry": {
            "repositories": ["mlflow-server"],
            "scanning": "scanOnPush",
            "keepTaggedImages": 20,
            "untaggedExpiryDays": 7,
            "pullThroughCaches": [],
        },
        "secrets": {"recoveryWindowDays": 30, "entries": []},
        "mlflow": {
            "replicas": 1,
            "database": {
                "instanceClass": "db.t4g.medium",
                "allocatedStorageGib": 20,
                "maxAllocatedStorageGib": 100,
                "multiAz": False,
                "backupRetentionDays": 7,
                "deletionProtection": True,
                "finalSnapshot": True,
                "performanceInsights": False,
            },
        },
    },
    "prod": {
        "network": {
            "azCount": 3,
            "cidr": "10.0.0.0/16",
            "natGateways": "perAz",
            "interfaceEndpoints": ["ecr.api", "ecr.dkr", "sts", "logs"],
            "flowLogs": {"enabled": True, "retentionDays": 365},
        },
        "cluster": {
            "kubernetesVersion": pins.KUBERNETES_VERSION,
            "endpoint": {"publicAccess": False},
        },
        "systemNodes": {
            "instanceTypes": ["m6i.xlarge"],
            "minSize": 3,
            "desiredSize": 3,
            "maxSize": 6,
            "diskSizeGib": 50,
        },
        "gpuNodePools": [],
        "costAssumptions": {
            "gpuBusyHoursPerDay": 12,
            "s3StorageGb": 2000,
            "logGbPerDay": 10,
            "natGbPerMonth": 1000,
            "ecrStorageGbPerRepository": 20,
            "albLcus": 2,
        },
        "observability": {
            "logRetentionDays": 90,
            "prometheusRetentionDays": 30,
            "prometheusStorageGib": 200,
            "gpuIdleHours": 4,
            "runbookBaseUrl": RUNBOOK_BASE_URL,
            "receivers": [],
            "alertEmails": [],
            "budget": {
                "monthlyLimitUsd": 40000,
                "thresholdsPercent": [50, 80, 100],
                "forecastThresholdPercent": 100,
                "subscriberEmails": [],
            },
            "tracing": False,
        },
        "artifacts": {
            "noncurrentVersionExpirationDays": 90,
            "intelligentTieringAfterDays": 30,
            "accessLogRetentionDays": 365,
            "forceDestroy": False,
        },
        "registry": {
            "repositories": ["mlflow-server"],
            "scanning": "enhanced",
            "keepTaggedImages": 50,
            "untaggedExpiryDays": 14,
            "pullThroughCaches": [],
        },
        "secrets": {"recoveryWindowDays": 30, "entries": []},
        "mlflow": {
            "replicas": 2,
            "database": {
                "instanceClass": "db.r6g.large",
                "allocatedStorageGib": 50,
                "maxAllocatedStorageGib": 500,
                "multiAz": True,
                "backupRetentionDays": 14,
                "deletionProtection": True,
                "finalSnapshot": True,
                "performanceInsights": True,
            },
        },
    },
}
"""What a stack gets for every key it does not set, by environment."""


class StackConfig(_Section):
    """Every top-level key of the ``mlops-platform`` namespace."""

    environment: Environment = Field(description="`dev`, `stage` or `prod`; selects the defaults below.")
    owner: str = Field(min_length=1, description="Team that owns the stack (the `owner` tag).")
    cost_center: str = Field(
        min_length=1, description="Cost center billed for the stack (the `cost-center` tag)."
    )
    network: NetworkConfig = Field(description="VPC layout.")
    cluster: ClusterConfig = Field(description="EKS control plane.")
    system_nodes: SystemNodesConfig = Field(description="The on-demand node group for platform add-ons.")
    gpu_node_pools: list[GpuNodePoolConfig] = Field(description="GPU node groups.")
    artifacts: ArtifactsConfig = Field(description="The artifact bucket (models, datasets, MLflow runs).")
    registry: RegistryConfig = Field(description="The platform's ECR repositories.")
    secrets: SecretsConfig = Field(description="Secrets Manager secrets under `<project>/<env>/`.")
    mlflow: MlflowConfig = Field(description="The MLflow tracking server and its database.")
    observability: ObservabilityConfig = Field(
        description="Metrics, dashboards, alerts, logs and the budget."
    )
    teams: list[TeamConfig] = Field(default_factory=list, description="Team namespaces and their quotas.")
    models: list[ModelConfig] = Field(
        default_factory=list, description="Model endpoints the platform serves."
    )
    cost_assumptions: CostAssumptionsConfig = Field(
        description="Usage the cost estimate assumes (docs/cost-model.md)."
    )

    @model_validator(mode="before")
    @classmethod
    def _environment_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        defaults = ENVIRONMENT_DEFAULTS.get(str(data.get("environment")))
        if defaults is None:
            return data
        return _merge(copy.deepcopy(defaults), data)

    def semantic_problems(self) -> list[Problem]:
        """Checks that span sections: pools, the data plane against the environment, secrets, models."""
        problems = []
        names = [pool.name for pool in self.gpu_node_pools]
        for i, pool_name in enumerate(names):
            if names.index(pool_name) != i:
                problems.append(
                    Problem(
                        f"gpu_node_pools[{i}].name",
                        f"duplicate pool name {pool_name!r}; names must be unique",
                    )
                )
        environment = self.environment
        problems += [
            p.nested("artifacts")
            for p in self.artifacts.to_args(environment, _PLACEHOLDER_TAGS).problems()
            if not p.field.startswith("tags")
        ]
        problems += [
            p.nested("mlflow.database") for p in self.mlflow.database.to_args().problems(environment)
        ]
        if self.mlflow.image is not None:
            problems += [p.nested("mlflow") for p in image_problems("image", self.mlflow.image)]
        elif MLFLOW_REPOSITORY not in self.registry.repositories:
            problems.append(
                Problem(
                    "registry.repositories",
                    f"must include {MLFLOW_REPOSITORY!r} while mlflow.image is unset (the default image lives there)",
                )
            )
        if environment is Environment.PROD and self.mlflow.replicas < 2:
            problems.append(Problem("mlflow.replicas", f"must be >= 2 in prod (got {self.mlflow.replicas})"))
        secret_names = [e.name for e in self.secrets.entries]
        for i, secret_name in enumerate(secret_names):
            if secret_names.index(secret_name) != i:
                problems.append(
                    Problem(f"secrets.entries[{i}].name", f"duplicate secret name {secret_name!r}")
                )
        for i, receiver in enumerate(self.observability.receivers):
            if receiver.secret not in secret_names:
                known = ", ".join(secret_names) or "none"
                problems.append(
                    Problem(
                        f"observability.receivers[{i}].secret",
                        f"must name an entry of secrets.entries (got {receiver.secret!r}; known: {known})",
                    )
                )
        problems += self._model_problems(secret_names)
        model_names = {m.name for m in self.models}
        for model in self.cost_assumptions.average_replicas:
            if model not in model_names:
                known = ", ".join(sorted(model_names)) or "none"
                problems.append(
                    Problem(
                        f"cost_assumptions.average_replicas.{model}",
                        f"no model named {model!r} (models: {known})",
                    )
                )
        return problems

    def priced_things(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """Instance types, RDS classes and extra regions the stack will run, by config path."""
        instance_types = {
            f"{NAMESPACE}:systemNodes.instanceTypes[{i}]": t
            for i, t in enumerate(self.system_nodes.instance_types)
        }
        for i, pool in enumerate(self.gpu_node_pools):
            for j, instance_type in enumerate(pool.instance_types):
                instance_types[f"{NAMESPACE}:gpuNodePools[{i}].instanceTypes[{j}]"] = instance_type
        rds = {f"{NAMESPACE}:mlflow.database.instanceClass": self.mlflow.database.instance_class}
        regions = {}
        if self.artifacts.replication_region:
            regions[f"{NAMESPACE}:artifacts.replicationRegion"] = self.artifacts.replication_region
        return instance_types, rds, regions

    def gpu_pool_infos(self) -> dict[str, GpuPoolInfo]:
        infos = {}
        for pool in self.gpu_node_pools:
            labels = {kube.GPU_PRESENT_LABEL: "true", kube.GPU_POOL_LABEL: pool.name}
            infos[pool.name] = GpuPoolInfo(
                node_labels=labels, gpus_per_node=pool.to_args(_PLACEHOLDER_TAGS).gpus_per_node()
            )
        return infos

    def _model_problems(self, secret_names: list[str]) -> list[Problem]:
        problems = []
        pools = self.gpu_pool_infos()
        model_names = [m.name for m in self.models]
        teams = [t.name for t in self.teams]
        for i, team in enumerate(teams):
            if teams.index(team) != i:
                problems.append(Problem(f"teams[{i}].name", f"duplicate team {team!r}"))
        for i, model in enumerate(self.models):
            where = f"models[{i}]"
            if model_names.index(model.name) != i:
                problems.append(
                    Problem(
                        f"{where}.name",
                        f"duplicate model name {model.name!r}; model names must be unique in a stack",
                    )
                )
            args = model.to_args(self.environment, _PLACEHOLDER_TAGS, pools)
            problems += [
                p.nested(where)
                for p in args.problems(model.name)
                if not p.field.startswith(("tags", "secret_path_prefix"))
            ]
            for j, secret in enumerate(model.secrets):
                if secret.secret not in secret_names:
                    problems.append(
                        Problem(
                            f"{where}.secrets[{j}].secret",
                            f"must name an entry of secrets.entries (got {secret.secret!r})",
                        )
                    )
        return problems


def _merge(base: Any, override: Any) -> Any:
    """Stack values over environment defaults: mappings merge key by key, lists replace."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    return override


class PlatformConfig:
    """The validated configuration of one stack, plus what the program derives from it."""

    def __init__(self, stack_config: StackConfig, *, project: str, stack: str, region: str):
        self.values = stack_config
        self.project = project
        self.stack = stack
        self.region = region
        self.environment = stack_config.environment
        self.tags = platform_tags(
            environment=self.environment.value,
            project=project,
            owner=stack_config.owner,
            cost_center=stack_config.cost_center,
        )
        self.cluster_name = f"{project}-{stack}"
        self.aws_profile: str | None = None
        self.allowed_account_ids: list[str] | None = None

    def network_args(self) -> NetworkArgs:
        return self.values.network.to_args(self.environment, self.tags)

    def cluster_args(self) -> EksClusterArgs:
        # The control-plane log group keeps logs as long as every other platform log group.
        return self.values.cluster.to_args(
            self.environment,
            self.tags,
            self.cluster_name,
            self.values.system_nodes.to_args(),
            self.values.observability.log_retention_days,
        )

    def gpu_pool_args(self) -> list[GpuNodePoolArgs]:
        return [pool.to_args(self.tags) for pool in self.values.gpu_node_pools]

    def artifact_args(self) -> ArtifactStoreArgs:
        return self.values.artifacts.to_args(self.environment, self.tags)

    def registry_args(self) -> ContainerRegistryArgs:
        return self.values.registry.to_args(self.environment, self.tags)

    def secret_specs(self) -> list[SecretSpec]:
        return [entry.to_spec() for entry in self.values.secrets.entries]

    @property
    def secrets_path_prefix(self) -> str:
        return f"{self.project}/{self.environment.value}"

    def observability_args(
        self, cluster_name, secrets, log_kms_key_arn, load_balancer_controller
    ) -> ObservabilityArgs:
        o = self.values.observability
        return ObservabilityArgs(
            environment=self.environment,
            tags=self.tags,
            cluster_name=cluster_name,
            secrets=secrets,
            runbook_base_url=o.runbook_base_url,
            log_kms_key_arn=log_kms_key_arn,
            log_retention_days=o.log_retention_days,
            prometheus_retention_days=o.prometheus_retention_days,
            prometheus_storage_gib=o.prometheus_storage_gib,
            high_availability=self.environment is Environment.PROD,
            grafana_hostname=o.grafana_hostname,
            certificate_arn=o.certificate_arn,
            receivers=[r.to_receiver() for r in o.receivers],
            alert_emails=list(o.alert_emails),
            gpu_idle_hours=o.gpu_idle_hours,
            budget=o.budget.to_args(),
            tracing=o.tracing,
            load_balancer_controller=load_balancer_controller,
        )

    def team_args(self) -> dict[str, TeamNamespaceArgs]:
        """Every team that has a model, with its configured quota or the default one."""
        configured = {t.name: t.to_args() for t in self.values.teams}
        return {m.team: configured.get(m.team, TeamNamespaceArgs(team=m.team)) for m in self.values.models}

    def model_args(self) -> list[tuple[str, ModelEndpointArgs]]:
        pools = self.values.gpu_pool_infos()
        return [(m.name, m.to_args(self.environment, self.tags, pools)) for m in self.values.models]

    def mlflow_image(self, account_id: str) -> str:
        """The configured image, or the platform's build in its own registry."""
        if self.values.mlflow.image:
            return self.values.mlflow.image
        return f"{account_id}.dkr.ecr.{self.region}.amazonaws.com/{MLFLOW_REPOSITORY}:{pins.MLFLOW_VERSION}"


# --- loading and error reporting ----------------------------------------------------------------


def parse(raw: Mapping[str, Any], *, project: str, stack: str) -> PlatformConfig:
    """Validate a stack's config given as ``{"mlops-platform:key": value, "aws:region": ...}``."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    fields = {info.alias or name for name, info in StackConfig.model_fields.items()}
    for key, value in raw.items():
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE:
            if name not in fields:
                problems.append(f"{key}: unknown key; valid keys: {', '.join(sorted(fields))}")
            else:
                values[name] = value
        elif namespace == "aws" and key not in AWS_KEYS:
            problems.append(f"{key}: unknown key; valid aws keys: {', '.join(sorted(AWS_KEYS))}")
    region = raw.get("aws:region")
    if not region:
        problems.append("aws:region: required; set it with `pulumi config set aws:region us-east-1`")
    elif not isinstance(region, str) or not REGION_PATTERN.match(region):
        problems.append(f"aws:region: must be an AWS region such as us-east-1 (got {region!r})")
    parsed = None
    try:
        parsed = StackConfig.model_validate(values)
    except ValidationError as exc:
        problems += format_errors(exc)
    allowed = raw.get("aws:allowedAccountIds")
    if allowed is not None and not (
        isinstance(allowed, list) and all(re.match(r"^\d{12}$", str(a)) for a in allowed)
    ):
        problems.append(f"aws:allowedAccountIds: must be a list of 12-digit account IDs (got {allowed!r})")
    if parsed is not None and not problems:
        # Everything the stack runs must have a price, or the cost estimate would fail after resources exist.
        problems += price_problems(str(region), *parsed.priced_things())
    if problems or parsed is None:
        raise ConfigError(problems)
    result = PlatformConfig(parsed, project=project, stack=stack, region=str(region))
    result.aws_profile = raw.get("aws:profile")
    result.allowed_account_ids = [str(a) for a in allowed] if allowed else None
    return result


def load() -> PlatformConfig:
    """Read the running program's config (``pulumi up`` and offline synthesis alike)."""
    from pulumi.runtime.config import CONFIG

    raw: dict[str, Any] = {}
    for key, value in CONFIG.get().items():
        raw[key] = _decode(value)
    return parse(raw, project=pulumi.get_project(), stack=pulumi.get_stack())


def _decode(value: Any) -> Any:
    """Config arrives as strings; structured values are JSON text."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def format_errors(exc: ValidationError) -> list[str]:
    messages = []
    for error in exc.errors():
        loc = error["loc"]
        path = _path(loc)
        ctx = error.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, _Problems):
            if loc:
                messages += [p.render(path_to_camel, prefix=path) for p in inner.problems]
            else:  # root-level problems name a top-level key: "mlops-platform:key..."
                messages += [f"{NAMESPACE}:{p.render(path_to_camel)}" for p in inner.problems]
            continue
        messages.append(f"{path}: {_message(error, loc)}")
    return messages


def _path(loc: tuple[Any, ...]) -> str:
    text = NAMESPACE
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += (":" if i == 0 else ".") + str(part)
    return text


def _message(error: Any, loc: tuple[Any, ...]) -> str:
    kind, value = error["type"], error.get("input")
    got = f"(got {json.dumps(value) if not isinstance(value, Enum) else value.value})"
    if kind == "missing":
        return "required; set it in stacks/Pulumi.<stack>.yaml"
    if kind == "extra_forbidden":
        valid = _valid_keys(loc[:-1])
        return f"unknown key; valid keys: {', '.join(valid)}" if valid else "unknown key"
    if kind in ("enum", "literal_error"):
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"must be one of {expected.replace(chr(39), '')} {got}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be an integer {got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false {got}"
    if kind in ("string_type",):
        return f"must be a string {got}"
    if kind in ("list_type",):
        return f"must be a list {got}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping of keys {got}"
    if kind == "string_too_short":
        return f"must not be empty {got}"
    return f"{error['msg']} {got}"


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    model: Any = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return []
        model = _model_of(field.annotation)
        if model is None:
            return []
    return sorted(f.alias or n for n, f in model.model_fields.items())


def _model_of(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, Literal) or getattr(annotation, "__args__", None):
        for arg in get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None
