"""Typed handles to what other components produced: a component's wiring, one object per producer.

A spec says what the user wants; a ref says where the things it builds on are (``Output``s of
other components). ``PlatformRef`` carries everything a team's model needs from the platform, and
reads it from a platform stack (``from_stack_reference``) or, offline, from an outputs file
(``from_outputs_file``, written by ``blueprint outputs <stack> -o platform-outputs.json``)::

    platform = await PlatformRef.from_stack_reference(
        pulumi.StackReference("acme/mlops-platform/prod"), owner="nlp-team", cost_center="cc-2203")
    ModelEndpoint("sentiment", ModelEndpointSpec(team="nlp", ...), platform)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.support import files, kube
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs, Problem


@dataclass(frozen=True, kw_only=True)
class NetworkRef:
    """The VPC (``Network.ref``)."""

    vpc_id: pulumi.Input[str]
    """ID of the VPC."""
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets: nodes, databases and internal load balancers go here."""
    cidr: str
    """CIDR of the VPC: the source of load-balancer traffic that NetworkPolicies admit."""


@dataclass(frozen=True, kw_only=True)
class ClusterRef:
    """The EKS cluster (``EksCluster.ref``)."""

    name: pulumi.Input[str]
    """Name of the cluster."""
    kubernetes_version: str
    """Kubernetes minor version of the control plane."""
    node_role_arn: pulumi.Input[str]
    """Role shared by every managed node group; the kubelet pulls images with it."""
    security_group_id: pulumi.Input[str]
    """The cluster security group EKS attaches to the control plane and managed nodes."""
    ebs_kms_key_arn: pulumi.Input[str]
    """Key that encrypts node and persistent volumes."""


@dataclass(frozen=True, kw_only=True)
class ArtifactsRef:
    """The artifact bucket (``ArtifactStore.ref``)."""

    bucket_name: pulumi.Input[str]
    bucket_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]


@dataclass(frozen=True)
class GpuPoolInfo:
    """What a workload needs to know about a GPU pool (``GpuNodePoolSpec.info``; the platform's
    ``gpuNodePools`` output)."""

    node_labels: Mapping[str, str]
    gpus_per_node: int
    """``nvidia.com/gpu`` each node offers: its GPUs times the pool's time-slicing replicas."""
    max_nodes: int | None = None
    """The pool's maxSize; None when the outputs predate it (capacity is then not checked)."""
    node_start_seconds: int | None = None
    """Seconds from scale-up to a Ready node; None when the outputs predate it (a cold-start budget is
    then not checked against it)."""
    spot: bool = False
    """Spot capacity: nodes may be reclaimed at two minutes' notice (training checkpoints, batch
    retries); pipelines' GPU quotas land on spot pools first."""

    @property
    def gpu_sharing(self) -> int:
        """Replicas per physical GPU (1: each pod gets whole GPUs)."""
        return kube.sharing_replicas(self.node_labels)

    def max_gpus(self) -> int | None:
        return None if self.max_nodes is None else self.max_nodes * self.gpus_per_node


@dataclass(frozen=True, kw_only=True)
class PlatformDependencies:
    """Platform pieces objects must wait for; empty in a team's project, where they already run."""

    load_balancer_controller: Sequence[pulumi.Resource] = ()
    """The controller's release: its webhook checks Ingresses."""
    prometheus_operator: Sequence[pulumi.Resource] = ()
    """The operator's release: ServiceMonitor and PrometheusRule CRDs."""
    external_secrets: Sequence[pulumi.Resource] = ()
    """The operator and its ClusterSecretStore."""
    gateway: Sequence[pulumi.Resource] = ()
    """Envoy Gateway's release (Gateway API CRDs) and the ``models`` Gateway: HTTPRoutes attach to it."""
    rollouts: Sequence[pulumi.Resource] = ()
    """Argo Rollouts' release: Rollout and AnalysisTemplate CRDs."""
    autoscaling: Sequence[pulumi.Resource] = ()
    """KEDA's and its HTTP add-on's releases: ScaledObject and InterceptorRoute CRDs."""
    pipelines: Sequence[pulumi.Resource] = ()
    """Argo Workflows' and Kueue's releases: WorkflowTemplate, CronWorkflow and queue CRDs."""


@dataclass(frozen=True, kw_only=True)
class MonitoringRef:
    """The platform's model monitoring (``PredictionCapture`` and the Pushgateway), for the
    ``monitor`` block of a model."""

    capture_database: str
    """Glue database of the capture tables."""
    pushgateway_url: str
    """Where monitor jobs push their figures, inside the cluster."""
    monitor_image: pulumi.Input[str]
    """The platform's model monitor image (infra/images/model-monitor), by tag."""

    def to_outputs(self) -> dict[str, Any]:
        return {
            "captureDatabase": self.capture_database,
            "pushgatewayUrl": self.pushgateway_url,
            "monitorImage": self.monitor_image,
        }


