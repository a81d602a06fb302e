"""The three stacks: they synthesize, differ as documented, render valid Kubernetes, and are deterministic."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import kubernetes_validate
import pytest

from tests.harness import ROOT, STACKS, kubernetes_objects, only, stack


@pytest.mark.parametrize("name", STACKS)
def test_stack_synthesizes_with_the_foundation_outputs(name):
    graph = stack(name).graph
    for key in ("clusterName", "kubeconfig", "vpcId", "privateSubnetIds", "gpuNodePools"):
        assert key in graph.outputs, key
    assert graph.outputs["kubeconfig"] == "[secret]"
    assert graph.outputs["clusterName"] == f"mlops-platform-{name}"


CRD_GROUPS_UNDER_K8S_IO = {"gateway.networking.k8s.io", "kueue.x-k8s.io"}
"""CRDs in a k8s.io group (the Gateway API, Kueue): tests/test_helm_render.py checks them."""


@pytest.mark.parametrize("name", STACKS)
def test_every_kubernetes_object_validates_strictly_against_the_cluster_version(name):
    graph = stack(name).graph
    version = only(graph, "aws:eks/cluster:Cluster").inputs["version"]
    objects = kubernetes_objects(graph)
    assert objects
    failures = []
    for resource in objects:
        api_group = resource.inputs["apiVersion"].split("/")[0]
        if "." in api_group and (not api_group.endswith("k8s.io") or api_group in CRD_GROUPS_UNDER_K8S_IO):
            continue  # custom resources are checked against their CRDs elsewhere
        try:
            kubernetes_validate.validate(resource.inputs, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            failures.append(f"{resource.name}: {exc.message}")
    assert failures == []


@pytest.mark.parametrize("name", STACKS)
def test_every_launch_template_requires_imdsv2_and_encrypted_gp3(name):
    graph = stack(name).graph
    templates = graph.of_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert len(templates) == len(graph.of_type("aws:eks/nodeGroup:NodeGroup"))
    for template in templates:
        assert template.inputs["metadataOptions"]["httpTokens"] == "required"
        for device in template.inputs["blockDeviceMappings"]:
            assert device["ebs"]["encrypted"] == "true" and device["ebs"]["volumeType"] == "gp3"


def test_stacks_differ_as_documented():
    def facts(name):
        graph = stack(name).graph
        eks = only(graph, "aws:eks/cluster:Cluster").inputs["vpcConfig"]
        groups = [g for g in graph.of_type("aws:eks/nodeGroup:NodeGroup") if "NVIDIA" in g.inputs["amiType"]]
        (system,) = [
            g for g in graph.of_type("aws:eks/nodeGroup:NodeGroup") if "NVIDIA" not in g.inputs["amiType"]
        ]
        gpu = [("managed", g.inputs["capacityType"], g.inputs["scalingConfig"]["minSize"]) for g in groups]
        for pool in graph.of_type("kubernetes:karpenter.sh/v1:NodePool"):
            wanted = {r["key"]: r["values"] for r in pool.inputs["spec"]["template"]["spec"]["requirements"]}
            gpu.append(("karpenter", ",".join(wanted["karpenter.sh/capacity-type"]), 0))
        return {
            "azs": len([s for s in graph.of_type("aws:ec2/subnet:Subnet") if "private" in s.name]),
            "nats": len(graph.of_type("aws:ec2/natGateway:NatGateway")),
            "public_endpoint": eks["endpointPublicAccess"],
            "cidrs": eks.get("publicAccessCidrs"),
            "gpu": sorted(gpu),
            "flow_logs": len(graph.of_type("aws:ec2/flowLog:FlowLog")),
            "system": (system.inputs["capacityType"], system.inputs["instanceTypes"]),
        }

    dev, stage, prod = facts("dev"), facts("stage"), facts("prod")
    assert dev == {
        "azs": 2,
        "nats": 1,
        "public_endpoint": True,
        "cidrs": ["203.0.113.0/24"],
        "gpu": [("karpenter", "spot,on-demand", 0)],  # dev and stage: Karpenter, spot falls back
        "flow_logs": 0,
        # dev's add-ons on spot, four types of one size to find capacity
        "system": ("SPOT", ["t3.large", "m5.large", "m6i.large", "m7i.large"]),
    }
    assert stage == {
        "azs": 2,
        "nats": 2,
        "public_endpoint": False,
        "cidrs": None,
        "gpu": [("karpenter", "on-demand", 0), ("karpenter", "spot,on-demand", 0)],
        "flow_logs": 1,
        "system": ("ON_DEMAND", ["m6i.large"]),
    }
    assert prod == {
        "azs": 3,
        "nats": 3,
        "public_endpoint": False,
        "cidrs": None,
        "gpu": [("managed", "ON_DEMAND", 1), ("managed", "SPOT", 0)],
        "flow_logs": 1,
        "system": ("ON_DEMAND", ["m6i.xlarge"]),
    }
    (dev_pool,) = stack("dev").graph.of_type("kubernetes:karpenter.sh/v1:NodePool")
    wanted = {r["key"]: r["values"] for r in dev_pool.inputs["spec"]["template"]["spec"]["requirements"]}
    assert set(wanted["node.kubernetes.io/instance-type"]) <= {"g5.xlarge", "g6.xlarge"}


def test_prod_gpu_pools_are_nvidia_tainted_and_exported():
    graph = stack("prod").graph
    gpu = [g for g in graph.of_type("aws:eks/nodeGroup:NodeGroup") if "NVIDIA" in g.inputs["amiType"]]
    assert len(gpu) == 2
    for group in gpu:
        assert {"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"} in group.inputs["taints"]
    assert graph.outputs["gpuNodePools"]["gpu-burst"] == {
        "capacityType": "SPOT",
        "gpusPerNode": 1,
        "instanceTypes": ["g6.xlarge", "g5.xlarge", "g6e.xlarge"],
        "maxSize": 8,
        "minSize": 0,
        "nodeStartSeconds": 300,
        "provisioner": "managedNodeGroup",
        "nodeLabels": {
            "mlops-platform.io/gpu-pool": "gpu-burst",
            "mlops-platform.io/nvidia-device-plugin": "daemonset",
            "nvidia.com/gpu.present": "true",
        },
    }


def test_every_resource_records_the_documented_fields():
    document = json.loads(stack("dev").graph.to_json())
    assert document["formatVersion"] == 1
    keys = {
        "urn",
        "type",
        "name",
        "parent",
        "custom",
        "provider",
        "dependsOn",
        "inputs",
        "protect",
        "retainOnDelete",
        "ignoreChanges",
    }
    for resource in document["resources"]:
        assert keys <= set(resource), resource["name"]


def test_synth_is_byte_identical_across_processes_and_hash_seeds(tmp_path):
    outputs = []
    for seed in ("1", "2"):
        target = tmp_path / f"prod-{seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [sys.executable, "-m", "mlops_platform.infra.cli", "synth", "prod", "-o", str(target)],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        outputs.append(target.read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0] == stack("prod").graph.to_json().encode()


STATEFUL_TYPES = (
    "aws:s3/bucket:Bucket",
    "aws:rds/instance:Instance",
    "aws:ecr/repository:Repository",
    "aws:kms/key:Key",
    "aws:secretsmanager/secret:Secret",
)


def test_prod_protects_every_stateful_resource_and_stage_retains_them():
    for name, check in (
        ("prod", lambda r: r.protect and r.retain_on_delete),
        ("stage", lambda r: r.retain_on_delete),
    ):
        graph = stack(name).graph
        stateful = [r for r in graph.resources if r.type in STATEFUL_TYPES]
        assert len(stateful) >= 10
        assert [r.name for r in stateful if not check(r)] == [], name
    assert not any(r.protect for r in stack("dev").graph.resources)


@pytest.mark.parametrize("name", STACKS)
def test_data_plane_outputs(name):
    outputs = stack(name).graph.outputs
    assert outputs["artifactBucket"].startswith("artifacts-bucket-")
    assert (
        outputs["registryUrls"]["mlflow-server"]
        == "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlflow-server"
    )
    assert outputs["mlflowUrl"].startswith(("http://", "https://"))
    assert outputs["secretsKmsKeyArn"].startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_only_dev_may_force_destroy_buckets():
    for name in STACKS:
        buckets = stack(name).graph.of_type("aws:s3/bucket:Bucket")
        assert buckets, name
        destroyable = [b.name for b in buckets if b.inputs["forceDestroy"]]
        assert bool(destroyable) == (name == "dev"), name


@pytest.mark.parametrize("name", STACKS)
def test_observability_outputs_and_log_retention(name):
    graph = stack(name).graph
    outputs = graph.outputs
    assert outputs["grafanaUrl"].startswith("http")
    assert outputs["alertTopicArn"].startswith("arn:aws:sns:us-east-1:123456789012:")
    groups = {
        g.inputs["name"]: g for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup") if "name" in g.inputs
    }
    control_plane = groups[f"/aws/eks/mlops-platform-{name}/cluster"]
    containers = groups[f"/aws/eks/mlops-platform-{name}/containers"]
    if name == "prod":  # the EKS audit log is kept as long as the audit trail's lock
        assert control_plane.inputs["retentionInDays"] == 365
    else:
        assert control_plane.inputs["retentionInDays"] == containers.inputs["retentionInDays"]
    assert set(outputs["logGroupNames"][:2]) == {control_plane.inputs["name"], containers.inputs["name"]}
    for group in graph.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group.inputs["kmsKeyId"] and group.inputs["retentionInDays"]
    # One key encrypts every log group.
    assert len({g.inputs["kmsKeyId"] for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup")}) == 1


MODEL_KINDS = {
    "Service",
    "NetworkPolicy",
    "ServiceMonitor",
    "PrometheusRule",
    "HTTPRoute",
    "Rollout",
    "ConfigMap",
    "Role",
    "Repository",
}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_every_model_renders_its_serving_objects(name):
    graph = stack(name).graph
    endpoints = graph.of_type("mlops:model_endpoint:ModelEndpoint")
    assert len(endpoints) >= 2
    gpu_models = 0
    for endpoint in endpoints:
        kinds = {r.type.rsplit(":", 1)[1] for r in graph.descendants(endpoint.urn)}
        expected = MODEL_KINDS | ({"PodDisruptionBudget"} if name == "prod" else set())
        # KEDA scales a model that scales to zero, an HPA every other: one of them, never both.
        scalers = kinds & {"HorizontalPodAutoscaler", "ScaledObject"}
        assert expected <= kinds and len(scalers) == 1, (endpoint.name, expected - kinds, scalers)
        pods = [
            r.inputs["spec"]["template"]["spec"]
            for r in graph.descendants(endpoint.urn)
            if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:argoproj.io/v1alpha1:Rollout")
        ]
        gpu_models += any("nvidia.com/gpu" in p["containers"][0]["resources"]["limits"] for p in pods)
    assert gpu_models >= 1
    assert set(graph.outputs["models"]) == {e.name for e in endpoints}


def test_prod_grants_the_risk_ci_role_exactly_its_prefix():
    import json as _json

    graph = stack("prod").graph
    write = _json.loads(
        graph.find("aws:iam/rolePolicy:RolePolicy", "artifacts-write-risk-ci-models-risk").inputs["policy"]
    )
    read = _json.loads(
        graph.find("aws:iam/rolePolicy:RolePolicy", "artifacts-read-risk-ci-models-risk").inputs["policy"]
    )
    objects = {
        r
        for doc in (write, read)
        for s in doc["Statement"]
        for r in s["Resource"]
        if r.startswith("arn:aws:s3:::") and "/" in r
    }
    assert objects and all(r.endswith("/models/risk/*") for r in objects)
