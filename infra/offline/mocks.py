"""Deterministic offline answers: plausible outputs for every resource and every invoke.

Physical names follow Pulumi auto-naming (``<logical>-<7 hex>``), ARNs follow each type's real format,
and every value derives from the URN, so the same program gives the same graph byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

ACCOUNT_ID = "123456789012"
"""The account every offline ARN lives in (the documentation account of AWS examples)."""

ZONES_PER_REGION = {"us-east-1": "abcdef", "us-west-2": "abcd", "eu-west-1": "abc"}

NAME_PROPERTY = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:iam/role:Role": "name",
    "aws:iam/policy:Policy": "name",
    "aws:iam/rolePolicy:RolePolicy": "name",
    "aws:eks/cluster:Cluster": "name",
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "aws:ecr/repository:Repository": "name",
    "aws:secretsmanager/secret:Secret": "name",
    "aws:cloudwatch/logGroup:LogGroup": "name",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "name",
    "aws:sns/topic:Topic": "name",
    "aws:rds/instance:Instance": "identifier",
    "aws:rds/subnetGroup:SubnetGroup": "name",
    "aws:rds/parameterGroup:ParameterGroup": "name",
    "aws:ec2/securityGroup:SecurityGroup": "name",
    "aws:ec2/launchTemplate:LaunchTemplate": "name",
    "aws:budgets/budget:Budget": "name",
    "aws:sqs/queue:Queue": "name",
    "aws:cloudtrail/trail:Trail": "name",
    "aws:cloudwatch/eventRule:EventRule": "name",
    "aws:iam/instanceProfile:InstanceProfile": "name",
    "kubernetes:helm.sh/v3:Release": "name",
}
"""Types whose provider picks a physical name when the program gives none."""

EC2_ID_PREFIX = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/internetGateway:InternetGateway": "igw",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/natGateway:NatGateway": "nat",
    "aws:ec2/eip:Eip": "eipalloc",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "sg",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:ec2/launchTemplate:LaunchTemplate": "lt",
    "aws:ec2/flowLog:FlowLog": "fl",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
}

ARN_FORMAT = {
    "aws:s3/bucket:Bucket": "arn:aws:s3:::{name}",
    "aws:iam/role:Role": "arn:aws:iam::{account}:role/{name}",
    "aws:iam/policy:Policy": "arn:aws:iam::{account}:policy/{name}",
    "aws:kms/key:Key": "arn:aws:kms:{region}:{account}:key/{uuid}",
    "aws:kms/alias:Alias": "arn:aws:kms:{region}:{account}:{name}",
    "aws:eks/cluster:Cluster": "arn:aws:eks:{region}:{account}:cluster/{name}",
    "aws:eks/nodeGroup:NodeGroup": "arn:aws:eks:{region}:{account}:nodegroup/{cluster}/{name}/{uuid}",
    "aws:eks/addon:Addon": "arn:aws:eks:{region}:{account}:addon/{cluster}/{addon}/{uuid}",
    "aws:eks/accessEntry:AccessEntry": "arn:aws:eks:{region}:{account}:access-entry/{cluster}/role/{account}/{uuid}",
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": "arn:aws:eks:{region}:{account}:podidentityassociation/{cluster}/a-{hex17}",
    "aws:ecr/repository:Repository": "arn:aws:ecr:{region}:{account}:repository/{name}",
    "aws:secretsmanager/secret:Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix6}",
    "aws:cloudwatch/logGroup:LogGroup": "arn:aws:logs:{region}:{account}:log-group:{name}",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "arn:aws:cloudwatch:{region}:{account}:alarm:{name}",
    "aws:sns/topic:Topic": "arn:aws:sns:{region}:{account}:{name}",
    "aws:rds/instance:Instance": "arn:aws:rds:{region}:{account}:db:{name}",
    "aws:rds/subnetGroup:SubnetGroup": "arn:aws:rds:{region}:{account}:subgrp:{name}",
    "aws:rds/parameterGroup:ParameterGroup": "arn:aws:rds:{region}:{account}:pg:{name}",
    "aws:budgets/budget:Budget": "arn:aws:budgets::{account}:budget/{name}",
    "aws:sqs/queue:Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "aws:cloudtrail/trail:Trail": "arn:aws:cloudtrail:{region}:{account}:trail/{name}",
    "aws:cloudwatch/eventRule:EventRule": "arn:aws:events:{region}:{account}:rule/{name}",
    "aws:iam/instanceProfile:InstanceProfile": "arn:aws:iam::{account}:instance-profile/{name}",
    "aws:ec2/vpc:Vpc": "arn:aws:ec2:{region}:{account}:vpc/{id}",
    "aws:ec2/subnet:Subnet": "arn:aws:ec2:{region}:{account}:subnet/{id}",
    "aws:ec2/securityGroup:SecurityGroup": "arn:aws:ec2:{region}:{account}:security-group/{id}",
    "aws:ec2/launchTemplate:LaunchTemplate": "arn:aws:ec2:{region}:{account}:launch-template/{id}",
    "aws:ec2/natGateway:NatGateway": "arn:aws:ec2:{region}:{account}:natgateway/{id}",
    "aws:ec2/internetGateway:InternetGateway": "arn:aws:ec2:{region}:{account}:internet-gateway/{id}",
    "aws:ec2/routeTable:RouteTable": "arn:aws:ec2:{region}:{account}:route-table/{id}",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "arn:aws:ec2:{region}:{account}:vpc-endpoint/{id}",
    "aws:ec2/flowLog:FlowLog": "arn:aws:ec2:{region}:{account}:vpc-flow-log/{id}",
}


def digest(seed: str, length: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:length]


def stable_uuid(seed: str) -> str:
    return str(uuid.UUID(hashlib.sha256(seed.encode()).hexdigest()[:32]))


class OfflineMocks(Mocks):
    """Answers the mock monitor with deterministic, realistic values.

    ``region`` is the stack's ``aws:region``; ``stack_outputs`` answers ``StackReference`` reads by
    stack name (examples use it to stand in for the platform stack).
    """

    def __init__(self, *, region: str, stack_outputs: Mapping[str, Mapping[str, Any]] | None = None):
        self.region = region
        self.stack_outputs = dict(stack_outputs or {})
        self.invokes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "aws:index/getCallerIdentity:getCallerIdentity": lambda _: {
                "accountId": ACCOUNT_ID,
                "arn": f"arn:aws:iam::{ACCOUNT_ID}:role/offline-synth",
                "id": ACCOUNT_ID,
                "userId": "AROAOFFLINESYNTH:offline",
            },
            "aws:index/getRegion:getRegion": lambda _: {
                "name": self.region,
                "region": self.region,
                "id": self.region,
                "endpoint": f"ec2.{self.region}.amazonaws.com",
                "description": self.region,
            },
            "aws:index/getPartition:getPartition": lambda _: {
                "partition": "aws",
                "dnsSuffix": "amazonaws.com",
                "id": "aws",
                "reverseDnsPrefix": "com.amazonaws",
            },
            "aws:index/getAvailabilityZones:getAvailabilityZones": self._zones,
        }

    # -- invokes -----------------------------------------------------------------------------
    def call(self, args: MockCallArgs) -> tuple[dict, list | None]:
        answer = self.invokes.get(args.token)
        if answer is None:
            raise OfflineInvokeError(
                f"invoke {args.token} has no offline answer; add one to infra/offline/mocks.py "
                "(an unanswered invoke must never silently return nothing)"
            )
        return answer(dict(args.args)), None

    def _zones(self, _: dict[str, Any]) -> dict[str, Any]:
        letters = ZONES_PER_REGION.get(self.region, "abc")
        names = [f"{self.region}{letter}" for letter in letters]
        return {
            "id": self.region,
            "names": names,
            "zoneIds": [
                f"{self.region[:2]}{self.region.split('-')[1][0]}{self.region[-1]}-az{i + 1}"
                for i in range(len(names))
            ],
            "groupNames": [self.region],
            "state": "available",
        }

    # -- resources ---------------------------------------------------------------------------
    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict]:
        typ, inputs = args.typ, dict(args.inputs)
        # The recording monitor passes the URN; plain Mocks callers fall back to type and name.
        seed = getattr(args, "urn", None) or f"{typ}::{args.name}::{args.resource_id or ''}"
        if typ == "pulumi:pulumi:StackReference":
            name = inputs.get("name") or args.resource_id or args.name
            outputs = self.stack_outputs.get(name)
            if outputs is None:
                raise OfflineInvokeError(
                    f"StackReference {name!r} has no offline outputs; pass them with stack_outputs"
                )
            return name, {"name": name, "outputs": dict(outputs), "secretOutputNames": []}
        if typ.startswith("pulumi:providers:"):
            return stable_uuid(seed), {}

        outputs: dict[str, Any] = {}
        name_prop = NAME_PROPERTY.get(typ)
        physical = None
        if name_prop:
            physical = inputs.get(name_prop)
            if not physical:
                prefix = inputs.get(f"{name_prop}Prefix")
                physical = f"{prefix}{digest(seed, 26)}" if prefix else f"{args.name}-{digest(seed, 7)}"
                outputs[name_prop] = physical
        if typ.startswith("kubernetes:"):
            outputs.update(self._kubernetes(typ, args.name, inputs, seed))
        if typ in EC2_ID_PREFIX:
            resource_id = f"{EC2_ID_PREFIX[typ]}-{digest(seed, 17)}"
        else:
            resource_id = physical or digest(seed, 16)
        # pulumi-aws v7 resources may name their own region; everything else lives in the stack's.
        region = str(inputs.get("region") or self.region) if typ.startswith("aws:") else self.region
        extra = self._specific(typ, inputs, physical or args.name, resource_id, seed, region)
        outputs.update(extra)
        resource_id = extra.pop("__id", None) or outputs.pop("__id", None) or resource_id
        if typ in ARN_FORMAT and "arn" not in outputs:
            outputs["arn"] = ARN_FORMAT[typ].format(
                name=physical or args.name,
                id=resource_id,
                account=ACCOUNT_ID,
                region=region,
                uuid=stable_uuid(seed),
                hex17=digest(seed, 17),
                suffix6=digest(seed, 6),
                cluster=inputs.get("clusterName", ""),
                addon=inputs.get("addonName", ""),
            )
        outputs.setdefault("id", resource_id)
        return resource_id, _deep_merge(inputs, outputs)

    def _specific(
        self, typ: str, inputs: dict[str, Any], name: str, rid: str, seed: str, region: str
    ) -> dict[str, Any]:
        account = ACCOUNT_ID
        if typ == "aws:eks/cluster:Cluster":
            host = digest(seed, 32).upper()
            return {
                "endpoint": f"https://{host}.gr7.{region}.eks.amazonaws.com",
                "certificateAuthority": {"data": base64.b64encode(f"offline-ca-{name}".encode()).decode()},
                "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{host}"}]}],
                "vpcConfig": {
                    "clusterSecurityGroupId": f"sg-{digest(seed + 'sg', 17)}",
                    "vpcId": f"vpc-{digest(seed, 17)}",
                },
                "status": "ACTIVE",
                "platformVersion": "eks.1",
            }
        if typ == "aws:eks/nodeGroup:NodeGroup":
            return {
                "__id": f"{inputs.get('clusterName')}:{name}",
                "resources": [
                    {
                        "autoscalingGroups": [{"name": f"eks-{name}-{stable_uuid(seed)}"}],
                        "remoteAccessSecurityGroupId": "",
                    }
                ],
                "status": "ACTIVE",
            }
        if typ == "aws:ec2/launchTemplate:LaunchTemplate":
            return {"latestVersion": 1, "defaultVersion": 1}
        if typ == "aws:ecr/repository:Repository":
            return {
                "repositoryUrl": f"{account}.dkr.ecr.{region}.amazonaws.com/{name}",
                "registryId": account,
            }
        if typ == "aws:s3/bucket:Bucket":
            return {
                "bucketDomainName": f"{name}.s3.amazonaws.com",
                "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
                "region": region,
                "hostedZoneId": "Z3AQBSTGFYJSTF",
            }
        if typ == "aws:kms/key:Key":
            key_id = stable_uuid(seed)
            return {"__id": key_id, "keyId": key_id}
        if typ == "aws:kms/alias:Alias":
            return {
                "targetKeyArn": f"arn:aws:kms:{region}:{account}:key/{stable_uuid(str(inputs.get('targetKeyId')))}"
            }
        if typ == "aws:rds/instance:Instance":
            host = f"{name}.{digest(seed, 12)}.{region}.rds.amazonaws.com"
            port = inputs.get("port", 5432)
            extra: dict[str, Any] = {
                "address": host,
                "endpoint": f"{host}:{port}",
                "port": port,
                "resourceId": f"db-{digest(seed, 26).upper()}",
            }
            if inputs.get("manageMasterUserPassword"):
                extra["masterUserSecrets"] = [
                    {
                        "secretArn": f"arn:aws:secretsmanager:{region}:{account}:secret:rds!db-{stable_uuid(seed)}-{digest(seed, 6)}",
                        "kmsKeyId": inputs.get("masterUserSecretKmsKeyId", ""),
                        "secretStatus": "active",
                    }
                ]
            return extra
        if typ == "aws:secretsmanager/secret:Secret":
            arn = ARN_FORMAT[typ].format(region=region, account=account, name=name, suffix6=digest(seed, 6))
            return {"__id": arn, "arn": arn}
        if typ == "aws:sqs/queue:Queue":  # SQS identifies a queue by its URL
            return {
                "__id": f"https://sqs.{region}.amazonaws.com/{account}/{name}",
                "url": f"https://sqs.{region}.amazonaws.com/{account}/{name}",
            }
        if typ == "aws:sns/topic:Topic":
            arn = ARN_FORMAT[typ].format(region=region, account=account, name=name)
            return {"__id": arn, "arn": arn}
        if typ == "aws:cloudwatch/logGroup:LogGroup":
            return {"__id": name}
        if typ == "aws:iam/role:Role":
            return {"uniqueId": f"AROA{digest(seed, 17).upper()}", "__id": name}
        if typ == "aws:eks/podIdentityAssociation:PodIdentityAssociation":
            return {"associationId": f"a-{digest(seed, 17)}"}
        if typ.startswith("random:"):
            return _random_outputs(typ, inputs, seed)
        return {}

    def _kubernetes(self, typ: str, name: str, inputs: dict[str, Any], seed: str) -> dict[str, Any]:
        if typ == "kubernetes:helm.sh/v3:Release":
            return {
                "status": {
                    "name": inputs.get("name") or name,
                    "namespace": inputs.get("namespace", "default"),
                    "chart": inputs.get("chart"),
                    "version": inputs.get("version"),
                    "revision": 1,
                    "status": "deployed",
                }
            }
        metadata = dict(inputs.get("metadata") or {})
        metadata.setdefault("name", f"{name}-{digest(seed, 8)}")
        metadata["uid"] = stable_uuid(seed)
        outputs: dict[str, Any] = {"metadata": metadata}
        if typ == "kubernetes:networking.k8s.io/v1:Ingress":
            host = f"internal-k8s-{digest(seed, 20)}.{self.region}.elb.amazonaws.com"
            outputs["status"] = {"loadBalancer": {"ingress": [{"hostname": host}]}}
        if typ == "kubernetes:core/v1:Service":
            outputs["spec"] = {
                **(inputs.get("spec") or {}),
                "clusterIP": f"172.20.{int(digest(seed, 2), 16)}.{int(digest(seed + 'ip', 2), 16)}",
            }
            if outputs["spec"].get("type") == "LoadBalancer":  # an internal NLB's DNS name
                host = f"k8s-{digest(seed, 20)}.elb.{self.region}.amazonaws.com"
                outputs["status"] = {"loadBalancer": {"ingress": [{"hostname": host}]}}
        return outputs


class OfflineInvokeError(RuntimeError):
    """The program asked for something the offline runtime cannot answer."""


def _random_outputs(typ: str, inputs: dict[str, Any], seed: str) -> dict[str, Any]:
    length = int(inputs.get("length", 32))
    if typ in ("random:index/randomPassword:RandomPassword", "random:index/randomString:RandomString"):
        value = (digest(seed, 64) * 4)[:length]
        out = {"result": value}
        if typ.endswith("RandomPassword"):
            out["bcryptHash"] = "$2a$10$" + digest(seed + "bcrypt", 53)
        return out
    if typ == "random:index/randomId:RandomId":
        byte_length = int(inputs.get("byteLength", 8))
        raw = bytes.fromhex(digest(seed, byte_length * 2))
        return {
            "hex": raw.hex(),
            "b64Url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "dec": str(int(raw.hex(), 16)),
        }
    return {}


def _deep_merge(base: Any, extra: Any) -> Any:
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _deep_merge(base.get(key), value) if key in base else value
        return merged
    return extra
