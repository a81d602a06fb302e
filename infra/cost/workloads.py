"""The pods a program asks for, read from the Deployments, Rollouts and autoscalers it registers.

Each Deployment, and each live version of a Rollout, becomes a ``Workload``: who owns it (team, model and version labels), which pool
its pods select, one replica's requests, and the replicas each cost scenario implies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mlops_platform.components.support import kube
from mlops_platform.infra.cost.placement import PLATFORM, PLATFORM_TEAM, Owner, Pod
from mlops_platform.infra.cost.recorder import DECLARING_TYPES, UNKNOWN, Observed, _get
from mlops_platform.infra.cost.scenarios import SCENARIOS

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
SYSTEM_POOL = ""
"""Pool key of pods that select no GPU pool: they run on the system node group."""


@dataclass(frozen=True)
class Workload:
    owner: Owner
    component: str
    pool: str
    """The GPU pool label value its pods select, or ``SYSTEM_POOL``."""
    pod: Pod
    replicas: Mapping[str, int]
    """Replicas in each scenario: idle (minimum), expected (from traffic), peak (maximum)."""
    throughput: Decimal | None
    """Requests per second one replica sustains (model servers only)."""
    traffic_share: Decimal
    """Fraction of its model's requests this version serves."""

    def pods(self, scenario: str) -> list[Pod]:
        return [self.pod] * self.replicas[scenario]


def _decimal(value: Any, default: str) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, UNKNOWN) else Decimal(default)
    except ArithmeticError:
        return Decimal(default)


def requests_of(pod_spec: Mapping[str, Any]) -> tuple[Decimal, Decimal, Decimal] | None:
    """Summed container requests (cores, bytes, GPUs), or None where one is only known at deploy time."""
    cpu = memory = gpus = Decimal(0)
    for container in _get(pod_spec, "containers", default=[]):
        requests = _get(container, "resources", "requests", default={})
        limits = _get(container, "resources", "limits", default={})
        if not isinstance(requests, Mapping) or not isinstance(limits, Mapping):
            return None
        requests = {**limits, **requests}  # Kubernetes defaults a missing request to its limit
        values = [requests.get("cpu", 0), requests.get("memory", 0), requests.get(kube.GPU_RESOURCE, 0)]
        if UNKNOWN in values:
            return None
        cpu += kube.quantity(values[0])
        memory += kube.quantity(values[1])
        gpus += kube.quantity(values[2])
    return cpu, memory, gpus


@dataclass(frozen=True)
class Daemons:
    """CPU and memory the DaemonSets of the add-ons take on each node: on every node, and on GPU
    nodes besides."""

    every_node: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))
    gpu_nodes: tuple[Decimal, Decimal] = (Decimal(0), Decimal(0))


def read_add_ons(
    observed: list[Observed], component_of: Any
) -> tuple[list[Workload], Daemons, dict[str, Any]]:
    """The system pods and daemons every Helm release and EKS add-on declares (``helm.Footprint``),
    and the declarations by resource for the estimate document."""
    workloads: list[Workload] = []
    every, gpu = [Decimal(0), Decimal(0)], [Decimal(0), Decimal(0)]
    declared: dict[str, Any] = {}
    for release in (o for o in observed if o.type in DECLARING_TYPES and "footprint" in o.props):
        footprint = release.props["footprint"]
        declared[release.name] = footprint
        for replicas, cpu, memory in [*footprint["systemPods"], *footprint.get("operatedPods", [])]:
            pod = Pod(PLATFORM, kube.quantity(cpu), kube.quantity(memory))
            workloads.append(
                Workload(
                    PLATFORM,
                    component_of(release),
                    SYSTEM_POOL,
                    pod,
                    dict.fromkeys(SCENARIOS, int(replicas)),
                    None,
                    Decimal(1),
                )
            )
        for total, (cpu, memory) in ((every, footprint["everyNode"]), (gpu, footprint["gpuNodes"])):
            total[0] += kube.quantity(cpu)
            total[1] += kube.quantity(memory)
    return workloads, Daemons((every[0], every[1]), (gpu[0], gpu[1])), declared


