"""``GpuNodePool``: an EKS managed node group of GPU instances that can scale to zero.

Example::

    GpuNodePool("gpu-spot", GpuNodePoolArgs(
        cluster_name=cluster.cluster_name, node_role_arn=cluster.node_role_arn,
        subnet_ids=network.private_subnet_ids, ebs_kms_key_arn=cluster.ebs_kms_key_arn, tags=tags,
        instance_types=["g6.xlarge", "g5.xlarge"], capacity_type=CapacityType.SPOT, max_size=4))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import pulumi
import pulumi_aws as aws
from mlops_platform.components.foundation.instance_catalog import spec
from mlops_platform.components.foundation.nodes import BOTTLEROCKET_PREFIX, managed_node_group
from mlops_platform.components.support import kube
from mlops_platform.components.support.tagging import tag_problems, with_tags
from mlops_platform.components.support.validation import Problem, raise_if_any, size_problems


class CapacityType(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"


class GpuAmiType(StrEnum):
    AL2023_NVIDIA = "AL2023_x86_64_NVIDIA"
    """Amazon Linux 2023 with NVIDIA drivers; the platform runs the NVIDIA device plugin on it."""
    BOTTLEROCKET_NVIDIA = "BOTTLEROCKET_x86_64_NVIDIA"
    """Bottlerocket with NVIDIA drivers and a built-in device plugin."""


_POOL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")


@dataclass(frozen=True, kw_only=True)
class GpuNodePoolArgs:
    cluster_name: pulumi.Input[str]
    """Cluster to join."""
    node_role_arn: pulumi.Input[str]
    """Node IAM role (``EksCluster.node_role_arn``)."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets to launch into."""
    ebs_kms_key_arn: pulumi.Input[str]
    """Key for the root volume (``EksCluster.ebs_kms_key_arn``)."""
    tags: Mapping[str, str]
    """Tags for every AWS resource; must carry the platform's required tags."""
    instance_types: Sequence[str]
    """GPU instance types the pool may launch, cheapest first. All must expose the same GPU count."""
    pool_name: str = ""
    """Label value and node-group name of the pool. Default: the component name."""
    capacity_type: CapacityType = CapacityType.ON_DEMAND
    """ON_DEMAND or SPOT. Default: ON_DEMAND."""
    ami_type: GpuAmiType = GpuAmiType.AL2023_NVIDIA
    """AMI family. Default: AL2023_x86_64_NVIDIA."""
    min_size: int = 0
    """Nodes kept when idle. Default: 0 (the pool scales to zero)."""
    desired_size: int | None = None
    """Nodes at creation; ignored afterwards so the autoscaler keeps control. Default: ``min_size``."""
    max_size: int = 2
    """Upper bound for the cluster-autoscaler. Default: 2."""
    disk_size_gib: int = 100
    """Container volume size (gp3, encrypted); model images are large. Default: 100."""
    taint: bool = True
    """Taint nodes ``nvidia.com/gpu=true:NoSchedule`` so only GPU workloads land there. Default: on."""
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    """Extra node labels. Default: none."""

    def problems(self, name: str = "") -> list[Problem]:
        found = tag_problems(self.tags)
        pool = self.pool_name or name
        if pool and not _POOL_NAME.match(pool):
            found.append(
                Problem("pool_name", f"must be 1-40 lowercase letters, digits or '-' (got {pool!r})")
            )
        found += size_problems(self.min_size, self.desired_size, self.max_size)
        if not self.instance_types:
            found.append(Problem("instance_types", "must list at least one GPU instance type"))
        gpu_counts = {}
        for i, instance_type in enumerate(self.instance_types):
            hardware = spec(instance_type)
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
        if len(set(gpu_counts.values())) > 1:
            listed = ", ".join(f"{t}={n}" for t, n in gpu_counts.items())
            found.append(
                Problem(
                    "instance_types",
                    f"must all have the same GPU count, or scale-from-zero would schedule wrongly (got {listed})",
                )
            )
        if self.disk_size_gib < 50:
            found.append(Problem("disk_size_gib", f"must be >= 50 for GPU images (got {self.disk_size_gib})"))
        return found

    def gpus_per_node(self) -> int:
        counts = [s.gpus for t in self.instance_types if (s := spec(t))]
        return min(counts) if counts else 0


class GpuNodePool(pulumi.ComponentResource):
    """Managed node group with the NVIDIA AMI, GPU taint and labels, and the cluster-autoscaler
    tags that let it scale up from zero nodes."""

    node_group: aws.eks.NodeGroup
    """The EKS managed node group."""
    pool_name: str
    """Value of the ``mlops-platform.io/gpu-pool`` label on its nodes."""
    gpus_per_node: int
    """GPUs each node exposes as ``nvidia.com/gpu``."""
    labels: dict[str, str]
    """Labels every node of the pool carries; a pod's nodeSelector picks the pool by them."""

    def __init__(self, name: str, args: GpuNodePoolArgs, opts: pulumi.ResourceOptions | None = None):
        raise_if_any(f"GpuNodePoolArgs for {name!r}", args.problems(name))
        super().__init__("mlops:gpu_node_pool:GpuNodePool", name, None, opts)
        self.pool_name = args.pool_name or name
        self.gpus_per_node = args.gpus_per_node()
        device_plugin = "builtin" if args.ami_type.value.startswith(BOTTLEROCKET_PREFIX) else "daemonset"
        self.labels = {
            kube.GPU_PRESENT_LABEL: "true",
            kube.GPU_POOL_LABEL: self.pool_name,
            kube.DEVICE_PLUGIN_LABEL: device_plugin,
            **args.extra_labels,
        }
        taints = [{"key": kube.GPU_TAINT_KEY, "value": "true", "effect": "NO_SCHEDULE"}] if args.taint else []
        self.node_group, _ = managed_node_group(
            f"{name}-nodes",
            cluster_name=args.cluster_name,
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            instance_types=args.instance_types,
            capacity_type=args.capacity_type.value,
            ami_type=args.ami_type.value,
            min_size=args.min_size,
            desired_size=args.min_size if args.desired_size is None else args.desired_size,
            max_size=args.max_size,
            disk_size_gib=args.disk_size_gib,
            kms_key_arn=args.ebs_kms_key_arn,
            labels=self.labels,
            taints=taints,
            tags=with_tags(args.tags, Name=self.pool_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._tag_autoscaling_group(name, args, taints)
        self.register_outputs({"nodeGroupName": self.node_group.node_group_name})

    def _tag_autoscaling_group(self, name: str, args: GpuNodePoolArgs, taints: list[dict[str, str]]) -> None:
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
