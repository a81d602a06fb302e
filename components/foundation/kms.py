"""Customer-managed KMS keys: one helper, so every key gets rotation and a reviewed key policy."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import stateful_options


def root_statement(account_id: str) -> dict[str, Any]:
    """The AWS default statement: the account (through IAM policies) administers the key."""
    return {
        "Sid": "EnableIamPolicies",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def logs_service_statement(account_id: str, region: str) -> dict[str, Any]:
    """Lets CloudWatch Logs use the key, only for this account's log groups in this region."""
    return {
        "Sid": "AllowCloudWatchLogs",
        "Effect": "Allow",
        "Principal": {"Service": f"logs.{region}.amazonaws.com"},
        "Action": ["kms:Decrypt*", "kms:Describe*", "kms:Encrypt*", "kms:GenerateDataKey*", "kms:ReEncrypt*"],
        "Resource": "*",
        "Condition": {
            "ArnLike": {
                "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account_id}:log-group:*"
            }
        },
    }


def service_statement(sid: str, service: str, account_id: str) -> dict[str, Any]:
    """Lets an AWS service principal (SNS publishers such as CloudWatch alarms) use the key."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }


def autoscaling_statements(account_id: str) -> list[dict[str, Any]]:
    """EC2 Auto Scaling launches nodes with encrypted volumes through its service-linked role,
    whose policies cannot be edited, so the key policy must admit it."""
    slr = f"arn:aws:iam::{account_id}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
    return [
        {
            "Sid": "AllowAutoScalingUse",
            "Effect": "Allow",
            "Principal": {"AWS": slr},
            "Action": [
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKey*",
                "kms:ReEncrypt*",
            ],
            "Resource": "*",
        },
        {
            "Sid": "AllowAutoScalingGrants",
            "Effect": "Allow",
            "Principal": {"AWS": slr},
            "Action": "kms:CreateGrant",
            "Resource": "*",
            "Condition": {"Bool": {"kms:GrantIsForAWSResource": True}},
        },
    ]


def key_policy(statements: Sequence[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


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
