"""IAM policy documents: the only place that writes IAM JSON.

Builders are pure functions over plain strings, so tests can call them directly and components call
them inside ``Output.apply`` once ARNs are known. Documents are serialised with sorted keys so the
same inputs always give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

Statement = dict[str, Any]

POD_IDENTITY_PRINCIPAL = "pods.eks.amazonaws.com"


def statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str] | str,
    *,
    effect: str = "Allow",
    conditions: Mapping[str, Mapping[str, Any]] | None = None,
) -> Statement:
    result: Statement = {
        "Sid": sid,
        "Effect": effect,
        "Action": sorted(actions),
        "Resource": [resources] if isinstance(resources, str) else list(resources),
    }
    if conditions:
        result["Condition"] = {op: dict(values) for op, values in conditions.items()}
    return result


def document(statements: Sequence[Statement]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def service_trust_policy(
    service: str, *, source_account: str | None = None, tag_session: bool = False
) -> str:
    """Trust policy letting one AWS service principal assume a role (EKS also needs TagSession)."""
    trust: Statement = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["sts:AssumeRole", "sts:TagSession"] if tag_session else ["sts:AssumeRole"],
    }
    if source_account:
        # Confused-deputy guard: only this account's use of the service may assume the role.
        trust["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return json.dumps({"Version": "2012-10-17", "Statement": [trust]}, sort_keys=True)


def pod_identity_trust_policy() -> str:
    """Trust policy for EKS Pod Identity (the agent needs TagSession to add session tags)."""
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": POD_IDENTITY_PRINCIPAL},
        "Action": ["sts:AssumeRole", "sts:TagSession"],
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [trust]}, sort_keys=True)


def _prefix(prefix: str) -> str:
    """Normalise a key prefix to ``models/fraud/`` form; an empty prefix means the whole bucket."""
    cleaned = prefix.strip("/")
    return f"{cleaned}/" if cleaned else ""


def s3_read_statements(bucket_arn: str, prefix: str, kms_key_arn: str | None = None) -> list[Statement]:
    """Read objects under one prefix, and list only that prefix."""
    p = _prefix(prefix)
    result = [
        statement("ReadObjects", ["s3:GetObject", "s3:GetObjectVersion"], f"{bucket_arn}/{p}*"),
        statement(
            "ListPrefix",
            ["s3:ListBucket"],
            bucket_arn,
            conditions={"StringLike": {"s3:prefix": [f"{p}*"]}},
        ),
    ]
    if kms_key_arn:
        result.append(statement("DecryptObjects", ["kms:Decrypt"], kms_key_arn))
    return result


def s3_write_statements(bucket_arn: str, prefix: str, kms_key_arn: str | None = None) -> list[Statement]:
    """Write and delete objects under one prefix (reading is granted separately)."""
    p = _prefix(prefix)
    result = [
        statement(
            "WriteObjects",
            ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
            f"{bucket_arn}/{p}*",
        ),
    ]
    if kms_key_arn:
        result.append(statement("EncryptObjects", ["kms:Encrypt", "kms:GenerateDataKey"], kms_key_arn))
    return result


def s3_prefixes_statements(
    bucket_arn: str, kms_key_arn: str, *, read: Sequence[str], write: Sequence[str] = ()
) -> list[Statement]:
    """Read under each ``read`` prefix, read and write under each ``write`` prefix, nothing else in
    the bucket; the key's decrypt (and encrypt, with a write) once. Sids are numbered per prefix, as
    one policy may not repeat a Sid."""
    result: list[Statement] = []
    for i, prefix in enumerate([*read, *write]):
        granted = s3_read_statements(bucket_arn, prefix)
        if i >= len(read):
            granted += s3_write_statements(bucket_arn, prefix)
        result += [{**s, "Sid": f"{s['Sid']}{i}"} for s in granted]
    result.append(statement("DecryptObjects", ["kms:Decrypt"], kms_key_arn))
    if write:
        result.append(statement("EncryptObjects", ["kms:Encrypt", "kms:GenerateDataKey"], kms_key_arn))
    return result


ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")
ECR_PUSH_ACTIONS = (
    "ecr:CompleteLayerUpload",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)


def ecr_pull_statements(repository_arns: Sequence[str], kms_key_arn: str | None = None) -> list[Statement]:
    """Pull images from the given repositories only.

    ``ecr:GetAuthorizationToken`` has no resource-level permissions in AWS, so it is the one action
    granted on ``*``; it is read-only and lets the caller do nothing without the pull actions.
    """
    result = [
        statement("PullImages", ECR_PULL_ACTIONS, list(repository_arns)),
        statement("RegistryLogin", ["ecr:GetAuthorizationToken"], "*"),
    ]
    if kms_key_arn:
        result.append(statement("DecryptLayers", ["kms:Decrypt"], kms_key_arn))
    return result


def ecr_push_statements(repository_arns: Sequence[str], kms_key_arn: str | None = None) -> list[Statement]:
    result = [statement("PushImages", (*ECR_PULL_ACTIONS, *ECR_PUSH_ACTIONS), list(repository_arns))]
    result.append(statement("RegistryLogin", ["ecr:GetAuthorizationToken"], "*"))
    if kms_key_arn:
        result.append(
            statement("EncryptLayers", ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], kms_key_arn)
        )
    return result


def secrets_read_statements(secret_arn_patterns: Sequence[str], kms_key_arn: str) -> list[Statement]:
    """Read Secrets Manager secret values matching the given ARN patterns."""
    return [
        statement(
            "ReadSecrets",
            ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
            list(secret_arn_patterns),
        ),
        statement("DecryptSecrets", ["kms:Decrypt"], kms_key_arn),
    ]


def repository_pull_policy(principal_arns: Sequence[str]) -> str:
    """ECR repository policy: only the listed roles may pull."""
    stmt = {
        "Sid": "AllowPullFromGrantedRoles",
        "Effect": "Allow",
        "Principal": {"AWS": sorted(principal_arns)},
        "Action": sorted(ECR_PULL_ACTIONS),
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [stmt]}, sort_keys=True)


DENY_INSECURE_TRANSPORT_SID = "DenyInsecureTransport"


def deny_insecure_transport(bucket_arn: str) -> Statement:
    """The bucket-policy statement that refuses every request not made over TLS."""
    return {
        "Sid": DENY_INSECURE_TRANSPORT_SID,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def denies_insecure_transport(statement: Mapping[str, Any]) -> bool:
    """Whether a policy statement (any Sid, any spelling of false) refuses non-TLS requests."""
    condition = statement.get("Condition")
    secure = condition.get("Bool", {}).get("aws:SecureTransport") if isinstance(condition, Mapping) else None
    return statement.get("Effect") == "Deny" and str(secure).lower() == "false"


def logs_write_statements(log_group_arn: str, sid: str = "WriteLogEvents") -> list[Statement]:
    """Create streams in and put events to one log group (its streams are ``<arn>:*``)."""
    return [
        statement(
            sid,
            ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
            [log_group_arn, f"{log_group_arn}:*"],
        )
    ]


# --- resource policies: KMS keys, buckets, topics ------------------------------------------------


def kms_root_statement(account_id: str) -> Statement:
    """The AWS default statement: the account (through IAM policies) administers the key."""
    return {
        "Sid": "EnableIamPolicies",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def kms_logs_statement(account_id: str, region: str) -> Statement:
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


def kms_service_statement(sid: str, service: str, account_id: str) -> Statement:
    """Lets an AWS service principal (SNS publishers such as CloudWatch alarms) use the key."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
    }


