"""Network: defaults, variants, bring-your-own, validation."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mlops_platform.components.foundation.network import (
    ExistingNetwork,
    FlowLogs,
    InterfaceEndpoint,
    NatGateways,
    Network,
    NetworkSpec,
    subnet_cidrs,
)
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import TAGS, context, only, run


def network(log_kms_key_arn=None, **overrides):
    spec = NetworkSpec(**overrides)
    return run(lambda: Network("net", spec, context(), log_kms_key_arn=log_kms_key_arn)).graph


def test_defaults_two_azs_one_nat_no_flow_logs():
    graph = network()
    vpc = only(graph, "aws:ec2/vpc:Vpc")
    assert vpc.inputs["cidrBlock"] == "10.0.0.0/16"
    assert vpc.inputs["enableDnsHostnames"] is True
    subnets = graph.of_type("aws:ec2/subnet:Subnet")
    public = [s for s in subnets if "public" in s.name]
    private = [s for s in subnets if "private" in s.name]
    assert [s.inputs["availabilityZone"] for s in private] == ["us-east-1a", "us-east-1b"]
    assert all(s.inputs["tags"]["kubernetes.io/role/elb"] == "1" for s in public)
    assert all(s.inputs["tags"]["kubernetes.io/role/internal-elb"] == "1" for s in private)
    assert all(s.inputs["mapPublicIpOnLaunch"] is False for s in public)
    assert len(graph.of_type("aws:ec2/natGateway:NatGateway")) == 1
    assert graph.of_type("aws:ec2/flowLog:FlowLog") == []
    s3 = only(graph, "aws:ec2/vpcEndpoint:VpcEndpoint")
    assert s3.inputs["serviceName"] == "com.amazonaws.us-east-1.s3"
    assert s3.inputs["vpcEndpointType"] == "Gateway"
    assert len(s3.inputs["routeTableIds"]) == 2
    # The default security group is adopted with no rules.
    default_sg = only(graph, "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
    assert "ingress" not in default_sg.inputs and "egress" not in default_sg.inputs


def test_every_resource_is_tagged_with_the_platform_tags():
    graph = network(flow_logs=FlowLogs(enabled=True), interface_endpoints=[InterfaceEndpoint.STS])
    tagged = [r for r in graph.resources if r.custom and "tags" in r.inputs]
    assert len(tagged) >= 15
    for resource in tagged:
        assert TAGS.items() <= resource.inputs["tags"].items(), resource.name


def test_nat_per_az_routes_each_private_subnet_through_its_own_zone():
    graph = network(az_count=3, nat_gateways=NatGateways.PER_AZ)
    nats = graph.of_type("aws:ec2/natGateway:NatGateway")
    assert len(nats) == 3
    nat_ids = {n.name: n for n in nats}
    routes = [r for r in graph.of_type("aws:ec2/route:Route") if "private" in r.name]
    assert len(routes) == 3
    assert len({r.inputs["natGatewayId"] for r in routes}) == 3
    assert set(nat_ids) == {"net-nat-us-east-1a", "net-nat-us-east-1b", "net-nat-us-east-1c"}


def test_interface_endpoints_are_private_and_https_only_from_the_vpc():
    graph = network(interface_endpoints=[InterfaceEndpoint.ECR_API, InterfaceEndpoint.ECR_DKR])
    endpoints = [
        e
        for e in graph.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")
        if e.inputs["vpcEndpointType"] == "Interface"
    ]
    assert sorted(e.inputs["serviceName"] for e in endpoints) == [
        "com.amazonaws.us-east-1.ecr.api",
        "com.amazonaws.us-east-1.ecr.dkr",
    ]
    assert all(e.inputs["privateDnsEnabled"] is True for e in endpoints)
    sg = only(graph, "aws:ec2/securityGroup:SecurityGroup")
    assert sg.inputs["ingress"] == [
        {
            "cidrBlocks": ["10.0.0.0/16"],
            "description": "HTTPS from the VPC",
            "fromPort": 443,
            "protocol": "tcp",
            "toPort": 443,
        }
    ]


def test_flow_logs_go_to_an_encrypted_group_through_a_scoped_role():
    graph = network(flow_logs=FlowLogs(enabled=True, retention_days=90))
    group = only(graph, "aws:cloudwatch/logGroup:LogGroup")
    assert group.inputs["retentionInDays"] == 90
    key = only(graph, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    assert group.inputs["kmsKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
    policy = json.loads(only(graph, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    (statement,) = policy["Statement"]
    assert all(
        r.startswith("arn:aws:logs:us-east-1:123456789012:log-group:/aws/vpc-flow-logs/net-")
        for r in statement["Resource"]
    )
    trust = json.loads(only(graph, "aws:iam/role:Role").inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    flow_log = only(graph, "aws:ec2/flowLog:FlowLog")
    assert flow_log.inputs["trafficType"] == "ALL"


def test_flow_logs_use_a_given_key_instead_of_creating_one():
    graph = network(
        flow_logs=FlowLogs(enabled=True), log_kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/given"
    )
    assert graph.of_type("aws:kms/key:Key") == []
    assert only(graph, "aws:cloudwatch/logGroup:LogGroup").inputs["kmsKeyId"].endswith("key/given")


def test_bring_your_own_network_creates_nothing():
    existing = ExistingNetwork(vpc_id="vpc-1", private_subnet_ids=["subnet-a", "subnet-b"])
    result = run(lambda: Network("net", NetworkSpec(existing=existing), context()))
    assert [r.type for r in result.graph.resources] == ["mlops:network:Network"]


def test_subnet_plan_never_overlaps():
    private, public = subnet_cidrs("10.0.0.0/16", 6)
    assert private[:2] == ["10.0.0.0/19", "10.0.32.0/19"]
    assert public[:2] == ["10.0.224.0/24", "10.0.225.0/24"]
    import ipaddress

    nets = [ipaddress.ip_network(c) for c in private + public]
    assert not any(a.overlaps(b) for i, a in enumerate(nets) for b in nets[i + 1 :])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"az_count": 1}, "az_count: must be between 2 and 6 (got 1)"),
        ({"cidr": "10.0.0.0/24"}, "cidr: prefix must be /16 to /20 (got /24)"),
        (
            {"flow_logs": FlowLogs(retention_days=10)},
            "flow_logs.retention_days: must be a CloudWatch Logs retention period such as 7, 30, 90 or 365 (got 10)",
        ),
        (
            {"existing": ExistingNetwork(vpc_id="v", private_subnet_ids=["s"])},
            "existing.private_subnet_ids: needs at least two subnets in different AZs for EKS",
        ),
    ],
)
def test_rejects_bad_spec(overrides, message):
    with pytest.raises(InvalidArgs) as caught:
        Network("net", NetworkSpec(**overrides), context())
    assert message in str(caught.value)


def test_rejects_a_context_without_the_platform_tags():
    with pytest.raises(InvalidArgs) as caught:
        Network("net", NetworkSpec(), replace(context(), tags={"owner": "x"}))
    assert (
        "tags: missing required tag(s) environment, project, cost-center, managed-by; "
        "build them with mlops_platform.components.support.tagging.platform_tags(...)"
    ) in str(caught.value)
