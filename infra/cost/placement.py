"""Places pods onto the nodes of a pool, the way the scheduler and the autoscaler would size it.

The rule (docs/cost-model.md#placement), kept simple enough to check by hand:

- A node offers its instance type's *allocatable* capacity: vCPUs less the EKS kube-reserved CPU
  (6% of the first core, 1% of the second, 0.5% of the next two, 0.25% of the rest), memory less
  255 MiB + 11 MiB per pod at 58 pods (an xlarge's ENI limit) and the 100 MiB eviction threshold,
  and every GPU.
- First fit decreasing: pods sorted by GPUs, then by their largest share of a node (CPU or memory),
  each into the first node with room for all of its requests, else onto a new node.
- A pod larger than an empty node cannot be placed at all: that is an error, not a cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from mlops_platform.components.support import instance_catalog, kube
from mlops_platform.infra.cost.scenarios import SCENARIOS

MIB = Decimal(2**20)
MAX_PODS_ASSUMED = 58
EVICTION_MIB = Decimal(100)


@dataclass(frozen=True)
class Owner:
    """Who a cost belongs to: a model version of a team, or the platform itself (model empty)."""

    team: str
    model: str = ""
    version: str = ""

    @property
    def is_model(self) -> bool:
        return bool(self.model)


PLATFORM_TEAM = kube.PLATFORM_TEAM
"""The owner of everything no model owns: add-ons, MLflow, the control plane, the network."""
PLATFORM = Owner(PLATFORM_TEAM)


@dataclass(frozen=True)
class Pod:
    """One replica's requests: cores, bytes of memory, whole GPUs."""

    owner: Owner
    cpu: Decimal
    memory: Decimal
    gpus: Decimal = Decimal(0)


@dataclass(frozen=True)
class NodeShape:
    instance_type: str
    cpu: Decimal
    memory: Decimal
    gpus: Decimal

    def less(self, cpu: Decimal, memory: Decimal) -> NodeShape:
        """What is left for other pods once a daemon on every such node takes its requests."""
        return NodeShape(self.instance_type, self.cpu - cpu, self.memory - memory, self.gpus)

    def share(self, pod: Pod) -> Decimal:
        """The pod's dominant share of one node: the largest fraction of any resource it requests."""
        shares = [pod.cpu / self.cpu, pod.memory / self.memory]
        if self.gpus:
            shares.append(pod.gpus / self.gpus)
        return max(shares)


class Unschedulable(ValueError):
    """A pod asks for more than one empty node of the pool offers."""


def reserved_cpu(vcpus: int) -> Decimal:
    """EKS kube-reserved CPU in cores for a node with this many vCPUs."""
    steps = ((1, "0.06"), (1, "0.01"), (2, "0.005"))
    left, reserved = Decimal(vcpus), Decimal(0)
    for cores, rate in steps:
        taken = min(left, Decimal(cores))
        reserved += taken * Decimal(rate)
        left -= taken
    return reserved + left * Decimal("0.0025")


def node_shape(instance_type: str, gpu_sharing: int = 1) -> NodeShape:
    """What one node of this type offers to pods (``KeyError`` for a type not in the catalog); with
    time slicing each GPU is offered ``gpu_sharing`` times, so a pod on one slice pays 1/N of it."""
    hardware = instance_catalog.spec(instance_type)
    if hardware is None:
        raise KeyError(instance_type)
    reserved_mib = Decimal(255 + 11 * MAX_PODS_ASSUMED) + EVICTION_MIB
    return NodeShape(
        instance_type,
        cpu=Decimal(hardware.vcpus) - reserved_cpu(hardware.vcpus),
        memory=Decimal(hardware.memory_gib) * 1024 * MIB - reserved_mib * MIB,
        gpus=Decimal(hardware.gpus * gpu_sharing),
    )


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


def pack(pods: Sequence[Pod], node: NodeShape) -> list[list[Pod]]:
    """The nodes these pods need, each as the pods placed on it (first fit decreasing)."""
    for pod in pods:
        if pod.cpu > node.cpu or pod.memory > node.memory or pod.gpus > node.gpus:
            raise Unschedulable(
                f"a pod of {pod.owner.model or pod.owner.team} requests {_plain(pod.cpu)} CPU, "
                f"{pod.memory / MIB / 1024:.2f} GiB and {_plain(pod.gpus)} GPU; one {node.instance_type} "
                f"offers {_plain(node.cpu)} CPU, {node.memory / MIB / 1024:.2f} GiB and {_plain(node.gpus)} GPU"
            )
    ordered = sorted(pods, key=lambda p: (p.gpus, node.share(p)), reverse=True)
    nodes: list[list[Pod]] = []
    free: list[list[Decimal]] = []
    for pod in ordered:
        fits = [
            i
            for i, room in enumerate(free)
            if pod.cpu <= room[0] and pod.memory <= room[1] and pod.gpus <= room[2]
        ]
        if fits:
            index = fits[0]
        else:
            nodes.append([])
            free.append([node.cpu, node.memory, node.gpus])
            index = len(nodes) - 1
        nodes[index].append(pod)
        free[index] = [free[index][0] - pod.cpu, free[index][1] - pod.memory, free[index][2] - pod.gpus]
    return nodes


SHARE_EPSILON = Decimal("1e-12")


def owner_shares(
    placed: Mapping[str, list[list[Pod]]], shape: NodeShape, nodes: Mapping[str, int]
) -> dict[Owner, dict[str, Decimal]]:
    """Each owner's fraction of a pool's nodes per scenario: its pods' dominant shares of a node over
    the nodes the scenario runs. What no pod requests (a node kept by minSize, the rest of a GPU
    shared N ways) stays with the platform, to be shared by the declared key."""
    shares: dict[Owner, dict[str, Decimal]] = {}
    for scenario, bins in placed.items():
        for pod in (pod for node in bins for pod in node):
            share = shape.share(pod) / nodes[scenario] if nodes[scenario] else Decimal(0)
            shares.setdefault(pod.owner, dict.fromkeys(SCENARIOS, Decimal(0)))[scenario] += share
    for scenario in SCENARIOS:
        requested = sum((s[scenario] for s in shares.values()), Decimal(0))
        if requested > 1:  # rounding in a full pool: never more than all of it
            for fractions in shares.values():
                fractions[scenario] /= requested
            requested = Decimal(1)
        unrequested = 1 - requested
        if unrequested > SHARE_EPSILON:  # not the residue of dividing a full pool in thirds
            shares.setdefault(PLATFORM, dict.fromkeys(SCENARIOS, Decimal(0)))[scenario] += unrequested
    return shares
