"""``LoadBalancerController``: the AWS Load Balancer Controller, which turns Ingresses into ALBs.

MLflow, Grafana and every model endpoint expose an internal ALB through it. All of them join one ALB
group, so the platform pays for one load balancer, not one per service; ``internal_ingress`` is the
one way to declare such an Ingress.

Example::

    LoadBalancerController("lbc", LoadBalancerControllerSpec(), context, cluster.ref, network.ref,
                           opts=pulumi.ResourceOptions(providers=[aws_provider, cluster.provider]))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.refs import ClusterRef, NetworkRef
from mlops_platform.components.support import helm, iam, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem

SERVICE_ACCOUNT = "aws-load-balancer-controller"
INGRESS_CLASS = "alb"
INTERNAL_GROUP = "mlops-platform-internal"
"""ALB group every internal Ingress of the platform joins."""
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
_CLUSTER_TAG = "elbv2.k8s.aws/cluster"
CONTROLLER_RESOURCES = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}}


@spec
class LoadBalancerControllerSpec:
    """How the controller runs."""

    replicas: int = 2
    """Controller replicas (leader election keeps one active). Default: 2."""

    def problems(self) -> list[Problem]:
        if not 1 <= self.replicas <= 5:
            return [Problem("replicas", f"must be between 1 and 5 (got {self.replicas})")]
        return []


def internal_ingress(
    name: str,
    *,
    object_name: str,
    namespace: str,
    labels: Mapping[str, str],
    path: str,
    backend: Mapping[str, Any],
    health_check_path: str,
    opts: pulumi.ResourceOptions,
    hostname: str | None = None,
    certificate_arn: str | None = None,
    order: int | None = None,
    annotations: Mapping[str, str] | None = None,
    group: str = INTERNAL_GROUP,
    http_port: int = 80,
) -> k8s.networking.v1.Ingress:
    """An Ingress on an internal ALB, by default the platform's shared one: HTTPS with a TLS 1.3
    policy when a certificate is given (several, comma-separated, are served by SNI), else HTTP
    inside the VPC on ``http_port``; ``order`` sets its precedence in the group (lower wins;
    catch-alls go last)."""
    merged = {
        "alb.ingress.kubernetes.io/scheme": "internal",
        "alb.ingress.kubernetes.io/target-type": "ip",
        "alb.ingress.kubernetes.io/group.name": group,
        "alb.ingress.kubernetes.io/healthcheck-path": health_check_path,
        **({"alb.ingress.kubernetes.io/group.order": str(order)} if order is not None else {}),
        **(annotations or {}),
    }
    if certificate_arn:
        merged["alb.ingress.kubernetes.io/listen-ports"] = '[{"HTTPS": 443}]'
        merged["alb.ingress.kubernetes.io/certificate-arn"] = certificate_arn
        merged["alb.ingress.kubernetes.io/ssl-policy"] = TLS_POLICY
    else:
        merged["alb.ingress.kubernetes.io/listen-ports"] = json.dumps([{"HTTP": http_port}])
    rule: dict[str, Any] = {
        "http": {"paths": [{"path": path, "pathType": "Prefix", "backend": dict(backend)}]}
    }
    if hostname:
        rule["host"] = hostname
    return k8s.networking.v1.Ingress(
        name,
        metadata={"name": object_name, "namespace": namespace, "labels": dict(labels), "annotations": merged},
        spec={"ingressClassName": INGRESS_CLASS, "rules": [rule]},
        opts=opts,
    )


def load_balancer_hostname(ingress: k8s.networking.v1.Ingress) -> pulumi.Output[str]:
    """The DNS name the controller gives the Ingress's ALB."""
    return ingress.status.apply(lambda s: s.load_balancer.ingress[0].hostname)


