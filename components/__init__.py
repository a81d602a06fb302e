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
from components.network import ExistingNetwork, InterfaceEndpoint, NatGateways, Network, NetworkArgs
from components.platform_secrets import (
    PlatformSecrets,
    PlatformSecretsArgs,
    SecretRef,
    SecretSpec,
    external_secret,
)
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from components.tagging import platform_tags
from components.validation import InvalidArgs

__all__ = [
    "ArtifactStore",
    "ArtifactStoreArgs",
    "CapacityType",
    "ClusterAddons",
    "ClusterAddonsArgs",
    "ContainerRegistry",
    "ContainerRegistryArgs",
    "EksCluster",
    "EksClusterArgs",
    "Environment",
    "ExistingNetwork",
    "GpuAmiType",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "InterfaceEndpoint",
    "InvalidArgs",
    "LoadBalancerController",
    "LoadBalancerControllerArgs",
    "MlflowDatabaseArgs",
    "MlflowTracking",
    "MlflowTrackingArgs",
    "NatGateways",
    "Network",
    "NetworkArgs",
    "PlatformSecrets",
    "PlatformSecretsArgs",
    "PodIdentityRole",
    "PodIdentityRoleArgs",
    "PullThroughCache",
    "Scanning",
    "SecretRef",
    "SecretSpec",
    "SystemNodesArgs",
    "external_secret",
    "platform_tags",
]
