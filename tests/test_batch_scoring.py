"""Batch scoring as the stacks render it: the sharded WorkflowTemplate with the model's own image, its
schedule, its role (read the input and the version's model files, write the output, nothing else),
its metrics and alerts, its cost per run; and `blueprint batch run`, offline and submitting."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import yaml

from mlops_platform.infra.cli import main
from mlops_platform.policies.graph import Graph
from tests.harness import ROOT, stack

TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CRON = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"


def batch_template(graph: Graph, model: str) -> dict:
    return graph.find(TEMPLATE, f"{model}-batch-template").inputs


def shard(graph: Graph, model: str) -> dict:
    return next(t for t in batch_template(graph, model)["spec"]["templates"] if t["name"] == "shard")


def test_the_input_is_split_into_shards_scored_by_the_versions_own_image():
    graph = stack("prod").graph
    spec = batch_template(graph, "fraud-scorer")["spec"]
    (fan_out,) = [t for t in spec["templates"] if t["name"] == "score"]
    (step,) = fan_out["steps"][0]
    assert step["withSequence"] == {"count": "4"}
    assert step["arguments"]["parameters"] == [{"name": "shard", "value": "{{item}}"}]
    container = shard(graph, "fraud-scorer")["container"]
    repository = graph.outputs["models"]["fraud-scorer"]["repositoryUrl"]
    assert (
        container["image"]
        == f"{repository}@sha256:fea1c31cb7dac1bee73be24bebe75dce4ffe89fd255d3d0e50210d0993b2abca"
    )
    env = {e["name"]: e["value"] for e in container["env"]}
    bucket = graph.outputs["artifactBucket"]
    assert env["MODEL_VERSION"] == "v3"
    assert env["INPUT_URI"] == f"s3://{bucket}/datasets/risk/transactions/"
    # Output keyed by version (and, by the contract, by input key): reruns overwrite, never duplicate.
    assert env["OUTPUT_URI"] == f"s3://{bucket}/scores/risk/fraud-scorer/v3/"
    assert (env["SHARD_INDEX"], env["SHARD_COUNT"]) == ("{{inputs.parameters.shard}}", "4")
    assert env["MODEL_URI"] == f"s3://{bucket}/models/risk/fraud-scorer/v3/"
    # fraud-scorer's monitor captures every prediction: batch rows too, for batch-online agreement.
    assert env["CAPTURE_SAMPLE_RATE"] == "1"


def test_shards_retry_on_the_spot_pool_and_queue_for_the_teams_quota():
    graph = stack("prod").graph
    step = shard(graph, "fraud-scorer")
    assert step["retryStrategy"]["limit"] == 3 and step["retryStrategy"]["retryPolicy"] == "Always"
    assert step["nodeSelector"] == {"mlops-platform.io/gpu-pool": "gpu-burst"}
    assert step["container"]["resources"]["requests"] == {"cpu": "3", "memory": "12Gi", "nvidia.com/gpu": 1}
    spec = batch_template(graph, "fraud-scorer")["spec"]
    labels = spec["podMetadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "pipelines"
    # Its pods are the model version's for cost allocation, like the endpoint's.
    assert (labels["mlops-platform.io/team"], labels["mlops-platform.io/model"]) == ("risk", "fraud-scorer")
    assert labels["app.kubernetes.io/version"] == "v3"
    assert spec["activeDeadlineSeconds"] == 45 * 60 * 4
    cron = graph.find(CRON, "fraud-scorer-batch-schedule").inputs["spec"]
    assert cron["schedules"] == ["0 2 * * *"]
    assert cron["workflowSpec"] == {"workflowTemplateRef": {"name": "fraud-scorer-batch"}}
    assert not stack("dev").graph.of_type(CRON)  # dev's job runs on demand


def test_the_role_reads_only_its_input_and_model_files_and_writes_only_its_output():
    graph = stack("prod").graph
    bucket = f"arn:aws:s3:::{graph.outputs['artifactBucket']}"
    found = json.loads(
        graph.find("aws:iam/rolePolicy:RolePolicy", "fraud-scorer-batch-identity-policy").inputs["policy"]
    )["Statement"]
    objects = {(tuple(s["Action"]), r) for s in found for r in s["Resource"] if r.startswith(f"{bucket}/")}
    read = ("s3:GetObject", "s3:GetObjectVersion")
    assert objects == {
        (read, f"{bucket}/datasets/risk/transactions/*"),
        (read, f"{bucket}/models/risk/fraud-scorer/v3/*"),
        (read, f"{bucket}/scores/risk/fraud-scorer/*"),
        (
            ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"),
            f"{bucket}/scores/risk/fraud-scorer/*",
        ),
    }
    assert not any(a.startswith("ecr:") for s in found for a in s["Action"])


def test_each_run_reports_failure_and_duration_for_its_alerts():
    graph = stack("prod").graph
    metrics = batch_template(graph, "fraud-scorer")["spec"]["metrics"]["prometheus"]
    assert [(m["name"], m.get("when"), m["gauge"]["value"]) for m in metrics] == [
        ("batch_scoring_failed", "{{workflow.status}} == Failed", "1"),
        ("batch_scoring_failed", "{{workflow.status}} == Succeeded", "0"),
        ("batch_scoring_duration_seconds", None, "{{workflow.duration}}"),
    ]
    assert metrics[2]["gauge"]["realtime"] is True
    (rule,) = [
        r
        for r in graph.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        if r.name == "fraud-scorer-batch-alerts"
    ]
    alerts = {a["alert"]: a["expr"] for g in rule.inputs["spec"]["groups"] for a in g["rules"]}
    assert alerts == {
        "BatchScoringFailed": 'max(argo_workflows_batch_scoring_failed{team="risk",model="fraud-scorer"}) == 1',
        "BatchScoringOverdue": 'max(argo_workflows_batch_scoring_duration_seconds{team="risk",model="fraud-scorer"}) > 2700',
    }


def test_the_cost_model_prices_one_run():
    estimate = stack("prod").graph.outputs["costEstimate"]
    run = estimate["batchRuns"]["risk/fraud-scorer"]
    assert (run["shards"], run["expectedMinutes"], run["instanceType"], run["pool"]) == (
        4,
        45,
        "g6.xlarge",
        "gpu-burst",
    )
    # Four shards, each a whole g6.xlarge (its one GPU) for 45 minutes, at the spot price.
    prices = json.loads((ROOT / "infra" / "cost" / "prices" / "us-east-1.json").read_text())
    on_demand = prices["ec2"]["g6.xlarge"]
    spot = estimate["assumptions"]["spotPriceFactors"]["g6"]
    assert run["costPerRun"] == round(on_demand * spot * 4 * 0.75, 2)
    cpu = stack("dev").graph.outputs["costEstimate"]["batchRuns"]["growth/churn-classifier"]
    assert cpu["pool"] == "system" and 0 < cpu["nodeSharePerShard"] < 1


# --- blueprint batch run --------------------------------------------------------------------------


def test_batch_run_prints_the_workflow_it_would_submit(capsys):
    assert main(["batch", "run", "churn-classifier", "--stack", "dev"]) == 0
    out, err = capsys.readouterr()
    assert yaml.safe_load(out) == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": "churn-classifier-batch-",
            "namespace": "growth",
            "labels": {
                "mlops-platform.io/team": "growth",
                "mlops-platform.io/model": "churn-classifier",
                "mlops-platform.io/workflow": "churn-classifier-batch",
            },
        },
        "spec": {"workflowTemplateRef": {"name": "churn-classifier-batch"}},
    }
    assert "offline" in err


def test_batch_run_refuses_a_model_without_a_batch_job_naming_those_with_one(capsys):
    assert main(["batch", "run", "fraud-scorer", "--stack", "dev"]) == 2
    assert capsys.readouterr().err.strip() == (
        "blueprint batch: model 'fraud-scorer' has no batch job in stack 'dev': add `batch:` to it in "
        "stacks/Pulumi.dev.yaml (models with one: churn-classifier)"
    )
    assert main(["batch", "run", "nope", "--stack", "dev"]) == 2
    assert (
        "stack 'dev' has no model 'nope' (models: churn-classifier, fraud-scorer)" in capsys.readouterr().err
    )


def fake_kubectl(folder: Path, exit_code: int = 0) -> Path:
    """A kubectl that records its arguments and standard input, and answers as kubectl does."""
    script = folder / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" > "{folder}/args"\n'
        f'cat > "{folder}/stdin"\n'
        f'if [ {exit_code} -ne 0 ]; then echo "error: workflows.argoproj.io is forbidden" >&2; exit {exit_code}; fi\n'
        "echo workflow.argoproj.io/churn-classifier-batch-x7k2p\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_batch_run_submits_through_the_kubernetes_api(tmp_path, monkeypatch, capsys):
    fake_kubectl(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert main(["batch", "run", "churn-classifier", "--stack", "dev", "--submit", "--context", "dev"]) == 0
    assert capsys.readouterr().out.strip() == "workflow.argoproj.io/churn-classifier-batch-x7k2p"
    assert (tmp_path / "args").read_text().split() == ["--context", "dev", "create", "-f", "-", "-o", "name"]
    submitted = yaml.safe_load((tmp_path / "stdin").read_text())
    assert submitted["spec"] == {"workflowTemplateRef": {"name": "churn-classifier-batch"}}


def test_a_refused_submission_exits_1_with_kubectls_reason(tmp_path, monkeypatch, capsys):
    fake_kubectl(tmp_path, exit_code=1)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert main(["batch", "run", "churn-classifier", "--stack", "dev", "--submit"]) == 1
    assert "workflows.argoproj.io is forbidden" in capsys.readouterr().err


def test_submitting_without_kubectl_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["batch", "run", "churn-classifier", "--stack", "dev", "--submit"]) == 2
    assert "--submit needs kubectl on PATH" in capsys.readouterr().err
