"""``Karpenter``: the node provisioner GPU pools may use instead of a managed node group.

It installs the pinned Karpenter chart on the system nodes, with a controller role through EKS Pod
Identity scoped to this cluster's instances, launch templates and interruption queue, and the SQS
queue (encrypted with its own key) that EventBridge fills with spot interruptions, rebalance
recommendations, instance state changes and AWS Health events, so Karpenter drains a node before
EC2 takes it. Each pool then adds its own EC2NodeClass and NodePool (``GpuNodePool``).

Example::

    karpenter = Karpenter("karpenter", KarpenterSpec(), context, cluster.ref, opts=on_cluster)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform.components.foundation.kms import key_for_services
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.refs import ClusterRef
from mlops_platform.components.support import helm, iam, kube, pins
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, range_problems

NAMESPACE = "kube-system"
CONTROLLER_RESOURCES = {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}
SERVICE_ACCOUNT = "karpenter"

INTERRUPTION_EVENTS = {
    "health": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
"""EventBridge patterns of the events Karpenter acts on (its interruption-handling documentation)."""


class Consolidation(StrEnum):
    """When Karpenter removes a pool's nodes (its NodePool ``disruption.consolidationPolicy``)."""

    WHEN_EMPTY = "WhenEmpty"
    WHEN_EMPTY_OR_UNDERUTILIZED = "WhenEmptyOrUnderutilized"


@spec
class KarpenterSpec:
    """The Karpenter controller."""

    replicas: int = 2
    """Controller replicas; one leads, the other takes over. Default: 2."""
    log_level: str = "info"
    """``debug``, ``info`` or ``error``. Default: ``info``."""

    def problems(self) -> list[Problem]:
        found = range_problems("replicas", self.replicas, 1, 3)
        if self.log_level not in ("debug", "info", "error"):
            found.append(Problem("log_level", f"must be debug, info or error (got {self.log_level!r})"))
        return found


