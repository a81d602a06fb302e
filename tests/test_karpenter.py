"""Karpenter GPU pools: the controller's scoped identity, its interruption queue and rules, the
NodePool and EC2NodeClass a pool renders, time slicing, and what the cost model charges for them."""

from __future__ import annotations

import json

import pytest

from mlops_platform.components.foundation.cluster_addons import device_plugin_config
from mlops_platform.components.foundation.gpu_node_pool import (
    GpuAmiType,
    GpuNodePool,
    GpuNodePoolSpec,
    Provisioner,
)
from mlops_platform.components.foundation.karpenter import INTERRUPTION_EVENTS, Karpenter, KarpenterSpec
from mlops_platform.components.foundation.nodes import CapacityType
from mlops_platform.components.support import kube, pins
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from mlops_platform.infra.offline.runner import SynthError
from tests.harness import ACCOUNT, CLUSTER, NETWORK, context, only, run, stack


def karpenter_pool(environment: Environment = Environment.DEV, **overrides):
    spec = GpuNodePoolSpec(**{"instance_types": ["g6.xlarge", "g5.xlarge"], **overrides})

    def program():
        controller = Karpenter("karpenter", KarpenterSpec(), context(environment), CLUSTER)
        GpuNodePool("a10g", spec, context(environment), CLUSTER, NETWORK, karpenter=controller)

    return run(program).graph


def test_dev_and_stage_gpu_pools_are_karpenter_prod_stays_managed():
    for name in ("dev", "stage"):
        graph = stack(name).graph
        assert graph.of_type("kubernetes:karpenter.sh/v1:NodePool"), name
        assert not [
            g for g in graph.of_type("aws:eks/nodeGroup:NodeGroup") if "NVIDIA" in g.inputs["amiType"]
        ]
        assert all(p["provisioner"] == "karpenter" for p in graph.outputs["gpuNodePools"].values())
    prod = stack("prod").graph
    assert not prod.of_type("kubernetes:karpenter.sh/v1:NodePool")
    assert not prod.of_type("mlops:karpenter:Karpenter")


def test_a_pool_renders_a_node_pool_with_fallback_consolidation_and_a_gpu_limit():
    graph = karpenter_pool(capacity_type=CapacityType.SPOT, max_size=3)
    node_pool = only(graph, "kubernetes:karpenter.sh/v1:NodePool").inputs
    template = node_pool["spec"]["template"]
    assert template["metadata"]["labels"][kube.GPU_POOL_LABEL] == "a10g"
    assert {r["key"]: r["values"] for r in template["spec"]["requirements"]} == {
        "node.kubernetes.io/instance-type": ["g6.xlarge", "g5.xlarge"],
        "karpenter.sh/capacity-type": ["spot", "on-demand"],
    }
    assert template["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
    assert template["spec"]["nodeClassRef"] == {
        "group": "karpenter.k8s.aws",
        "kind": "EC2NodeClass",
        "name": "a10g",
    }
    assert node_pool["spec"]["disruption"] == {
        "consolidationPolicy": "WhenEmptyOrUnderutilized",
        "consolidateAfter": "5m",
        "budgets": [{"nodes": "1"}],
    }
    assert node_pool["spec"]["limits"] == {"nvidia.com/gpu": "3"}  # maxSize 3 x 1 GPU
    no_fallback = karpenter_pool(capacity_type=CapacityType.SPOT, spot_fallback=False)
    requirements = only(no_fallback, "kubernetes:karpenter.sh/v1:NodePool").inputs["spec"]["template"]["spec"]
    assert {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]} in requirements[
        "requirements"
    ]


def test_the_node_class_pins_the_ami_encrypts_with_the_cluster_key_and_requires_imdsv2():
    node_class = only(
        karpenter_pool(disk_size_gib=200), "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
    ).inputs["spec"]
    assert node_class["amiSelectorTerms"] == [{"alias": pins.KARPENTER_AMI_ALIAS}]
    assert node_class["blockDeviceMappings"][0]["ebs"] == {
        "volumeSize": "200Gi",
        "volumeType": "gp3",
        "encrypted": True,
        "kmsKeyID": CLUSTER.ebs_kms_key_arn,
        "deleteOnTermination": True,
    }
    assert node_class["metadataOptions"] == {"httpTokens": "required", "httpPutResponseHopLimit": 1}
    assert node_class["subnetSelectorTerms"] == [{"id": "subnet-a"}, {"id": "subnet-b"}]
    assert node_class["securityGroupSelectorTerms"] == [{"id": "sg-cluster"}]
    assert node_class["instanceProfile"]


