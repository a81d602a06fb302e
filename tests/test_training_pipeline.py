"""Training pipelines as the stacks render them: the WorkflowTemplate's DAG, its schedule, its role
scoped to exactly the declared prefixes, its pods in the team's queue; and the MLflow steps run, as
rendered, against a real MLflow (the pinned server's virtualenv, a SQLite store)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mlops_platform.components.lifecycle.training_pipeline import (
    EvaluateStep,
    TrainingPipeline,
    TrainingPipelineSpec,
    TrainStep,
)
from mlops_platform.infra.offline.runner import SynthError
from mlops_platform.policies.graph import Graph, Resource
from tests.harness import platform, run, stack
from tests.mlflow_server import mlflow_venv

TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"
CRON = "kubernetes:argoproj.io/v1alpha1:CronWorkflow"


def template(graph: Graph, name: str = "risk-fraud-train-template") -> Resource:
    return graph.find(TEMPLATE, name)


def steps(resource: Resource) -> dict[str, dict]:
    return {t["name"]: t for t in resource.inputs["spec"]["templates"]}


def statements(graph: Graph, role_policy: str) -> list[dict]:
    return json.loads(graph.find("aws:iam/rolePolicy:RolePolicy", role_policy).inputs["policy"])["Statement"]


def test_the_dag_prepares_trains_evaluates_gates_and_registers_in_order():
    workflow = template(stack("prod").graph)
    spec = workflow.inputs["spec"]
    dag = steps(workflow)["pipeline"]["dag"]["tasks"]
    assert [(t["name"], t.get("dependencies")) for t in dag] == [
        ("start-run", None),
        ("prepare", ["start-run"]),
        ("train", ["prepare"]),
        ("evaluate", ["train"]),
        ("evaluation-gate", ["evaluate"]),
        ("register", ["evaluation-gate"]),
    ]
    assert spec["entrypoint"] == "pipeline"
    assert spec["serviceAccountName"] == "fraud-train-pipeline"
    # Every pod queues in the team's LocalQueue.
    assert spec["podMetadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "pipelines"
    assert spec["artifactRepositoryRef"] == {"configMap": "fraud-train-artifacts", "key": "repository"}
    parameters = {p["name"]: p["value"] for p in spec["arguments"]["parameters"]}
    bucket = stack("prod").graph.outputs["artifactBucket"]
    assert parameters == {"dataset-uri": f"s3://{bucket}/datasets/risk/fraud/", "code-commit": "a81b77e"}


def test_training_runs_on_its_spot_pool_and_resumes_after_losing_a_node():
    train = steps(template(stack("prod").graph))["train"]
    assert train["nodeSelector"] == {"mlops-platform.io/gpu-pool": "gpu-burst"}
    assert train["container"]["resources"]["limits"]["nvidia.com/gpu"] == 1
    # Pod lost with its node: retried (an Argo error); the command failing: not retried.
    assert train["retryStrategy"]["retryPolicy"] == "OnError" and train["retryStrategy"]["limit"] == 5
    env = {e["name"]: e["value"] for e in train["container"]["env"]}
    bucket = stack("prod").graph.outputs["artifactBucket"]
    assert (
        env["CHECKPOINT_URI"]
        == f"s3://{bucket}/pipelines/risk/fraud-train/checkpoints/{{{{workflow.name}}}}/"
    )
    assert env["MLFLOW_RUN_ID"] == "{{inputs.parameters.run-id}}"
    assert env["MLFLOW_TRACKING_URI"] == stack("prod").graph.outputs["mlflowUrl"]


def test_the_schedule_retrains_weekly_one_run_at_a_time():
    cron = stack("prod").graph.find(CRON, "risk-fraud-train-schedule").inputs["spec"]
    assert cron["schedules"] == ["0 3 * * 1"] and cron["timezone"] == "UTC"
    assert cron["concurrencyPolicy"] == "Forbid"
    assert cron["workflowSpec"] == {"workflowTemplateRef": {"name": "fraud-train"}}
    assert not stack("dev").graph.of_type(CRON)  # dev's pipeline runs on demand only


def test_the_role_reads_only_the_data_prefixes_and_writes_only_its_own():
    graph = stack("prod").graph
    bucket = f"arn:aws:s3:::{graph.outputs['artifactBucket']}"
    found = statements(graph, "risk-fraud-train-identity-policy")
    actions = {a for s in found for a in s["Action"]}
    assert not any(a.startswith("ecr:") for a in actions)  # pushes nothing
    objects = {(tuple(s["Action"]), r) for s in found for r in s["Resource"] if r.startswith(f"{bucket}/")}
    read = ("s3:GetObject", "s3:GetObjectVersion")
    write = ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject")
    assert objects == {
        (read, f"{bucket}/datasets/risk/fraud/*"),
        (read, f"{bucket}/datasets/risk/chargebacks/*"),
        (read, f"{bucket}/pipelines/risk/fraud-train/*"),
        (write, f"{bucket}/pipelines/risk/fraud-train/*"),
    }
    listed = sorted(
        p
        for s in found
        if s["Action"] == ["s3:ListBucket"]
        for p in s["Condition"]["StringLike"]["s3:prefix"]
    )
    assert listed == ["datasets/risk/chargebacks/*", "datasets/risk/fraud/*", "pipelines/risk/fraud-train/*"]
    assert len({s["Sid"] for s in found}) == len(found)  # IAM refuses repeated Sids
    association = graph.find(
        "aws:eks/podIdentityAssociation:PodIdentityAssociation", "risk-fraud-train-identity-association"
    )
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "risk",
        "fraud-train-pipeline",
    )


def test_mlflow_credentials_come_from_secrets_manager_and_logs_go_to_the_pipelines_prefix():
    graph = stack("prod").graph
    synced = graph.find(
        "kubernetes:external-secrets.io/v1:ExternalSecret", "risk-fraud-train-mlflow-credentials"
    )
    assert [d["remoteRef"] for d in synced.inputs["spec"]["data"]] == [
        {"key": "mlops-platform/prod/mlflow-risk", "property": "username"},
        {"key": "mlops-platform/prod/mlflow-risk", "property": "password"},
    ]
    repository = json.loads(
        graph.find("kubernetes:core/v1:ConfigMap", "risk-fraud-train-artifact-repository").inputs["data"][
            "repository"
        ]
    )
    assert repository["archiveLogs"] is True
    assert repository["s3"]["keyFormat"] == "pipelines/risk/fraud-train/{{workflow.name}}/{{pod.name}}"
    assert repository["s3"]["useSDKCreds"] is True


def spec(**changes) -> TrainingPipelineSpec:
    values = {
        "name": "churn-train",
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/growth/trainer:1.0.0",
        "registered_model": "churn",
        "data_prefixes": ["datasets/growth/"],
        "train": TrainStep(command=["python", "train.py"], pool="gpu-a10"),
        "evaluate": EvaluateStep(metric="auc", threshold=0.8),
        "mlflow_secret": "mlflow-growth",
        **changes,
    }
    return TrainingPipelineSpec(**values)


def test_a_team_project_can_declare_a_pipeline_on_the_platform():
    result = run(lambda: TrainingPipeline("churn", spec(schedule="@daily"), platform(), team="growth"))
    kinds = {r.type.rsplit(":", 1)[1] for r in result.graph.resources}
    assert {"WorkflowTemplate", "CronWorkflow", "Role", "PodIdentityAssociation", "ExternalSecret"} <= kinds


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schedule": "0 25 * * *"}, "schedule: is not valid cron: hour '25' (allowed 0-23)"),
        (
            {"train": TrainStep(command=["t"], pool="gpu-h100")},
            "train.pool: unknown GPU pool 'gpu-h100'; pools: gpu-a10",
        ),
        (
            {"data_prefixes": ["s3://other-bucket/data/"]},
            "data_prefixes[0]: must be a key prefix inside the artifact store, such as datasets/risk/fraud/",
        ),
        ({"image": "trainer"}, "image: must pin a tag or a digest"),
    ],
)
def test_bad_pipeline_input_registers_nothing(changes, message):
    with pytest.raises(SynthError) as caught:
        run(lambda: TrainingPipeline("churn", spec(**changes), platform(), team="growth"))
    assert message in str(caught.value)
    assert caught.value.registered == []


# --- the MLflow steps, run as rendered ------------------------------------------------------------


def rendered_step(name: str) -> tuple[list[str], dict[str, str]]:
    """The command and literal environment of one step of dev's pipeline, as the template renders them."""
    step = steps(template(stack("dev").graph))[name]["container"]
    return step["command"], {e["name"]: e["value"] for e in step["env"]}


