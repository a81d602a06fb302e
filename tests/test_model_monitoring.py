"""Model monitoring as the stacks render it: the capture stream and its tables, what ships capture
records, each model's monitor (job, identity, alerts, dashboard), the coverage figure and its
policy, the config errors; and the example server's records against the contract."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml

from mlops_platform.components.lifecycle.capture import COLUMNS, SCHEMA
from mlops_platform.infra.cli import main
from mlops_platform.policies.graph import Graph, Resource
from tests.harness import ROOT, only, stack, wait_until_answers
from tests.mlflow_server import free_port

FIREHOSE = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
GLUE_TABLE = "aws:glue/catalogTable:CatalogTable"
RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def named(graph: Graph, resource_type: str, name: str) -> Resource:
    (found,) = [r for r in graph.of_type(resource_type) if r.name == name]
    return found


def policy_of(graph: Graph, role_name: str) -> dict:
    return json.loads(named(graph, "aws:iam/rolePolicy:RolePolicy", role_name).inputs["policy"])


def granted_prefixes(document: dict, action: str) -> set[str]:
    return {
        resource.split(":::", 1)[1].split("/", 1)[1]
        for statement in document["Statement"]
        if action in statement["Action"]
        for resource in (
            [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
        )
    }


def test_the_stream_partitions_by_model_version_and_day_into_parquet_under_captures():
    graph = stack("prod").graph
    stream = only(graph, FIREHOSE).inputs
    s3 = stream["extendedS3Configuration"]
    assert stream["name"] == "mlops-platform-prod-captures"
    assert s3["prefix"] == (
        "captures/model=!{partitionKeyFromQuery:model}/version=!{partitionKeyFromQuery:version}/"
        "dt=!{partitionKeyFromQuery:dt}/"
    )
    assert s3["dynamicPartitioningConfiguration"]["enabled"] is True
    (extract,) = s3["processingConfiguration"]["processors"]
    assert {p["parameterName"]: p["parameterValue"] for p in extract["parameters"]}[
        "MetadataExtractionQuery"
    ] == ("{model: .model, version: .version, dt: .timestamp[0:10]}")
    conversion = s3["dataFormatConversionConfiguration"]
    assert "parquetSerDe" in conversion["outputFormatConfiguration"]["serializer"]
    assert conversion["schemaConfiguration"]["tableName"] == "captures"
    key = graph.outputs["artifactKmsKeyArn"]
    assert s3["kmsKeyArn"] == key and stream["serverSideEncryption"]["keyArn"] == key
    lifecycle = named(
        graph,
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "artifacts-bucket-lifecycle",
    ).inputs
    expiring = {
        r["id"]: (r["filter"], r["expiration"]["days"]) for r in lifecycle["rules"] if "expiration" in r
    }
    assert expiring["expire-captures"] == ({"prefix": "captures/"}, 400)  # prod keeps captures 400 days
    envelope = named(graph, GLUE_TABLE, "capture-envelope").inputs
    assert [(c["name"], c["type"]) for c in envelope["storageDescriptor"]["columns"]] == list(COLUMNS)


def test_the_firehose_role_writes_only_under_captures_and_reads_only_the_envelope_schema():
    document = policy_of(stack("prod").graph, "capture-firehose-policy")
    assert granted_prefixes(document, "s3:PutObject") == {"captures/*", "captures-errors/*"}
    (glue,) = [s for s in document["Statement"] if s["Sid"] == "ReadCaptureSchema"]
    assert glue["Action"] == ["glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"]
    assert glue["Resource"][-1].endswith(":table/mlops_platform_prod_captures/captures")


def test_fluent_bit_sends_capture_records_to_the_stream_and_only_there():
    graph = stack("prod").graph
    (fluent_bit,) = [
        r for r in graph.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "aws-for-fluent-bit"
    ]
    values = fluent_bit.inputs["values"]
    assert values["firehose"] == {
        "enabled": True,
        "match": "capture.*",
        "region": "us-east-1",
        "deliveryStream": "mlops-platform-prod-captures",
    }
    assert values["cloudWatchLogs"]["match"] == "kube.*"
    assert f"Rule          $data['schema'] ^{SCHEMA}$ capture.$TAG false" in values["additionalFilters"]
    (policy,) = [
        r for r in graph.of_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("fluent-bit-policy")
    ]
    role = json.loads(policy.inputs["policy"])
    (ship,) = [s for s in role["Statement"] if s["Sid"] == "ShipCaptures"]
    assert ship["Action"] == ["firehose:PutRecordBatch"]
    stream = only(graph, FIREHOSE).inputs["name"]
    assert ship["Resource"] == [f"arn:aws:firehose:us-east-1:123456789012:deliverystream/{stream}"]


def test_every_prod_model_has_capture_a_schedule_alerts_and_a_dashboard():
    graph = stack("prod").graph
    for model, team in (("fraud-scorer", "risk"), ("churn-classifier", "growth")):
        job = named(graph, "kubernetes:batch/v1:CronJob", f"{model}-monitor-schedule").inputs
        assert job["metadata"]["namespace"] == team and job["spec"]["concurrencyPolicy"] == "Forbid"
        assert named(graph, RULE, f"{model}-monitor-alerts")
        board = named(graph, "kubernetes:core/v1:ConfigMap", f"{model}-monitor-dashboard")
        assert (
            json.loads(board.inputs["data"][f"{model}-monitor.json"])["title"]
            == f"Model monitoring: {team}/{model}"
        )
        table = named(graph, GLUE_TABLE, f"{model}-monitor-captures-table").inputs
        assert table["parameters"]["projection.enabled"] == "true"
        assert table["storageDescriptor"]["location"].endswith(f"/captures/model={model}/")
        (rollout,) = [
            r
            for r in graph.of_type("kubernetes:argoproj.io/v1alpha1:Rollout")
            if r.name == f"{model}-rollout"
        ]
        (container,) = rollout.inputs["spec"]["template"]["spec"]["containers"]
        rate = {e["name"]: e.get("value") for e in container["env"]}["CAPTURE_SAMPLE_RATE"]
        assert rate == {"fraud-scorer": "1", "churn-classifier": "0.2"}[model]
    versions = named(graph, GLUE_TABLE, "fraud-scorer-monitor-captures-table").inputs["parameters"]
    assert versions["projection.version.values"] == "v3,v4,v6"


def test_a_monitor_reads_only_its_captures_labels_and_reference_and_writes_only_its_reports():
    document = policy_of(stack("prod").graph, "fraud-scorer-monitor-identity-policy")
    assert granted_prefixes(document, "s3:GetObject") == {
        "captures/model=fraud-scorer/*",
        "datasets/risk/fraud/reference/*",
        "labels/risk/fraud-scorer/*",
        "monitoring/risk/fraud-scorer/*",
    }
    assert granted_prefixes(document, "s3:PutObject") == {"monitoring/risk/fraud-scorer/*"}


def test_retraining_may_create_workflows_and_read_only_its_pipeline_template():
    graph = stack("prod").graph
    role = named(graph, "kubernetes:rbac.authorization.k8s.io/v1:Role", "fraud-scorer-monitor-retrain-role")
    assert role.inputs["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]},
        {
            "apiGroups": ["argoproj.io"],
            "resources": ["workflowtemplates"],
            "resourceNames": ["fraud-train"],
            "verbs": ["get"],
        },
    ]
    # churn-classifier retrains nothing: no token in its pods, no Role.
    account = named(graph, "kubernetes:core/v1:ServiceAccount", "churn-classifier-monitor-service-account")
    assert account.inputs["automountServiceAccountToken"] is False
    assert not [
        r
        for r in graph.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
        if r.name.startswith("churn-classifier-monitor")
    ]


def test_alert_thresholds_come_from_the_spec():
    rule = named(stack("prod").graph, RULE, "fraud-scorer-monitor-alerts")
    alerts = {a["alert"] + a["expr"][-30:]: a for g in rule.inputs["spec"]["groups"] for a in g["rules"]}
    exprs = [a["expr"] for a in alerts.values()]
    assert (
        'max by (model, version, feature) (mlops_monitor_feature_drift{model="fraud-scorer"}) > 0.2' in exprs
    )
    assert (
        '(min by (model, version, metric) (mlops_monitor_model_quality{model="fraud-scorer",metric="accuracy"}) < 0.95)'
        ' or (min by (model, version, metric) (mlops_monitor_model_quality{model="fraud-scorer",metric="auc"}) < 0.9)'
    ) in exprs
    assert any(e.endswith(f"> {50 * 3600}") for e in exprs)  # stale after 50 hours
    for alert in alerts.values():
        runbook = alert["annotations"]["runbook_url"].rsplit("/", 1)[1]
        assert (ROOT / "docs" / "runbooks" / runbook).is_file()


def test_check_prints_the_coverage_figure(capsys):
    assert main(["check", "prod"]) == 0
    out = capsys.readouterr().out
    assert "tier 1: 1 model(s): capture 1/1 (100%), drift 1/1 (100%), quality 1/1 (100%)" in out
    assert "tier 2: 1 model(s): capture 1/1 (100%), drift 1/1 (100%), quality 0/1 (0%)" in out
    assert main(["check", "prod", "--format", "json"]) == 0
    coverage = json.loads(capsys.readouterr().out)["monitoringCoverage"]
    assert coverage["2"] == {"models": 1, "capture": 1, "drift": 1, "quality": 0}


def test_tier_one_in_prod_without_quality_monitoring_fails_the_policy(project_copy, capsys):
    path = project_copy / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    models = document["config"]["mlops-platform:models"]
    fraud = next(m for m in models if m["name"] == "fraud-scorer")
    fraud["monitor"].pop("qualityFloor")
    fraud["monitor"]["labels"] = False
    fraud["monitor"]["retrainOn"] = "drift"
    path.write_text(yaml.safe_dump(document))
    cwd = Path.cwd()
    os.chdir(project_copy)
    try:
        code = main(["check", "prod"])
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert code == 1
    assert "[mandatory] model-monitoring-tier-1" in out
    assert "tier-1 model fraud-scorer lacks quality monitoring" in out


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        (
            {"retrainOn": "drift", "retrainPipeline": "nightly"},
            "mlops-platform:models[1].monitor.retrainPipeline: team 'risk' has no pipeline 'nightly'; its pipelines: fraud-train",
        ),
        (
            {"samplingRate": 0},
            "mlops-platform:models[1].monitor.samplingRate: must be > 0 and <= 1 (got 0)",
        ),
        (
            {"qualityFloor": {"rmse": 3}},
            "mlops-platform:models[1].monitor.qualityFloor.rmse: is not a classification metric; use accuracy or auc",
        ),
        (
            {"reference": "s3://other-bucket/ref/"},
            "mlops-platform:models[1].monitor.reference: must be a key prefix inside the artifact store",
        ),
        (
            {"retrainPipeline": None},
            "mlops-platform:models[1].monitor.retrainPipeline: is required with retrainOn: drift",
        ),
    ],
)
def test_bad_monitor_config_is_refused_with_its_key(monitor, expected, project_copy, capsys):
    path = project_copy / "stacks" / "Pulumi.prod.yaml"
    document = yaml.safe_load(path.read_text())
    fraud = document["config"]["mlops-platform:models"][1]
    assert fraud["name"] == "fraud-scorer"
    fraud["monitor"].update(monitor)
    path.write_text(yaml.safe_dump(document))
    cwd = Path.cwd()
    os.chdir(project_copy)
    try:
        code = main(["synth", "prod", "-o", str(project_copy / "out.json")])
    finally:
        os.chdir(cwd)
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err
    assert "Traceback" not in err and not (project_copy / "out.json").exists()


def test_the_example_server_prints_records_of_the_contract_for_its_sampling_rate():
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "BASE_PATH": "/nlp/sentiment",
        "MODEL_NAME": "sentiment",
        "MODEL_VERSION": "v1",
        "CAPTURE_SAMPLE_RATE": "1",
        "REQUEST_ID_HEADER": "x-request-id",
    }
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "team-model" / "server" / "app.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/ready", server, 10)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/nlp/sentiment/predict",
            data=json.dumps({"text_length": 200, "language": "en"}).encode(),
            headers={"x-request-id": "req-42", "Content-Type": "application/json"},
        )
        answer = json.load(urllib.request.urlopen(request, timeout=5))
        assert answer["prediction"] == "positive"
        assert server.stdout is not None
        record = json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert record["schema"] == SCHEMA
    assert set(record) - {"schema"} <= {column for column, _ in COLUMNS}
    assert (record["request_id"], record["model"], record["version"], record["source"]) == (
        "req-42",
        "sentiment",
        "v1",
        "online",
    )
    assert record["features"] == {"text_length": 200, "language": "en"} and record["timestamp"].endswith("Z")
