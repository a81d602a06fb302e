"""``TrainingPipeline``: a team's reproducible training run, on demand or on a schedule, from data in
the artifact store to a version registered in MLflow.

It renders, in the team's namespace: a WorkflowTemplate whose DAG runs

1. ``start-run``: creates the MLflow run every later step logs to (``MLFLOW_RUN_ID``);
2. ``prepare`` (optional): the team's data preparation;
3. ``train``: the team's training on the chosen pool (a GPU pool, spot allowed), checkpointing to
   ``CHECKPOINT_URI`` so that a pod lost to a spot interruption is retried and resumes there;
4. ``evaluate``: the team's evaluation (optional), then a gate on the run's metric against the
   threshold: a miss fails the workflow and registers nothing;
5. ``register``: a new version of the registered model, tagged with the run ID, dataset URI and git
   commit;

a CronWorkflow when it has a schedule; a service account whose Pod Identity role reads only the
declared data prefixes and reads and writes only ``pipelines/<team>/<pipeline>/`` (no registry push,
nothing else in the bucket); the team's MLflow credentials synced from Secrets Manager; and the
artifact repository of its step logs. Every pod names the team's Kueue LocalQueue.

The training image contract (docs/pipelines.md): Python with the MLflow client; ``train`` logs to the
active run (``mlflow.start_run()`` picks up ``MLFLOW_RUN_ID``), logs the model under ``modelPath``,
reads ``DATASET_URI`` and resumes from ``CHECKPOINT_URI`` when it holds a checkpoint.

Example (a team's own project)::

    TrainingPipeline("fraud-train", TrainingPipelineSpec(
        image="123456789012.dkr.ecr.us-east-1.amazonaws.com/risk/fraud-trainer@sha256:...",
        registered_model="fraud-scorer", data_prefixes=["datasets/risk/fraud/"],
        train=TrainStep(command=["python", "-m", "fraud.train"], pool="gpu-burst"),
        evaluate=EvaluateStep(metric="val_auc", threshold=0.92), mlflow_secret="mlflow-risk",
        schedule="0 3 * * 1"), platform, team="risk", opts=pulumi.ResourceOptions(provider=...))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.data.artifact_store import store_prefix_problems
from mlops_platform.components.data.platform_secrets import external_secret, properties
from mlops_platform.components.lifecycle import mlflow_steps, workflows
from mlops_platform.components.lifecycle.pipelines import ARTIFACT_PREFIX, artifact_repository
from mlops_platform.components.refs import GpuPoolInfo, PlatformRef
from mlops_platform.components.support import kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import (
    Problem,
    bounds_problems,
    cron_problems,
    dns_label_problem,
    image_problems,
    quantity_problems,
)


@spec
class PipelineStep:
    """A step that runs the team's command in the pipeline's image."""

    command: Sequence[str]
    """The command, e.g. ``[python, -m, fraud.prepare]``."""
    cpu: str = "1"
    """CPU request. Default: 1."""
    memory: str = "4Gi"
    """Memory request and limit. Default: 4Gi."""

    def problems(self) -> list[Problem]:
        found = (
            []
            if self.command
            else [Problem("command", "must name the command to run, e.g. [python, -m, my.step]")]
        )
        return [*found, *quantity_problems("cpu", self.cpu), *quantity_problems("memory", self.memory)]


@spec
class TrainStep(PipelineStep):
    """The training step: where it runs and how it survives losing its node."""

    pool: str | None = None
    """GPU pool to train on (a spot pool is fine: checkpoints make it resumable). Default: CPU nodes."""
    gpus: int = 1
    """GPUs with ``pool``. Default: 1."""
    retries: int = 3
    """Times a pod lost to its node (spot interruption, drain) is retried; it resumes from its
    checkpoint. A failure of the command itself is not retried. Default: 3."""
    timeout_hours: int = 24
    """The step fails after this long. Default: 24."""

    def problems(self) -> list[Problem]:
        bounds = {"retries": (0, 20), "timeout_hours": (1, 168), **({"gpus": (1, 16)} if self.pool else {})}
        return [*super().problems(), *bounds_problems(self, bounds)]


@spec
class EvaluateStep:
    """The gate between training and registration."""

    metric: str
    """Metric the run logged (in train, or in ``command``) that decides, e.g. ``val_auc``."""
    threshold: float
    """The value the metric must reach."""
    greater_is_better: bool = True
    """Higher passes (``metric >= threshold``); off for losses (``<=``). Default: on."""
    command: Sequence[str] = ()
    """The team's evaluation, run before the gate and logging to the same run. Default: none (the
    metric was logged in training)."""
    cpu: str = "1"
    """CPU request of ``command``. Default: 1."""
    memory: str = "4Gi"
    """Memory of ``command``. Default: 4Gi."""

    def problems(self) -> list[Problem]:
        found = [] if self.metric.strip() else [Problem("metric", "must name the MLflow metric that decides")]
        return [*found, *quantity_problems("cpu", self.cpu), *quantity_problems("memory", self.memory)]


@spec
class TrainingPipelineSpec:
    """One training pipeline of a team."""

    name: str
    """Pipeline name, unique in the team (a DNS label of at most 40 characters)."""
    image: str
    """The training image (with the MLflow client), pinned by tag or digest."""
    registered_model: str
    """MLflow registered model the pipeline adds versions to."""
    data_prefixes: Sequence[str]
    """Artifact-store prefixes the pipeline may read, e.g. ``datasets/risk/fraud/``; the first is the
    default ``DATASET_URI``."""
    train: TrainStep
    """The training step."""
    evaluate: EvaluateStep
    """The evaluation gate."""
    mlflow_secret: str
    """Platform secret (``secrets.entries``) with the team's MLflow ``username`` and ``password``."""
    prepare: PipelineStep | None = None
    """Data preparation before training. Default: none."""
    schedule: str | None = None
    """Retrain on this cron schedule (a CronWorkflow), e.g. ``0 3 * * 1``. Default: on demand only."""
    timezone: str = "UTC"
    """Time zone of ``schedule``. Default: UTC."""
    model_path: str = "model"
    """Artifact path the training logs the model under in its run. Default: model."""
    code_commit: str = "unknown"
    """Git commit of the training code, tagged on the run and the version (a submission may override
    it). Default: unknown."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment of every step. Default: none."""

    def artifact_prefix(self, team: str) -> str:
        """What the pipeline writes: ``pipelines/<team>/<name>/`` (checkpoints, step logs)."""
        return f"{ARTIFACT_PREFIX}{team}/{self.name}/"

    def service_account(self) -> str:
        return f"{self.name}-pipeline"

    def credentials_secret(self) -> str:
        """The Secret with the team's MLflow user, as the client's environment variables."""
        return f"{self.name}-mlflow"

    def repository_config_map(self) -> str:
        """The ConfigMap of the pipeline's artifact repository (key ``repository``)."""
        return f"{self.name}-artifacts"

    def problems(self, gpu_pools: Mapping[str, GpuPoolInfo] | None = None) -> list[Problem]:
        """``gpu_pools``: the platform's pools, when known (an unknown ``train.pool`` is refused)."""
        found = [p for p in [dns_label_problem("name", self.name, max_length=40)] if p]
        found += image_problems("image", self.image)
        if not self.registered_model.strip():
            found.append(Problem("registered_model", "must name the MLflow registered model"))
        if not self.data_prefixes:
            found.append(
                Problem("data_prefixes", "must list at least one prefix to read, e.g. [datasets/risk/]")
            )
        for i, prefix in enumerate(self.data_prefixes):
            found += store_prefix_problems(f"data_prefixes[{i}]", prefix, "datasets/risk/fraud/")
        found += [p.nested("train") for p in self.train.problems()]
        found += [p.nested("evaluate") for p in self.evaluate.problems()]
        if self.prepare is not None:
            found += [p.nested("prepare") for p in self.prepare.problems()]
        if self.schedule is not None:
            found += cron_problems("schedule", self.schedule)
        if gpu_pools is not None and self.train.pool and self.train.pool not in gpu_pools:
            known = ", ".join(sorted(gpu_pools)) or "none"
            found.append(Problem("train.pool", f"unknown GPU pool {self.train.pool!r}; pools: {known}"))
        return found