def _target(props: Mapping[str, Any]) -> tuple[str, str]:
    """(kind, name) an autoscaler scales."""
    target = _get(props, "spec", "scale_target_ref", default={})
    return str(_get(target, "kind", default="Deployment")), str(_get(target, "name"))


def _range(autoscaler: Observed) -> tuple[Any, Any]:
    """(min, max) replicas an HPA or a KEDA ScaledObject (which may scale to zero) keeps."""
    spec = _get(autoscaler.props, "spec", default={})
    if autoscaler.type == SCALED_OBJECT:
        low = _get(spec, "min_replica_count", default=0)
        return low, _get(spec, "max_replica_count", default=100)
    low = _get(spec, "min_replicas", default=1)
    return low, _get(spec, "max_replicas", default=low)


def read_workloads(
    observed: list[Observed],
    component_of: Any,
    requests_per_second: Mapping[str, float],
) -> tuple[list[Workload], list[Observed]]:
    """Every Deployment as a Workload, every live version of a Rollout as one (the replicas its share
    of the Rollout's autoscaler implies), and the ones whose requests are only known at deploy time.

    ``component_of`` names a resource's top-level component; ``requests_per_second`` is the
    expected traffic per model (``costAssumptions.requestsPerSecond``)."""
    ranges = {(a.parent, *_target(a.props)): _range(a) for a in observed if a.type in (HPA, SCALED_OBJECT)}
    workloads: list[Workload] = []
    unknown: list[Observed] = []
    for carrier in (o for o in observed if o.type in (DEPLOYMENT, ROLLOUT)):
        metadata = _get(carrier.props, "metadata", default={})
        annotations = _get(metadata, "annotations", default={})
        template = _get(carrier.props, "spec", "template", default={})
        labels = _get(metadata, "labels", default={})
        pod_labels = _get(template, "metadata", "labels", default={})
        requested = requests_of(_get(template, "spec", default={}))
        if requested is None or not all(isinstance(x, Mapping) for x in (labels, pod_labels, annotations)):
            unknown.append(carrier)
            continue
        kind = "Rollout" if carrier.type == ROLLOUT else "Deployment"
        count = _get(carrier.props, "spec", "replicas", default=1)
        low, high = ranges.get((carrier.parent, kind, str(_get(metadata, "name"))), (count, count))
        if UNKNOWN in (low, high):
            unknown.append(carrier)
            continue
        labels = {**labels, **pod_labels}  # the pods' own (a Rollout's name its newest version)
        model = labels.get(kube.MODEL_LABEL, "")
        version = labels.get(kube.VERSION_LABEL, "") if model else ""
        # A Rollout runs its live versions from one template: each its share of the replicas.
        shares = kube.rollout_versions(annotations) if kind == "Rollout" else {}
        if not shares:
            traffic = annotations.get(kube.TRAFFIC_PERCENT_ANNOTATION, 100)
            shares = {version: {"traffic": traffic, "replicas": 100}}
        selector = _get(template, "spec", "node_selector", default={})
        pool = (
            selector.get(kube.GPU_POOL_LABEL, SYSTEM_POOL) if isinstance(selector, Mapping) else SYSTEM_POOL
        )
        throughput = annotations.get(kube.THROUGHPUT_ANNOTATION)
        per_replica = _decimal(throughput, "0") if throughput is not None else None
        for name, share in shares.items():
            owner = Owner(labels.get(kube.TEAM_LABEL, PLATFORM_TEAM), model, name)
            least, most = kube.scaled_replicas(int(low), int(high), int(share["replicas"]))
            fraction = _decimal(share["traffic"], "100") / 100
            expected = least
            if model in requests_per_second and per_replica:
                wanted = math.ceil(Decimal(str(requests_per_second[model])) * fraction / per_replica)
                expected = min(max(wanted, least), most)
            workloads.append(
                Workload(
                    owner,
                    component_of(carrier),
                    str(pool),
                    Pod(owner, *requested),
                    {"idle": least, "expected": expected, "peak": most},
                    per_replica,
                    fraction,
                )
            )
    return workloads, unknown