def controller_policy(*, region: str, account_id: str, vpc_id: str) -> str:
    """The controller's permissions, narrowed from the upstream policy: reads on ``*`` (they have no
    resource-level permissions), every write on this region's ELB and security-group ARNs, and
    changes to existing resources only where the controller's cluster tag marks them as its own."""
    elb = f"arn:aws:elasticloadbalancing:{region}:{account_id}"
    sg = f"arn:aws:ec2:{region}:{account_id}:security-group/*"
    load_balancers = [f"{elb}:loadbalancer/app/*/*", f"{elb}:loadbalancer/net/*/*"]
    target_groups = f"{elb}:targetgroup/*/*"
    listeners = [f"{elb}:listener/app/*/*/*", f"{elb}:listener/net/*/*/*"]
    rules = [f"{elb}:listener-rule/app/*/*/*/*", f"{elb}:listener-rule/net/*/*/*/*"]
    owned = {"Null": {f"aws:ResourceTag/{_CLUSTER_TAG}": "false"}}
    tagged_on_create = {"Null": {f"aws:RequestTag/{_CLUSTER_TAG}": "false"}}
    return iam.document(
        [
            iam.statement(
                "DescribeEverything",
                [
                    "acm:DescribeCertificate",
                    "acm:ListCertificates",
                    "ec2:DescribeAccountAttributes",
                    "ec2:DescribeAddresses",
                    "ec2:DescribeAvailabilityZones",
                    "ec2:DescribeInstances",
                    "ec2:DescribeInternetGateways",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeTags",
                    "ec2:DescribeVpcs",
                    "ec2:GetSecurityGroupsForVpc",
                    "elasticloadbalancing:DescribeCapacityReservation",
                    "elasticloadbalancing:DescribeListenerAttributes",
                    "elasticloadbalancing:DescribeListenerCertificates",
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeLoadBalancerAttributes",
                    "elasticloadbalancing:DescribeLoadBalancers",
                    "elasticloadbalancing:DescribeRules",
                    "elasticloadbalancing:DescribeSSLPolicies",
                    "elasticloadbalancing:DescribeTags",
                    "elasticloadbalancing:DescribeTargetGroupAttributes",
                    "elasticloadbalancing:DescribeTargetGroups",
                    "elasticloadbalancing:DescribeTargetHealth",
                    "elasticloadbalancing:DescribeTrustStores",
                ],
                "*",
            ),
            iam.statement(
                "CreateElbServiceLinkedRole",
                ["iam:CreateServiceLinkedRole"],
                f"arn:aws:iam::{account_id}:role/aws-service-role/elasticloadbalancing.amazonaws.com/*",
                conditions={"StringEquals": {"iam:AWSServiceName": "elasticloadbalancing.amazonaws.com"}},
            ),
            iam.statement(
                "CreateSecurityGroupsInThisVpc",
                ["ec2:CreateSecurityGroup"],
                [f"arn:aws:ec2:{region}:{account_id}:vpc/{vpc_id}", sg],
            ),
            iam.statement(
                "TagNewSecurityGroups",
                ["ec2:CreateTags"],
                sg,
                conditions={"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}, **tagged_on_create},
            ),
            iam.statement(
                "ManageOwnSecurityGroups",
                ["ec2:CreateTags", "ec2:DeleteSecurityGroup", "ec2:DeleteTags"],
                sg,
                conditions=owned,
            ),
            # Node security groups are not the controller's, but it must open them to its load balancers.
            iam.statement(
                "OpenNodesToLoadBalancers",
                ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
                sg,
                conditions={"StringEquals": {"ec2:Vpc": f"arn:aws:ec2:{region}:{account_id}:vpc/{vpc_id}"}},
            ),
            iam.statement(
                "CreateTaggedLoadBalancers",
                ["elasticloadbalancing:CreateLoadBalancer", "elasticloadbalancing:CreateTargetGroup"],
                [*load_balancers, target_groups],
                conditions=tagged_on_create,
            ),
            iam.statement(
                "ManageListenersAndRules",
                [
                    "elasticloadbalancing:AddListenerCertificates",
                    "elasticloadbalancing:CreateListener",
                    "elasticloadbalancing:CreateRule",
                    "elasticloadbalancing:DeleteListener",
                    "elasticloadbalancing:DeleteRule",
                    "elasticloadbalancing:ModifyListener",
                    "elasticloadbalancing:ModifyListenerAttributes",
                    "elasticloadbalancing:ModifyRule",
                    "elasticloadbalancing:RemoveListenerCertificates",
                ],
                [*load_balancers, *listeners, *rules],
            ),
            iam.statement(
                "ManageOwnLoadBalancers",
                [
                    "elasticloadbalancing:DeleteLoadBalancer",
                    "elasticloadbalancing:DeleteTargetGroup",
                    "elasticloadbalancing:DeregisterTargets",
                    "elasticloadbalancing:ModifyLoadBalancerAttributes",
                    "elasticloadbalancing:ModifyTargetGroup",
                    "elasticloadbalancing:ModifyTargetGroupAttributes",
                    "elasticloadbalancing:RegisterTargets",
                    "elasticloadbalancing:SetIpAddressType",
                    "elasticloadbalancing:SetSecurityGroups",
                    "elasticloadbalancing:SetSubnets",
                ],
                [*load_balancers, target_groups],
                conditions=owned,
            ),
            iam.statement(
                "TagOwnLoadBalancers",
                ["elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"],
                [*load_balancers, target_groups, *listeners, *rules],
                conditions=owned,
            ),
            # The model gateway's ALB may carry a WAF web ACL (ModelGatewaySpec.waf_acl_arn).
            iam.statement(
                "AttachWebAclsToOwnAlbs",
                [
                    "wafv2:AssociateWebACL",
                    "wafv2:DisassociateWebACL",
                    "wafv2:GetWebACL",
                    "wafv2:GetWebACLForResource",
                ],
                [f"arn:aws:wafv2:{region}:{account_id}:regional/webacl/*/*", load_balancers[0]],
            ),
            iam.statement(
                "TagOnCreate",
                ["elasticloadbalancing:AddTags"],
                [*load_balancers, target_groups, *listeners, *rules],
                conditions={
                    "StringEquals": {
                        "elasticloadbalancing:CreateAction": [
                            "CreateListener",
                            "CreateLoadBalancer",
                            "CreateRule",
                            "CreateTargetGroup",
                        ]
                    }
                },
            ),
        ]
    )


class LoadBalancerController(PlatformComponent):
    """The controller's pinned Helm release and its Pod Identity role."""

    release: pulumi.Resource
    """The Helm release; Ingresses must depend on it (its webhook validates them)."""
    role_arn: pulumi.Output[str]
    """Role the controller assumes."""

    def __init__(
        self,
        name: str,
        spec: LoadBalancerControllerSpec,
        context: StackContext,
        cluster: ClusterRef,
        network: NetworkRef,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            "mlops:load_balancer_controller:LoadBalancerController",
            name,
            "LoadBalancerControllerSpec",
            [*spec.problems(), *context.problems()],
            opts,
        )
        account_id, region = self.account_id, self.region
        role = PodIdentityRole(
            f"{name}-controller",
            PodIdentitySpec(namespace="kube-system", service_account=SERVICE_ACCOUNT),
            cluster_name=cluster.name,
            tags=context.tags,
            policy=pulumi.Output.from_input(network.vpc_id).apply(
                lambda vpc: controller_policy(region=region, account_id=account_id, vpc_id=vpc)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release = helm.release(
            f"{name}-release",
            "aws-load-balancer-controller",
            namespace="kube-system",
            values={
                "clusterName": cluster.name,
                "region": region,
                "vpcId": network.vpc_id,
                "replicaCount": spec.replicas,
                "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
                "ingressClass": INGRESS_CLASS,
                "createIngressClassResource": True,
                "defaultTags": dict(context.tags),
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "podDisruptionBudget": {"maxUnavailable": 1},
                "resources": CONTROLLER_RESOURCES,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
            footprint=helm.Footprint(system_pods=((spec.replicas, CONTROLLER_RESOURCES),)),
        )
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})
