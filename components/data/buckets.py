"""The S3 bucket every platform bucket is: one helper, so the controls cannot drift between them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_aws as aws


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
