"""`blueprint bootstrap` against moto: creates, is idempotent, repairs, refuses, and dry-runs."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from mlops_platform.infra.cli import main
from mlops_platform.infra.ops import bootstrap
from tests.harness import without_aws_credentials

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
BUCKET = bootstrap.default_bucket("dev", ACCOUNT, REGION)
ALIAS = "alias/mlops-platform-dev-state"


@pytest.fixture
def aws():
    with mock_aws():
        yield boto3.session.Session(region_name=REGION)


def run(*extra: str) -> int:
    return main(["bootstrap", "--env", "dev", "--region", REGION, *extra])


def test_first_run_creates_a_hardened_backend_and_prints_how_to_use_it(aws, capsys):
    assert run() == 0
    out = capsys.readouterr().out
    s3, kms = aws.client("s3"), aws.client("kms")
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    default = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"][0]
    key = kms.describe_key(KeyId=ALIAS)["KeyMetadata"]
    assert default["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key["Arn"],
    }
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    block = s3.get_public_access_block(Bucket=BUCKET)["PublicAccessBlockConfiguration"]
    assert all(
        block[k]
        for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    )
    policy = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])
    assert bootstrap.tls_statement(BUCKET) in policy["Statement"]
    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=BUCKET)["Rules"]
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": bootstrap.STATE_VERSION_DAYS}
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == REGION
    assert "Changed:" in out and f"create bucket {BUCKET} in {REGION}" in out
    assert f"pulumi login 's3://{BUCKET}?region={REGION}&awssdk=v2'" in out
    assert (
        f"pulumi stack init organization/mlops-platform/dev --secrets-provider 'awskms://{ALIAS}?region={REGION}'"
        in out
    )


def test_second_run_changes_nothing_and_says_so(aws, capsys):
    assert run() == 0
    capsys.readouterr()
    assert run() == 0
    out = capsys.readouterr().out
    assert "Nothing to change: the backend already matches." in out
    assert len(aws.client("kms").list_keys()["Keys"]) == 1  # the second run made no second key


def test_a_weakened_bucket_is_repaired_and_each_repair_reported(aws, capsys):
    assert run() == 0
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    s3.delete_public_access_block(Bucket=BUCKET)
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    other = {
        "Sid": "ReadForAuditors",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [other]}))
    kms = aws.client("kms")
    kms.disable_key_rotation(KeyId=kms.describe_key(KeyId=ALIAS)["KeyMetadata"]["KeyId"])
    capsys.readouterr()
    assert run() == 0
    out = capsys.readouterr().out
    for reported in (
        "turn on versioning (was Suspended)",
        "block public access (BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets were off)",
        "encrypt with KMS key alias/mlops-platform-dev-state (was AES256)",
        "deny requests without TLS",
        "turn on yearly rotation",
    ):
        assert reported in out
    assert s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    statements = json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"]
    assert other in statements and bootstrap.tls_statement(BUCKET) in statements  # nothing lost


def test_dry_run_changes_nothing(aws, capsys):
    assert run("--dry-run") == 0
    out = capsys.readouterr().out
    assert "Would change (dry run, nothing changed):" in out
    assert f"create bucket {BUCKET}" in out and f"create KMS key {ALIAS}" in out
    assert aws.client("s3").list_buckets()["Buckets"] == []
    assert not [a for a in aws.client("kms").list_aliases()["Aliases"] if a["AliasName"] == ALIAS]
    # On a weakened existing bucket, too: reported, not fixed.
    assert run() == 0
    aws.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    capsys.readouterr()
    assert run("--dry-run") == 0
    assert "turn on versioning (was Suspended)" in capsys.readouterr().out
    assert aws.client("s3").get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"


def test_a_bucket_of_another_account_is_refused(aws, capsys, monkeypatch):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "210987654321")
    boto3.session.Session(region_name=REGION).client("s3").create_bucket(
        Bucket="shared-name", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    monkeypatch.delenv("MOTO_ACCOUNT_ID")
    assert run("--bucket", "shared-name") == 1
    err = capsys.readouterr().err
    assert "bucket shared-name exists but does not belong to account 123456789012" in err
    assert "Traceback" not in err


def test_bad_region_and_missing_credentials_exit_2(aws, capsys, monkeypatch, tmp_path):
    assert main(["bootstrap", "--env", "dev", "--region", "mars-1"]) == 2
    assert "--region must be an AWS region" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse: --env is required
        main(["bootstrap", "--region", REGION])
    assert usage.value.code == 2
    without_aws_credentials(monkeypatch, tmp_path)
    assert run() == 2
    assert "no AWS credentials" in capsys.readouterr().err
    monkeypatch.setenv("AWS_PROFILE", "nonexistent-profile")
    assert run() == 2
    assert "nonexistent-profile" in capsys.readouterr().err
