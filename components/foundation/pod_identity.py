"""``PodIdentityRole``: an IAM role that one Kubernetes service account assumes through EKS Pod Identity.

Example::

    role = PodIdentityRole("scorer", PodIdentityRoleArgs(
        cluster_name=cluster.cluster_name, namespace="fraud", service_account="scorer", tags=tags))
    artifacts.grant_read(role, "models/fraud/scorer/")
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
from mlops_platform.components.support.iam import pod_identity_trust_policy
from mlops_platform.components.support.tagging import tag_problems
from mlops_platform.components.support.validation import Problem, dns_label_problem, raise_if_any


@dataclass(frozen=True, kw_only=True)
class PodIdentityRoleArgs:
    cluster_name: pulumi.Input[str]
    """Name of the EKS cluster whose Pod Identity agent hands out the credentials."""
    namespace: str
    """Namespace of the service account."""
    service_account: str
    """Name of the service account that assumes the role."""
    tags: Mapping[str, str]
    """Tags for the role; must carry the platform's required tags."""
    policy: pulumi.Input[str] | None = None
    """Inline policy document (JSON). Default: none; grants can add policies later."""
    managed_policy_arns: Sequence[str] = ()
    """AWS managed policies to attach. Default: none."""

    def problems(self) -> list[Problem]:
        found = [
            p
            for p in (
                dns_label_problem("namespace", self.namespace),
                dns_label_problem("service_account", self.service_account, max_length=253),
            )
            if p
        ]
        found += tag_problems(self.tags)
        for i, arn in enumerate(self.managed_policy_arns):
            if not re.match(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+", arn):
                found.append(Problem(f"managed_policy_arns[{i}]", f"must be an IAM policy ARN (got {arn!r})"))
        return found


class PodIdentityRole(pulumi.ComponentResource):
    """Role, inline policy and the Pod Identity association for one service account."""

    role: aws.iam.Role
    """The IAM role; grants attach further policies to it."""
    arn: pulumi.Output[str]
    """ARN of the role."""
    role_name: pulumi.Output[str]
    """Physical name of the role."""

    def __init__(self, name: str, args: PodIdentityRoleArgs, opts: pulumi.ResourceOptions | None = None):
        raise_if_any(f"PodIdentityRoleArgs for {name!r}", args.problems())
        super().__init__("mlops:pod_identity:PodIdentityRole", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pod_identity_trust_policy(),
            description=f"EKS Pod Identity role for {args.namespace}/{args.service_account}",
            tags=dict(args.tags),
            opts=child,
        )
        if args.policy is not None:
            aws.iam.RolePolicy(f"{name}-policy", role=self.role.id, policy=args.policy, opts=child)
        for arn in args.managed_policy_arns:
            aws.iam.RolePolicyAttachment(
                f"{name}-{arn.rsplit('/', 1)[-1]}", role=self.role.name, policy_arn=arn, opts=child
            )
        aws.eks.PodIdentityAssociation(
            f"{name}-association",
            cluster_name=args.cluster_name,
            namespace=args.namespace,
            service_account=args.service_account,
            role_arn=self.role.arn,
            tags=dict(args.tags),
            opts=child,
        )
        self.arn = self.role.arn
        self.role_name = self.role.name
        self.register_outputs({"arn": self.arn, "roleName": self.role_name})


Grantee = aws.iam.Role | PodIdentityRole | str
"""What grant methods accept: a role resource, a PodIdentityRole, or an existing role's ARN."""


def grantee(role: Grantee) -> tuple[pulumi.Input[str], str]:
    """The role name to attach a policy to, and a slug for the policy's logical name."""
    if isinstance(role, PodIdentityRole):
        return role.role.id, role.pulumi_resource_name
    if isinstance(role, aws.iam.Role):
        return role.id, role.pulumi_resource_name
    match = re.match(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:.+/)?([\w+=,.@-]+)$", role)
    if not match:
        raise_if_any("grant", [Problem("role", f"must be a role resource or an IAM role ARN (got {role!r})")])
    return match[1], match[1]
