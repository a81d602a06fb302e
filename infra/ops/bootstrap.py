"""``blueprint bootstrap``: Pulumi's self-managed state backend, as hardened as the platform.

Idempotent: each setting is read first and written only when it differs, so a second run changes
nothing and a weakened bucket is repaired, with every change reported. One customer-managed KMS
key per environment encrypts both the state objects (SSE-KMS) and the stack secrets
(``awskms://`` secrets provider); it rotates yearly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import botocore.exceptions

from mlops_platform.components.support import iam
from mlops_platform.infra.ops.aws_session import error_code, read_optional

PROJECT = "mlops-platform"
STATE_VERSION_DAYS = 90
"""Old state versions are kept this long: enough to roll back a bad update found weeks later."""
TLS_STATEMENT_ID = iam.DENY_INSECURE_TRANSPORT_SID
LIFECYCLE_RULE_ID = "expire-old-state-versions"
TAGS = {"project": PROJECT, "purpose": "pulumi-state", "managed-by": "blueprint-bootstrap"}
"""With ``environment``, the tags of the backend's bucket and key (the cost-allocation view)."""


class BootstrapError(Exception):
    """The backend cannot be set up as asked (e.g. the bucket belongs to another account)."""


@dataclass(frozen=True)
class Backend:
    environment: str
    region: str
    account_id: str
    bucket: str
    alias: str

    @property
    def tags(self) -> dict[str, str]:
        return {**TAGS, "environment": self.environment}

    def commands(self) -> list[str]:
        """How to use the backend: log in to the bucket, and create the stack with the key as its
        secrets provider (self-managed backends name stacks organization/<project>/<stack>)."""
        login = f"s3://{self.bucket}?region={self.region}&awssdk=v2"
        secrets = f"awskms://{self.alias}?region={self.region}"
        stack = f"organization/{PROJECT}/{self.environment}"
        return [f"pulumi login '{login}'", f"pulumi stack init {stack} --secrets-provider '{secrets}'"]


def default_bucket(environment: str, account_id: str, region: str) -> str:
    """Globally unique without coordination: the account and region are part of the name."""
    return f"{PROJECT}-{environment}-state-{account_id}-{region}"


@dataclass
class Plan:
    backend: Backend
    dry_run: bool
    changes: list[str] = field(default_factory=list)
    """What was (or, in a dry run, would be) changed, one line each."""

    def change(self, description: str, apply: Any = None, *args: Any, **kwargs: Any) -> Any:
        self.changes.append(description)
        if not self.dry_run and apply is not None:
            return apply(*args, **kwargs)
        return None


def bootstrap(
    session: Any, environment: str, region: str, *, bucket: str | None = None, dry_run: bool = False
) -> Plan:
    account_id = session.client("sts").get_caller_identity()["Account"]
    backend = Backend(
        environment,
        region,
        account_id,
        bucket or default_bucket(environment, account_id, region),
        f"alias/{PROJECT}-{environment}-state",
    )
    plan = Plan(backend, dry_run)
    key_arn = _ensure_key(session.client("kms", region_name=region), plan)
    _ensure_bucket(session.client("s3", region_name=region), plan, key_arn)
    return plan


def _ensure_key(kms: Any, plan: Plan) -> str:
    alias = plan.backend.alias
    try:
        key_id = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) != "NotFoundException":
            raise
        created = plan.change(
            f"create KMS key {alias} (symmetric, rotation on) for state and stack secrets",
            kms.create_key,
            Description=f"Pulumi state and stack secrets of {PROJECT} {plan.backend.environment}",
            KeyUsage="ENCRYPT_DECRYPT",
            Tags=[{"TagKey": k, "TagValue": v} for k, v in plan.backend.tags.items()],
        )
        if created is None:  # dry run
            return f"arn:aws:kms:{plan.backend.region}:{plan.backend.account_id}:{alias}"
        key_id = created["KeyMetadata"]["KeyId"]
        kms.enable_key_rotation(KeyId=key_id)
        kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        return created["KeyMetadata"]["Arn"]
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    if metadata["KeyState"] != "Enabled":
        raise BootstrapError(
            f"KMS key {alias} ({key_id}) is {metadata['KeyState']}; enable it (or cancel its deletion) first"
        )
    if not kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]:
        plan.change(f"KMS key {alias}: turn on yearly rotation", kms.enable_key_rotation, KeyId=key_id)
    return metadata["Arn"]


def _owned_buckets(s3: Any) -> set[str]:
    names: set[str] = set()
    for page in s3.get_paginator("list_buckets").paginate():
        names |= {b["Name"] for b in page.get("Buckets", [])}
    return names


