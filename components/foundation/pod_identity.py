"""``PodIdentityRole``: an IAM role that one Kubernetes service account assumes through EKS Pod Identity.

Example::

    role = PodIdentityRole("scorer", PodIdentitySpec(namespace="fraud", service_account="scorer"),
                           cluster_name=cluster.ref.name, tags=context.tags)
    artifacts.grant_read(role, "models/fraud/scorer/")
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_aws as aws

from mlops_platform.components.support.aws import POLICY_ARN, ROLE_ARN
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.iam import pod_identity_trust_policy
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import tag_problems
from mlops_platform.components.support.validation import Problem, dns_label_problem, raise_if_any


@spec
class PodIdentitySpec:
    """Which service account assumes the role, and what it may do beyond its inline policy."""

    namespace: str
    """Namespace of the service account."""
    service_account: str
    """Name of the service account that assumes the role."""
    managed_policy_arns: Sequence[str] = ()
    """AWS managed policies to attach. Default: none."""
    associate: bool = True
    """Create the Pod Identity association. Default: on; off for EKS add-ons, which create their own
    through ``podIdentityAssociations`` (EKS allows one association per service account)."""

    def problems(self) -> list[Problem]:
        found = [
            p
            for p in (
                dns_label_problem("namespace", self.namespace),
                dns_label_problem("service_account", self.service_account, max_length=253),
            )
            if p
        ]
        for i, arn in enumerate(self.managed_policy_arns):
            if not POLICY_ARN.match(arn):
                found.append(Problem(f"managed_policy_arns[{i}]", f"must be an IAM policy ARN (got {arn!r})"))
        return found


class PodIdentityRole(PlatformComponent):
    """Role, inline policy and the Pod Identity association for one service account."""

    role: aws.iam.Role
    """The IAM role; grants attach further policies to it."""
    arn: pulumi.Output[str]
    """ARN of the role."""
    role_name: pulumi.Output[str]
    """Physical name of the role."""

    def __init__(
        self,
        name: str,
        spec: PodIdentitySpec,
        *,
        cluster_name: pulumi.Input[str],
        tags: Mapping[str, str],
        policy: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``cluster_name``: the cluster whose Pod Identity agent hands out the credentials;
        ``policy``: an inline policy document (JSON). Default: none; grants can add policies later."""
        super().__init__(
            "mlops:pod_identity:PodIdentityRole",
            name,
            "PodIdentitySpec",
            [*spec.problems(), *tag_problems(tags)],
            opts,
        )
        child = self.child
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=pod_identity_trust_policy(),
            description=f"EKS Pod Identity role for {spec.namespace}/{spec.service_account}",
            tags=dict(tags),
            opts=child,
        )
        if policy is not None:
            aws.iam.RolePolicy(f"{name}-policy", role=self.role.id, policy=policy, opts=child)
        for arn in spec.managed_policy_arns:
            aws.iam.RolePolicyAttachment(
                f"{name}-{arn.rsplit('/', 1)[-1]}", role=self.role.name, policy_arn=arn, opts=child
            )
        if spec.associate:
            aws.eks.PodIdentityAssociation(
                f"{name}-association",
                cluster_name=cluster_name,
                namespace=spec.namespace,
                service_account=spec.service_account,
                role_arn=self.role.arn,
                tags=dict(tags),
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
    match = ROLE_ARN.match(role)
    if not match:
        raise_if_any("grant", [Problem("role", f"must be a role resource or an IAM role ARN (got {role!r})")])
    return match[1], match[1]
