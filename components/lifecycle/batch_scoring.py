"""``BatchScoring``: one model version scores every object under an input prefix into an output
prefix, in shards, with the model's own image; on a schedule (a CronWorkflow) or on demand
(``blueprint batch run MODEL --stack S``).

It renders, in the team's namespace: a WorkflowTemplate that fans out ``shards`` pods (each told
``SHARD_INDEX`` and ``SHARD_COUNT``), retried on failure, spot allowed; its custom metrics (last run
failed, run duration) and the alerts on them (failure, a run over its expected duration); a
CronWorkflow when it has a schedule; and a service account whose Pod Identity role reads only the
input prefix and the version's model files and writes only the output prefix.

Writes are idempotent by construction: the output key of an input object is
``<output prefix><model version>/<input key>.jsonl``, so a rerun or a retried shard overwrites what it
wrote before and never adds a second copy; each output line carries the model version
(``MODEL_VERSION``), which is what lets the monitoring reconcile batch with online predictions.

The batch contract of the model image (docs/pipelines.md): ``command`` lists the objects under
``INPUT_URI``, keeps those whose key hashes to its shard (``crc32(key) % SHARD_COUNT ==
SHARD_INDEX``), scores each with the model at ``MODEL_URI`` and writes ``OUTPUT_URI<key>.jsonl``.

Example (a team's own project)::

    BatchScoring("scorer-batch", BatchScoringSpec(input_prefix="datasets/risk/transactions/",
                 output_prefix="scores/risk/fraud-scorer/", command=["python", "-m", "scorer.batch"],
                 shards=8, schedule="0 2 * * *"), platform, model="scorer", model_spec=spec,
                 repository_url=endpoint.repository_url)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from mlops_platform.components.data.artifact_store import store_prefix_problems
from mlops_platform.components.lifecycle import workflows
from mlops_platform.components.observability.alerting import Alert, Severity, prometheus_rule, rule_labels
from mlops_platform.components.observability.stack import NAMESPACE as MONITORING
from mlops_platform.components.refs import PlatformRef
from mlops_platform.components.serving.model_endpoint.spec import ModelEndpointSpec
from mlops_platform.components.serving.model_endpoint.version import ModelVersion
from mlops_platform.components.support import kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import (
    Problem,
    bounds_problems,
    cron_problems,
    quantity_problems,
)

FAILED_METRIC = "batch_scoring_failed"
"""Set to 1 when a run fails, 0 when one succeeds (Argo prefixes ``argo_workflows_``)."""
DURATION_METRIC = "batch_scoring_duration_seconds"
"""The running (or last) run's duration, updated while it runs. Both are the ``batch-scoring``
contract of components/support/exporters.py, which the alert-metrics policy checks alerts against."""
SHARDS_ANNOTATION = f"{kube.LABEL_DOMAIN}/batch-shards"
EXPECTED_MINUTES_ANNOTATION = f"{kube.LABEL_DOMAIN}/batch-expected-minutes"
"""What the cost model reads to price one run."""
BATCH_LABEL = f"{kube.LABEL_DOMAIN}/batch-scoring"


@spec
class BatchScoringSpec:
    """A model version scoring an input prefix into an output prefix."""

    input_prefix: str
    """Artifact-store prefix whose objects are scored, e.g. ``datasets/risk/transactions/``."""
    output_prefix: str
    """Artifact-store prefix the scores go under (``<output><version>/<input key>.jsonl``)."""
    command: Sequence[str]
    """The image's batch entrypoint, e.g. ``[python, -m, scorer.batch]``."""
    version: str | None = None
    """The model version that scores. Default: the stable."""
    shards: int = 4
    """Pods the input is split over. Default: 4."""
    schedule: str | None = None
    """Score on this cron schedule (a CronWorkflow), e.g. ``0 2 * * *``. Default: on demand only."""
    timezone: str = "UTC"
    """Time zone of ``schedule``. Default: UTC."""
    expected_minutes: int = 60
    """How long a run should take; longer fires BatchScoringOverdue, and the cost per run assumes it.
    Default: 60."""
    retries: int = 3
    """Times a failed shard is retried (its writes are idempotent). Default: 3."""
    pool: str | None = None
    """GPU pool to score on, e.g. a spot pool while the endpoint serves on-demand. Default: the
    model's own pool (or CPU nodes)."""
    cpu: str | None = None
    """CPU request of a shard (a smaller node type may need less than a server). Default: the
    model's ``resources.cpu``."""
    memory: str | None = None
    """Memory request and limit of a shard. Default: the model's ``resources.memory``."""

    def problems(self, model: ModelEndpointSpec, gpu_pools: Sequence[str] | None = None) -> list[Problem]:
        found = [
            *store_prefix_problems("input_prefix", self.input_prefix, "datasets/risk/transactions/"),
            *store_prefix_problems("output_prefix", self.output_prefix, "scores/risk/fraud-scorer/"),
        ]
        if not found and (
            self.output_prefix.startswith(self.input_prefix)
            or self.input_prefix.startswith(self.output_prefix)
        ):
            found.append(
                Problem(
                    "output_prefix",
                    f"must not overlap input_prefix ({self.input_prefix!r}): scores would be rescored",
                )
            )
        if not self.command:
            found.append(
                Problem("command", "must name the image's batch entrypoint, e.g. [python, -m, scorer.batch]")
            )
        for key in ("cpu", "memory"):
            value = getattr(self, key)
            found += quantity_problems(key, value) if value is not None else []
        if self.shards < 1:
            found.append(Problem("shards", f"must be at least 1 (got {self.shards})"))
        bounds = {"expected_minutes": (1, 7 * 24 * 60), "retries": (0, 20)}
        found += bounds_problems(self, {**bounds, **({"shards": (1, 1000)} if self.shards >= 1 else {})})
        if self.schedule is not None:
            found += cron_problems("schedule", self.schedule)
        names = [v.name for v in model.all_versions()]
        if self.version is not None and self.version not in names:
            found.append(
                Problem("version", f"unknown version {self.version!r}; this model serves {', '.join(names)}")
            )
        if self.pool is not None:
            if model.resources.gpus == 0:
                found.append(Problem("pool", "needs a model that requests GPUs (resources.gpus)"))
            elif gpu_pools is not None and self.pool not in gpu_pools:
                known = ", ".join(sorted(gpu_pools)) or "none"
                found.append(Problem("pool", f"unknown GPU pool {self.pool!r}; pools: {known}"))
        return found

    def scoring_version(self, model: ModelEndpointSpec) -> ModelVersion:
        return next(v for v in model.all_versions() if v.name == (self.version or model.stable.name))


