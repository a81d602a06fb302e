"""The steps of a training pipeline that talk to MLflow, as the Python they run in the team's training
image (which has the MLflow client, since the training code logs with it). Each reads its inputs from
the environment the WorkflowTemplate sets and writes its outputs as files under ``$MLOPS_OUTPUTS``
(Argo's output parameters). tests/test_training_pipeline.py runs them, as rendered, against MLflow."""

from __future__ import annotations

START_RUN = """
import os
from mlflow import MlflowClient

client = MlflowClient()
name = os.environ["MLOPS_EXPERIMENT"]
experiment = client.get_experiment_by_name(name)
experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
tags = {
    "mlops.workflow": os.environ["MLOPS_WORKFLOW"],
    "mlops.dataset_uri": os.environ["DATASET_URI"],
    "mlops.code_commit": os.environ["CODE_COMMIT"],
}
run = client.create_run(experiment_id, run_name=os.environ["MLOPS_WORKFLOW"], tags=tags)
outputs = os.environ.get("MLOPS_OUTPUTS", "/tmp/outputs")
os.makedirs(outputs, exist_ok=True)
with open(os.path.join(outputs, "run-id"), "w") as out:
    out.write(run.info.run_id)
print(f"started run {run.info.run_id} in experiment {name!r}")
""".strip()
"""Creates the run every later step works in (``MLFLOW_RUN_ID``: ``mlflow.start_run()`` resumes it)."""

EVALUATION_GATE = """
import os, sys
from mlflow import MlflowClient

client = MlflowClient()
run_id, metric = os.environ["MLFLOW_RUN_ID"], os.environ["MLOPS_METRIC"]
threshold = float(os.environ["MLOPS_THRESHOLD"])
higher = os.environ["MLOPS_GREATER_IS_BETTER"] == "true"
value = client.get_run(run_id).data.metrics.get(metric)
if value is None:
    logged = ", ".join(sorted(client.get_run(run_id).data.metrics)) or "none"
    print(f"run {run_id} logged no metric {metric!r} (logged: {logged}); log it in train or evaluate", file=sys.stderr)
    client.set_terminated(run_id, "FAILED")
    sys.exit(1)
passed = value >= threshold if higher else value <= threshold
client.set_tag(run_id, "mlops.evaluation", "passed" if passed else "failed")
relation = ">=" if higher else "<="
print(f"{metric} = {value} (needs {relation} {threshold}): {'passed' if passed else 'failed'}")
if not passed:
    client.set_terminated(run_id, "FAILED")
    sys.exit(1)
""".strip()
"""Fails the workflow (and the run) when the run's metric misses the threshold: nothing is registered."""

REGISTER = """
import os
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

client = MlflowClient()
run_id, name = os.environ["MLFLOW_RUN_ID"], os.environ["MLOPS_REGISTERED_MODEL"]
try:
    client.create_registered_model(name)
except MlflowException as error:
    if error.error_code != "RESOURCE_ALREADY_EXISTS":
        raise
tags = {"run_id": run_id, "dataset_uri": os.environ["DATASET_URI"], "git_commit": os.environ["CODE_COMMIT"]}
source = f"runs:/{run_id}/{os.environ['MLOPS_MODEL_PATH']}"
version = client.create_model_version(name, source, run_id=run_id, tags=tags)
client.set_terminated(run_id, "FINISHED")
outputs = os.environ.get("MLOPS_OUTPUTS", "/tmp/outputs")
os.makedirs(outputs, exist_ok=True)
with open(os.path.join(outputs, "version"), "w") as out:
    out.write(str(version.version))
print(f"registered {name} version {version.version} from {source}")
""".strip()
"""Registers the run's model as a new version, tagged with its run, dataset and commit."""
