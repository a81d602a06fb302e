"""The pods a program asks for, read from the Deployments and autoscalers it registers.

Each Deployment becomes a ``Workload``: who owns it (team, model and version labels), which pool
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
from mlops_platform.infra.cost.recorder import RELEASE, UNKNOWN, Observed, _get
from mlops_platform.infra.cost.scenarios import SCENARIOS

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


def _requests(pod_spec: Mapping[str, Any]) -> tuple[Decimal, Decimal, Decimal] | None:
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
    """The system pods and daemons every Helm release declares (``helm.Footprint``), and the
    declarations by release for the estimate document."""
    workloads: list[Workload] = []
    every, gpu = [Decimal(0), Decimal(0)], [Decimal(0), Decimal(0)]
    declared: dict[str, Any] = {}
    for release in (o for o in observed if o.type == RELEASE and "footprint" in o.props):
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
    """Every Deployment as a Workload (a Rollout's pod template with the replicas its share of the
    Rollout's autoscaler implies), and the Deployments whose requests are only known at deploy time.

    ``component_of`` names a resource's top-level component; ``requests_per_second`` is the
    expected traffic per model (``costAssumptions.requestsPerSecond``)."""
    ranges = {
        (a.parent, *_target(a.props)): _range(a)
        for a in observed
        if a.type in (HPA, SCALED_OBJECT)
    }
    workloads: list[Workload] = []
    unknown: list[Observed] = []
    for deployment in (o for o in observed if o.type == "kubernetes:apps/v1:Deployment"):
        metadata = _get(deployment.props, "metadata", default={})
        pod_spec = _get(deployment.props, "spec", "template", "spec", default={})
        requested = _requests(pod_spec)
        labels = _get(metadata, "labels", default={})
        annotations = _get(metadata, "annotations", default={})
        if requested is None or not isinstance(labels, Mapping) or not isinstance(annotations, Mapping):
            unknown.append(deployment)
            continue
        model = labels.get(kube.MODEL_LABEL, "")
        owner = Owner(
            labels.get(kube.TEAM_LABEL, PLATFORM_TEAM),
            model,
            labels.get("app.kubernetes.io/version", "") if model else "",
        )
        selector = _get(pod_spec, "node_selector", default={})
        pool = (
            selector.get(kube.GPU_POOL_LABEL, SYSTEM_POOL) if isinstance(selector, Mapping) else SYSTEM_POOL
        )
        # A Rollout's pod template: its replicas are its share of what scales the Rollout.
        scaled_by = str(annotations.get(kube.SCALED_BY_ANNOTATION, "Deployment/" + str(_get(metadata, "name"))))
        low, high = ranges.get(
            (deployment.parent, *scaled_by.split("/", 1)),
            (_get(deployment.props, "spec", "replicas", default=1),) * 2,
        )
        if kube.SCALED_BY_ANNOTATION in annotations and UNKNOWN not in (low, high):
            percent = int(annotations.get(kube.REPLICA_PERCENT_ANNOTATION, "100"))
            low, high = kube.scaled_replicas(int(low), int(high), percent)
        if UNKNOWN in (low, high):
            unknown.append(deployment)
            continue
        throughput = annotations.get(kube.THROUGHPUT_ANNOTATION)
        share = _decimal(annotations.get(kube.TRAFFIC_PERCENT_ANNOTATION), "100") / 100
        per_replica = _decimal(throughput, "0") if throughput is not None else None
        expected = int(low)
        if model in requests_per_second and per_replica:
            wanted = math.ceil(Decimal(str(requests_per_second[model])) * share / per_replica)
            expected = min(max(wanted, int(low)), int(high))
        workloads.append(
            Workload(
                owner,
                component_of(deployment),
                str(pool),
                Pod(owner, *requested),
                {"idle": int(low), "expected": expected, "peak": int(high)},
                per_replica,
                share,
            )
        )
    return workloads, unknown
