"""Customer-managed KMS keys: one helper, so every key gets rotation and a reviewed key policy."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws

from mlops_platform.components.support import iam
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import stateful_options


def customer_managed_key(
    name: str,
    context: StackContext,
    *,
    description: str,
    policy: pulumi.Input[str] | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> aws.kms.Key:
    """A symmetric key with yearly rotation, protected like every other stateful resource.

    The deletion window is the maximum (30 days): a key scheduled for deletion by mistake can still
    be recovered, and data encrypted with it is not lost.
    """
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        tags=dict(context.tags),
        opts=stateful_options(context.environment, opts),
    )


def key_for_services(
    name: str,
    context: StackContext,
    *,
    description: str,
    account_id: str,
    services: Mapping[str, str],
    opts: pulumi.ResourceOptions | None = None,
) -> aws.kms.Key:
    """A key the account administers and these AWS service principals (statement id -> principal)
    may encrypt and decrypt with, for this account only."""
    statements = [iam.kms_root_statement(account_id)]
    statements += [iam.kms_service_statement(sid, service, account_id) for sid, service in services.items()]
    return customer_managed_key(
        name, context, description=description, policy=iam.document(statements), opts=opts
    )
