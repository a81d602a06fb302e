"""IAM policy statements in plain words, for readers who do not read IAM: what an identity may do, on
what. Unknown actions keep their IAM names; nothing is left out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ACTION_WORDS = {
    "s3:GetObject": "read objects",
    "s3:GetObjectVersion": "read earlier versions of objects",
    "s3:ListBucket": "list object names",
    "s3:PutObject": "write objects",
    "s3:DeleteObject": "delete objects",
    "s3:AbortMultipartUpload": "abort uploads",
    "kms:Decrypt": "decrypt data",
    "kms:GenerateDataKey": "encrypt new data",
    "kms:GetPublicKey": "read the public key",
    "kms:DescribeKey": "describe the key",
    "kms:Sign": "sign",
    "ecr:BatchGetImage": "pull images",
    "ecr:GetDownloadUrlForLayer": "download image layers",
    "ecr:BatchCheckLayerAvailability": "check image layers",
    "ecr:GetAuthorizationToken": "log in to the registry",
    "secretsmanager:GetSecretValue": "read secret values",
    "secretsmanager:DescribeSecret": "describe secrets",
}


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def resource_words(arn: str, conditions: Mapping[str, Any]) -> str:
    if arn == "*":
        return "any resource (the action has no resource-level permissions in AWS)"
    parts = arn.split(":", 5)
    service, rest = (parts[2], parts[5]) if len(parts) == 6 else ("", arn)
    if service == "s3":
        bucket, _, key = rest.partition("/")
        if key:
            return f"objects under s3://{bucket}/{key.rstrip('*')}"
        prefixes = [p for values in conditions.values() for p in _as_list(values.get("s3:prefix", []))]
        shown = ", ".join(p.rstrip("*") for p in prefixes)
        return f"bucket {bucket}" + (f", names under {shown} only" if shown else "")
    if service == "kms":
        return f"KMS key {rest.removeprefix('key/')} ({parts[3]})"
    if service == "ecr":
        return f"ECR repository {rest.removeprefix('repository/')}"
    if service == "secretsmanager":
        return f"secrets {rest.removeprefix('secret:')}"
    return arn


def statement_words(statement: Mapping[str, Any]) -> dict[str, Any]:
    actions = sorted(_as_list(statement.get("Action", [])))
    words = [ACTION_WORDS.get(a, a) for a in actions]
    conditions = statement.get("Condition") or {}
    resources = [resource_words(r, conditions) for r in _as_list(statement.get("Resource", []))]
    verb = "May" if statement.get("Effect") == "Allow" else "May not"
    return {
        "effect": statement.get("Effect"),
        "actions": actions,
        "resources": _as_list(statement.get("Resource", [])),
        "words": f"{verb} {', '.join(words)} on {'; '.join(resources)}",
    }


def policy_words(documents: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [statement_words(s) for document in documents for s in _as_list(document.get("Statement", []))]
