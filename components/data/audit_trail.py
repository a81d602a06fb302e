"""``AuditTrail``: who changed what, kept where nobody can change it back.

A multi-region CloudTrail trail with log file validation, encrypted with its own key, records every
management event and the S3 data events (writes, and reads if asked) on the model prefixes of the
artifact store. It writes to an audit bucket with S3 Object Lock in compliance mode, versioning, a
TLS-only policy that denies deletes to everyone, and server access logs to a bucket of its own.
docs/runbooks/who-changed-this-artifact.md shows how to query it.

Example::

    AuditTrail("audit", AuditTrailSpec(), context, artifacts=artifacts.ref, opts=aws_only)
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from mlops_platform.components.data.buckets import (
    access_log_bucket,
    log_access,
    platform_bucket,
)
from mlops_platform.components.foundation.kms import customer_managed_key
from mlops_platform.components.refs import ArtifactsRef
from mlops_platform.components.support import iam
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment, stateful_options
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, range_problems

DEFAULT_RETENTION_DAYS = {Environment.DEV: 30, Environment.STAGE: 90, Environment.PROD: 365}
PROD_MINIMUM_RETENTION_DAYS = 365
MODEL_PREFIXES = ("models/", "mlflow/")
"""Artifact-store prefixes that hold models: the endpoints' and MLflow's (``MlflowSpec``)."""
DELETE_ACTIONS = (
    "s3:DeleteBucket",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:PutLifecycleConfiguration",
)
"""What nobody may do to the audit bucket; Object Lock already refuses deleting a locked version."""


@spec
class AuditTrailSpec:
    """The environment's audit trail."""

    retention_days: int | None = None
    """Days each audit log object is locked (Object Lock, compliance mode: not even the root user can
    delete it sooner) and then kept. Default: 30 in dev, 90 in stage, 365 in prod (the minimum there)."""
    record_reads: bool = False
    """Record reads of model artifacts too, not only writes and deletes. Default: off (reads are
    most of the volume, and data events are priced per event)."""
    model_prefixes: Sequence[str] = MODEL_PREFIXES
    """Prefixes of the artifact store whose objects' data events are recorded. Default: models/ and mlflow/."""

    def retention_in(self, environment: Environment) -> int:
        return self.retention_days if self.retention_days is not None else DEFAULT_RETENTION_DAYS[environment]

    def problems(self, environment: Environment) -> list[Problem]:
        found = range_problems("retention_days", self.retention_in(environment), 1, 36500)
        if environment is Environment.PROD and self.retention_in(environment) < PROD_MINIMUM_RETENTION_DAYS:
            found.append(
                Problem(
                    "retention_days",
                    f"must be at least {PROD_MINIMUM_RETENTION_DAYS} in prod (got {self.retention_days})",
                )
            )
        if not self.model_prefixes:
            found.append(Problem("model_prefixes", "must name at least one prefix, such as models/"))
        for i, prefix in enumerate(self.model_prefixes):
            if not prefix.endswith("/") or prefix.startswith("/"):
                found.append(Problem(f"model_prefixes[{i}]", f"must look like models/ (got {prefix!r})"))
        return found


def audit_bucket_policy(bucket_arn: str, trail_arn: str, account_id: str) -> str:
    """CloudTrail of this trail only may write; TLS only; deletes denied to everyone."""
    from_trail = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return iam.document(
        [
            {
                "Sid": "CloudTrailAclCheck",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:GetBucketAcl",
                "Resource": bucket_arn,
                "Condition": from_trail,
            },
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/AWSLogs/{account_id}/*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn, "s3:x-amz-acl": "bucket-owner-full-control"}
                },
            },
            {
                "Sid": "NoDeletesForAnyone",
                "Effect": "Deny",
                "Principal": "*",
                "Action": sorted(DELETE_ACTIONS),
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
            },
            iam.deny_insecure_transport(bucket_arn),
        ]
    )


class AuditTrail(PlatformComponent):
    """The trail, its key, the Object Lock audit bucket and that bucket's access-log bucket."""

    trail_arn: pulumi.Output[str]
    """ARN of the CloudTrail trail (``aws cloudtrail validate-logs --trail-arn`` proves its files are
    intact)."""
    bucket_name: pulumi.Output[str]
    """The audit bucket: Object Lock in compliance mode, so no log it holds can be deleted or
    overwritten before its retention ends."""

    def __init__(
        self,
        name: str,
        spec: AuditTrailSpec,
        context: StackContext,
        *,
        artifacts: ArtifactsRef,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``artifacts``: the bucket whose model prefixes' data events are recorded."""
        problems = [*spec.problems(context.environment), *context.problems()]
        super().__init__("mlops:audit_trail:AuditTrail", name, "AuditTrailSpec", problems, opts)
        child = self.child
        stateful = stateful_options(context.environment, child)
        account_id, region = self.account_id, self.region
        tags = dict(context.tags)
        days = spec.retention_in(context.environment)
        trail_name = f"{context.name_prefix}-audit"
        trail_arn = f"arn:aws:cloudtrail:{region}:{account_id}:trail/{trail_name}"
        key = customer_managed_key(
            f"{name}-key",
            context,
            description=f"Encrypts the {trail_name} CloudTrail logs",
            policy=iam.document(
                [iam.kms_root_statement(account_id), *iam.kms_cloudtrail_statements(account_id, trail_arn)]
            ),
            opts=stateful,
        )
        keep = [
            {"id": "expire-after-lock", "status": "Enabled", "filter": {}, "expiration": {"days": days + 1}}
        ]
        bucket = platform_bucket(
            f"{name}-bucket",
            tags=tags,
            encryption={"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
            lifecycle=keep,
            force_destroy=False,
            opts=stateful,
            controls_opts=child,
            object_lock=True,
        )
        aws.s3.BucketObjectLockConfiguration(
            f"{name}-object-lock",
            bucket=bucket.id,
            object_lock_enabled="Enabled",
            rule={"default_retention": {"mode": "COMPLIANCE", "days": days}},
            opts=child,
        )
        access_logs = access_log_bucket(
            f"{name}-access-logs",
            tags=tags,
            retention_days=days,
            force_destroy=False,
            opts=stateful,
            controls_opts=child,
        )
        log_access(
            bucket,
            access_logs,
            policy_name=f"{name}-access-logs-policy",
            logging_name=f"{name}-access-logging",
            account_id=account_id,
            opts=child,
        )
        policy = aws.s3.BucketPolicy(
            f"{name}-bucket-policy",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: audit_bucket_policy(arn, trail_arn, account_id)),
            opts=child,
        )
        data_events = [
            {"field": "eventCategory", "equals": ["Data"]},
            {"field": "resources.type", "equals": ["AWS::S3::Object"]},
            {
                "field": "resources.ARN",
                "starts_withs": pulumi.Output.from_input(artifacts.bucket_arn).apply(
                    lambda arn: [f"{arn}/{prefix}" for prefix in spec.model_prefixes]
                ),
            },
        ]
        if not spec.record_reads:
            data_events.append({"field": "readOnly", "equals": ["false"]})
        trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=bucket.id,
            kms_key_id=key.arn,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_log_file_validation=True,
            advanced_event_selectors=[
                {
                    "name": "Management events",
                    "field_selectors": [{"field": "eventCategory", "equals": ["Management"]}],
                },
                {"name": "Model artifact changes", "field_selectors": data_events},
            ],
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        self.trail_arn, self.bucket_name = trail.arn, bucket.bucket
        self.register_outputs({"trailArn": trail.arn, "bucketName": bucket.bucket})
