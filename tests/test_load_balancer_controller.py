"""LoadBalancerController: pinned release and a policy with no unscoped write."""

from __future__ import annotations

import json

from mlops_platform.components.foundation.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerSpec,
    controller_policy,
)
from mlops_platform.components.support import pins
from tests.harness import CLUSTER, NETWORK, TAGS, context, only, run


def test_release_is_pinned_and_knows_its_vpc_and_region():
    graph = run(
        lambda: LoadBalancerController("lbc", LoadBalancerControllerSpec(), context(), CLUSTER, NETWORK)
    ).graph
    release = only(graph, "kubernetes:helm.sh/v3:Release")
    assert release.inputs["version"] == pins.CHARTS["aws-load-balancer-controller"].version
    values = release.inputs["values"]
    assert (values["clusterName"], values["vpcId"], values["region"]) == (CLUSTER.name, "vpc-1", "us-east-1")
    assert values["defaultTags"] == TAGS
    association = only(graph, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert association.inputs["serviceAccount"] == "aws-load-balancer-controller"


def test_every_write_is_scoped_to_this_region_account_and_vpc():
    policy = json.loads(controller_policy(region="us-east-1", account_id="123456789012", vpc_id="vpc-1"))
    for statement in policy["Statement"]:
        if statement["Resource"] == ["*"]:
            assert all(":Describe" in a or ":List" in a or ":Get" in a for a in statement["Action"]), (
                statement["Sid"]
            )
            continue
        for resource in statement["Resource"]:
            assert ":123456789012:" in resource, (statement["Sid"], resource)
            assert resource.startswith(
                (
                    "arn:aws:elasticloadbalancing:us-east-1:",
                    "arn:aws:ec2:us-east-1:",
                    "arn:aws:iam::",
                    "arn:aws:wafv2:us-east-1:",
                )
            )
    # Web ACLs only on the controller's own ALBs (the model gateway's, with waf_acl_arn).
    waf = next(s for s in policy["Statement"] if s["Sid"] == "AttachWebAclsToOwnAlbs")
    assert waf["Resource"] == [
        "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/*/*",
        "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/*/*",
    ]
    create_sg = next(s for s in policy["Statement"] if s["Sid"] == "CreateSecurityGroupsInThisVpc")
    assert "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-1" in create_sg["Resource"]
