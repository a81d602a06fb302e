"""``ArtifactStore``: the S3 bucket for model artifacts, datasets and MLflow runs.

Layout by convention: ``models/<team>/<model>/``, ``datasets/<team>/``, ``mlflow/``. Access is
granted per prefix with ``grant_read`` and ``grant_write`` (or ``grants`` in the spec); nothing else
reads or writes it.

Example::

    store = ArtifactStore("artifacts", ArtifactStoreSpec(noncurrent_version_expiration_days=90), context)
    store.grant_read(role, "models/fraud/")
    store.ref  # ArtifactsRef: bucket and key for MLflow and the model endpoints
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import StrEnum

import pulumi
import pulumi_aws as aws

from mlops_platform.components.data.buckets import (
    access_log_bucket,
    lifecycle_rule,
    log_access,
    platform_bucket,
)
from mlops_platform.components.foundation import kms
from mlops_platform.components.foundation.pod_identity import Grantee, grantee
from mlops_platform.components.refs import ArtifactsRef
from mlops_platform.components.support import iam
from mlops_platform.components.support.aws import region_problem, role_arn_problem
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment, stateful_options
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import MODELS_PURPOSE_TAG, with_tags
from mlops_platform.components.support.validation import Problem, raise_if_any

_PREFIX = re.compile(r"^([a-z0-9][a-z0-9._-]*/)+$")


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    READWRITE = "readwrite"


@spec
class ArtifactGrant:
    """A role given access to one prefix of the bucket."""

    role_arn: str
    """IAM role to grant (a team's CI, a training job)."""
    prefix: str
    """Key prefix, ending in '/', e.g. models/risk/."""
    access: Access = Access.READ
    """`read`, `write` or `readwrite`. Default: `read`."""

    def problems(self) -> list[Problem]:
        found = [p for p in [role_arn_problem("role_arn", self.role_arn)] if p]
        if not _PREFIX.match(self.prefix):
            found.append(prefix_problem(self.prefix, "models/risk/"))
        return found


def prefix_problem(prefix: str, example: str, field: str = "prefix") -> Problem:
    return Problem(field, f"must be a key prefix ending in '/', such as {example} (got {prefix!r})")


def store_prefix_problems(field: str, prefix: str, example: str) -> list[Problem]:
    """A prefix inside the artifact store, as workloads that read or write it name it: no bucket, no
    URI, no path outside it."""
    if "://" in prefix or prefix.startswith("/") or ".." in prefix.split("/"):
        return [
            Problem(
                field,
                f"must be a key prefix inside the artifact store, such as {example}; a URI or a path "
                f"outside it cannot be granted (got {prefix!r})",
            )
        ]
    return [] if _PREFIX.match(prefix) else [prefix_problem(prefix, example, field)]


@spec
class ArtifactStoreSpec:
    """The artifact bucket (models, datasets, MLflow runs)."""

    noncurrent_version_expiration_days: int = 90
    """Days an overwritten or deleted object version is kept. Default: 90."""
    abort_incomplete_multipart_days: int = 7
    """Days before an unfinished multipart upload is aborted. Default: 7."""
    captures_expiration_days: int = 90
    """Days captured predictions (``captures/``, model monitoring) are kept. Default: 90."""
    intelligent_tiering_after_days: int | None = None
    """Move objects to Intelligent-Tiering after this many days; null keeps them in Standard.
    Default: off."""
    access_log_retention_days: int = 365
    """Days S3 server access logs are kept. Default: 365."""
    force_destroy: bool = False
    """Let ``pulumi destroy`` delete a bucket that still holds objects. Default: off; only dev allows it."""
    replication_region: str | None = None
    """Replicate every object to a bucket in this region (a second key encrypts it). Default: off."""
    grants: Sequence[ArtifactGrant] = ()
    """Roles given read or write access to a prefix (e.g. a team's CI to models/<team>/). Default: none."""

    def problems(self, environment: Environment) -> list[Problem]:
        found = []
        for name in (
            "noncurrent_version_expiration_days",
            "abort_incomplete_multipart_days",
            "access_log_retention_days",
            "captures_expiration_days",
        ):
            if not 1 <= getattr(self, name) <= 36500:
                found.append(Problem(name, f"must be between 1 and 36500 (got {getattr(self, name)})"))
        if (
            self.intelligent_tiering_after_days is not None
            and not 0 <= self.intelligent_tiering_after_days <= 36500
        ):
            found.append(
                Problem(
                    "intelligent_tiering_after_days",
                    f"must be between 0 and 36500 (got {self.intelligent_tiering_after_days})",
                )
            )
        if self.force_destroy and environment is not Environment.DEV:
            found.append(
                Problem(
                    "force_destroy",
                    f"is only allowed in dev; {environment.value} data must survive a destroy",
                )
            )
        found += [p for p in [region_problem("replication_region", self.replication_region)] if p]
        for i, grant in enumerate(self.grants):
            found += [p.nested(f"grants[{i}]") for p in grant.problems()]
        return found


class ArtifactStore(PlatformComponent):
    """A versioned, SSE-KMS bucket with a full public-access block, a TLS-only policy, lifecycle
    rules, server access logs to a separate bucket and optional cross-region replication."""

    bucket_name: pulumi.Output[str]
    """Physical name of the artifact bucket."""
    bucket_arn: pulumi.Output[str]
    """ARN of the artifact bucket."""
    kms_key_arn: pulumi.Output[str]
    """Key that encrypts the artifact bucket."""
    log_bucket_name: pulumi.Output[str]
    """Bucket receiving the server access logs."""
    replica_bucket_arn: pulumi.Output[str] | None
    """ARN of the replica bucket, when replication is on."""

    ref: ArtifactsRef
    """The bucket and its key, for MLflow and model endpoints."""

    def __init__(
        self,
        name: str,
        spec: ArtifactStoreSpec,
        context: StackContext,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__(
            "mlops:artifact_store:ArtifactStore",
            name,
            "ArtifactStoreSpec",
            [*spec.problems(context.environment), *context.problems()],
            opts,
        )
        self._prefix = name
        self._spec = spec
        self._environment = context.environment
        child = self.child
        stateful = stateful_options(context.environment, child)
        account_id = self.account_id
        tags = dict(context.tags)

        key = kms.customer_managed_key(
            f"{name}-key",
            context,
            description=f"Encrypts the {name} bucket",
            opts=child,
        )
        log_bucket = access_log_bucket(
            f"{name}-logs",
            tags=tags,
            retention_days=spec.access_log_retention_days,
            force_destroy=spec.force_destroy,
            opts=stateful,
            controls_opts=child,
        )
        bucket = self._bucket(
            f"{name}-bucket",
            with_tags(tags, **dict([MODELS_PURPOSE_TAG])),
            encryption={"sse_algorithm": "aws:kms", "kms_master_key_id": key.arn},
            lifecycle=self._lifecycle_rules(spec),
            opts=stateful,
        )
        log_access(
            bucket,
            log_bucket,
            policy_name=f"{name}-logs-policy",
            logging_name=f"{name}-access-logging",
            account_id=account_id,
            opts=child,
        )
        self._kms_only_policy(f"{name}-policy", bucket, key.arn)
        self.replica_bucket_arn = None
        if spec.replication_region:
            self.replica_bucket_arn = self._replicate(
                name, spec.replication_region, bucket, key, tags, account_id
            )

        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.kms_key_arn = key.arn
        self.log_bucket_name = log_bucket.bucket
        self.ref = ArtifactsRef(
            bucket_name=self.bucket_name, bucket_arn=self.bucket_arn, kms_key_arn=self.kms_key_arn
        )
        for grant in spec.grants:
            if grant.access in (Access.READ, Access.READWRITE):
                self.grant_read(grant.role_arn, grant.prefix)
            if grant.access in (Access.WRITE, Access.READWRITE):
                self.grant_write(grant.role_arn, grant.prefix)
        self.register_outputs(
            {"bucketName": self.bucket_name, "bucketArn": self.bucket_arn, "kmsKeyArn": self.kms_key_arn}
        )

    def _bucket(
        self,
        name: str,
        tags: Mapping[str, str],
        *,
        encryption: Mapping[str, pulumi.Input[str]],
        lifecycle: list[dict],
        opts: pulumi.ResourceOptions,
        region: str | None = None,
    ) -> aws.s3.Bucket:
        return platform_bucket(
            name,
            tags=tags,
            encryption=encryption,
            lifecycle=lifecycle,
            force_destroy=self._spec.force_destroy,
            opts=opts,
            controls_opts=self.child,
            region=region,
        )

    def _kms_only_policy(
        self, name: str, bucket: aws.s3.Bucket, key_arn: pulumi.Input[str], **where: str
    ) -> aws.s3.BucketPolicy:
        """TLS only, and objects encrypted with this key only (``iam.s3_kms_only_bucket_policy``)."""
        policy = pulumi.Output.all(bucket.arn, key_arn).apply(
            lambda a: iam.s3_kms_only_bucket_policy(a[0], a[1])
        )
        return aws.s3.BucketPolicy(name, bucket=bucket.id, policy=policy, opts=self.child, **where)

    def _lifecycle_rules(self, spec: ArtifactStoreSpec) -> list[dict]:
        rules = [
            lifecycle_rule(
                "expire-noncurrent-versions",
                noncurrent_version_expiration={"noncurrent_days": spec.noncurrent_version_expiration_days},
            ),
            lifecycle_rule(
                "abort-incomplete-uploads",
                abort_incomplete_multipart_upload={
                    "days_after_initiation": spec.abort_incomplete_multipart_days
                },
            ),
        ]
        if spec.intelligent_tiering_after_days is not None:
            transition = {"days": spec.intelligent_tiering_after_days, "storage_class": "INTELLIGENT_TIERING"}
            rules.append(lifecycle_rule("intelligent-tiering", transitions=[transition]))
        # Captured predictions hold request features: kept no longer than monitoring needs them.
        for prefix in ("captures/", "captures-errors/"):
            rules.append(
                lifecycle_rule(
                    f"expire-{prefix.rstrip('/')}",
                    expiration={"days": spec.captures_expiration_days},
                    prefix=prefix,
                )
            )
        return rules

    def _replicate(
        self,
        name: str,
        region: str,
        source: aws.s3.Bucket,
        source_key: aws.kms.Key,
        tags: Mapping[str, str],
        account_id: str,
    ) -> pulumi.Output[str]:
        child = self.child
        replica_key = aws.kms.Key(
            f"{name}-replica-key",
            description=f"Encrypts the {name} replica",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            region=region,
            tags=dict(tags),
            opts=stateful_options(self._environment, child),
        )
        replica = self._bucket(
            f"{name}-replica",
            tags,
            encryption={"sse_algorithm": "aws:kms", "kms_master_key_id": replica_key.arn},
            lifecycle=[
                lifecycle_rule(
                    "expire-noncurrent-versions",
                    noncurrent_version_expiration={
                        "noncurrent_days": self._spec.noncurrent_version_expiration_days
                    },
                )
            ],
            opts=stateful_options(self._environment, child),
            region=region,
        )
        self._kms_only_policy(f"{name}-replica-policy", replica, replica_key.arn, region=region)
        role = aws.iam.Role(
            f"{name}-replication-role",
            assume_role_policy=iam.service_trust_policy("s3.amazonaws.com", source_account=account_id),
            tags=dict(tags),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-replication-policy",
            role=role.id,
            policy=pulumi.Output.all(source.arn, replica.arn, source_key.arn, replica_key.arn).apply(
                lambda a: iam.document(
                    [
                        iam.statement(
                            "ReadReplicationConfig", ["s3:GetReplicationConfiguration", "s3:ListBucket"], a[0]
                        ),
                        iam.statement(
                            "ReadSourceVersions",
                            [
                                "s3:GetObjectVersionAcl",
                                "s3:GetObjectVersionForReplication",
                                "s3:GetObjectVersionTagging",
                            ],
                            f"{a[0]}/*",
                        ),
                        iam.statement(
                            "WriteReplicas",
                            ["s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"],
                            f"{a[1]}/*",
                        ),
                        iam.statement("DecryptSource", ["kms:Decrypt"], a[2]),
                        iam.statement("EncryptReplica", ["kms:Encrypt", "kms:GenerateDataKey"], a[3]),
                    ]
                )
            ),
            opts=child,
        )
        aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=source.id,
            role=role.arn,
            rules=[
                {
                    "id": "replicate-everything",
                    "status": "Enabled",
                    "filter": {},
                    "delete_marker_replication": {"status": "Enabled"},
                    "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                    "destination": {
                        "bucket": replica.arn,
                        "storage_class": "STANDARD_IA",
                        "encryption_configuration": {"replica_kms_key_id": replica_key.arn},
                    },
                }
            ],
            opts=child,
        )
        return replica.arn

    def grant_read(self, role: Grantee, prefix: str) -> aws.iam.RolePolicy:
        """Let ``role`` read (get and list) objects under ``prefix`` only."""
        return self._grant("read", role, prefix, iam.s3_read_statements)

    def grant_write(self, role: Grantee, prefix: str) -> aws.iam.RolePolicy:
        """Let ``role`` put and delete objects under ``prefix`` only (reading needs ``grant_read``)."""
        return self._grant("write", role, prefix, iam.s3_write_statements)

    def _grant(self, verb: str, role: Grantee, prefix: str, statements) -> aws.iam.RolePolicy:
        if not _PREFIX.match(prefix):
            raise_if_any(f"grant_{verb} on {self._prefix!r}", [prefix_problem(prefix, "'models/fraud/'")])
        role_id, role_slug = grantee(role)
        slug = prefix.strip("/").replace("/", "-")
        return aws.iam.RolePolicy(
            f"{self._prefix}-{verb}-{role_slug}-{slug}",
            role=role_id,
            policy=pulumi.Output.all(self.bucket_arn, self.kms_key_arn).apply(
                lambda a: iam.document(statements(a[0], prefix, a[1]))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
