"""mlops-platform components: the reusable library ML teams and the platform program import.

Re-exports only; each component lives in its own module.
"""

from components.cluster import EksCluster, EksClusterArgs, SystemNodesArgs
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.environment import Environment
from components.gpu_node_pool import CapacityType, GpuAmiType, GpuNodePool, GpuNodePoolArgs
from components.network import ExistingNetwork, InterfaceEndpoint, NatGateways, Network, NetworkArgs
from components.pod_identity import PodIdentityRole, PodIdentityRoleArgs
from components.tagging import platform_tags
from components.validation import InvalidArgs

__all__ = [
    "CapacityType",
    "ClusterAddons",
    "ClusterAddonsArgs",
    "EksCluster",
    "EksClusterArgs",
    "Environment",
    "ExistingNetwork",
    "GpuAmiType",
    "GpuNodePool",
    "GpuNodePoolArgs",
    "InterfaceEndpoint",
    "InvalidArgs",
    "NatGateways",
    "Network",
    "NetworkArgs",
    "PodIdentityRole",
    "PodIdentityRoleArgs",
    "platform_tags",
]