def _bucket_exists(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
        return True
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            return False
        if error_code(exc) in ("403", "AccessDenied", "Forbidden"):
            return True  # someone else's
        raise


def _ensure_bucket(s3: Any, plan: Plan, key_arn: str) -> None:
    name, region = plan.backend.bucket, plan.backend.region
    if name not in _owned_buckets(s3):
        if _bucket_exists(s3, name):
            raise BootstrapError(
                f"bucket {name} exists but does not belong to account {plan.backend.account_id}; "
                "choose another name with --bucket"
            )
        where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
        plan.change(f"create bucket {name} in {region}", s3.create_bucket, Bucket=name, **where)
        if plan.dry_run:
            plan.changes += [f"bucket {name}: {what}" for what in _settings_summary()]
            return
    _ensure_public_access_block(s3, plan)
    _ensure_ownership(s3, plan)
    _ensure_versioning(s3, plan)
    _ensure_encryption(s3, plan, key_arn)
    _ensure_policy(s3, plan)
    _ensure_lifecycle(s3, plan)
    _ensure_tags(s3, plan)


def _settings_summary() -> list[str]:
    return [
        "block all public access",
        "enforce bucket-owner object ownership (no ACLs)",
        "turn on versioning",
        "encrypt with the KMS key (SSE-KMS, bucket key)",
        "deny requests without TLS",
        f"expire state versions older than {STATE_VERSION_DAYS} days",
        "tag",
    ]


def _ensure_public_access_block(s3: Any, plan: Plan) -> None:
    wanted = dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
    )
    current = read_optional(
        s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration", Bucket=plan.backend.bucket
    )
    found = (current or {}).get("PublicAccessBlockConfiguration", {})
    off = [k for k in wanted if found.get(k) is not True]
    if off:
        plan.change(
            f"bucket {plan.backend.bucket}: block public access ({', '.join(off)} were off)",
            s3.put_public_access_block,
            Bucket=plan.backend.bucket,
            PublicAccessBlockConfiguration=wanted,
        )


def _ensure_ownership(s3: Any, plan: Plan) -> None:
    current = read_optional(
        s3.get_bucket_ownership_controls, "OwnershipControlsNotFoundError", Bucket=plan.backend.bucket
    )
    rules = (current or {}).get("OwnershipControls", {}).get("Rules", [])
    if [r.get("ObjectOwnership") for r in rules] != ["BucketOwnerEnforced"]:
        plan.change(
            f"bucket {plan.backend.bucket}: enforce bucket-owner object ownership (ACLs off)",
            s3.put_bucket_ownership_controls,
            Bucket=plan.backend.bucket,
            OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
        )


def _ensure_versioning(s3: Any, plan: Plan) -> None:
    status = s3.get_bucket_versioning(Bucket=plan.backend.bucket).get("Status", "never enabled")
    if status != "Enabled":
        plan.change(
            f"bucket {plan.backend.bucket}: turn on versioning (was {status})",
            s3.put_bucket_versioning,
            Bucket=plan.backend.bucket,
            VersioningConfiguration={"Status": "Enabled"},
        )


def _ensure_encryption(s3: Any, plan: Plan, key_arn: str) -> None:
    current = read_optional(
        s3.get_bucket_encryption,
        "ServerSideEncryptionConfigurationNotFoundError",
        Bucket=plan.backend.bucket,
    )
    rules = (current or {}).get("ServerSideEncryptionConfiguration", {}).get("Rules", [])
    default = rules[0].get("ApplyServerSideEncryptionByDefault", {}) if rules else {}
    if default.get("SSEAlgorithm") != "aws:kms" or default.get("KMSMasterKeyID") != key_arn:
        was = default.get("SSEAlgorithm", "none")
        plan.change(
            f"bucket {plan.backend.bucket}: encrypt with KMS key {plan.backend.alias} (was {was})",
            s3.put_bucket_encryption,
            Bucket=plan.backend.bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_arn,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )


def tls_statement(bucket: str) -> dict[str, Any]:
    return iam.deny_insecure_transport(f"arn:aws:s3:::{bucket}")


def _ensure_policy(s3: Any, plan: Plan) -> None:
    bucket = plan.backend.bucket
    current = read_optional(s3.get_bucket_policy, "NoSuchBucketPolicy", Bucket=bucket)
    document = json.loads(current["Policy"]) if current else {"Version": "2012-10-17", "Statement": []}
    statements = document.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements)
    wanted = tls_statement(bucket)
    if wanted in statements:
        return
    # Keep every other statement the bucket already has; replace only ours.
    document["Statement"] = [s for s in statements if s.get("Sid") != TLS_STATEMENT_ID] + [wanted]
    plan.change(
        f"bucket {bucket}: deny requests without TLS (bucket policy statement {TLS_STATEMENT_ID})",
        s3.put_bucket_policy,
        Bucket=bucket,
        Policy=json.dumps(document),
    )


def _ensure_lifecycle(s3: Any, plan: Plan) -> None:
    bucket = plan.backend.bucket
    current = read_optional(
        s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration", Bucket=bucket
    )
    rules = list((current or {}).get("Rules", []))
    wanted = {
        "ID": LIFECYCLE_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": STATE_VERSION_DAYS},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
    }
    ours = next((r for r in rules if r.get("ID") == LIFECYCLE_RULE_ID), None)
    if ours is not None and all(ours.get(k) == v for k, v in wanted.items() if k != "Filter"):
        return
    plan.change(
        f"bucket {bucket}: expire state versions older than {STATE_VERSION_DAYS} days (lifecycle rule {LIFECYCLE_RULE_ID})",
        s3.put_bucket_lifecycle_configuration,
        Bucket=bucket,
        LifecycleConfiguration={"Rules": [r for r in rules if r.get("ID") != LIFECYCLE_RULE_ID] + [wanted]},
    )


def _ensure_tags(s3: Any, plan: Plan) -> None:
    bucket = plan.backend.bucket
    current = read_optional(s3.get_bucket_tagging, "NoSuchTagSet", Bucket=bucket)
    tags = {t["Key"]: t["Value"] for t in (current or {}).get("TagSet", [])}
    wanted = plan.backend.tags
    if all(tags.get(k) == v for k, v in wanted.items()):
        return
    merged = {**tags, **wanted}  # keep tags someone else added
    plan.change(
        f"bucket {bucket}: tag {', '.join(f'{k}={v}' for k, v in wanted.items())}",
        s3.put_bucket_tagging,
        Bucket=bucket,
        Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(merged.items())]},
    )