def kms_cloudtrail_statements(account_id: str, trail_arn: str) -> list[Statement]:
    """Lets one CloudTrail trail encrypt its log files with the key (and read the key's settings)."""
    return [
        {
            "Sid": "CloudTrailEncryptLogs",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceArn": trail_arn},
                "StringLike": {
                    "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account_id}:trail/*"
                },
            },
        },
        {
            "Sid": "CloudTrailDescribeKey",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
    ]


def kms_autoscaling_statements(account_id: str) -> list[Statement]:
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


def s3_kms_only_bucket_policy(bucket_arn: str, kms_key_arn: str) -> str:
    """Deny anything over plain HTTP, and any upload that asks for other encryption than this key."""
    statements = [
        deny_insecure_transport(bucket_arn),
        {
            "Sid": "DenyUnencryptedPuts",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            # Uploads without the header get the bucket's default (this key); explicit other choices are refused.
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                "Null": {"s3:x-amz-server-side-encryption": "false"},
            },
        },
        {
            "Sid": "DenyOtherKmsKeys",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:PutObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": {
                "StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn},
                "Null": {"s3:x-amz-server-side-encryption-aws-kms-key-id": "false"},
            },
        },
    ]
    return document(statements)


def s3_access_log_bucket_policy(log_bucket_arn: str, source_bucket_arn: str, account_id: str) -> str:
    statements = [
        {
            "Sid": "AllowServerAccessLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"{log_bucket_arn}/*",
            "Condition": {
                "ArnLike": {"aws:SourceArn": source_bucket_arn},
                "StringEquals": {"aws:SourceAccount": account_id},
            },
        },
        deny_insecure_transport(log_bucket_arn),
    ]
    return document(statements)


def sns_alert_topic_policy(topic_arn: str, account_id: str) -> str:
    """CloudWatch alarms and AWS Budgets of this account may publish; nobody else."""
    statements = [
        {
            "Sid": "AllowAccountServices",
            "Effect": "Allow",
            "Principal": {"Service": ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]},
            "Action": "sns:Publish",
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
        }
    ]
    return document(statements)
