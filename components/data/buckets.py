"""The S3 bucket every platform bucket is: one helper, so the controls cannot drift between them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_platform.components.support import iam
from mlops_platform.components.support.tagging import ACCESS_LOG_PURPOSE_TAG, with_tags


def lifecycle_rule(rule_id: str, *, prefix: str | None = None, **action: Any) -> dict[str, Any]:
    """An enabled lifecycle rule over the whole bucket, or over one key prefix."""
    where = {"prefix": prefix} if prefix else {}
    return {"id": rule_id, "status": "Enabled", "filter": where, **action}


def platform_bucket(
    name: str,
    *,
    tags: Mapping[str, str],
    encryption: Mapping[str, pulumi.Input[str]],
    lifecycle: list[dict],
    force_destroy: bool,
    opts: pulumi.ResourceOptions,
    controls_opts: pulumi.ResourceOptions,
    region: str | None = None,
    object_lock: bool = False,
) -> aws.s3.Bucket:
    """A bucket owner-enforced, never public, encrypted, versioned, with lifecycle rules.

    ``opts`` protect the bucket (stateful options); ``controls_opts`` parent its settings;
    ``object_lock`` can only be chosen at creation (the audit bucket's)."""
    where = {"region": region} if region else {}
    lock = {"object_lock_enabled": True} if object_lock else {}
    bucket = aws.s3.Bucket(name, force_destroy=force_destroy, tags=dict(tags), opts=opts, **where, **lock)
    controls: list[tuple[Any, str, dict[str, Any]]] = [
        (
            aws.s3.BucketOwnershipControls,
            "ownership",
            {"rule": {"object_ownership": "BucketOwnerEnforced"}},
        ),
        (
            aws.s3.BucketPublicAccessBlock,
            "public-access-block",
            dict.fromkeys(
                ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"),
                True,
            ),
        ),
        (
            aws.s3.BucketServerSideEncryptionConfiguration,
            "encryption",
            # Bucket keys cut KMS requests (and their cost) by ~99% for busy buckets.
            {
                "rules": [
                    {"apply_server_side_encryption_by_default": dict(encryption), "bucket_key_enabled": True}
                ]
            },
        ),
        (aws.s3.BucketVersioning, "versioning", {"versioning_configuration": {"status": "Enabled"}}),
        (aws.s3.BucketLifecycleConfiguration, "lifecycle", {"rules": lifecycle}),
    ]
    for resource, role, inputs in controls:
        resource(f"{name}-{role}", bucket=bucket.id, opts=controls_opts, **where, **inputs)
    return bucket


def access_log_bucket(
    name: str,
    *,
    tags: Mapping[str, str],
    retention_days: int,
    force_destroy: bool,
    opts: pulumi.ResourceOptions,
    controls_opts: pulumi.ResourceOptions,
) -> aws.s3.Bucket:
    """A bucket for S3 server access logs: SSE-S3 (server access logging cannot write SSE-KMS),
    tagged as access logs (the cost model and the bucket policies skip it), logs expire."""
    return platform_bucket(
        name,
        tags=with_tags(tags, **dict([ACCESS_LOG_PURPOSE_TAG])),
        encryption={"sse_algorithm": "AES256"},
        lifecycle=[
            lifecycle_rule("expire-access-logs", expiration={"days": retention_days}),
            lifecycle_rule(
                "expire-noncurrent-versions", noncurrent_version_expiration={"noncurrent_days": 1}
            ),
        ],
        force_destroy=force_destroy,
        opts=opts,
        controls_opts=controls_opts,
    )


def log_access(
    source: aws.s3.Bucket,
    log_bucket: aws.s3.Bucket,
    *,
    policy_name: str,
    logging_name: str,
    account_id: str,
    opts: pulumi.ResourceOptions,
) -> None:
    """Server access logs of ``source`` into ``log_bucket``, which admits them from that bucket only."""
    aws.s3.BucketPolicy(
        policy_name,
        bucket=log_bucket.id,
        policy=pulumi.Output.all(log_bucket.arn, source.arn).apply(
            lambda arns: iam.s3_access_log_bucket_policy(arns[0], arns[1], account_id)
        ),
        opts=opts,
    )
    aws.s3.BucketLogging(
        logging_name,
        bucket=source.id,
        target_bucket=log_bucket.id,
        target_prefix="s3-access/",
        target_object_key_format={"partitioned_prefix": {"partition_date_source": "EventTime"}},
        opts=opts,
    )
