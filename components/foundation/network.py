"""``Network``: the VPC the platform runs in, or an existing one brought by the caller.

Example::

    network = Network("network", NetworkSpec(az_count=3, nat_gateways=NatGateways.PER_AZ,
                      interface_endpoints=[InterfaceEndpoint.ECR_API], flow_logs=FlowLogs(enabled=True)),
                      context)
    network.ref  # NetworkRef: what the cluster and the data plane build on

    # or bring your own:
    Network("network", NetworkSpec(existing=ExistingNetwork(
        vpc_id="vpc-0abc", private_subnet_ids=["subnet-1", "subnet-2"])), context)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import field
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_platform.components.foundation.logs import encrypted_log_group, write_policy
from mlops_platform.components.refs import NetworkRef
from mlops_platform.components.support import iam
from mlops_platform.components.support.aws import retention_problems
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import with_tags
from mlops_platform.components.support.validation import Problem, raise_if_any, range_problems


class NatGateways(StrEnum):
    """How private subnets reach the internet."""

    SINGLE = "single"
    """One NAT gateway for all AZs: cheapest, but an AZ outage cuts egress for every AZ."""
    PER_AZ = "perAz"
    """One NAT gateway per AZ: no cross-AZ dependency and no cross-AZ data charges."""


class InterfaceEndpoint(StrEnum):
    """AWS services reachable from private subnets without NAT."""

    ECR_API = "ecr.api"
    ECR_DKR = "ecr.dkr"
    STS = "sts"
    LOGS = "logs"


@spec
class ExistingNetwork:
    """A VPC the caller already has (bring your own network)."""

    vpc_id: str
    """ID of the VPC."""
    private_subnet_ids: Sequence[str]
    """Private subnets for nodes and internal load balancers, at least two AZs; they must carry
    the ``kubernetes.io/role/internal-elb=1`` tag for the load balancer controller."""
    public_subnet_ids: Sequence[str] = ()
    """Public subnets for internet-facing load balancers. Default: none."""


@spec
class FlowLogs:
    """VPC flow logs to an encrypted CloudWatch log group."""

    enabled: bool = False
    """Send VPC flow logs to CloudWatch Logs. Default: off."""
    retention_days: int = 30
    """Retention of the flow-log group, in days. Default: 30."""


@spec
class NetworkSpec:
    """VPC layout."""

    az_count: int = 2
    """Availability zones to spread subnets over (2-6). Default: 2."""
    cidr: str = "10.0.0.0/16"
    """VPC CIDR, /16 to /20. Each AZ gets a private subnet of 1/8 of it and a public subnet of 1/256.
    Default: 10.0.0.0/16."""
    nat_gateways: NatGateways = NatGateways.SINGLE
    """`single` or `perAz`. Default: `single`."""
    interface_endpoints: Sequence[InterfaceEndpoint] = ()
    """Interface endpoints in the private subnets: any of ecr.api, ecr.dkr, sts, logs. Default: none
    (traffic goes through NAT)."""
    flow_logs: FlowLogs = field(default_factory=FlowLogs)
    """VPC flow logs. Default: off."""
    existing: ExistingNetwork | None = None
    """Use this VPC instead of creating one. Default: create a VPC."""

    def problems(self) -> list[Problem]:
        found = []
        found += range_problems("az_count", self.az_count, 2, 6)
        try:
            network = ipaddress.ip_network(self.cidr)
            if not 16 <= network.prefixlen <= 20:
                found.append(Problem("cidr", f"prefix must be /16 to /20 (got /{network.prefixlen})"))
        except ValueError:
            found.append(Problem("cidr", f"must be an IPv4 CIDR such as 10.0.0.0/16 (got {self.cidr!r})"))
        found += retention_problems("flow_logs.retention_days", self.flow_logs.retention_days)
        if self.existing is not None and len(self.existing.private_subnet_ids) < 2:
            found.append(
                Problem("existing.private_subnet_ids", "needs at least two subnets in different AZs for EKS")
            )
        return found


def port_security_group(
    name: str,
    *,
    vpc_id: pulumi.Input[str],
    description: str,
    port: int,
    source: dict[str, Any],
    source_description: str,
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.ec2.SecurityGroup:
    """A security group admitting one TCP port from one source (``cidr_blocks`` or ``security_groups``)."""
    rule = {
        "protocol": "tcp",
        "from_port": port,
        "to_port": port,
        **source,
        "description": source_description,
    }
    return aws.ec2.SecurityGroup(
        name, vpc_id=vpc_id, description=description, ingress=[rule], tags=tags, opts=opts
    )


def subnet_cidrs(cidr_block: str, az_count: int) -> tuple[list[str], list[str]]:
    """Private subnets take the first ``az_count`` eighths of the VPC; public subnets are /24-sized
    slices (1/256 of a /16) of the last eighth, which stays free of private ranges."""
    network = ipaddress.ip_network(cidr_block)
    eighths = list(network.subnets(prefixlen_diff=3))
    private = [str(n) for n in eighths[:az_count]]
    public = [str(n) for n in list(eighths[-1].subnets(prefixlen_diff=5))[:az_count]]
    return private, public


class Network(PlatformComponent):
    """A VPC across N AZs with public and private subnets, NAT, endpoints and flow logs."""

    vpc_id: pulumi.Output[str]
    """ID of the VPC."""
    private_subnet_ids: pulumi.Output[list[str]]
    """Private subnets, one per AZ; nodes and internal load balancers go here."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Public subnets, one per AZ; only NAT gateways and public load balancers go here."""
    availability_zones: list[str]
    """Names of the AZs used (empty for an existing network)."""
    nat_gateway_count: int
    """Number of NAT gateways created (0 for an existing network)."""
    interface_endpoint_count: int
    """Number of interface endpoints created, each in every AZ."""
    nat_gateway_ids: pulumi.Output[list[str]]
    """IDs of the NAT gateways (empty for an existing network)."""
    flow_log_group_name: pulumi.Output[str] | None
    """CloudWatch log group of the flow logs, when they are on."""

    ref: NetworkRef
    """What other components build on: VPC, private subnets and CIDR."""

    def __init__(
        self,
        name: str,
        spec: NetworkSpec,
        context: StackContext,
        *,
        log_kms_key_arn: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``log_kms_key_arn`` encrypts the flow-log group. Default: a dedicated key."""
        super().__init__(
            "mlops:network:Network", name, "NetworkSpec", [*spec.problems(), *context.problems()], opts
        )
        self._prefix = name
        self._spec = spec
        self._context = context
        self._log_kms_key_arn = log_kms_key_arn
        self._child = pulumi.ResourceOptions(parent=self)
        if spec.existing is not None:
            self.vpc_id = pulumi.Output.from_input(spec.existing.vpc_id)
            self.private_subnet_ids = pulumi.Output.all(*spec.existing.private_subnet_ids)
            self.public_subnet_ids = pulumi.Output.all(*spec.existing.public_subnet_ids)
            self.availability_zones = []
            self.nat_gateway_count = 0
            self.interface_endpoint_count = 0
            self.nat_gateway_ids = pulumi.Output.from_input([])
            self.flow_log_group_name = None
        else:
            self._create()
        self.ref = NetworkRef(vpc_id=self.vpc_id, private_subnet_ids=self.private_subnet_ids, cidr=spec.cidr)
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )

    def _create(self) -> None:
        name, args, child = self._prefix, self._spec, self._child
        tags = self._context.tags
        account_id, region = self.account_id, self.region
        zones = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(parent=self)).names[
            : args.az_count
        ]
        if len(zones) < args.az_count:
            raise_if_any(
                f"NetworkSpec for {name!r}",
                [
                    Problem(
                        "az_count",
                        f"region {region} has only {len(zones)} available AZs (got {args.az_count})",
                    )
                ],
            )
        self.availability_zones = list(zones)
        private_cidrs, public_cidrs = subnet_cidrs(args.cidr, args.az_count)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags=with_tags(tags, Name=name),
            opts=child,
        )
        # The default security group of a new VPC allows all traffic between its members; adopt it and
        # strip every rule so nothing can use it by accident.
        aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg", vpc_id=vpc.id, tags=with_tags(tags, Name=f"{name}-default"), opts=child
        )
        igw = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags=with_tags(tags, Name=name), opts=child
        )
        public_rt = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=vpc.id, tags=with_tags(tags, Name=f"{name}-public"), opts=child
        )
        aws.ec2.Route(
            f"{name}-public-default-route",
            route_table_id=public_rt.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=igw.id,
            opts=child,
        )

        public_subnets, private_subnets, private_rts, nats = [], [], [], []
        for zone, public_cidr, private_cidr in zip(zones, public_cidrs, private_cidrs, strict=True):
            public = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags=with_tags(tags, Name=f"{name}-public-{zone}", **{"kubernetes.io/role/elb": "1"}),
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-public-{zone}-rta", subnet_id=public.id, route_table_id=public_rt.id, opts=child
            )
            public_subnets.append(public)
            private = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=private_cidr,
                availability_zone=zone,
                tags=with_tags(
                    tags, Name=f"{name}-private-{zone}", **{"kubernetes.io/role/internal-elb": "1"}
                ),
                opts=child,
            )
            private_subnets.append(private)
            if args.nat_gateways is NatGateways.PER_AZ or not nats:
                eip = aws.ec2.Eip(
                    f"{name}-nat-{zone}-eip",
                    domain="vpc",
                    tags=with_tags(tags, Name=f"{name}-nat-{zone}"),
                    opts=child,
                )
                nats.append(
                    aws.ec2.NatGateway(
                        f"{name}-nat-{zone}",
                        allocation_id=eip.id,
                        subnet_id=public.id,
                        tags=with_tags(tags, Name=f"{name}-nat-{zone}"),
                        opts=pulumi.ResourceOptions(parent=self, depends_on=[igw]),
                    )
                )
            rt = aws.ec2.RouteTable(
                f"{name}-private-{zone}-rt",
                vpc_id=vpc.id,
                tags=with_tags(tags, Name=f"{name}-private-{zone}"),
                opts=child,
            )
            aws.ec2.Route(
                f"{name}-private-{zone}-default-route",
                route_table_id=rt.id,
                destination_cidr_block="0.0.0.0/0",
                nat_gateway_id=nats[-1].id,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-private-{zone}-rta", subnet_id=private.id, route_table_id=rt.id, opts=child
            )
            private_rts.append(rt)

        aws.ec2.VpcEndpoint(
            f"{name}-s3-endpoint",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{region}.s3",
            vpc_endpoint_type="Gateway",
            route_table_ids=[rt.id for rt in private_rts],
            tags=with_tags(tags, Name=f"{name}-s3"),
            opts=child,
        )
        if args.interface_endpoints:
            endpoint_sg = port_security_group(
                f"{name}-endpoints-sg",
                vpc_id=vpc.id,
                description="HTTPS from inside the VPC to interface endpoints",
                port=443,
                source={"cidr_blocks": [args.cidr]},
                source_description="HTTPS from the VPC",
                tags=with_tags(tags, Name=f"{name}-endpoints"),
                opts=child,
            )
            for service in args.interface_endpoints:
                aws.ec2.VpcEndpoint(
                    f"{name}-{service.value.replace('.', '-')}-endpoint",
                    vpc_id=vpc.id,
                    service_name=f"com.amazonaws.{region}.{service.value}",
                    vpc_endpoint_type="Interface",
                    private_dns_enabled=True,
                    subnet_ids=[s.id for s in private_subnets],
                    security_group_ids=[endpoint_sg.id],
                    tags=with_tags(tags, Name=f"{name}-{service.value}"),
                    opts=child,
                )
        self.flow_log_group_name = (
            self._flow_logs(vpc, region, account_id) if args.flow_logs.enabled else None
        )

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
        self.nat_gateway_count = len(nats)
        self.nat_gateway_ids = pulumi.Output.all(*[n.id for n in nats])
        self.interface_endpoint_count = len(args.interface_endpoints)

    def _flow_logs(self, vpc: aws.ec2.Vpc, region: str, account_id: str) -> pulumi.Output[str]:
        name, child, context = self._prefix, self._child, self._context
        tags = dict(context.tags)
        group = encrypted_log_group(
            f"{name}-flow-logs",
            context,
            name_prefix=f"/aws/vpc-flow-logs/{name}-",
            retention_days=self._spec.flow_logs.retention_days,
            kms_key_arn=self._log_kms_key_arn,
            key_name=f"{name}-flow-logs-key",
            key_description=f"Encrypts the VPC flow logs of {name}",
            account_id=account_id,
            region=region,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=iam.service_trust_policy(
                "vpc-flow-logs.amazonaws.com", source_account=account_id
            ),
            tags=tags,
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            role=role.id,
            policy=write_policy(group, "DeliverFlowLogs"),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            tags=tags,
            opts=child,
        )
        return group.name
