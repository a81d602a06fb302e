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
