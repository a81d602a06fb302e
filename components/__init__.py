"""mlops-platform components: the reusable library ML teams and the platform program import.

Re-exports only; each component lives in its own module, by layer (foundation, data, observability,
serving; support underneath). A component takes a spec (plain values, ``*Spec``) and wiring (refs to
what other components produced, ``components.refs``).
"""

from mlops_platform.components.data.artifact_store import ArtifactGrant, ArtifactStore, ArtifactStoreSpec
from mlops_platform.components.data.audit_trail import AuditTrail, AuditTrailSpec
from mlops_platform.components.data.container_registry import (
    ContainerRegistry,
    ContainerRegistrySpec,
    PullThroughCache,
    Scanning,
)
from mlops_platform.components.data.image_signing import ImageSigningKey
from mlops_platform.components.data.mlflow import MlflowSpec, MlflowTracking
from mlops_platform.components.data.mlflow_database import MlflowDatabaseSpec
from mlops_platform.components.data.platform_secrets import (
    PlatformSecrets,
    PlatformSecretsSpec,
    SecretRef,
    SecretSpec,
    external_secret,
)
from mlops_platform.components.foundation.cluster import (
    ClusterEndpoint,
    ClusterSpec,
    EksCluster,
    SystemNodesSpec,
)
from mlops_platform.components.foundation.cluster_addons import ClusterAddons, ClusterAddonsSpec
from mlops_platform.components.foundation.gpu_node_pool import (
    GpuAmiType,
    GpuNodePool,
    GpuNodePoolSpec,
    Provisioner,
)
from mlops_platform.components.foundation.karpenter import Consolidation, Karpenter, KarpenterSpec
from mlops_platform.components.foundation.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerSpec,
)
from mlops_platform.components.foundation.network import (
    ExistingNetwork,
    FlowLogs,
    InterfaceEndpoint,
    NatGateways,
    Network,
    NetworkSpec,
)
from mlops_platform.components.foundation.nodes import CapacityType
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.lifecycle.batch_scoring import BatchScoring, BatchScoringSpec
from mlops_platform.components.lifecycle.capture import PredictionCapture, PredictionCaptureSpec
from mlops_platform.components.lifecycle.model_monitor import ModelMonitor
from mlops_platform.components.lifecycle.monitor_spec import (
    FeatureKind,
    ModelMonitorSpec,
    ModelTask,
    RetrainOn,
)
from mlops_platform.components.lifecycle.pipelines import Pipelines, PipelinesSpec, PipelinesUi
from mlops_platform.components.lifecycle.training_pipeline import (
    EvaluateStep,
    PipelineStep,
    TrainingPipeline,
    TrainingPipelineSpec,
    TrainStep,
)
from mlops_platform.components.lifecycle.workflow_archive import ArchiveDatabaseSpec, ArchiveLocation
from mlops_platform.components.observability.alarms import CloudWatchAlarms, WatchedDatabase
from mlops_platform.components.observability.budgets import BudgetSpec
from mlops_platform.components.observability.spec import AlertReceiver, ObservabilitySpec, ReceiverKind
from mlops_platform.components.observability.stack import Observability
from mlops_platform.components.refs import (
    ArtifactsRef,
    ClusterRef,
    GpuPoolInfo,
    MonitoringRef,
    NetworkRef,
    PlatformDependencies,
    PlatformRef,
)
from mlops_platform.components.serving.autoscaling import KedaAutoscaling
from mlops_platform.components.serving.gateway import ModelGateway, ModelGatewaySpec
from mlops_platform.components.serving.kyverno import AdmissionMode, Kyverno, KyvernoSpec
from mlops_platform.components.serving.model_endpoint import (
    AbTest,
    Autoscaling,
    CanaryAnalysis,
    CanaryVersion,
    ComputeResources,
    HealthChecks,
    ModelEndpoint,
    ModelEndpointSpec,
    ModelVersion,
    Replicas,
    ScaleToZero,
    ScalingMetric,
    SecretEnv,
    ServiceLevel,
    Shadow,
)
from mlops_platform.components.serving.rollouts import ArgoRollouts
from mlops_platform.components.serving.team_namespace import NamespaceQuota, TeamNamespace, TeamSpec
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.tagging import platform_tags
from mlops_platform.components.support.validation import InvalidArgs

__all__ = [
    "AbTest",
    "AdmissionMode",
    "AlertReceiver",
    "ArchiveDatabaseSpec",
    "ArchiveLocation",
    "ArgoRollouts",
    "ArtifactGrant",
    "ArtifactStore",
    "ArtifactStoreSpec",
    "ArtifactsRef",
    "AuditTrail",
    "AuditTrailSpec",
    "Autoscaling",
    "BatchScoring",
    "BatchScoringSpec",
    "BudgetSpec",
    "CanaryAnalysis",
    "CanaryVersion",
    "CapacityType",
    "CloudWatchAlarms",
    "ClusterAddons",
    "ClusterAddonsSpec",
    "ClusterEndpoint",
    "ClusterRef",
    "ClusterSpec",
    "ComputeResources",
    "Consolidation",
    "ContainerRegistry",
    "ContainerRegistrySpec",
    "EksCluster",
    "Environment",
    "EvaluateStep",
    "ExistingNetwork",
    "FeatureKind",
    "FlowLogs",
    "GpuAmiType",
    "GpuNodePool",
    "GpuNodePoolSpec",
    "GpuPoolInfo",
    "HealthChecks",
    "ImageSigningKey",
    "InterfaceEndpoint",
    "InvalidArgs",
    "Karpenter",
    "KarpenterSpec",
    "KedaAutoscaling",
    "Kyverno",
    "KyvernoSpec",
    "LoadBalancerController",
    "LoadBalancerControllerSpec",
    "MlflowDatabaseSpec",
    "MlflowSpec",
    "MlflowTracking",
    "ModelEndpoint",
    "ModelEndpointSpec",
    "ModelGateway",
    "ModelGatewaySpec",
    "ModelMonitor",
    "ModelMonitorSpec",
    "ModelTask",
    "ModelVersion",
    "MonitoringRef",
    "NamespaceQuota",
    "NatGateways",
    "Network",
    "NetworkRef",
    "NetworkSpec",
    "Observability",
    "ObservabilitySpec",
    "PipelineStep",
    "Pipelines",
    "PipelinesSpec",
    "PipelinesUi",
    "PlatformDependencies",
    "PlatformRef",
    "PlatformSecrets",
    "PlatformSecretsSpec",
    "PodIdentityRole",
    "PodIdentitySpec",
    "PredictionCapture",
    "PredictionCaptureSpec",
    "Provisioner",
    "PullThroughCache",
    "ReceiverKind",
    "Replicas",
    "RetrainOn",
    "ScaleToZero",
    "ScalingMetric",
    "Scanning",
    "SecretEnv",
    "SecretRef",
    "SecretSpec",
    "ServiceLevel",
    "Shadow",
    "StackContext",
    "SystemNodesSpec",
    "TeamNamespace",
    "TeamSpec",
    "TrainStep",
    "TrainingPipeline",
    "TrainingPipelineSpec",
    "WatchedDatabase",
    "external_secret",
    "platform_tags",
]
