"""mlops-platform components: the reusable library ML teams and the platform program import.

Re-exports only; each component lives in its own module.
"""

from mlops_platform.components.data.artifact_store import ArtifactStore, ArtifactStoreArgs
from mlops_platform.components.data.container_registry import (
    ContainerRegistry,
    ContainerRegistryArgs,
    PullThroughCache,
    Scanning,
)
from mlops_platform.components.data.mlflow import MlflowDatabaseArgs, MlflowTracking, MlflowTrackingArgs
from mlops_platform.components.data.platform_secrets import (
    PlatformSecrets,
    PlatformSecretsArgs,
    SecretRef,
    SecretSpec,
    external_secret,
)
from mlops_platform.components.foundation.cluster import EksCluster, EksClusterArgs, SystemNodesArgs
from mlops_platform.components.foundation.cluster_addons import ClusterAddons, ClusterAddonsArgs
from mlops_platform.components.foundation.gpu_node_pool import (
    CapacityType,
    GpuAmiType,
    GpuNodePool,
    GpuNodePoolArgs,
)
from mlops_platform.components.foundation.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from mlops_platform.components.foundation.network import (
    ExistingNetwork,
    InterfaceEndpoint,
    NatGateways,
    Network,
    NetworkArgs,
)
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from mlops_platform.components.observability.stack import (
    AlertReceiver,
    BudgetArgs,
    Observability,
    ObservabilityArgs,
    ReceiverKind,
)
from mlops_platform.components.serving.model_endpoint import (
    Autoscaling,
    ComputeResources,
    GpuPoolInfo,
    HealthChecks,
    ModelEndpoint,
    ModelEndpointArgs,
    ModelVersion,
    Replicas,
    ScalingMetric,
    SecretEnv,
    ServiceLevel,
)
from mlops_platform.components.serving.team_namespace import NamespaceQuota, TeamNamespace, TeamNamespaceArgs
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.tagging import platform_tags
from mlops_platform.components.support.validation import InvalidArgs

__all__ = [
    "AlertReceiver",
    "ArtifactStore",
    "ArtifactStoreArgs",
    "Autoscaling",
    "BudgetArgs",
    "CapacityType",
    "ClusterAddons",
    "ClusterAddonsArgs",
    "ComputeResources",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "EksCluster",
    "EksClusterArgs",
    "Environment",
    "ExistingNetwork",
    "GpuAmiType",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "GpuPoolInfo",
    "HealthChecks",
    "InterfaceEndpoint",
    "InvalidArgs",
    "LoadBalancerController",
    "LoadBalancerControllerArgs",
    "MlflowDatabaseArgs",
    "MlflowTracking",
    "MlflowTrackingArgs",
    "ModelEndpoint",
    "ModelEndpointArgs",
    "ModelVersion",
    "NamespaceQuota",
    "NatGateways",
    "Network",
    "NetworkArgs",
    "Observability",
    "ObservabilityArgs",
    "PlatformSecrets",
    "PlatformSecretsArgs",
    "PodIdentityRole",
    "PodIdentityRoleArgs",
    "PullThroughCache",
    "ReceiverKind",
    "Replicas",
    "ScalingMetric",
    "Scanning",
    "SecretEnv",
    "SecretRef",
    "SecretSpec",
    "ServiceLevel",
    "SystemNodesArgs",
    "TeamNamespace",
    "TeamNamespaceArgs",
    "external_secret",
    "platform_tags",
]