class BatchScoring(PlatformComponent):
    """One model version's batch scoring: template, schedule, identity and alerts."""

    role_arn: pulumi.Output[str]
    """Role the scoring pods assume."""
    template_name: str
    """The WorkflowTemplate ``blueprint batch run`` submits."""
    namespace: str
    version: str
    """The model version that scores."""

    def __init__(
        self,
        name: str,
        spec: BatchScoringSpec,
        platform: PlatformRef,
        *,
        model: str,
        model_spec: ModelEndpointSpec,
        repository_url: pulumi.Input[str],
        namespace_ready: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``model``, ``model_spec``: the endpoint whose version scores (its image in
        ``repository_url``, its artifact prefix, its resources); ``namespace_ready``: its team's
        namespace, when this program creates it."""
        problems = [*spec.problems(model_spec, list(platform.gpu_pools)), *platform.context.problems()]
        super().__init__("mlops:pipelines:BatchScoring", name, "BatchScoringSpec", problems, opts)
        team, version = model_spec.team, spec.scoring_version(model_spec)
        self.namespace, self.version = team, version.name
        self.template_name = f"{model}-batch"
        context = platform.context.tagged(team=team, model=model)
        labels = {
            **kube.labels(self.template_name, "batch-scoring"),
            kube.TEAM_LABEL: team,
            kube.MODEL_LABEL: model,
            workflows.WORKFLOW_LABEL: self.template_name,
            BATCH_LABEL: "true",
        }
        in_namespace = self.after(namespace_ready)
        model_prefix = model_spec.artifact_prefix or f"models/{team}/{model}/"
        model_files = f"{model_prefix}{version.model_path or version.name}/"
        service_account = f"{model}-batch"
        runner = workflows.Runner(team, service_account, labels, context.tags)
        # Its input and its version's model files; its output: nothing else in the bucket.
        read = [spec.input_prefix, model_files]
        role = workflows.workflow_identity(
            name, runner, platform, read=read, write=[spec.output_prefix], opts=in_namespace
        )
        self.role_arn = role.arn
        plain = [
            {"name": "MODEL_NAME", "value": model},
            {"name": "MODEL_VERSION", "value": version.name},
            {"name": "SHARD_INDEX", "value": "{{inputs.parameters.shard}}"},
            {"name": "SHARD_COUNT", "value": str(spec.shards)},
            # With a monitor, the entrypoint prints a capture record (source "batch", the input row's
            # request ID) for this share of rows: the monitor reconciles batch with online.
            {
                "name": "CAPTURE_SAMPLE_RATE",
                "value": f"{model_spec.monitor.sampling_rate:g}" if model_spec.monitor else "0",
            },
            {"name": "AWS_DEFAULT_REGION", "value": platform.region},
            {"name": "HOME", "value": "/tmp"},
            *({"name": k, "value": v} for k, v in sorted(model_spec.env.items())),
        ]
        # Where it reads and writes, in one Output: a model per job makes hundreds of these.
        env = pulumi.Output.from_input(platform.artifact_bucket_name).apply(
            lambda bucket: [
                {"name": "MODEL_URI", "value": f"s3://{bucket}/{model_files}"},
                {"name": "INPUT_URI", "value": f"s3://{bucket}/{spec.input_prefix}"},
                {"name": "OUTPUT_URI", "value": f"s3://{bucket}/{spec.output_prefix}{version.name}/"},
                *plain,
            ]
        )
        resources = model_spec.resources
        memory = spec.memory or resources.memory
        requests: dict[str, Any] = {"cpu": spec.cpu or resources.cpu, "memory": memory}
        limits: dict[str, Any] = {"memory": memory}
        scheduling: dict[str, Any] = {}
        pool = spec.pool or resources.gpu_pool
        if resources.gpus:
            requests[kube.GPU_RESOURCE] = limits[kube.GPU_RESOURCE] = resources.gpus
            scheduling = {"nodeSelector": {kube.GPU_POOL_LABEL: pool}, "tolerations": [kube.GPU_TOLERATION]}
        image = pulumi.Output.concat(repository_url, version.reference())
        shard = {
            "name": "shard",
            "inputs": {"parameters": [{"name": "shard"}]},
            "container": workflows.container(
                image, spec.command, env=env, resources={"requests": requests, "limits": limits}
            ),
            # A shard that fails (or loses its spot node) runs again: its writes overwrite, never add.
            "retryStrategy": {
                "limit": spec.retries,
                "retryPolicy": "Always",
                "backoff": {"duration": "30s", "factor": 2, "maxDuration": "15m"},
            },
            **scheduling,
        }
        fan_out = {
            "name": "score",
            "steps": [
                [
                    {
                        "name": "shard",
                        "template": "shard",
                        "arguments": {"parameters": [{"name": "shard", "value": "{{item}}"}]},
                        "withSequence": {"count": str(spec.shards)},
                    }
                ]
            ],
        }
        metric_labels = [{"key": "team", "value": team}, {"key": "model", "value": model}]

        def failed(value: str, status: str) -> dict[str, Any]:
            return {
                "name": FAILED_METRIC,
                "help": "1 when the last batch scoring run of the model failed",
                "labels": metric_labels,
                "when": f"{{{{workflow.status}}}} == {status}",
                "gauge": {"value": value, "realtime": False},
            }

        workflow = workflows.workflow_spec(
            team=team,
            workflow=self.template_name,
            service_account=service_account,
            entrypoint="score",
            templates=[fan_out, shard],
            # OpenCost's allocation by model and version sees the scoring pods as the endpoint's.
            pod_labels={kube.MODEL_LABEL: model, kube.VERSION_LABEL: version.name},
            extra={
                "volumes": [workflows.scratch_volume("20Gi")],
                # A run is cut at four times its expectation (the alert fires at one).
                "activeDeadlineSeconds": spec.expected_minutes * 60 * 4,
                "metrics": {
                    "prometheus": [
                        failed("1", "Failed"),
                        failed("0", "Succeeded"),
                        {
                            "name": DURATION_METRIC,
                            "help": "Seconds the batch scoring run of the model has taken",
                            "labels": metric_labels,
                            "gauge": {"realtime": True, "value": "{{workflow.duration}}"},
                        },
                    ]
                },
            },
        )
        metadata = {
            "name": self.template_name,
            "namespace": team,
            "labels": labels,
            "annotations": {
                SHARDS_ANNOTATION: str(spec.shards),
                EXPECTED_MINUTES_ANNOTATION: str(spec.expected_minutes),
            },
        }
        workflows.template_and_schedule(
            name,
            metadata=metadata,
            spec=workflow,
            schedule=spec.schedule,
            timezone=spec.timezone,
            opts=self.after(namespace_ready, platform.dependencies.pipelines),
        )
        self._alerts(name, team, model, spec, platform)
        self.register_outputs({"roleArn": self.role_arn, "templateName": self.template_name})

    def _alerts(
        self, name: str, team: str, model: str, spec: BatchScoringSpec, platform: PlatformRef
    ) -> None:
        selector = f'team="{team}",model="{model}"'
        where = f"{team}/{model}"
        alerts = [
            Alert(
                "BatchScoringFailed",
                f"max(argo_workflows_{FAILED_METRIC}{{{selector}}}) == 1",
                "0m",
                Severity.WARNING,
                f"Batch scoring of {where} failed",
                "Its last run ended Failed after the shards' retries: the output prefix may lack the scores "
                "of some inputs until a run succeeds.",
                "batch-scoring",
            ),
            Alert(
                "BatchScoringOverdue",
                f"max(argo_workflows_{DURATION_METRIC}{{{selector}}}) > {spec.expected_minutes * 60}",
                "0m",
                Severity.WARNING,
                f"Batch scoring of {where} runs longer than its expected {spec.expected_minutes} minutes",
                "The run (or the last one) took longer than batch.expectedMinutes: shards queued for quota, "
                "lost spot nodes, or more input than usual.",
                "batch-scoring",
            ),
        ]
        prometheus_rule(
            f"{name}-alerts",
            namespace=MONITORING,
            groups=[
                {
                    "name": f"batch-{team}-{model}",
                    "rules": [a.rule(platform.runbook_base_url) for a in alerts],
                }
            ],
            labels={**rule_labels(f"{model}-batch"), kube.MODEL_LABEL: model, kube.TEAM_LABEL: team},
            object_name=f"{team}-{model}-batch",
            opts=self.after(platform.dependencies.prometheus_operator),
        )
