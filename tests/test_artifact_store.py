"""ArtifactStore: encryption, public access, TLS, lifecycle, logs, replication, grants."""

from __future__ import annotations

import json

import pytest

from mlops_platform.components.data.artifact_store import (
    Access,
    ArtifactGrant,
    ArtifactStore,
    ArtifactStoreSpec,
)
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import TAGS, context, run


def store(environment=Environment.DEV, grants=(), **overrides):
    holder = {}

    def program():
        import pulumi_aws as aws

        s = ArtifactStore("artifacts", ArtifactStoreSpec(**overrides), context(environment))
        role = aws.iam.Role("reader", assume_role_policy="{}", tags=TAGS)
        for verb, prefix in grants:
            getattr(s, f"grant_{verb}")(role, prefix)
        holder["store"] = s

    return run(program).graph


def physical_bucket(graph, logical):
    """The auto-generated bucket name, as the bucket's dependents see it."""
    (versioning,) = for_bucket(graph, "aws:s3/bucketVersioning:BucketVersioning", logical)
    return versioning.inputs["bucket"]


def for_bucket(graph, resource_type, bucket_logical):
    return [r for r in graph.of_type(resource_type) if r.name.startswith(bucket_logical)]


def test_data_bucket_is_kms_encrypted_versioned_private_and_owner_enforced():
    graph = store()
    (encryption,) = for_bucket(
        graph,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "artifacts-bucket",
    )
    rule = encryption.inputs["rules"][0]
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith("arn:aws:kms:")
    assert rule["bucketKeyEnabled"] is True
    (versioning,) = for_bucket(graph, "aws:s3/bucketVersioning:BucketVersioning", "artifacts-bucket")
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}
    for block in graph.of_type("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert all(
            block.inputs[k] is True
            for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
        )
    assert all(
        o.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
        for o in graph.of_type("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    )
    key = graph.find("aws:kms/key:Key", "artifacts-key")
    assert key.inputs["enableKeyRotation"] is True


def test_bucket_policy_denies_plain_http_and_foreign_encryption():
    graph = store()
    policy = json.loads(graph.find("aws:s3/bucketPolicy:BucketPolicy", "artifacts-policy").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    tls = by_sid["DenyInsecureTransport"]
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    unencrypted = by_sid["DenyUnencryptedPuts"]
    assert unencrypted["Effect"] == "Deny" and unencrypted["Action"] == "s3:PutObject"
    assert unencrypted["Condition"]["StringNotEquals"] == {"s3:x-amz-server-side-encryption": "aws:kms"}
    assert by_sid["DenyOtherKmsKeys"]["Condition"]["StringNotEquals"][
        "s3:x-amz-server-side-encryption-aws-kms-key-id"
    ].startswith("arn:aws:kms:")


def test_lifecycle_expires_old_versions_and_aborts_uploads():
    graph = store(noncurrent_version_expiration_days=30, intelligent_tiering_after_days=45)
    rules = {
        r["id"]: r
        for r in graph.find(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "artifacts-bucket-lifecycle"
        ).inputs["rules"]
    }
    assert rules["expire-noncurrent-versions"]["noncurrentVersionExpiration"] == {"noncurrentDays": 30}
    assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}
    assert rules["intelligent-tiering"]["transitions"] == [
        {"days": 45, "storageClass": "INTELLIGENT_TIERING"}
    ]
    default = store().find(
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "artifacts-bucket-lifecycle"
    )
    assert "intelligent-tiering" not in {r["id"] for r in default.inputs["rules"]}


def test_access_logs_go_to_a_separate_sse_s3_bucket():
    graph = store()
    logging = graph.find("aws:s3/bucketLogging:BucketLogging", "artifacts-access-logging")
    log_bucket = graph.find("aws:s3/bucket:Bucket", "artifacts-logs")
    assert logging.inputs["targetBucket"] == physical_bucket(graph, "artifacts-logs")
    assert logging.inputs["bucket"] == physical_bucket(graph, "artifacts-bucket")
    assert log_bucket.inputs["tags"]["mlops-platform.io/purpose"] == "s3-access-logs"
    (encryption,) = for_bucket(
        graph,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "artifacts-logs",
    )
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    policy = json.loads(
        graph.find("aws:s3/bucketPolicy:BucketPolicy", "artifacts-logs-policy").inputs["policy"]
    )
    allow = next(s for s in policy["Statement"] if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


def test_force_destroy_only_when_asked_and_only_in_dev():
    assert (
        store(force_destroy=True).find("aws:s3/bucket:Bucket", "artifacts-bucket").inputs["forceDestroy"]
        is True
    )
    assert store().find("aws:s3/bucket:Bucket", "artifacts-bucket").inputs["forceDestroy"] is False
    with pytest.raises(InvalidArgs, match="force_destroy: is only allowed in dev"):
        ArtifactStore("a", ArtifactStoreSpec(force_destroy=True), context(Environment.PROD))


def test_prod_protects_and_stage_retains_every_stateful_resource():
    stateful = ("aws:s3/bucket:Bucket", "aws:kms/key:Key")
    prod = [r for t in stateful for r in store(environment=Environment.PROD).of_type(t)]
    assert len(prod) == 3  # the data bucket, the log bucket, the key
    assert all(r.protect and r.retain_on_delete for r in prod)
    stage = [r for t in stateful for r in store(environment=Environment.STAGE).of_type(t)]
    assert len(stage) == 3
    assert all(r.retain_on_delete and not r.protect for r in stage)


def test_replication_copies_to_a_second_region_with_its_own_key():
    graph = store(environment=Environment.PROD, replication_region="us-west-2")
    replica = graph.find("aws:s3/bucket:Bucket", "artifacts-replica")
    assert replica.inputs["region"] == "us-west-2"
    replica_key = graph.find("aws:kms/key:Key", "artifacts-replica-key")
    assert replica_key.inputs["region"] == "us-west-2" and replica_key.protect
    config = graph.find("aws:s3/bucketReplicationConfig:BucketReplicationConfig", "artifacts-replication")
    destination = config.inputs["rules"][0]["destination"]
    assert destination["bucket"].startswith("arn:aws:s3:::artifacts-replica-")
    assert destination["encryptionConfiguration"]["replicaKmsKeyId"].startswith("arn:aws:kms:us-west-2:")
    policy = json.loads(
        graph.find("aws:iam/rolePolicy:RolePolicy", "artifacts-replication-policy").inputs["policy"]
    )
    assert all(r != "*" for s in policy["Statement"] for r in s["Resource"])


def test_grants_are_scoped_to_exactly_the_prefix():
    graph = store(grants=[("read", "models/fraud/"), ("write", "datasets/fraud/")])
    read = json.loads(
        graph.find("aws:iam/rolePolicy:RolePolicy", "artifacts-read-reader-models-fraud").inputs["policy"]
    )
    bucket_arn = f"arn:aws:s3:::{physical_bucket(graph, 'artifacts-bucket')}"
    statements = {s["Sid"]: s for s in read["Statement"]}
    assert statements["ReadObjects"]["Resource"] == [f"{bucket_arn}/models/fraud/*"]
    assert statements["ListPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["models/fraud/*"]}}
    assert statements["DecryptObjects"]["Action"] == ["kms:Decrypt"]
    write = json.loads(
        graph.find("aws:iam/rolePolicy:RolePolicy", "artifacts-write-reader-datasets-fraud").inputs["policy"]
    )
    assert {s["Sid"]: s for s in write["Statement"]}["WriteObjects"]["Resource"] == [
        f"{bucket_arn}/datasets/fraud/*"
    ]


@pytest.mark.parametrize("prefix", ["", "models/fraud", "/models/", "Models/"])
def test_rejects_prefix_that_is_not_a_folder(prefix):
    with pytest.raises(Exception, match="prefix: must be a key prefix ending in '/'"):
        store(grants=[("read", prefix)])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"noncurrent_version_expiration_days": 0},
            "noncurrent_version_expiration_days: must be between 1 and 36500 (got 0)",
        ),
        (
            {"abort_incomplete_multipart_days": 0},
            "abort_incomplete_multipart_days: must be between 1 and 36500 (got 0)",
        ),
        (
            {"access_log_retention_days": -1},
            "access_log_retention_days: must be between 1 and 36500 (got -1)",
        ),
        (
            {"intelligent_tiering_after_days": -5},
            "intelligent_tiering_after_days: must be between 0 and 36500 (got -5)",
        ),
        (
            {"grants": [ArtifactGrant(role_arn="ci", prefix="models/")]},
            "grants[0].role_arn: must be an IAM role ARN (got 'ci')",
        ),
        (
            {"replication_region": "west"},
            "replication_region: must be an AWS region such as us-west-2 (got 'west')",
        ),
    ],
)
def test_rejects_bad_spec(overrides, message):
    with pytest.raises(InvalidArgs) as caught:
        ArtifactStore("a", ArtifactStoreSpec(**overrides), context())
    assert message in str(caught.value)


def test_grants_in_the_spec_are_applied_by_the_store():
    ci = "arn:aws:iam::123456789012:role/ci"
    spec = ArtifactStoreSpec(
        grants=[ArtifactGrant(role_arn=ci, prefix="models/risk/", access=Access.READWRITE)]
    )
    graph = run(lambda: ArtifactStore("artifacts", spec, context())).graph
    names = {r.name for r in graph.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert {"artifacts-read-ci-models-risk", "artifacts-write-ci-models-risk"} <= names
