"""EksCluster: hardening defaults, access entries, add-ons, provider, validation."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mlops_platform.components.foundation.cluster import (
    ClusterEndpoint,
    ClusterSpec,
    EksCluster,
    SystemNodesSpec,
)
from mlops_platform.components.support import pins
from mlops_platform.components.support.aws import CONTROL_PLANE_LOG_TYPES
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import NETWORK, context, only, run

ADMIN = "arn:aws:iam::123456789012:role/platform-admin"


def cluster(environment=Environment.DEV, system_nodes=None, **overrides):
    spec = ClusterSpec(admin_principal_arns=[ADMIN], **overrides)
    holder = {}
    result = run(
        lambda: holder.setdefault(
            "c", EksCluster("eks", spec, context(environment), NETWORK, system_nodes=system_nodes)
        )
    )
    return result, holder["c"]


def test_control_plane_is_hardened_by_default():
    result, _ = cluster()
    eks = only(result.graph, "aws:eks/cluster:Cluster")
    assert eks.inputs["version"] == pins.KUBERNETES_VERSION
    assert eks.inputs["accessConfig"] == {
        "authenticationMode": "API",
        "bootstrapClusterCreatorAdminPermissions": False,
    }
    assert eks.inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert eks.inputs["enabledClusterLogTypes"] == list(CONTROL_PLANE_LOG_TYPES)
    assert eks.inputs["vpcConfig"]["endpointPrivateAccess"] is True
    assert eks.inputs["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in eks.inputs["vpcConfig"]
    keys = {k.name: k for k in result.graph.of_type("aws:kms/key:Key")}
    assert all(k.inputs["enableKeyRotation"] for k in keys.values())
    secrets_key_arn = eks.inputs["encryptionConfig"]["provider"]["keyArn"]
    assert secrets_key_arn.startswith("arn:aws:kms:us-east-1:123456789012:key/")


def test_control_plane_log_group_exists_first_with_retention_and_kms():
    result, _ = cluster(control_plane_log_retention_days=365)
    group = only(result.graph, "aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["name"] == "/aws/eks/mlops-platform-test/cluster"
    assert group.inputs["retentionInDays"] == 365
    assert group.inputs["kmsKeyId"]
    eks = only(result.graph, "aws:eks/cluster:Cluster")
    assert group.urn in eks.depends_on


def test_public_endpoint_is_limited_to_the_given_cidrs():
    result, _ = cluster(endpoint=ClusterEndpoint(public_access=True, public_access_cidrs=["203.0.113.0/24"]))
    vpc = only(result.graph, "aws:eks/cluster:Cluster").inputs["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_admins_come_from_access_entries_only():
    result, _ = cluster()
    (entry,) = result.graph.of_type("aws:eks/accessEntry:AccessEntry")
    assert entry.inputs["principalArn"] == ADMIN
    (association,) = result.graph.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert (
        association.inputs["policyArn"]
        == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    )
    assert association.inputs["accessScope"] == {"type": "cluster"}


def test_managed_addons_are_pinned_and_use_pod_identity():
    result, _ = cluster()
    addons = {a.inputs["addonName"]: a for a in result.graph.of_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "eks-pod-identity-agent", "aws-ebs-csi-driver"}
    for name, addon in addons.items():
        assert addon.inputs["addonVersion"] == pins.EKS_ADDON_VERSIONS[pins.KUBERNETES_VERSION][name]
    assert json.loads(addons["vpc-cni"].inputs["configurationValues"]) == {"enableNetworkPolicy": "true"}
    ebs = addons["aws-ebs-csi-driver"].inputs["podIdentityAssociations"]
    assert ebs[0]["serviceAccount"] == "ebs-csi-controller-sa"
    assert ebs[0]["roleArn"].startswith("arn:aws:iam::123456789012:role/eks-ebs-csi-role-")
    cni = addons["vpc-cni"].inputs["podIdentityAssociations"]
    assert cni[0]["serviceAccount"] == "aws-node"
    # The add-ons own these associations: a second, standalone one would fail with 409 on create.
    assert result.graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation") == []
    # The CSI driver may only use the platform's EBS key, and only create grants for AWS resources.
    ebs_policy = json.loads(
        result.graph.find("aws:iam/rolePolicy:RolePolicy", "eks-ebs-csi-policy").inputs["policy"]
    )
    ebs_key = result.graph.find("aws:kms/key:Key", "eks-ebs-key")
    assert all(s["Resource"] != ["*"] for s in ebs_policy["Statement"])
    assert ebs_key.urn


def test_system_nodes_are_on_demand_hardened_and_labelled():
    result, _ = cluster()
    group = result.graph.find("aws:eks/nodeGroup:NodeGroup", "eks-system")
    assert group.inputs["capacityType"] == "ON_DEMAND"
    assert group.inputs["labels"] == {"mlops-platform.io/node-role": "system"}
    assert group.inputs["scalingConfig"] == {"minSize": 2, "desiredSize": 2, "maxSize": 4}
    assert group.ignore_changes == ["scalingConfig.desiredSize"]
    template = result.graph.find("aws:ec2/launchTemplate:LaunchTemplate", "eks-system-lt")
    assert template.inputs["metadataOptions"]["httpTokens"] == "required"
    assert template.inputs["metadataOptions"]["httpPutResponseHopLimit"] == 1
    (volume,) = template.inputs["blockDeviceMappings"]
    assert volume["ebs"] | {"kmsKeyId": "k"} == {
        "deleteOnTermination": "true",
        "encrypted": "true",
        "kmsKeyId": "k",
        "volumeSize": 50,
        "volumeType": "gp3",
    }


def test_ebs_key_admits_the_autoscaling_service_linked_role():
    result, _ = cluster()
    policy = json.loads(result.graph.find("aws:kms/key:Key", "eks-ebs-key").inputs["policy"])
    principals = [s["Principal"].get("AWS") for s in policy["Statement"]]
    assert (
        "arn:aws:iam::123456789012:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
        in principals
    )


def test_kubeconfig_is_exec_based_stable_and_secret():
    first, _ = cluster()
    second, _ = cluster()
    provider = only(first.graph, "pulumi:providers:kubernetes")
    assert provider.inputs["kubeconfig"] == "[secret]"
    raw = next(r for r in first.registrations if r.type == "pulumi:providers:kubernetes")
    kubeconfig = json.loads(raw.inputs["kubeconfig"].value)
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:4] == ["--region", "us-east-1", "eks", "get-token"]
    assert set(kubeconfig["users"][0]["user"]) == {"exec"}  # no embedded token or client certificate
    raw2 = next(r for r in second.registrations if r.type == "pulumi:providers:kubernetes")
    assert raw.inputs["kubeconfig"].value == raw2.inputs["kubeconfig"].value


def test_default_storage_class_is_encrypted_gp3():
    result, _ = cluster(environment=Environment.PROD)
    sc = only(result.graph, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert sc.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert sc.inputs["parameters"]["type"] == "gp3"
    assert sc.inputs["parameters"]["encrypted"] == "true"
    assert sc.inputs["reclaimPolicy"] == "Retain"


def test_prod_protects_cluster_and_keys():
    result, _ = cluster(environment=Environment.PROD)
    assert only(result.graph, "aws:eks/cluster:Cluster").protect is True
    assert only(result.graph, "aws:eks/cluster:Cluster").inputs["deletionProtection"] is True
    keys = result.graph.of_type("aws:kms/key:Key")
    assert len(keys) == 3  # secrets, volumes, control-plane logs
    assert all(k.protect and k.retain_on_delete for k in keys)
    dev, _ = cluster()
    assert not any(r.protect for r in dev.graph.resources)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kubernetes_version": "1.29"}, "kubernetes_version: must be one of 1.33, 1.34, 1.35 (got '1.29')"),
        (
            {"admin_principal_arns": ["arn:aws:iam::1:role/x"]},
            "admin_principal_arns[0]: must be an IAM role or user ARN",
        ),
        (
            {"admin_principal_arns": []},
            "admin_principal_arns: must list at least one IAM role, including the one that runs pulumi up",
        ),
        (
            {"endpoint": ClusterEndpoint(public_access=True)},
            "endpoint.public_access_cidrs: must list the CIDRs allowed to reach the public endpoint",
        ),
        (
            {"endpoint": ClusterEndpoint(public_access_cidrs=["nope"])},
            "endpoint.public_access_cidrs[0]: must be a CIDR such as 203.0.113.0/24 (got 'nope')",
        ),
        (
            {"control_plane_log_retention_days": 2},
            "control_plane_log_retention_days: must be a CloudWatch Logs retention period",
        ),
    ],
)
def test_rejects_bad_spec(overrides, message):
    spec = ClusterSpec(**{"admin_principal_arns": [ADMIN], **overrides})
    with pytest.raises(InvalidArgs) as caught:
        EksCluster("eks", spec, context(), NETWORK)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("system_nodes", "message"),
    [
        (
            SystemNodesSpec(min_size=3, desired_size=3, max_size=2),
            "system_nodes.max_size: must be >= min_size (got 2 < 3)",
        ),
        (
            SystemNodesSpec(disk_size_gib=8),
            "system_nodes.disk_size_gib: must be between 20 and 16384 (got 8)",
        ),
        (
            SystemNodesSpec(instance_types=()),
            "system_nodes.instance_types: must list at least one instance type",
        ),
    ],
)
def test_rejects_bad_system_nodes(system_nodes, message):
    with pytest.raises(InvalidArgs) as caught:
        EksCluster(
            "eks", ClusterSpec(admin_principal_arns=[ADMIN]), context(), NETWORK, system_nodes=system_nodes
        )
    assert message in str(caught.value)


def test_rejects_a_project_that_makes_no_cluster_name():
    with pytest.raises(InvalidArgs) as caught:
        EksCluster(
            "eks", ClusterSpec(admin_principal_arns=[ADMIN]), replace(context(), project="bad name"), NETWORK
        )
    assert "cluster_name: must be 1-100 letters, digits, '-' or '_' (got 'bad name-test')" in str(
        caught.value
    )
