"""EKS managed node groups with hardened launch templates, shared by system and GPU pools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Protocol

import pulumi
import pulumi_aws as aws

BOTTLEROCKET_PREFIX = "BOTTLEROCKET"


class CapacityType(StrEnum):
    ON_DEMAND = "ON_DEMAND"
    SPOT = "SPOT"


def hardened_launch_template(
    name: str,
    *,
    ami_type: str,
    disk_size_gib: int,
    kms_key_arn: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ec2.LaunchTemplate:
    """IMDSv2 only, with a hop limit of 1 so pods cannot reach the node's credentials; every volume
    gp3 and encrypted with the platform's EBS key."""

    def volume(device: str, size: int) -> dict:
        return {
            "device_name": device,
            "ebs": {
                "volume_size": size,
                "volume_type": "gp3",
                "encrypted": "true",
                "kms_key_id": kms_key_arn,
                "delete_on_termination": "true",
            },
        }

    if ami_type.startswith(BOTTLEROCKET_PREFIX):
        # Bottlerocket keeps the OS on a small root volume and containers on the data volume.
        devices = [volume("/dev/xvda", 4), volume("/dev/xvdb", disk_size_gib)]
    else:
        devices = [volume("/dev/xvda", disk_size_gib)]
    return aws.ec2.LaunchTemplate(
        name,
        description=f"Hardened launch template for {name}",
        update_default_version=True,
        metadata_options={
            "http_endpoint": "enabled",
            "http_tokens": "required",
            "http_put_response_hop_limit": 1,
            "instance_metadata_tags": "disabled",
        },
        block_device_mappings=devices,
        tag_specifications=[
            {"resource_type": "instance", "tags": dict(tags)},
            {"resource_type": "volume", "tags": dict(tags)},
        ],
        tags=dict(tags),
        opts=opts,
    )


class NodeSizes(Protocol):
    """What a node group spec says about its nodes (``SystemNodesSpec``, ``GpuNodePoolSpec``)."""

    instance_types: Sequence[str]
    min_size: int
    desired_size: int | None
    max_size: int
    disk_size_gib: int


def managed_node_group(
    name: str,
    nodes: NodeSizes,
    *,
    capacity_type: str,
    ami_type: str,
    cluster_name: pulumi.Input[str],
    node_role_arn: pulumi.Input[str],
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    kms_key_arn: pulumi.Input[str],
    labels: Mapping[str, str],
    taints: Sequence[Mapping[str, str]],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> tuple[aws.eks.NodeGroup, aws.ec2.LaunchTemplate]:
    """A managed node group on a hardened launch template; ``desired_size`` defaults to ``min_size``."""
    desired_size = nodes.min_size if nodes.desired_size is None else nodes.desired_size
    template = hardened_launch_template(
        f"{name}-lt",
        ami_type=ami_type,
        disk_size_gib=nodes.disk_size_gib,
        kms_key_arn=kms_key_arn,
        tags=tags,
        opts=opts,
    )
    group = aws.eks.NodeGroup(
        name,
        cluster_name=cluster_name,
        node_role_arn=node_role_arn,
        subnet_ids=subnet_ids,
        instance_types=list(nodes.instance_types),
        capacity_type=capacity_type,
        ami_type=ami_type,
        scaling_config={"min_size": nodes.min_size, "desired_size": desired_size, "max_size": nodes.max_size},
        update_config={"max_unavailable": 1},
        launch_template={"id": template.id, "version": template.latest_version.apply(str)},
        labels=dict(labels),
        taints=[dict(t) for t in taints],
        tags=dict(tags),
        # The cluster-autoscaler owns the desired size after creation; reverting it would fight it.
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(ignore_changes=["scalingConfig.desiredSize"])
        ),
    )
    return group, template
