"""GPU capacity as the policies see it, whichever provisioner makes it: an EKS managed node group or
a Karpenter NodePool. One reading, so every GPU guardrail holds for both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from mlops_platform.components.support import instance_catalog, kube
from mlops_platform.policies.rule import as_list, get

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
AUTOSCALERS = (
    "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    "kubernetes:keda.sh/v1alpha1:ScaledObject",
)
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
CAPACITY_TYPES = (NODE_GROUP, NODE_POOL)
"""Resource types that provision nodes."""


@dataclass(frozen=True)
class Capacity:
    kind: str
    """``node group`` or ``NodePool``: how messages name it."""
    instance_types: list[str]
    gpu: bool
    max_nodes: int
    """Nodes it may grow to (a NodePool: its GPU limit in nodes of the smallest allowed type)."""
    max_gpus: int
    """Physical GPUs it may reach: a node group's max nodes x the GPUs of its largest type; a
    NodePool's GPU limit (over its time-slicing replicas)."""
    idle_on_demand: bool
    """It keeps on-demand nodes when nothing runs (a node group's minSize; Karpenter keeps none)."""
    gpu_tainted: bool


def _is_node_pool(props: Mapping[str, Any]) -> bool:
    return props.get("kind") == "NodePool" and str(props.get("apiVersion", "")).startswith("karpenter.sh/")


def capacity(props: Mapping[str, Any]) -> Capacity | None:
    """The node capacity a node group or a Karpenter NodePool (told apart by their inputs: a custom
    resource carries its kind) provides; None for anything else."""
    if not _is_node_pool(props) and "scalingConfig" in props:
        types = [str(t) for t in as_list(props.get("instanceTypes"))]
        size = get(props, "scalingConfig", "maxSize", default=0)
        taints = as_list(props.get("taints"))
        return Capacity(
            kind="node group",
            instance_types=types,
            gpu="NVIDIA" in str(props.get("amiType", "")),
            max_nodes=size,
            max_gpus=size * instance_catalog.largest_gpus_per_node(types),
            idle_on_demand=props.get("capacityType") != "SPOT"
            and get(props, "scalingConfig", "minSize", default=0) > 0,
            gpu_tainted=any(
                t.get("key") == kube.GPU_TAINT_KEY and t.get("effect") == "NO_SCHEDULE" for t in taints
            ),
        )
    if _is_node_pool(props):
        template = get(props, "spec", "template", default={})
        requirements = {
            r.get("key"): as_list(r.get("values")) for r in as_list(get(template, "spec", "requirements"))
        }
        types = [str(t) for t in requirements.get("node.kubernetes.io/instance-type", [])]
        labels = get(template, "metadata", "labels", default={})
        limit = get(props, "spec", "limits", kube.GPU_RESOURCE)
        slices = int(kube.quantity(limit)) if isinstance(limit, str | int) else 0
        physical = slices // kube.sharing_replicas(labels)
        smallest = instance_catalog.gpus_per_node(types)
        max_nodes = physical // smallest if smallest else 0
        taints = as_list(get(template, "spec", "taints"))
        return Capacity(
            kind="NodePool",
            instance_types=types,
            gpu=labels.get(kube.GPU_PRESENT_LABEL) == "true" or limit is not None,
            max_nodes=max_nodes,
            max_gpus=physical,  # Karpenter's limit caps the GPUs themselves
            idle_on_demand=False,
            gpu_tainted=any(
                t.get("key") == kube.GPU_TAINT_KEY and t.get("effect") == "NoSchedule" for t in taints
            ),
        )
    return None


class Pods(NamedTuple):
    """Pods a workload runs: a Deployment's, or one live version's of a Rollout (``name`` is then
    ``<rollout>-<version>``), with its pod template (``spec.template``) and the (min, max) replicas
    it runs: its autoscaler's range or its count; a Rollout's version its share of them."""

    resource: Any
    namespace: str
    name: str
    template: Mapping[str, Any]
    replicas: tuple[int, int]


def pod_sets(resources: Sequence[Any]) -> list[Pods]:
    """Every Deployment's pods, and every live version's of a Rollout, with the replicas each runs."""
    ranges: dict[tuple[str, str, str], tuple[int, int]] = {}
    for scaler in resources:
        if scaler.resource_type not in AUTOSCALERS:
            continue
        spec = get(scaler.props, "spec", default={})
        target = get(spec, "scaleTargetRef", default={})
        if scaler.resource_type == AUTOSCALERS[0]:
            low = get(spec, "minReplicas", default=1)
            high = get(spec, "maxReplicas", default=low)
        else:
            low, high = get(spec, "minReplicaCount", default=0), get(spec, "maxReplicaCount", default=100)
        namespace = get(scaler.props, "metadata", "namespace")
        ranges[(namespace, get(target, "kind", default="Deployment"), get(target, "name"))] = (low, high)
    found = []
    for carrier in resources:
        if carrier.resource_type not in (DEPLOYMENT, ROLLOUT):
            continue
        metadata = get(carrier.props, "metadata", default={})
        namespace, name = get(metadata, "namespace"), get(metadata, "name")
        template = get(carrier.props, "spec", "template", default={})
        count = get(carrier.props, "spec", "replicas", default=1)
        if carrier.resource_type == DEPLOYMENT:
            found.append(
                Pods(
                    carrier,
                    namespace,
                    name,
                    template,
                    ranges.get((namespace, "Deployment", name), (count, count)),
                )
            )
            continue
        low, high = ranges.get((namespace, "Rollout", name), (count, count))
        for version, share in kube.rollout_versions(get(metadata, "annotations", default={})).items():
            replicas = kube.scaled_replicas(int(low), int(high), int(share.get("replicas", 100)))
            found.append(Pods(carrier, namespace, f"{name}-{version}", template, replicas))
    return found
