"""Encrypted CloudWatch log groups: one home for the key, the group and who may write to it.

Every log group of the platform (flow logs, control plane, containers) is KMS-encrypted with a key
whose policy admits CloudWatch Logs for this account's groups only, and keeps its logs for a
retention CloudWatch accepts. A stack usually shares one key (``logs_key``) across its groups.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from mlops_platform.components.foundation import kms
from mlops_platform.components.support import iam
from mlops_platform.components.support.context import StackContext


def logs_key(
    name: str,
    context: StackContext,
    *,
    description: str,
    account_id: str,
    region: str,
    opts: pulumi.ResourceOptions,
) -> aws.kms.Key:
    """A key CloudWatch Logs may use, for this account's log groups in this region only."""
    return kms.customer_managed_key(
        name,
        context,
        description=description,
        policy=iam.document([iam.kms_root_statement(account_id), iam.kms_logs_statement(account_id, region)]),
        opts=opts,
    )


def encrypted_log_group(
    resource_name: str,
    context: StackContext,
    *,
    retention_days: int,
    kms_key_arn: pulumi.Input[str] | None,
    key_name: str,
    key_description: str,
    account_id: str,
    region: str,
    opts: pulumi.ResourceOptions,
    name: pulumi.Input[str] | None = None,
    name_prefix: str | None = None,
) -> aws.cloudwatch.LogGroup:
    """A log group encrypted with ``kms_key_arn``, or with a key of its own (``key_name``) when none is
    given. ``name`` fixes the physical name (a service that writes to a known group); otherwise
    ``name_prefix`` auto-names it."""
    if kms_key_arn is None:
        kms_key_arn = logs_key(
            key_name,
            context,
            description=key_description,
            account_id=account_id,
            region=region,
            opts=opts,
        ).arn
    return aws.cloudwatch.LogGroup(
        resource_name,
        name=name,
        name_prefix=name_prefix,
        retention_in_days=retention_days,
        kms_key_id=kms_key_arn,
        tags=dict(context.tags),
        opts=opts,
    )


def write_policy(
    group: aws.cloudwatch.LogGroup, sid: str, extra: Sequence[iam.Statement] = ()
) -> pulumi.Output[str]:
    """A policy document to create streams in and put events to this one group (and ``extra``)."""
    return group.arn.apply(lambda arn: iam.document([*iam.logs_write_statements(arn, sid), *extra]))