def controller_policy(
    *,
    cluster_name: str,
    region: str,
    account_id: str,
    queue_arn: str,
    node_role_arn: str,
    ebs_kms_key_arn: str,
) -> str:
    """What the controller may do: launch and tag instances only with this cluster's ownership tag,
    terminate only its own, read the regional catalogue, and nothing in another region."""
    ec2 = f"arn:aws:ec2:{region}"
    owned = {f"aws:RequestTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    nodepool = {"aws:RequestTag/karpenter.sh/nodepool": "*"}
    made = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface")]
    made += [f"{ec2}:*:launch-template/*", f"{ec2}:*:spot-instances-request/*"]
    resource_owned = {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"}
    return iam.document(
        [
            iam.statement(
                "LaunchFromSharedResources",
                ["ec2:RunInstances", "ec2:CreateFleet"],
                [
                    f"{ec2}::image/*",
                    f"{ec2}::snapshot/*",
                    f"{ec2}:*:security-group/*",
                    f"{ec2}:*:subnet/*",
                    f"{ec2}:*:capacity-reservation/*",
                ],
            ),
            iam.statement(
                "LaunchFromOwnLaunchTemplates",
                ["ec2:RunInstances", "ec2:CreateFleet"],
                f"{ec2}:*:launch-template/*",
                conditions={
                    "StringEquals": {f"aws:ResourceTag/kubernetes.io/cluster/{cluster_name}": "owned"},
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                },
            ),
            iam.statement(
                "CreateOwnedResources",
                ["ec2:RunInstances", "ec2:CreateFleet", "ec2:CreateLaunchTemplate"],
                made,
                conditions={
                    "StringEquals": {**owned, "aws:RequestTag/eks:eks-cluster-name": cluster_name},
                    "StringLike": nodepool,
                },
            ),
            iam.statement(
                "TagOnCreate",
                ["ec2:CreateTags"],
                made,
                conditions={
                    "StringEquals": {
                        **owned,
                        "aws:RequestTag/eks:eks-cluster-name": cluster_name,
                        "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"],
                    },
                    "StringLike": nodepool,
                },
            ),
            iam.statement(
                "TagOwnInstances",
                ["ec2:CreateTags"],
                f"{ec2}:*:instance/*",
                conditions={
                    "StringEquals": resource_owned,
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                    "ForAllValues:StringEquals": {
                        "aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]
                    },
                },
            ),
            iam.statement(
                "DeleteOwnResources",
                ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
                [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
                conditions={
                    "StringEquals": resource_owned,
                    "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                },
            ),
            iam.statement(
                "ReadRegionalCatalogue",
                [
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeCapacityReservations",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInstanceTypeOfferings",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSpotPriceHistory",
                    "ec2:DescribeSubnets",
                ],
                "*",  # Describe* calls support no resource-level permissions
                conditions={"StringEquals": {"aws:RequestedRegion": region}},
            ),
            iam.statement(
                "ReadAmiParameters", ["ssm:GetParameter"], f"arn:aws:ssm:{region}::parameter/aws/service/*"
            ),
            iam.statement("ReadPrices", ["pricing:GetProducts"], "*"),  # no resource-level permissions
            iam.statement(
                "ConsumeInterruptionQueue",
                ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
                queue_arn,
            ),
            iam.statement(
                "PassNodeRole",
                ["iam:PassRole"],
                node_role_arn,
                conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
            ),
            iam.statement(
                "ReadInstanceProfiles",
                ["iam:GetInstanceProfile"],
                f"arn:aws:iam::{account_id}:instance-profile/*",
            ),
            iam.statement(
                "DiscoverApiEndpoint",
                ["eks:DescribeCluster"],
                f"arn:aws:eks:{region}:{account_id}:cluster/{cluster_name}",
            ),
            iam.statement(
                "EncryptNodeVolumes",
                ["kms:CreateGrant", "kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKeyWithoutPlaintext"],
                ebs_kms_key_arn,
                conditions={"StringEquals": {"kms:ViaService": f"ec2.{region}.amazonaws.com"}},
            ),
        ]
    )


class Karpenter(PlatformComponent):
    """The Karpenter controller, its interruption queue and event rules, and its node instance profile."""

    release: pulumi.Resource
    """The chart release; NodePools and EC2NodeClasses wait for it (it installs their CRDs)."""
    instance_profile_name: pulumi.Output[str]
    """Instance profile of the cluster's node role, which every EC2NodeClass names."""

    def __init__(
        self,
        name: str,
        spec: KarpenterSpec,
        context: StackContext,
        cluster: ClusterRef,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            "mlops:karpenter:Karpenter", name, "KarpenterSpec", [*spec.problems(), *context.problems()], opts
        )
        child = self.child
        tags = dict(context.tags)
        account_id, region = self.account_id, self.region
        key = key_for_services(
            f"{name}-queue-key",
            context,
            description="Encrypts Karpenter's interruption queue",
            account_id=account_id,
            services={"AllowEventBridge": "events.amazonaws.com"},
            opts=child,
        )
        queue = aws.sqs.Queue(
            f"{name}-interruptions",
            message_retention_seconds=300,  # an interruption notice is stale after two minutes
            kms_master_key_id=key.arn,
            tags=tags,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-interruptions-policy",
            queue_url=queue.url,
            policy=queue.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "EventBridgeSends",
                                "Effect": "Allow",
                                "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                                "Action": "sqs:SendMessage",
                                "Resource": arn,
                            },
                            {
                                "Sid": "DenyInsecureTransport",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "sqs:*",
                                "Resource": arn,
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            },
                        ],
                    },
                    sort_keys=True,
                )
            ),
            opts=child,
        )
        for event, pattern in INTERRUPTION_EVENTS.items():
            rule = aws.cloudwatch.EventRule(
                f"{name}-{event}", event_pattern=json.dumps(pattern, sort_keys=True), tags=tags, opts=child
            )
            aws.cloudwatch.EventTarget(f"{name}-{event}-target", rule=rule.name, arn=queue.arn, opts=child)
        profile = aws.iam.InstanceProfile(
            f"{name}-node-profile",
            role=pulumi.Output.from_input(cluster.node_role_arn).apply(lambda arn: arn.rsplit("/", 1)[-1]),
            tags=tags,
            opts=child,
        )
        role = PodIdentityRole(
            f"{name}-controller",
            PodIdentitySpec(namespace=NAMESPACE, service_account=SERVICE_ACCOUNT),
            cluster_name=cluster.name,
            tags=context.tags,
            policy=pulumi.Output.all(
                cluster.name, queue.arn, cluster.node_role_arn, cluster.ebs_kms_key_arn
            ).apply(
                lambda args: controller_policy(
                    cluster_name=args[0],
                    region=region,
                    account_id=account_id,
                    queue_arn=args[1],
                    node_role_arn=args[2],
                    ebs_kms_key_arn=args[3],
                )
            ),
            opts=child,
        )
        self.release = helm.release(
            f"{name}-release",
            "karpenter",
            namespace=NAMESPACE,
            values={
                "replicas": spec.replicas,
                "logLevel": spec.log_level,
                "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
                "settings": {"clusterName": cluster.name, "interruptionQueue": queue.name},
                # Never on a node it manages: it would drain itself.
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "controller": {"resources": CONTROLLER_RESOURCES},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
            footprint=helm.Footprint(system_pods=((spec.replicas, CONTROLLER_RESOURCES),)),
        )
        self.queue_name = queue.name
        self.instance_profile_name = profile.name
        self.register_outputs(
            {"queueName": self.queue_name, "instanceProfileName": self.instance_profile_name}
        )


def gpu_node_class(
    name: str,
    *,
    disk_size_gib: int,
    tags: Mapping[str, str],
    cluster: ClusterRef,
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
    instance_profile: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """The EC2NodeClass of one GPU pool: the pinned AMI, the cluster's subnets and security group, an
    encrypted root volume, IMDSv2 only."""
    return _pool_object(
        name,
        "karpenter.k8s.aws/v1",
        "EC2NodeClass",
        {
            "instanceProfile": instance_profile,
            "amiSelectorTerms": [{"alias": pins.KARPENTER_AMI_ALIAS}],
            "subnetSelectorTerms": pulumi.Output.from_input(subnet_ids).apply(
                lambda ids: [{"id": subnet} for subnet in ids]
            ),
            "securityGroupSelectorTerms": [{"id": cluster.security_group_id}],
            "blockDeviceMappings": [
                {
                    "deviceName": "/dev/xvda",
                    "ebs": {
                        "volumeSize": f"{disk_size_gib}Gi",
                        "volumeType": "gp3",
                        "encrypted": True,
                        "kmsKeyID": cluster.ebs_kms_key_arn,
                        "deleteOnTermination": True,
                    },
                }
            ],
            # IMDSv2 only, one hop: pods cannot reach the node role's credentials.
            "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 1},
            "tags": dict(tags),
        },
        opts,
    )


def gpu_node_pool(
    name: str,
    *,
    instance_types: Sequence[str],
    capacity_types: Sequence[str],
    labels: Mapping[str, str],
    taint: bool,
    disruption: Mapping[str, Any],
    gpu_limit: int,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """The NodePool of one GPU pool, launching its EC2NodeClass (of the same name)."""
    template: dict[str, Any] = {
        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": name},
        "requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": list(instance_types)},
            {"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(capacity_types)},
        ],
        "expireAfter": "720h",
    }
    if taint:
        template["taints"] = [{"key": kube.GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}]
    spec = {
        "template": {"metadata": {"labels": dict(labels)}, "spec": template},
        "disruption": dict(disruption),
        "limits": {kube.GPU_RESOURCE: str(gpu_limit)},
    }
    return _pool_object(name, "karpenter.sh/v1", "NodePool", spec, opts)


def _pool_object(
    name: str, api_version: str, kind: str, spec: Mapping[str, Any], opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """One of a GPU pool's Karpenter objects, named after the pool (``<pool>-node-class``...)."""
    slug = {"EC2NodeClass": "node-class", "NodePool": "node-pool"}[kind]
    return k8s.apiextensions.CustomResource(
        f"{name}-{slug}",
        api_version=api_version,
        kind=kind,
        metadata={"name": name, "labels": kube.labels(name, "gpu-node-pool")},
        spec=dict(spec),
        opts=opts,
    )
