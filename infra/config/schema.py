"""The stack-config schema: every top-level key of the ``mlops-platform`` namespace is a component
spec. Only what a stack file adds on top lives here: the names of list entries, and the checks that
span sections (a model's GPU pool must exist, a receiver's secret must be declared)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from mlops_platform.components.data.artifact_store import ArtifactStoreSpec
from mlops_platform.components.data.audit_trail import AuditTrailSpec
from mlops_platform.components.data.container_registry import ContainerRegistrySpec
from mlops_platform.components.data.mlflow import REPOSITORY as MLFLOW_REPOSITORY
from mlops_platform.components.data.mlflow import MlflowSpec
from mlops_platform.components.data.platform_secrets import PlatformSecretsSpec, undeclared_secret_problems
from mlops_platform.components.foundation.cluster import ClusterSpec, SystemNodesSpec
from mlops_platform.components.foundation.gpu_node_pool import GpuNodePoolSpec
from mlops_platform.components.foundation.network import NetworkSpec
from mlops_platform.components.lifecycle.batch_scoring import BatchScoringSpec
from mlops_platform.components.lifecycle.capture import PredictionCaptureSpec
from mlops_platform.components.lifecycle.model_monitor import REPOSITORY as MONITOR_REPOSITORY
from mlops_platform.components.lifecycle.pipelines import EXECUTOR_REPOSITORY, PipelinesSpec, quota_problems
from mlops_platform.components.lifecycle.training_pipeline import TrainingPipelineSpec
from mlops_platform.components.lifecycle.workflow_archive import ArchiveLocation
from mlops_platform.components.observability.spec import ObservabilitySpec
from mlops_platform.components.refs import GpuPoolInfo
from mlops_platform.components.serving.gateway import ModelGatewaySpec
from mlops_platform.components.serving.kyverno import KyvernoSpec
from mlops_platform.components.serving.model_endpoint import ModelEndpointSpec
from mlops_platform.components.serving.team_namespace import TeamSpec
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import tag_value_problems
from mlops_platform.components.support.validation import Problem
from mlops_platform.infra.cost.assumptions import CostAssumptions
from mlops_platform.infra.governance.spec import PromotionSpec


@spec
class GpuNodePoolEntry(GpuNodePoolSpec):
    """A GPU node group of the stack."""

    name: str
    """Pool name: node label value and the name models use to pick the pool."""


@spec
class TeamEntry(TeamSpec):
    """A team of the stack: its namespace, quota and training pipelines."""

    pipelines: Sequence[TrainingPipelineSpec] = ()
    """Training pipelines that run in the team's namespace (docs/pipelines.md). Default: none."""


@spec
class ModelEntry(ModelEndpointSpec):
    """A model endpoint of the stack."""

    name: str
    """Model name, unique in the stack (a DNS label of at most 40 characters)."""
    batch: BatchScoringSpec | None = None
    """Batch scoring by one of its versions: an input prefix into an output prefix, on a schedule
    or on demand (docs/pipelines.md). Default: none."""


def duplicates(field_name: str, names: Sequence[str], what: str) -> list[Problem]:
    return [
        Problem(f"{field_name}[{i}].name", what.format(name=name))
        for i, name in enumerate(names)
        if names.index(name) != i
    ]


