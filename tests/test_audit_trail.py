"""AuditTrail: a trail that records management events and model-artifact writes into a bucket whose
logs nobody can delete; retention per environment; bad settings refused."""

from __future__ import annotations

import json

import pytest

from mlops_platform.components.data.audit_trail import AuditTrail, AuditTrailSpec
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import ACCOUNT, ARTIFACTS, context, only, run, stack

TRAIL_ARN = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/mlops-platform-test-audit"


def audit(environment: Environment = Environment.DEV, **overrides):
    spec = AuditTrailSpec(**overrides)
    return run(lambda: AuditTrail("audit", spec, context(environment), artifacts=ARTIFACTS)).graph


def selectors(graph) -> dict[str, dict[str, list[str]]]:
    trail = only(graph, "aws:cloudtrail/trail:Trail").inputs
    return {
        group["name"]: {s["field"]: s.get("equals") or s.get("startsWiths") for s in group["fieldSelectors"]}
        for group in trail["advancedEventSelectors"]
    }


def test_the_trail_records_management_events_and_model_artifact_writes():
    graph = audit()
    trail = only(graph, "aws:cloudtrail/trail:Trail").inputs
    assert (
        trail["isMultiRegionTrail"]
        and trail["includeGlobalServiceEvents"]
        and trail["enableLogFileValidation"]
    )
    assert trail["name"] == "mlops-platform-test-audit"
    assert selectors(graph) == {
        "Management events": {"eventCategory": ["Management"]},
        "Model artifact changes": {
            "eventCategory": ["Data"],
            "resources.type": ["AWS::S3::Object"],
            "resources.ARN": [
                "arn:aws:s3:::artifacts-bucket-1/models/",
                "arn:aws:s3:::artifacts-bucket-1/mlflow/",
            ],
            "readOnly": ["false"],
        },
    }
    reads = selectors(audit(record_reads=True))["Model artifact changes"]
    assert "readOnly" not in reads


def test_the_audit_bucket_locks_every_log_in_compliance_mode_for_the_environments_retention():
    for environment, days in ((Environment.DEV, 30), (Environment.STAGE, 90), (Environment.PROD, 365)):
        graph = audit(environment)
        bucket = graph.find("aws:s3/bucket:Bucket", "audit-bucket")
        assert bucket.inputs["objectLockEnabled"] is True
        lock = only(graph, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration").inputs
        assert lock["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": days}}
        assert bucket.protect is (environment is Environment.PROD)
    assert (
        only(
            audit(retention_days=400), "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
        ).inputs["rule"]["defaultRetention"]["days"]
        == 400
    )


def test_only_this_trail_writes_and_nobody_deletes():
    graph = audit()
    bucket = graph.find("aws:s3/bucket:Bucket", "audit-bucket")
    policy = json.loads(
        graph.find("aws:s3/bucketPolicy:BucketPolicy", "audit-bucket-policy").inputs["policy"]
    )
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["CloudTrailWrite"]["Condition"]["StringEquals"]["aws:SourceArn"] == TRAIL_ARN
    assert by_sid["CloudTrailAclCheck"]["Condition"] == {"StringEquals": {"aws:SourceArn": TRAIL_ARN}}
    denied = by_sid["NoDeletesForAnyone"]
    assert denied["Effect"] == "Deny" and denied["Principal"] == "*"
    assert {"s3:DeleteObject", "s3:DeleteObjectVersion", "s3:DeleteBucket"} <= set(denied["Action"])
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy["Statement"])
    encryption = graph.find(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-bucket-encryption",
    ).inputs["rules"][0]["applyServerSideEncryptionByDefault"]
    assert encryption["sseAlgorithm"] == "aws:kms"
    key = only(graph, "aws:kms/key:Key")
    key_policy = json.loads(key.inputs["policy"])
    cloudtrail = [
        s for s in key_policy["Statement"] if s.get("Principal") == {"Service": "cloudtrail.amazonaws.com"}
    ]
    assert cloudtrail and all(
        s["Condition"]["StringEquals"]["aws:SourceArn"] == TRAIL_ARN for s in cloudtrail
    )
    logging = only(graph, "aws:s3/bucketLogging:BucketLogging")
    assert logging.property_dependencies["bucket"] == [bucket.urn]
    assert (
        graph.find("aws:s3/bucket:Bucket", "audit-access-logs").urn
        in logging.property_dependencies["targetBucket"]
    )


@pytest.mark.parametrize(
    ("environment", "overrides", "message"),
    [
        (Environment.PROD, {"retention_days": 90}, "retention_days: must be at least 365 in prod (got 90)"),
        (Environment.DEV, {"model_prefixes": ["/models"]}, "model_prefixes[0]: must look like models/"),
        (Environment.DEV, {"model_prefixes": []}, "model_prefixes: must name at least one prefix"),
    ],
)
def test_bad_settings_are_refused(environment, overrides, message):
    with pytest.raises(InvalidArgs) as raised:
        AuditTrail("audit", AuditTrailSpec(**overrides), context(environment), artifacts=ARTIFACTS)
    assert message in str(raised.value)


def test_every_stack_has_its_trail_and_exports_it():
    for name in ("dev", "stage", "prod"):
        graph = stack(name).graph
        assert only(graph, "aws:cloudtrail/trail:Trail").inputs["name"] == f"mlops-platform-{name}-audit"
        assert graph.outputs["auditTrailArn"].endswith(f":trail/mlops-platform-{name}-audit")


def test_prod_keeps_the_eks_audit_log_as_long_as_the_trail():
    graph = stack("prod").graph
    group = graph.find("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs")
    assert group.inputs["retentionInDays"] == 365
    dev = stack("dev").graph.find("aws:cloudwatch/logGroup:LogGroup", "cluster-control-plane-logs")
    assert dev.inputs["retentionInDays"] == 14  # infra/config/defaults/dev.yaml


def test_prod_refuses_an_eks_audit_log_kept_shorter_than_the_trail():
    import copy

    import yaml

    from mlops_platform.infra import config
    from tests.harness import ROOT

    raw = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]
    raw = copy.deepcopy(raw)
    raw["mlops-platform:cluster"] = {**raw["mlops-platform:cluster"], "controlPlaneLogRetentionDays": 90}
    with pytest.raises(config.ConfigError) as raised:
        config.parse(raw, project="mlops-platform", stack="prod")
    assert (
        "mlops-platform:cluster.controlPlaneLogRetentionDays: must be at least audit.retention_days (365) in prod"
        in "\n".join(raised.value.problems)
    )