_PLAIN_OUTPUTS = {
    "environment": "environment",
    "region": "region",
    "gpuNodePools": "gpu_pools",
    "vpcCidr": "vpc_cidr",
    "secretsPathPrefix": "secrets_path_prefix",
    "runbookBaseUrl": "runbook_base_url",
}
"""Platform outputs a ref needs as plain values (validation runs on them before anything exists)."""
_OUTPUTS = {
    "clusterName": "cluster_name",
    "nodeRoleArn": "node_role_arn",
    "artifactBucket": "artifact_bucket_name",
    "artifactKmsKeyArn": "artifact_kms_key_arn",
    "registryKmsKeyArn": "registry_kms_key_arn",
    "kubeconfig": "kubeconfig",
    "gatewayUrl": "gateway_url",
    "mlflowUrl": "mlflow_url",
}
"""Platform outputs a ref passes on as ``Output``s."""
MONITORING_OUTPUT = "modelMonitoring"
"""Optional: a platform without model monitoring does not export it."""


@dataclass(frozen=True, kw_only=True)
class PlatformRef:
    """Everything a model endpoint needs from the platform, in one handle."""

    context: StackContext
    """The consuming stack: the platform's environment, with the consumer's project and tags."""
    region: str
    """AWS region of the platform."""
    cluster_name: pulumi.Input[str]
    node_role_arn: pulumi.Input[str]
    artifact_bucket_name: pulumi.Input[str]
    artifact_kms_key_arn: pulumi.Input[str]
    registry_kms_key_arn: pulumi.Input[str]
    """Key for the repositories a consumer creates."""
    gpu_pools: Mapping[str, GpuPoolInfo]
    """The platform's GPU pools by name."""
    vpc_cidr: str
    secrets_path_prefix: str
    """``<project>/<env>``: platform secrets a workload may read live under it."""
    runbook_base_url: str
    gateway_url: pulumi.Input[str]
    """Base URL of the model gateway (``http(s)://host``); endpoints are served under it."""
    kubeconfig: pulumi.Input[str] | None = None
    """Exec-based kubeconfig of the cluster (secret), for ``provider()``."""
    mlflow_url: pulumi.Input[str] | None = None
    """URL of the MLflow tracking server and registry (training pipelines log and register there)."""
    monitoring: MonitoringRef | None = None
    """The platform's model monitoring; None where it has none (a model's ``monitor`` is refused)."""
    dependencies: PlatformDependencies = field(default_factory=PlatformDependencies)

    @property
    def environment(self) -> Environment:
        return self.context.environment

    def provider(self, name: str = "platform-cluster") -> k8s.Provider:
        """A Kubernetes provider for the platform's cluster."""
        if self.kubeconfig is None:
            raise InvalidArgs("PlatformRef", [Problem("kubeconfig", "is unknown; read the ref from a stack")])
        return k8s.Provider(name, kubeconfig=self.kubeconfig, enable_server_side_apply=True)

    def to_outputs(self) -> dict[str, Any]:
        """The stack outputs a ``PlatformRef`` is read back from (the platform program exports them)."""
        plain = {
            "environment": self.environment.value,
            "region": self.region,
            "gpuNodePools": {
                name: {
                    "nodeLabels": dict(pool.node_labels),
                    "gpusPerNode": pool.gpus_per_node,
                    **({"maxSize": pool.max_nodes} if pool.max_nodes is not None else {}),
                    **(
                        {"nodeStartSeconds": pool.node_start_seconds}
                        if pool.node_start_seconds is not None
                        else {}
                    ),
                    "capacityType": "SPOT" if pool.spot else "ON_DEMAND",
                }
                for name, pool in self.gpu_pools.items()
            },
            "vpcCidr": self.vpc_cidr,
            "secretsPathPrefix": self.secrets_path_prefix,
            "runbookBaseUrl": self.runbook_base_url,
        }
        monitoring = {} if self.monitoring is None else {MONITORING_OUTPUT: self.monitoring.to_outputs()}
        return {**plain, **monitoring, **{output: getattr(self, attr) for output, attr in _OUTPUTS.items()}}

    def for_consumer(self, *, project: str, stack: str, owner: str, cost_center: str) -> PlatformRef:
        """The same platform, seen from another project with its own tags."""
        context = StackContext.create(
            project=project, stack=stack, environment=self.environment, owner=owner, cost_center=cost_center
        )
        return replace(self, context=context, dependencies=PlatformDependencies())

    @classmethod
    def from_outputs(
        cls,
        outputs: Mapping[str, Any],
        *,
        owner: str,
        cost_center: str,
        project: str,
        stack: str,
        origin: str,
    ) -> PlatformRef:
        """From plain stack outputs (``pulumi stack output --json``); every missing or malformed
        output is reported at once, naming ``origin``."""
        problems = [
            Problem(name, f"missing from {origin}; is it the platform stack's outputs?")
            for name in (*_PLAIN_OUTPUTS, *_OUTPUTS)
            if name not in outputs
        ]
        if problems:
            raise InvalidArgs("platform outputs", problems)
        values = {attr: outputs[name] for name, attr in _OUTPUTS.items()}
        return cls._from_plain(
            {name: outputs.get(name) for name in (*_PLAIN_OUTPUTS, MONITORING_OUTPUT)},
            values,
            origin,
            project,
            stack,
            owner,
            cost_center,
        )

    @classmethod
    def from_outputs_file(
        cls,
        path: str | Path,
        *,
        owner: str,
        cost_center: str,
        project: str | None = None,
        stack: str | None = None,
    ) -> PlatformRef:
        """From a JSON file of the platform's outputs, for a team's offline preview."""
        try:
            outputs = files.read_json(path, "platform outputs")
        except files.FileInputError as exc:
            raise InvalidArgs("platform outputs", [Problem("path", str(exc))]) from exc
        if not isinstance(outputs, dict):
            raise InvalidArgs("platform outputs", [Problem("path", f"{path} must hold a JSON object")])
        return cls.from_outputs(
            outputs,
            owner=owner,
            cost_center=cost_center,
            project=project or pulumi.get_project(),
            stack=stack or pulumi.get_stack(),
            origin=str(path),
        )

    @classmethod
    async def from_stack_reference(
        cls, reference: pulumi.StackReference, *, owner: str, cost_center: str
    ) -> PlatformRef:
        """From the platform stack itself. Plain values are awaited, so a spec is checked against
        the real platform (its GPU pools, its environment) before anything is registered."""
        plain = {}
        for name in (*_PLAIN_OUTPUTS, MONITORING_OUTPUT):
            details = await reference.get_output_details(name)
            plain[name] = details.value if details.value is not None else details.secret_value
        missing = [
            Problem(name, "missing from the platform stack's outputs")
            for name, v in plain.items()
            if v is None and name != MONITORING_OUTPUT
        ]
        if missing:
            raise InvalidArgs("platform stack reference", missing)
        values = {attr: reference.require_output(name) for name, attr in _OUTPUTS.items()}
        return cls._from_plain(
            plain, values, "the platform stack", pulumi.get_project(), pulumi.get_stack(), owner, cost_center
        )

    @classmethod
    def _from_plain(
        cls,
        plain: Mapping[str, Any],
        values: dict[str, Any],
        origin: str,
        project: str,
        stack: str,
        owner: str,
        cost_center: str,
    ) -> PlatformRef:
        problems = []
        try:
            environment = Environment(plain["environment"])
        except ValueError:
            problems.append(
                Problem(
                    "environment", f"in {origin} must be dev, stage or prod (got {plain['environment']!r})"
                )
            )
            environment = Environment.DEV
        pools: dict[str, GpuPoolInfo] = {}
        if not isinstance(plain["gpuNodePools"], Mapping):
            problems.append(Problem("gpuNodePools", f"in {origin} must be an object of pools"))
        else:
            for name, pool in plain["gpuNodePools"].items():
                try:
                    maximum, start = pool.get("maxSize"), pool.get("nodeStartSeconds")
                    pools[name] = GpuPoolInfo(
                        dict(pool["nodeLabels"]),
                        int(pool["gpusPerNode"]),
                        None if maximum is None else int(maximum),
                        None if start is None else int(start),
                        pool.get("capacityType") == "SPOT",
                    )
                except (KeyError, TypeError, ValueError):
                    problems.append(
                        Problem(f"gpuNodePools.{name}", f"in {origin} needs nodeLabels and gpusPerNode")
                    )
        for name in ("region", "vpcCidr", "secretsPathPrefix", "runbookBaseUrl"):
            if not isinstance(plain[name], str):
                problems.append(Problem(name, f"in {origin} must be a string (got {plain[name]!r})"))
        monitoring = None
        if (found := plain.get(MONITORING_OUTPUT)) is not None:
            try:
                monitoring = MonitoringRef(
                    capture_database=str(found["captureDatabase"]),
                    pushgateway_url=str(found["pushgatewayUrl"]),
                    monitor_image=found["monitorImage"],
                )
            except (KeyError, TypeError):
                problems.append(
                    Problem(
                        MONITORING_OUTPUT,
                        f"in {origin} needs captureDatabase, pushgatewayUrl and monitorImage",
                    )
                )
        if problems:
            raise InvalidArgs("platform outputs", problems)
        context = StackContext.create(
            project=project, stack=stack, environment=environment, owner=owner, cost_center=cost_center
        )
        return cls(
            context=context,
            region=plain["region"],
            gpu_pools=pools,
            vpc_cidr=plain["vpcCidr"],
            secrets_path_prefix=plain["secretsPathPrefix"],
            runbook_base_url=plain["runbookBaseUrl"],
            monitoring=monitoring,
            **values,
        )