@spec
class StackSpec:
    """Every top-level key of the ``mlops-platform`` namespace."""

    environment: Environment
    """`dev`, `stage` or `prod`; selects the per-environment defaults."""
    owner: str
    """Team that owns the stack (the `owner` tag)."""
    cost_center: str
    """Cost center billed for the stack (the `cost-center` tag)."""
    network: NetworkSpec = field(default_factory=NetworkSpec)
    """VPC layout."""
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    """EKS control plane."""
    system_nodes: SystemNodesSpec = field(default_factory=SystemNodesSpec)
    """The on-demand node group for platform add-ons."""
    gpu_node_pools: Sequence[GpuNodePoolEntry] = ()
    """GPU node groups. Default: none."""
    artifacts: ArtifactStoreSpec = field(default_factory=ArtifactStoreSpec)
    """The artifact bucket (models, datasets, MLflow runs)."""
    audit: AuditTrailSpec = field(default_factory=AuditTrailSpec)
    """The CloudTrail audit trail and its Object Lock bucket."""
    registry: ContainerRegistrySpec = field(
        default_factory=lambda: ContainerRegistrySpec(
            repositories=[MLFLOW_REPOSITORY, MONITOR_REPOSITORY, EXECUTOR_REPOSITORY]
        )
    )
    """The platform's ECR repositories."""
    image_admission: KyvernoSpec = field(default_factory=KyvernoSpec)
    """Kyverno admission: model namespaces run images signed with the platform's key."""
    secrets: PlatformSecretsSpec = field(default_factory=PlatformSecretsSpec)
    """Secrets Manager secrets under `<project>/<env>/`; values never live in config."""
    mlflow: MlflowSpec = field(default_factory=MlflowSpec)
    """The MLflow tracking server and its database."""
    observability: ObservabilitySpec = field(default_factory=ObservabilitySpec)
    """Metrics, dashboards, alerts, logs and the budget."""
    gateway: ModelGatewaySpec = field(default_factory=ModelGatewaySpec)
    """The model gateway (Envoy Gateway) and its internal load balancer."""
    teams: Sequence[TeamEntry] = ()
    """Team namespaces, their quotas and training pipelines. A team with a model and no entry gets
    the default quota."""
    pipelines: PipelinesSpec = field(default_factory=PipelinesSpec)
    """Argo Workflows and Kueue: training pipelines, batch scoring and the teams' GPU queues."""
    models: Sequence[ModelEntry] = ()
    """Model endpoints the platform serves. Default: none."""
    monitoring: PredictionCaptureSpec = field(default_factory=PredictionCaptureSpec)
    """Prediction capture (Firehose, Glue, Athena) and the Pushgateway of the models' monitor jobs."""
    cost_assumptions: CostAssumptions = field(default_factory=CostAssumptions)
    """Usage the cost estimate assumes (docs/cost-model.md)."""
    promotion: PromotionSpec = field(default_factory=PromotionSpec)
    """What a version promoted into this stack must show (`blueprint promote`)."""

    def gpu_pools(self) -> dict[str, GpuPoolInfo]:
        return {pool.name: pool.info(pool.name) for pool in self.gpu_node_pools}

    def problems(self) -> list[Problem]:
        environment = self.environment
        found = [
            *tag_value_problems("owner", self.owner),
            *tag_value_problems("cost_center", self.cost_center),
        ]
        found += [p.nested("network") for p in self.network.problems()]
        found += [p.nested("cluster") for p in self.cluster.problems()]
        found += [p.nested("system_nodes") for p in self.system_nodes.problems(environment)]
        for i, pool in enumerate(self.gpu_node_pools):
            found += [p.nested(f"gpu_node_pools[{i}]") for p in pool.problems(pool.name, environment)]
        found += duplicates(
            "gpu_node_pools",
            [p.name for p in self.gpu_node_pools],
            "duplicate pool name {name!r}; names must be unique",
        )
        found += [p.nested("artifacts") for p in self.artifacts.problems(environment)]
        found += [p.nested("audit") for p in self.audit.problems(environment)]
        kept, audited = self.cluster.control_plane_log_retention_days, self.audit.retention_in(environment)
        if environment is Environment.PROD and kept < audited:
            found.append(
                Problem(
                    "cluster.control_plane_log_retention_days",
                    f"must be at least audit.retention_days ({audited}) in prod: the EKS audit log is audit "
                    f"evidence (got {kept})",
                )
            )
        found += [p.nested("registry") for p in self.registry.problems()]
        found += [p.nested("image_admission") for p in self.image_admission.problems(environment)]
        found += [p.nested("promotion") for p in self.promotion.problems(environment)]
        found += [p.nested("secrets") for p in self.secrets.problems()]
        found += [p.nested("mlflow") for p in self.mlflow.problems(environment)]
        if self.mlflow.image is None and MLFLOW_REPOSITORY not in self.registry.repositories:
            found.append(
                Problem(
                    "registry.repositories",
                    f"must include {MLFLOW_REPOSITORY!r} while mlflow.image is unset (the default image lives there)",
                )
            )
        if self.pipelines.enabled and EXECUTOR_REPOSITORY not in self.registry.repositories:
            found.append(
                Problem(
                    "registry.repositories",
                    f"must include {EXECUTOR_REPOSITORY!r} while pipelines are enabled (workflow pods run "
                    "Argo's executor from the platform registry, signed: blueprint engine-images)",
                )
            )
        secret_names = [e.name for e in self.secrets.entries]
        found += [p.nested("observability") for p in self.observability.problems(secret_names)]
        certificates = [m.certificate_arn for m in self.models if m.certificate_arn]
        found += [p.nested("gateway") for p in self.gateway.problems(certificates)]
        found += [p.nested("pipelines") for p in self.pipelines.problems(environment, secret_names)]
        for i, team in enumerate(self.teams):
            found += [p.nested(f"teams[{i}]") for p in team.problems()]
            if self.pipelines.enabled:
                found += [p.nested(f"teams[{i}].quota") for p in quota_problems(team.quota, self.gpu_pools())]
            found += self._pipeline_problems(i, team, secret_names)
        found += duplicates("teams", [t.name for t in self.teams], "duplicate team {name!r}")
        found += self._model_problems(secret_names)
        found += [p.nested("cost_assumptions") for p in self.cost_assumptions.problems()]
        models = sorted(m.name for m in self.models)
        for model in self.cost_assumptions.requests_per_second:
            if model not in models:
                found.append(
                    Problem(
                        f"cost_assumptions.requests_per_second.{model}",
                        f"no model named {model!r} (models: {', '.join(models) or 'none'})",
                    )
                )
        return found

    def _pipeline_problems(self, i: int, team: TeamEntry, secret_names: list[str]) -> list[Problem]:
        found = []
        if team.pipelines and not self.pipelines.enabled:
            found.append(
                Problem(
                    f"teams[{i}].pipelines", "needs pipelines.enabled (Argo Workflows and Kueue run them)"
                )
            )
        for j, pipeline in enumerate(team.pipelines):
            where = f"teams[{i}].pipelines[{j}]"
            found += [p.nested(where) for p in pipeline.problems(self.gpu_pools())]
            found += undeclared_secret_problems(
                f"{where}.mlflow_secret", pipeline.mlflow_secret, secret_names
            )
        found += duplicates(
            f"teams[{i}].pipelines",
            [p.name for p in team.pipelines],
            "duplicate pipeline name {name!r}; names must be unique in a team",
        )
        return found

    def _model_problems(self, secret_names: list[str]) -> list[Problem]:
        found = []
        pools = self.gpu_pools()
        for i, model in enumerate(self.models):
            where = f"models[{i}]"
            found += [p.nested(where) for p in model.problems(model.name, self.environment, pools)]
            if model.batch is not None:
                found += [p.nested(f"{where}.batch") for p in model.batch.problems(model, list(pools))]
                if not self.pipelines.enabled:
                    found.append(
                        Problem(f"{where}.batch", "needs pipelines.enabled (Argo Workflows runs it)")
                    )
            for j, secret in enumerate(model.secrets):
                found += undeclared_secret_problems(
                    f"{where}.secrets[{j}].secret", secret.secret, secret_names
                )
            if model.monitor is not None:
                found += self._monitor_problems(f"{where}.monitor", model, secret_names)
        found += duplicates(
            "models",
            [m.name for m in self.models],
            "duplicate model name {name!r}; model names must be unique in a stack",
        )
        return found

    def _monitor_problems(self, where: str, model: ModelEntry, secret_names: list[str]) -> list[Problem]:
        monitor = model.monitor
        assert monitor is not None
        found = []
        if not self.monitoring.enabled:
            found.append(Problem(where, "needs monitoring.enabled (capture and the monitor jobs)"))
        if MONITOR_REPOSITORY not in self.registry.repositories:
            found.append(
                Problem(
                    "registry.repositories",
                    f"must include {MONITOR_REPOSITORY!r} while a model has monitor (the monitor image lives there)",
                )
            )
        if monitor.mlflow_secret is not None:
            found += undeclared_secret_problems(f"{where}.mlflow_secret", monitor.mlflow_secret, secret_names)
        if monitor.retrain_pipeline is not None:
            team = next((t for t in self.teams if t.name == model.team), None)
            names = [p.name for p in team.pipelines] if team else []
            if monitor.retrain_pipeline not in names:
                found.append(
                    Problem(
                        f"{where}.retrain_pipeline",
                        f"team {model.team!r} has no pipeline {monitor.retrain_pipeline!r}; its pipelines: "
                        f"{', '.join(names) or 'none'}",
                    )
                )
        return found

    def priced_things(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """Instance types, RDS classes and extra regions the stack will run, by config key."""
        instance_types = {
            f"systemNodes.instanceTypes[{i}]": t for i, t in enumerate(self.system_nodes.instance_types)
        }
        for i, pool in enumerate(self.gpu_node_pools):
            for j, instance_type in enumerate(pool.instance_types):
                instance_types[f"gpuNodePools[{i}].instanceTypes[{j}]"] = instance_type
        rds = {"mlflow.database.instanceClass": self.mlflow.database.instance_class}
        if self.pipelines.enabled and self.pipelines.archive is ArchiveLocation.OWN_DATABASE:
            rds["pipelines.archiveDatabase.instanceClass"] = self.pipelines.archive_database.instance_class
        regions = (
            {"artifacts.replicationRegion": self.artifacts.replication_region}
            if self.artifacts.replication_region
            else {}
        )
        return instance_types, rds, regions