class TrainingPipeline(PlatformComponent):
    """A team's training pipeline: its WorkflowTemplate, schedule, identity and MLflow credentials."""

    role_arn: pulumi.Output[str]
    """Role the pipeline's pods assume."""
    template_name: str
    """The WorkflowTemplate to submit (``workflowTemplateRef``)."""
    artifact_prefix: str
    """Where the pipeline writes: ``pipelines/<team>/<pipeline>/`` (checkpoints, step logs)."""

    def __init__(
        self,
        name: str,
        spec: TrainingPipelineSpec,
        platform: PlatformRef,
        *,
        team: str,
        namespace_ready: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``team``: the namespace it runs in (the team's, with its LocalQueue); ``namespace_ready``:
        what must exist first (the TeamNamespace's Namespace, in the platform program)."""
        problems = [*spec.problems(platform.gpu_pools), *platform.context.problems()]
        problems += [p for p in [dns_label_problem("team", team)] if p]
        if platform.mlflow_url is None:
            problems.append(
                Problem("platform.mlflow_url", "is unknown; read the platform ref from its stack outputs")
            )
        super().__init__("mlops:pipelines:TrainingPipeline", name, "TrainingPipelineSpec", problems, opts)
        depends = platform.dependencies
        context = platform.context.tagged(team=team, pipeline=spec.name)
        prefix = spec.artifact_prefix(team)
        self.artifact_prefix, self.template_name = prefix, spec.name
        service_account = spec.service_account()
        labels = {
            **kube.labels(spec.name, "training-pipeline"),
            kube.TEAM_LABEL: team,
            workflows.WORKFLOW_LABEL: spec.name,
        }
        in_namespace = self.after(namespace_ready)
        runner = workflows.Runner(team, service_account, labels, context.tags)
        role = workflows.workflow_identity(
            name, runner, platform, read=spec.data_prefixes, write=[prefix], opts=in_namespace
        )
        self.role_arn = role.arn
        # The MLflow client reads its basic-auth user from these two variables.
        login = {"MLFLOW_TRACKING_USERNAME": "username", "MLFLOW_TRACKING_PASSWORD": "password"}
        synced = external_secret(
            f"{name}-mlflow-credentials",
            namespace=team,
            target=spec.credentials_secret(),
            entries=properties(f"{platform.secrets_path_prefix}/{spec.mlflow_secret}", login),
            labels=labels,
            opts=self.after(namespace_ready, depends.external_secrets),
        )
        repository_map = k8s.core.v1.ConfigMap(
            f"{name}-artifact-repository",
            metadata={"name": spec.repository_config_map(), "namespace": team, "labels": labels},
            data={
                "repository": pulumi.Output.all(
                    platform.artifact_bucket_name, platform.artifact_kms_key_arn
                ).apply(
                    lambda a: json.dumps(
                        {
                            "archiveLogs": True,
                            "s3": artifact_repository(
                                a[0], a[1], platform.region, prefix + "{{workflow.name}}/{{pod.name}}"
                            ),
                        },
                        sort_keys=True,
                    )
                )
            },
            opts=in_namespace,
        )
        workflows.template_and_schedule(
            name,
            metadata={"name": spec.name, "namespace": team, "labels": labels},
            spec=training_workflow_spec(spec, platform, team),
            schedule=spec.schedule,
            timezone=spec.timezone,
            opts=self.after(namespace_ready, depends.pipelines, [synced, repository_map]),
        )
        self.register_outputs({"roleArn": self.role_arn, "templateName": self.template_name})


def training_workflow_spec(spec: TrainingPipelineSpec, platform: PlatformRef, team: str) -> dict[str, Any]:
    """The WorkflowTemplate's spec: the DAG, its parameters and every step's container."""
    run_id = "{{tasks.start-run.outputs.parameters.run-id}}"
    bucket = platform.artifact_bucket_name
    output_uri = pulumi.Output.concat("s3://", bucket, "/", spec.artifact_prefix(team))
    common_env = [
        {"name": "MLFLOW_TRACKING_URI", "value": platform.mlflow_url},
        {"name": "MLOPS_EXPERIMENT", "value": f"{team}/{spec.name}"},
        {"name": "MLOPS_WORKFLOW", "value": "{{workflow.name}}"},
        {"name": "DATASET_URI", "value": "{{workflow.parameters.dataset-uri}}"},
        {"name": "CODE_COMMIT", "value": "{{workflow.parameters.code-commit}}"},
        {"name": "OUTPUT_URI", "value": output_uri},
        {
            "name": "CHECKPOINT_URI",
            "value": pulumi.Output.concat(output_uri, "checkpoints/{{workflow.name}}/"),
        },
        {"name": "MLOPS_OUTPUTS", "value": "/tmp/outputs"},
        {"name": "AWS_DEFAULT_REGION", "value": platform.region},
        {"name": "HOME", "value": "/tmp"},
        *({"name": k, "value": v} for k, v in sorted(spec.env.items())),
    ]
    secrets = [{"secretRef": {"name": spec.credentials_secret()}}]

    def step(
        name: str, command: Sequence[str], cpu: str, memory: str, *, run: bool = True, **extra: Any
    ) -> dict[str, Any]:
        env = [
            *common_env,
            *([{"name": "MLFLOW_RUN_ID", "value": "{{inputs.parameters.run-id}}"}] if run else []),
        ]
        resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory}}
        if extra.get("gpus"):
            resources["requests"][kube.GPU_RESOURCE] = resources["limits"][kube.GPU_RESOURCE] = extra.pop(
                "gpus"
            )
        body: dict[str, Any] = {
            "name": name,
            "container": workflows.container(
                spec.image, command, env=env, resources=resources, env_from=secrets
            ),
            **extra,
        }
        if run:
            body["inputs"] = {"parameters": [{"name": "run-id"}]}
        return body

    def python(script: str) -> list[str]:
        return ["python", "-c", script]

    outputs = {"parameters": [{"name": "run-id", "valueFrom": {"path": "/tmp/outputs/run-id"}}]}
    templates = [
        step("start-run", python(mlflow_steps.START_RUN), "100m", "512Mi", run=False, outputs=outputs),
    ]
    tasks: list[dict[str, Any]] = [{"name": "start-run", "template": "start-run"}]
    previous = "start-run"

    def task(name: str) -> None:
        nonlocal previous
        tasks.append(
            {
                "name": name,
                "template": name,
                "dependencies": [previous],
                "arguments": {"parameters": [{"name": "run-id", "value": run_id}]},
            }
        )
        previous = name

    if spec.prepare is not None:
        templates.append(step("prepare", spec.prepare.command, spec.prepare.cpu, spec.prepare.memory))
        task("prepare")
    train = spec.train
    scheduling: dict[str, Any] = {}
    if train.pool:
        scheduling = {"nodeSelector": {kube.GPU_POOL_LABEL: train.pool}, "tolerations": [kube.GPU_TOLERATION]}
    templates.append(
        step(
            "train",
            train.command,
            train.cpu,
            train.memory,
            gpus=train.gpus if train.pool else 0,
            # A pod lost with its node (spot reclaimed, drained) is an Argo "error", not a failure:
            # retried, and the training resumes from CHECKPOINT_URI. A failing command is not.
            retryStrategy={
                "limit": train.retries,
                "retryPolicy": "OnError",
                "backoff": {"duration": "1m", "factor": 2, "maxDuration": "30m"},
            },
            activeDeadlineSeconds=train.timeout_hours * 3600,
            **scheduling,
        )
    )
    task("train")
    evaluate = spec.evaluate
    if evaluate.command:
        templates.append(step("evaluate", evaluate.command, evaluate.cpu, evaluate.memory))
        task("evaluate")
    gate_env = [
        {"name": "MLOPS_METRIC", "value": evaluate.metric},
        {"name": "MLOPS_THRESHOLD", "value": repr(float(evaluate.threshold))},
        {"name": "MLOPS_GREATER_IS_BETTER", "value": "true" if evaluate.greater_is_better else "false"},
    ]
    gate = step("evaluation-gate", python(mlflow_steps.EVALUATION_GATE), "100m", "512Mi")
    gate["container"]["env"] += gate_env
    templates.append(gate)
    task("evaluation-gate")
    register = step(
        "register",
        python(mlflow_steps.REGISTER),
        "100m",
        "512Mi",
        outputs={"parameters": [{"name": "version", "valueFrom": {"path": "/tmp/outputs/version"}}]},
    )
    register["container"]["env"] += [
        {"name": "MLOPS_REGISTERED_MODEL", "value": spec.registered_model},
        {"name": "MLOPS_MODEL_PATH", "value": spec.model_path},
    ]
    templates.append(register)
    task("register")
    templates.insert(0, {"name": "pipeline", "dag": {"tasks": tasks}})
    return workflows.workflow_spec(
        team=team,
        workflow=spec.name,
        service_account=spec.service_account(),
        entrypoint="pipeline",
        templates=templates,
        arguments=[
            {
                "name": "dataset-uri",
                "value": pulumi.Output.concat("s3://", bucket, "/", spec.data_prefixes[0]),
            },
            {"name": "code-commit", "value": spec.code_commit},
        ],
        extra={
            "artifactRepositoryRef": {"configMap": spec.repository_config_map(), "key": "repository"},
            "volumes": [workflows.scratch_volume("50Gi")],
        },
    )