def run_step(python: Path, name: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    command, rendered = rendered_step(name)
    assert command[0] == "python"
    # Argo substitutes the {{...}} parameters; the test stands in for it with the run's values.
    merged = {**os.environ, **rendered, **env}
    return subprocess.run(
        [str(python), *command[1:]], env=merged, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    """One store for the module: creating MLflow's schema takes seconds."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def mlflow(tmp_path, tracking_uri):
    python = mlflow_venv() / "bin" / "python"
    env = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLOPS_OUTPUTS": str(tmp_path / "outputs"),
        "MLOPS_WORKFLOW": "fraud-train-x7k2p",
        "DATASET_URI": "s3://bucket/datasets/risk/fraud/",
        "CODE_COMMIT": "a81b77e",
    }
    return python, env, tmp_path


def start_and_train(python: Path, env: dict[str, str], tmp_path: Path, auc: float) -> str:
    started = run_step(python, "start-run", env)
    assert started.returncode == 0, started.stderr
    run_id = (tmp_path / "outputs" / "run-id").read_text()
    # The team's training: logs to the active run (MLFLOW_RUN_ID), as the image contract says.
    train = f"import mlflow\nwith mlflow.start_run():\n    mlflow.log_metric('val_auc', {auc!r})\n"
    trained = subprocess.run(
        [str(python), "-c", train],
        env={**os.environ, **env, "MLFLOW_RUN_ID": run_id},
        capture_output=True,
        text=True,
    )
    assert trained.returncode == 0, trained.stderr
    return run_id


def test_a_run_over_the_threshold_is_registered_with_its_lineage_tags(mlflow):
    python, env, tmp_path = mlflow
    run_id = start_and_train(python, env, tmp_path, 0.95)
    gate = run_step(python, "evaluation-gate", {**env, "MLFLOW_RUN_ID": run_id})
    assert gate.returncode == 0, gate.stderr
    assert "val_auc = 0.95 (needs >= 0.9): passed" in gate.stdout
    registered = run_step(python, "register", {**env, "MLFLOW_RUN_ID": run_id})
    assert registered.returncode == 0, registered.stderr
    version = (tmp_path / "outputs" / "version").read_text()
    check = (
        f"from mlflow import MlflowClient\nc = MlflowClient()\nv = c.get_model_version('fraud-scorer', '{version}')\n"
        "r = c.get_run(v.run_id)\nprint(v.run_id, v.source, sorted(v.tags.items()), r.info.status)"
    )
    shown = subprocess.run(
        [str(python), "-c", check], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert shown.stdout.split(" ", 2)[:2] == [run_id, f"runs:/{run_id}/model"]
    assert (
        str(sorted({"run_id": run_id, "dataset_uri": env["DATASET_URI"], "git_commit": "a81b77e"}.items()))
        in shown.stdout
    )
    assert shown.stdout.strip().endswith("FINISHED")


def test_a_run_under_the_threshold_fails_the_gate_and_registers_nothing(mlflow):
    python, env, tmp_path = mlflow
    run_id = start_and_train(python, env, tmp_path, 0.85)
    gate = run_step(python, "evaluation-gate", {**env, "MLFLOW_RUN_ID": run_id})
    assert gate.returncode == 1
    assert "val_auc = 0.85 (needs >= 0.9): failed" in gate.stdout
    check = f"from mlflow import MlflowClient\nprint(len(MlflowClient().search_model_versions(\"run_id='{run_id}'\")))"
    shown = subprocess.run(
        [str(python), "-c", check], env={**os.environ, **env}, capture_output=True, text=True
    )
    assert shown.stdout.strip() == "0", shown.stderr
    assert not (tmp_path / "outputs" / "version").exists()


def test_a_run_that_logged_no_metric_fails_the_gate_naming_what_it_logged(mlflow):
    python, env, tmp_path = mlflow
    started = run_step(python, "start-run", env)
    run_id = (tmp_path / "outputs" / "run-id").read_text()
    assert started.returncode == 0
    gate = run_step(python, "evaluation-gate", {**env, "MLFLOW_RUN_ID": run_id})
    assert gate.returncode == 1
    assert f"run {run_id} logged no metric 'val_auc' (logged: none)" in gate.stderr
