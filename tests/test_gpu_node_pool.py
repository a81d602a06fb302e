"""GpuNodePool: NVIDIA AMI, taint, labels, scale-from-zero tags, validation."""

from __future__ import annotations

import pytest

from mlops_platform.components.foundation.gpu_node_pool import (
    GpuAmiType,
    GpuNodePool,
    GpuNodePoolSpec,
    Provisioner,
)
from mlops_platform.components.foundation.nodes import CapacityType
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import CLUSTER, NETWORK, context, only, run


def pool(name="a10g", **overrides):
    spec = GpuNodePoolSpec(
        **{"instance_types": ["g5.xlarge"], "provisioner": Provisioner.MANAGED_NODE_GROUP, **overrides}
    )
    return run(lambda: GpuNodePool(name, spec, context(), CLUSTER, NETWORK)).graph


def test_defaults_nvidia_ami_on_demand_scales_to_zero_with_taint():
    graph = pool()
    group = only(graph, "aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["amiType"] == "AL2023_x86_64_NVIDIA"
    assert group.inputs["capacityType"] == "ON_DEMAND"
    assert group.inputs["scalingConfig"] == {"minSize": 0, "desiredSize": 0, "maxSize": 2}
    assert group.inputs["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert group.inputs["labels"] == {
        "nvidia.com/gpu.present": "true",
        "mlops-platform.io/gpu-pool": "a10g",
        "mlops-platform.io/nvidia-device-plugin": "daemonset",
    }
    assert group.ignore_changes == ["scalingConfig.desiredSize"]
    template = only(graph, "aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 100
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


def test_scale_from_zero_tags_describe_labels_taint_and_gpu_count():
    graph = pool(instance_types=["g5.12xlarge", "g6.12xlarge"])
    tags = {
        t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in graph.of_type("aws:autoscaling/tag:Tag")
    }
    prefix = "k8s.io/cluster-autoscaler/node-template"
    assert tags == {
        f"{prefix}/label/nvidia.com/gpu.present": "true",
        f"{prefix}/label/mlops-platform.io/gpu-pool": "a10g",
        f"{prefix}/label/mlops-platform.io/nvidia-device-plugin": "daemonset",
        f"{prefix}/taint/nvidia.com/gpu": "true:NoSchedule",
        f"{prefix}/resources/nvidia.com/gpu": "4",
    }
    asg = {t.inputs["autoscalingGroupName"] for t in graph.of_type("aws:autoscaling/tag:Tag")}
    assert len(asg) == 1 and next(iter(asg)).startswith("eks-a10g-nodes-")
    assert all(
        t.inputs["tag"]["propagateAtLaunch"] is False for t in graph.of_type("aws:autoscaling/tag:Tag")
    )


def test_spot_bottlerocket_untainted_variant():
    graph = pool(
        capacity_type=CapacityType.SPOT,
        ami_type=GpuAmiType.BOTTLEROCKET_NVIDIA,
        taint=False,
        disk_size_gib=300,
    )
    group = only(graph, "aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["capacityType"] == "SPOT"
    assert group.inputs["amiType"] == "BOTTLEROCKET_x86_64_NVIDIA"
    assert group.inputs["taints"] == []
    assert group.inputs["labels"]["mlops-platform.io/nvidia-device-plugin"] == "builtin"
    devices = only(graph, "aws:ec2/launchTemplate:LaunchTemplate").inputs["blockDeviceMappings"]
    assert [(d["deviceName"], d["ebs"]["volumeSize"]) for d in devices] == [
        ("/dev/xvda", 4),
        ("/dev/xvdb", 300),
    ]


def test_desired_size_defaults_to_min_and_can_be_set():
    group = only(pool(min_size=1, max_size=3), "aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["scalingConfig"]["desiredSize"] == 1
    group = only(pool(min_size=1, desired_size=2, max_size=3), "aws:eks/nodeGroup:NodeGroup")
    assert group.inputs["scalingConfig"]["desiredSize"] == 2


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"instance_types": []}, "instance_types: must list at least one GPU instance type"),
        ({"instance_types": ["m6i.large"]}, "instance_types[0]: m6i.large has no GPU"),
        ({"instance_types": ["g9.xlarge"]}, "instance_types[0]: unknown instance type 'g9.xlarge'"),
        (
            {"instance_types": ["g5.xlarge", "p4d.24xlarge"]},
            "instance_types: must all have the same GPU count",
        ),
        ({"min_size": 3, "max_size": 2}, "max_size: must be >= min_size (got 2 < 3)"),
        ({"min_size": -1}, "min_size: must be >= 0 (got -1)"),
        ({"max_size": 0}, "max_size: must be >= 1 (got 0)"),
        (
            {"desired_size": 5, "max_size": 2},
            "desired_size: must be between min_size and max_size (got 5, range 0..2)",
        ),
        ({"disk_size_gib": 20}, "disk_size_gib: must be between 50 and 16384 for GPU images (got 20)"),
        (
            {"labels": {"mlops-platform.io/gpu-pool": "other"}},
            "labels.mlops-platform.io/gpu-pool: is set by the platform",
        ),
        (
            {"labels": {"kubernetes.io/arch": "arm64"}},
            "labels.kubernetes.io/arch: must be a Kubernetes label key",
        ),
        ({"labels": {"tier": "not ok!"}}, "labels.tier: must be a label value"),
    ],
)
def test_rejects_bad_spec(overrides, message):
    with pytest.raises(InvalidArgs) as caught:
        GpuNodePool(
            "a10g",
            GpuNodePoolSpec(
                **{
                    "instance_types": ["g5.xlarge"],
                    "provisioner": Provisioner.MANAGED_NODE_GROUP,
                    **overrides,
                }
            ),
            context(),
            CLUSTER,
            NETWORK,
        )
    assert message in str(caught.value)


def test_rejects_a_bad_pool_name():
    with pytest.raises(
        InvalidArgs, match=r"name: must be 1-40 lowercase letters, digits or '-' \(got 'GPU'\)"
    ):
        GpuNodePool("GPU", GpuNodePoolSpec(instance_types=["g5.xlarge"]), context(), CLUSTER, NETWORK)


def test_extra_labels_reach_the_nodes_and_the_scale_from_zero_template():
    graph = pool(labels={"workload-class": "batch"})
    assert only(graph, "aws:eks/nodeGroup:NodeGroup").inputs["labels"]["workload-class"] == "batch"
    tags = {
        t.inputs["tag"]["key"]: t.inputs["tag"]["value"] for t in graph.of_type("aws:autoscaling/tag:Tag")
    }
    assert tags["k8s.io/cluster-autoscaler/node-template/label/workload-class"] == "batch"