def test_the_controller_role_is_scoped_to_this_cluster_and_queue():
    graph = karpenter_pool()
    association = only(graph, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("kube-system", "karpenter")
    policy = json.loads(only(graph, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    (queue_arn,) = statements["ConsumeInterruptionQueue"]["Resource"]
    assert queue_arn.startswith(f"arn:aws:sqs:us-east-1:{ACCOUNT}:karpenter-interruptions-")
    assert statements["PassNodeRole"]["Resource"] == [CLUSTER.node_role_arn]
    owned = "aws:ResourceTag/kubernetes.io/cluster/mlops-platform-test"
    assert statements["DeleteOwnResources"]["Condition"]["StringEquals"] == {owned: "owned"}
    # Only calls without resource-level permissions use "*", and Describe calls stay in the region.
    wildcard = {sid for sid, s in statements.items() if s["Resource"] == ["*"]}
    assert wildcard == {"ReadRegionalCatalogue", "ReadPrices"}
    assert statements["ReadRegionalCatalogue"]["Condition"] == {
        "StringEquals": {"aws:RequestedRegion": "us-east-1"}
    }
    assert statements["DiscoverApiEndpoint"]["Resource"] == [
        f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/mlops-platform-test"
    ]


def test_interruptions_reach_an_encrypted_queue_that_the_release_reads():
    graph = karpenter_pool()
    queue = only(graph, "aws:sqs/queue:Queue")
    key = only(graph, "aws:kms/key:Key")
    assert queue.property_dependencies["kmsMasterKeyId"] == [key.urn]
    key_policy = json.loads(key.inputs["policy"])
    assert any(s.get("Principal") == {"Service": "events.amazonaws.com"} for s in key_policy["Statement"])
    rules = graph.of_type("aws:cloudwatch/eventRule:EventRule")
    assert sorted(json.loads(r.inputs["eventPattern"])["detail-type"][0] for r in rules) == sorted(
        p["detail-type"][0] for p in INTERRUPTION_EVENTS.values()
    )
    targets = graph.of_type("aws:cloudwatch/eventTarget:EventTarget")
    assert len(targets) == len(INTERRUPTION_EVENTS)
    assert all(t.property_dependencies["arn"] == [queue.urn] for t in targets)
    release_resource = only(graph, "kubernetes:helm.sh/v3:Release")
    release = release_resource.inputs
    assert release["chart"].endswith(f"karpenter-{pins.CHARTS['karpenter'].version}.tgz")
    assert release["values"]["settings"]["clusterName"] == "mlops-platform-test"
    assert release["values"]["settings"]["interruptionQueue"].startswith("karpenter-interruptions-")
    assert queue.urn in release_resource.property_dependencies["values"]
    assert release["values"]["nodeSelector"] == kube.SYSTEM_NODE_SELECTOR


def test_time_slicing_labels_the_nodes_and_configures_the_device_plugin():
    graph = karpenter_pool(time_slicing_replicas=4, max_size=2)
    node_pool = only(graph, "kubernetes:karpenter.sh/v1:NodePool").inputs["spec"]
    assert node_pool["template"]["metadata"]["labels"][kube.GPU_SHARING_LABEL] == "time-sliced-4"
    assert node_pool["limits"] == {"nvidia.com/gpu": "8"}  # 2 nodes x 1 GPU x 4 slices
    config = device_plugin_config([4])["config"]
    assert config["default"] == "default" and set(config["map"]) == {"default", "time-sliced-4"}
    assert "replicas: 4" in config["map"]["time-sliced-4"]
    assert "failRequestsGreaterThanOne: true" in config["map"]["time-sliced-4"]
    assert device_plugin_config([]) == {}
    spec = GpuNodePoolSpec(instance_types=["g5.xlarge"], time_slicing_replicas=4)
    assert spec.info("a10g").gpus_per_node == 4 and spec.info("a10g").gpu_sharing == 4


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ami_type": GpuAmiType.BOTTLEROCKET_NVIDIA}, "ami_type: Karpenter pools run AL2023_x86_64_NVIDIA"),
        ({"consolidate_after": "5 minutes"}, "consolidate_after: must be a duration such as 30s, 5m or 1h"),
        ({"disruption_budget": "half"}, "disruption_budget: must be a node count or a percentage"),
        ({"time_slicing_replicas": 0}, "time_slicing_replicas"),
    ],
)
def test_bad_karpenter_pool_settings_are_refused(overrides, message):
    with pytest.raises(SynthError, match=message):
        karpenter_pool(**overrides)


def test_a_karpenter_pool_without_the_controller_is_refused():
    spec = GpuNodePoolSpec(instance_types=["g5.xlarge"], provisioner=Provisioner.KARPENTER)
    with pytest.raises(InvalidArgs, match="provisioner: karpenter needs the Karpenter controller"):
        GpuNodePool("a10g", spec, context(Environment.PROD), CLUSTER, NETWORK)


def test_dev_cost_prices_the_karpenter_pool_by_the_nodes_pods_force():
    doc = stack("dev").graph.outputs["costEstimate"]
    lines = [i for i in doc["lineItems"] if i["resourceType"] == "kubernetes:karpenter.sh/v1:NodePool"]
    hours = [i for i in lines if i["unit"] == "instance-hours"]
    assert hours and all(
        "Karpenter, on-demand fallback, spot at 45% of on-demand" in i["description"] for i in hours
    )
    # fraud-scorer scales to zero in dev: idle forces no GPU node; at peak its two single-GPU replicas
    # (stable and canary) force two g6.xlarge nodes, the cheapest allowed type
    assert round(sum(i["quantity"]["idle"] for i in hours), 4) == 0
    assert round(sum(i["quantity"]["peak"] for i in hours), 4) == 2 * 730


def test_a_model_on_a_shared_gpu_is_charged_one_slice_directly():
    from dataclasses import replace

    import pulumi_aws as aws

    from mlops_platform.infra.cost.assumptions import SharedCostKey
    from tests.test_cost_model import ASSUMED, Model, estimate

    def build():
        aws.eks.NodeGroup(
            "shared-ng",
            cluster_name="c",
            node_role_arn="r",
            subnet_ids=["s"],
            instance_types=["g5.xlarge"],
            ami_type="AL2023_x86_64_NVIDIA",
            scaling_config={"min_size": 0, "desired_size": 0, "max_size": 1},
            labels={kube.GPU_POOL_LABEL: "shared", kube.GPU_SHARING_LABEL: kube.sharing_config(4)},
        )
        Model("scorer", "shared", gpus=1, min_replicas=1)

    doc = estimate(build, replace(ASSUMED, shared_cost_key=SharedCostKey.REQUESTS))
    lines = [
        i
        for i in doc["lineItems"]
        if (i["resource"], i["unit"]) == ("shared-ng", "instance-hours")
        or i["allocation"] == "shared:requests"
    ]
    by_allocation = {i["allocation"]: (i["unit"], i["monthly"]["idle"]) for i in lines}
    # g5.xlarge 1.006 x 730 = 734.38 a month for the node; the replica holds 1 of its 4 slices.
    assert by_allocation["direct"] == ("instance-hours", 183.60)
    # The other three slices are unrequested capacity: platform cost, pooled with the rest of the
    # platform's and shared by the key (here, back to the only model): every dollar has an owner.
    # 550.78 of the node plus 1.20 of its volume (3/4 of 20 GiB gp3 at 0.08).
    assert by_allocation["shared:requests"] == ("USD", 551.98)
    assert {i["model"] for i in lines} == {"scorer"}


def test_shared_gpu_must_match_the_pool():
    from mlops_platform.components.refs import GpuPoolInfo
    from mlops_platform.components.serving.model_endpoint.spec import (
        ComputeResources,
        ModelEndpointSpec,
        ModelVersion,
    )

    shared = GpuPoolInfo(
        node_labels={kube.GPU_POOL_LABEL: "shared", kube.GPU_SHARING_LABEL: "time-sliced-4"}, gpus_per_node=4
    )
    whole = GpuPoolInfo(node_labels={kube.GPU_POOL_LABEL: "whole"}, gpus_per_node=1)
    pools = {"shared": shared, "whole": whole}

    def problems(**resources):
        spec = ModelEndpointSpec(
            team="risk",
            stable=ModelVersion(name="v1", image_tag="1"),
            resources=ComputeResources(**resources),
        )
        return [p.render() for p in spec.problems("scorer", Environment.DEV, pools)]

    assert problems(gpus=1, gpu_pool="shared", shared_gpu=True) == []
    assert any("pool 'shared' shares each GPU 4 ways" in p for p in problems(gpus=1, gpu_pool="shared"))
    assert any(
        "pool 'whole' offers whole GPUs only" in p
        for p in problems(gpus=1, gpu_pool="whole", shared_gpu=True)
    )
    assert any("must be 1 with shared_gpu" in p for p in problems(gpus=2, gpu_pool="shared", shared_gpu=True))
