"""mlops-platform components: the reusable library ML teams and the platform program import.

Re-exports only; each component lives in its own module.
"""

from components.artifact_store import ArtifactStore, ArtifactStoreArgs
from components.cluster import EksCluster, EksClusterArgs, SystemNodesArgs
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.container_registry import ContainerRegistry, ContainerRegistryArgs, PullThroughCache, Scanning
from components.environment import Environment
from components.gpu_node_pool import CapacityType, GpuAmiType, GpuNodePool, GpuNodePoolArgs
from components.load_balancer_controller import LoadBalancerController, LoadBalancerControllerArgs
from components.mlflow import MlflowDatabaseArgs, MlflowTracking, MlflowTrackingArgs
from components.model_endpoint import (
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
from components.network import ExistingNetwork, InterfaceEndpoint, NatGateways, Network, NetworkArgs
from components.observability import AlertReceiver, BudgetArgs, Observability, ObservabilityArgs, ReceiverKind
from components.platform_secrets import (
    PlatformSecrets,
    PlatformSecretsArgs,
    SecretRef,
    SecretSpec,
    external_secret,
)
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from components.tagging import platform_tags
from components.team_namespace import NamespaceQuota, TeamNamespace, TeamNamespaceArgs
from components.validation import InvalidArgs

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
