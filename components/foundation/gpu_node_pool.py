"""``GpuNodePool``: an EKS managed node group of GPU instances that can scale to zero.

Example::

    GpuNodePool("gpu-spot", GpuNodePoolSpec(instance_types=["g6.xlarge", "g5.xlarge"],
                capacity_type=CapacityType.SPOT, max_size=4), context, cluster.ref, network.ref)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from enum import StrEnum

import pulumi
import pulumi_aws as aws

from mlops_platform.components.foundation.karpenter import (
    Consolidation,
    Karpenter,
    gpu_node_class,
    gpu_node_pool,
)
from mlops_platform.components.foundation.nodes import BOTTLEROCKET_PREFIX, CapacityType, managed_node_group
from mlops_platform.components.refs import ClusterRef, GpuPoolInfo, NetworkRef
from mlops_platform.components.support import kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.instance_catalog import gpus_per_node, largest_gpus_per_node
from mlops_platform.components.support.instance_catalog import spec as instance_spec
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import with_tags
from mlops_platform.components.support.validation import Problem, range_problems, size_problems


class Provisioner(StrEnum):
    MANAGED_NODE_GROUP = "managedNodeGroup"
    KARPENTER = "karpenter"


class GpuAmiType(StrEnum):
    AL2023_NVIDIA = "AL2023_x86_64_NVIDIA"
    """Amazon Linux 2023 with NVIDIA drivers; the platform runs the NVIDIA device plugin on it."""
    BOTTLEROCKET_NVIDIA = "BOTTLEROCKET_x86_64_NVIDIA"
    """Bottlerocket with NVIDIA drivers and a built-in device plugin."""


_POOL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_DURATION = re.compile(r"^([0-9]+(s|m|h))+$")
_BUDGET = re.compile(r"^(100|[0-9]{1,2})%$|^[0-9]+$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


@spec
class GpuNodePoolSpec:
    """A pool of GPU nodes; its name (the component's) is the label value models select it by."""

    instance_types: Sequence[str]
    """GPU instance types the pool may launch, cheapest first. All must expose the same GPU count."""
    capacity_type: CapacityType = CapacityType.ON_DEMAND
    """`ON_DEMAND` or `SPOT`. Default: `ON_DEMAND`."""
    ami_type: GpuAmiType = GpuAmiType.AL2023_NVIDIA
    """`AL2023_x86_64_NVIDIA` or `BOTTLEROCKET_x86_64_NVIDIA`. Default: `AL2023_x86_64_NVIDIA`."""
    min_size: int = 0
    """Nodes kept when idle. Default: 0 (the pool scales to zero)."""
    desired_size: int | None = None
    """Nodes at creation; ignored afterwards so the autoscaler keeps control. Default: `minSize`."""
    max_size: int = 2
    """Upper bound for the cluster-autoscaler. Default: 2."""
    disk_size_gib: int = 100
    """Container volume size in GiB (gp3, encrypted); model images are large. Default: 100."""
    taint: bool = True
    """Taint nodes ``nvidia.com/gpu=true:NoSchedule`` so only GPU workloads land there. Default: on."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra Kubernetes labels on the pool's nodes (and in its scale-from-zero template), e.g.
    ``{"workload-class": "batch"}``. The platform's own labels cannot be overridden. Default: none."""
    provisioner: Provisioner | None = None
    """`managedNodeGroup` (an EKS managed node group scaled by the cluster-autoscaler: one instance
    list, no fallback) or `karpenter` (a Karpenter NodePool: several families, spot with on-demand
    fallback, consolidation). Default: `karpenter` in dev and stage, `managedNodeGroup` in prod."""
    time_slicing_replicas: int = 1
    """NVIDIA time slicing: each GPU is offered as this many ``nvidia.com/gpu``, so up to N small
    models share it (no memory isolation). Models opt in with ``resources.sharedGpu``; the cost model
    charges each 1/N. Default: 1 (no sharing)."""
    spot_fallback: bool = True
    """Karpenter pools with `SPOT`: launch on-demand when no spot capacity is left. Default: on."""
    consolidation: Consolidation = Consolidation.WHEN_EMPTY_OR_UNDERUTILIZED
    """Karpenter pools: remove empty nodes, or also repack underused ones. Default:
    `WhenEmptyOrUnderutilized`."""
    consolidate_after: str = "5m"
    """Karpenter pools: how long a node stays empty or underused before it goes. Default: 5m."""
    disruption_budget: str = "1"
    """Karpenter pools: nodes (or a percentage such as ``10%``) disrupted at once. Default: 1."""
    node_start_seconds: int = 300
    """Seconds from a scale-up to a Ready GPU node (EC2 launch, boot, NVIDIA driver, device plugin), as
    measured for the pool; a model that scales to zero must budget at least this for its cold start.
    Default: 300."""

    def provisioner_in(self, environment: Environment) -> Provisioner:
        """The provisioner this pool uses in ``environment``."""
        if self.provisioner is not None:
            return self.provisioner
        return Provisioner.MANAGED_NODE_GROUP if environment is Environment.PROD else Provisioner.KARPENTER

    def problems(self, name: str, environment: Environment | None = None) -> list[Problem]:
        found = []
        karpenter = environment is not None and self.provisioner_in(environment) is Provisioner.KARPENTER
        found += range_problems("time_slicing_replicas", self.time_slicing_replicas, 1, 48)
        found += range_problems("node_start_seconds", self.node_start_seconds, 30, 1800)
        if not _DURATION.match(self.consolidate_after):
            found.append(
                Problem(
                    "consolidate_after",
                    f"must be a duration such as 30s, 5m or 1h (got {self.consolidate_after!r})",
                )
            )
        if not _BUDGET.match(self.disruption_budget):
            found.append(
                Problem(
                    "disruption_budget",
                    f"must be a node count or a percentage such as 10% (got {self.disruption_budget!r})",
                )
            )
        if karpenter and self.ami_type is not GpuAmiType.AL2023_NVIDIA:
            found.append(
                Problem(
                    "ami_type",
                    f"Karpenter pools run {GpuAmiType.AL2023_NVIDIA.value} (got {self.ami_type.value})",
                )
            )
        if not _POOL_NAME.match(name):
            found.append(Problem("name", f"must be 1-40 lowercase letters, digits or '-' (got {name!r})"))
        found += size_problems(self.min_size, self.desired_size, self.max_size)
        if not self.instance_types:
            found.append(Problem("instance_types", "must list at least one GPU instance type"))
        gpu_counts = {}
        for i, instance_type in enumerate(self.instance_types):
            hardware = instance_spec(instance_type)
            if hardware is None:
                found.append(Problem(f"instance_types[{i}]", f"unknown instance type {instance_type!r}"))
            elif hardware.gpus == 0:
                found.append(
                    Problem(
                        f"instance_types[{i}]",
                        f"{instance_type} has no GPU; use a g4dn, g5, g6, g6e, p4d or p5 type",
                    )
                )
            else:
                gpu_counts[instance_type] = hardware.gpus
        if len(set(gpu_counts.values())) > 1 and not karpenter:  # Karpenter sizes each type itself
            listed = ", ".join(f"{t}={n}" for t, n in gpu_counts.items())
            found.append(
                Problem(
                    "instance_types",
                    f"must all have the same GPU count, or scale-from-zero would schedule wrongly (got {listed})",
                )
            )
        if not 50 <= self.disk_size_gib <= 16384:
            found.append(
                Problem(
                    "disk_size_gib", f"must be between 50 and 16384 for GPU images (got {self.disk_size_gib})"
                )
            )
        reserved = set(self._platform_labels(name))
        for key, value in self.labels.items():
            if key in reserved:
                found.append(Problem(f"labels.{key}", "is set by the platform; choose another label key"))
            elif not _LABEL_KEY.match(key) or key.startswith(("kubernetes.io/", "k8s.io/")):
                found.append(
                    Problem(
                        f"labels.{key}",
                        "must be a Kubernetes label key (an optional DNS prefix and '/', then up to 63 "
                        "letters, digits, '-', '_' or '.'), outside the reserved kubernetes.io/ and k8s.io/",
                    )
                )
            elif not isinstance(value, str) or not _LABEL_VALUE.match(value):
                found.append(
                    Problem(
                        f"labels.{key}",
                        f"must be a label value: up to 63 letters, digits, '-', '_' or '.' (got {value!r})",
                    )
                )
        return found

    def _platform_labels(self, name: str) -> dict[str, str]:
        device_plugin = "builtin" if self.ami_type.value.startswith(BOTTLEROCKET_PREFIX) else "daemonset"
        labels = {
            kube.GPU_PRESENT_LABEL: "true",
            kube.GPU_POOL_LABEL: name,
            kube.DEVICE_PLUGIN_LABEL: device_plugin,
        }
        if self.time_slicing_replicas > 1:
            labels[kube.GPU_SHARING_LABEL] = kube.sharing_config(self.time_slicing_replicas)
        return labels

    def node_labels(self, name: str) -> dict[str, str]:
        """Every label the pool's nodes carry: the platform's, then the spec's own."""
        return {**self._platform_labels(name), **self.labels}

    def info(self, name: str) -> GpuPoolInfo:
        """The pool as workloads see it: the one place a pool's identity is computed."""
        return GpuPoolInfo(
            node_labels=self.node_labels(name),
            gpus_per_node=gpus_per_node(self.instance_types) * self.time_slicing_replicas,
            max_nodes=self.max_size,
            node_start_seconds=self.node_start_seconds,
            spot=self.capacity_type is CapacityType.SPOT,
        )


class GpuNodePool(PlatformComponent):
    """Managed node group with the NVIDIA AMI, GPU taint and labels, and the cluster-autoscaler
    tags that let it scale up from zero nodes."""

    node_group: aws.eks.NodeGroup | None
    """The EKS managed node group (None for a Karpenter pool)."""
    provisioner: Provisioner
    """What provisions the pool's nodes in this stack's environment."""
    pool_name: str
    """Value of the ``mlops-platform.io/gpu-pool`` label on its nodes."""
    gpus_per_node: int
    """GPUs each node exposes as ``nvidia.com/gpu``."""
    labels: dict[str, str]
    """Labels every node of the pool carries; a pod's nodeSelector picks the pool by them."""

    def __init__(
        self,
        name: str,
        spec: GpuNodePoolSpec,
        context: StackContext,
        cluster: ClusterRef,
        network: NetworkRef,
        opts: pulumi.ResourceOptions | None = None,
        *,
        karpenter: Karpenter | None = None,
    ):
        """``karpenter``: the controller, required when the pool's provisioner is Karpenter; the
        options must then carry the cluster's Kubernetes provider."""
        provisioner = spec.provisioner_in(context.environment)
        problems = [*spec.problems(name, context.environment), *context.problems()]
        if provisioner is Provisioner.KARPENTER and karpenter is None:
            problems.append(
                Problem(
                    "provisioner", "karpenter needs the Karpenter controller: pass karpenter=Karpenter(...)"
                )
            )
        super().__init__("mlops:gpu_node_pool:GpuNodePool", name, "GpuNodePoolSpec", problems, opts)
        self.pool_name = name
        self.provisioner = provisioner
        info = spec.info(name)
        self.gpus_per_node = info.gpus_per_node
        self.labels = dict(info.node_labels)
        self.node_group = None
        if karpenter is not None and provisioner is Provisioner.KARPENTER:
            after = pulumi.ResourceOptions(parent=self, depends_on=[karpenter.release])
            gpu_node_class(
                name,
                disk_size_gib=spec.disk_size_gib,
                tags=with_tags(context.tags, Name=name),
                cluster=cluster,
                subnet_ids=network.private_subnet_ids,
                instance_profile=karpenter.instance_profile_name,
                opts=after,
            )
            capacity = ["on-demand"]
            if spec.capacity_type is CapacityType.SPOT:
                # Karpenter prefers spot when both are allowed and falls back to on-demand without it.
                capacity = ["spot", "on-demand"] if spec.spot_fallback else ["spot"]
            per_node = largest_gpus_per_node(spec.instance_types)
            self.node_pool = gpu_node_pool(
                name,
                instance_types=spec.instance_types,
                capacity_types=capacity,
                labels=self.labels,
                taint=spec.taint,
                disruption={
                    "consolidationPolicy": spec.consolidation.value,
                    "consolidateAfter": spec.consolidate_after,
                    "budgets": [{"nodes": spec.disruption_budget}],
                },
                # maxSize bounds the pool as it does a node group: in GPUs, which Karpenter counts.
                gpu_limit=spec.max_size * per_node * spec.time_slicing_replicas,
                opts=after,
            )
            self.register_outputs({"nodePoolName": name})
            return
        taints = [{"key": kube.GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}] if spec.taint else []
        self.node_group, _ = managed_node_group(
            f"{name}-nodes",
            spec,
            capacity_type=spec.capacity_type.value,
            ami_type=spec.ami_type.value,
            cluster_name=cluster.name,
            node_role_arn=cluster.node_role_arn,
            subnet_ids=network.private_subnet_ids,
            kms_key_arn=cluster.ebs_kms_key_arn,
            labels=self.labels,
            taints=taints,
            tags=with_tags(context.tags, Name=name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._tag_autoscaling_group(name, taints)
        self.register_outputs({"nodeGroupName": self.node_group.node_group_name})

    def _tag_autoscaling_group(self, name: str, taints: list[dict[str, str]]) -> None:
        """From zero nodes the autoscaler sees no node to copy; these ASG tags describe one.

        EKS does not copy node-group tags to the Auto Scaling group, so each tag is its own resource.
        """
        template = "k8s.io/cluster-autoscaler/node-template"
        tags = {f"{template}/label/{k}": v for k, v in self.labels.items()}
        tags.update({f"{template}/taint/{t['key']}": f"{t['value']}:NoSchedule" for t in taints})
        tags[f"{template}/resources/nvidia.com/gpu"] = str(self.gpus_per_node)
        asg_name = self.node_group.resources.apply(lambda rs: rs[0].autoscaling_groups[0].name)
        for key, value in tags.items():
            suffix = key.removeprefix(f"{template}/").replace("/", "-").replace(".", "-")
            aws.autoscaling.Tag(
                f"{name}-asg-{suffix}",
                autoscaling_group_name=asg_name,
                tag={"key": key, "value": value, "propagate_at_launch": False},
                opts=pulumi.ResourceOptions(parent=self),
            )
