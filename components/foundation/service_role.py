"""An IAM role an AWS service assumes on the platform's behalf, with its one inline policy.

The trust names the service and, where the service supports it, the account (the confused-deputy
guard: ``aws:SourceAccount``); the policy is the caller's least-privilege document."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi_aws as aws
from pulumi import Input

from mlops_platform.components.support import iam
from mlops_platform.components.support.component import PlatformComponent

Tags = Mapping[str, str]


def service_role(
    owner: PlatformComponent, stem: str, service: str, policy: Input[str], tags: Tags
) -> aws.iam.Role:
    """``<stem>-role`` for ``service`` (e.g. ``firehose.amazonaws.com``) in ``owner``'s account, and
    ``<stem>-policy`` on it; both children of ``owner``."""
    opts = owner.child
    trust = iam.service_trust_policy(service, source_account=owner.account_id)
    role = aws.iam.Role(f"{stem}-role", assume_role_policy=trust, tags=dict(tags), opts=opts)
    aws.iam.RolePolicy(f"{stem}-policy", role=role.id, policy=policy, opts=opts)
    return role
