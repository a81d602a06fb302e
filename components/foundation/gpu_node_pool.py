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

from mlops_platform.components.foundation.nodes import BOTTLEROCKET_PREFIX, managed_node_group
from mlops_platform.components.refs import ClusterRef, GpuPoolInfo, NetworkRef
from mlops_platform.components.support import kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.instance_catalog import gpus_per_node
from mlops_platform.components.support.instance_catalog import spec as instance_spec
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import with_tags
from mlops_platform.components.support.validation import Problem, size_problems


class CapacityType(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"


class GpuAmiType(StrEnum):
    AL2023_NVIDIA = "AL2023_x86_64_NVIDIA"
    """Amazon Linux 2023 with NVIDIA drivers; the platform runs the NVIDIA device plugin on it."""
    BOTTLEROCKET_NVIDIA = "BOTTLEROCKET_x86_64_NVIDIA"
    """Bottlerocket with NVIDIA drivers and a built-in device plugin."""


_POOL_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
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

    def problems(self, name: str) -> list[Problem]:
        found = []
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
        if len(set(gpu_counts.values())) > 1:
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
        return {
            kube.GPU_PRESENT_LABEL: "true",
            kube.GPU_POOL_LABEL: name,
            kube.DEVICE_PLUGIN_LABEL: device_plugin,
        }

    def node_labels(self, name: str) -> dict[str, str]:
        """Every label the pool's nodes carry: the platform's, then the spec's own."""
        return {**self._platform_labels(name), **self.labels}

    def info(self, name: str) -> GpuPoolInfo:
        """The pool as workloads see it: the one place a pool's identity is computed."""
        return GpuPoolInfo(
            node_labels=self.node_labels(name),
            gpus_per_node=gpus_per_node(self.instance_types),
            max_nodes=self.max_size,
        )


class GpuNodePool(PlatformComponent):
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

    def __init__(
        self,
        name: str,
        spec: GpuNodePoolSpec,
        context: StackContext,
        cluster: ClusterRef,
        network: NetworkRef,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            "mlops:gpu_node_pool:GpuNodePool",
            name,
            "GpuNodePoolSpec",
            [*spec.problems(name), *context.problems()],
            opts,
        )
        self.pool_name = name
        info = spec.info(name)
        self.gpus_per_node = info.gpus_per_node
        self.labels = dict(info.node_labels)
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
