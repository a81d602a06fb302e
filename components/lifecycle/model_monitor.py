"""``ModelMonitor``: the monitoring of one model, made by its endpoint from the ``monitor`` block.

In the model's team namespace it renders a CronJob that runs the platform's model monitor image
(infra/images/model-monitor) on ``schedule`` with the configuration below in ``MONITOR_CONFIG``; a
service account whose Pod Identity role reads only the model's captures, its labels and its
reference set and writes only its reports; the alerts on what the job pushes (drift, data quality,
quality below its floor, shadow and batch disagreement) and on the job itself (failed, stale), each
with a runbook; a Grafana dashboard; and a Glue table over the model's captures with partition
projection (its versions, every day), so Athena reads them without a crawler.

With ``retrainOn``, the job may create one Workflow from the model's training pipeline's
WorkflowTemplate in the team namespace (a Role allows exactly that), at most once per cooldown.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform.components.data.platform_secrets import external_secret, properties
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.lifecycle.capture import COLUMNS, PREFIX, parquet_storage
from mlops_platform.components.lifecycle.monitor_spec import (
    LOWER_IS_BETTER,
    ModelMonitorSpec,
)
from mlops_platform.components.observability.alerting import Alert, Severity, prometheus_rule, rule_labels
from mlops_platform.components.observability.grafana import (
    dashboard_document,
    grafana_dashboard,
    timeseries_panel,
)
from mlops_platform.components.observability.stack import NAMESPACE as MONITORING
from mlops_platform.components.refs import MonitoringRef, PlatformRef
from mlops_platform.components.support import iam, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.validation import Problem

JOB_LABEL = f"{kube.LABEL_DOMAIN}/model-monitor"
REPOSITORY = "model-monitor"
"""The platform registry's repository of the monitor image (``blueprint monitor-image``)."""
RESOURCES = kube.container_resources("500m", "2Gi", "4Gi")


def monitoring_problems(platform: PlatformRef) -> list[Problem]:
    """A ``monitor`` block on a platform without model monitoring."""
    if platform.monitoring is None:
        return [
            Problem(
                "monitor",
                "the platform has no model monitoring (no modelMonitoring output): remove monitor, or "
                "turn monitoring on in the platform stack",
            )
        ]
    return []


def reports_prefix(team: str, model: str) -> str:
    return f"monitoring/{team}/{model}/"


def captures_prefix(model: str) -> str:
    return f"{PREFIX}model={model}/"


def table_name(model: str) -> str:
    return f"captures_{model.replace('-', '_')}"


class ModelMonitor(PlatformComponent):
    """One model's monitor job, its identity, alerts, dashboard and capture table."""

    job_name: str
    """The CronJob in the team namespace (``kubectl create job --from=cronjob/<it>`` runs it now)."""
    role_arn: pulumi.Output[str]
    """The job's Pod Identity role (its captures, labels and reference to read, its reports to write)."""

    def __init__(
        self,
        name: str,
        spec: ModelMonitorSpec,
        platform: PlatformRef,
        *,
        team: str,
        versions: Sequence[str],
        namespace_ready: Sequence[pulumi.Resource] = (),
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``name``: the model's; ``versions``: every version it runs (the table's partitions)."""
        problems = [
            *spec.problems(),
            *platform.context.problems(),
            *monitoring_problems(platform),
        ]
        super().__init__(
            "mlops:monitoring:ModelMonitor", f"{name}-monitor", "ModelMonitorSpec", problems, opts
        )
        assert platform.monitoring is not None  # checked above
        monitoring: MonitoringRef = platform.monitoring
        self.job_name = f"{name}-monitor"
        context = platform.context.tagged(team=team, model=name)
        labels = {
            **kube.labels(self.job_name, "model-monitor"),
            kube.TEAM_LABEL: team,
            kube.MODEL_LABEL: name,
            JOB_LABEL: "true",
        }
        in_namespace = self.after(namespace_ready)
        read = [captures_prefix(name), spec.reference]
        if spec.labels:
            read.append(spec.labels_prefix(team, name))
        write = [reports_prefix(team, name)]
        k8s.core.v1.ServiceAccount(
            f"{self.job_name}-service-account",
            metadata={"name": self.job_name, "namespace": team, "labels": labels},
            automount_service_account_token=spec.retrain_on != "none",
            opts=in_namespace,
        )
        policy = pulumi.Output.all(platform.artifact_bucket_name, platform.artifact_kms_key_arn).apply(
            lambda a: iam.document(
                iam.s3_prefixes_statements(f"arn:aws:s3:::{a[0]}", a[1], read=read, write=write)
            )
        )
        role = PodIdentityRole(
            f"{self.job_name}-identity",
            PodIdentitySpec(namespace=team, service_account=self.job_name),
            cluster_name=platform.cluster_name,
            tags=context.tags,
            policy=policy,
            opts=in_namespace,
        )
        self.role_arn = role.arn
        if spec.retrain_on != "none":
            self._retrain_permission(team, spec, labels, in_namespace)
        synced: list[pulumi.Resource] = []
        if spec.reference_run is not None and spec.mlflow_secret is not None:
            login = {"MLFLOW_TRACKING_USERNAME": "username", "MLFLOW_TRACKING_PASSWORD": "password"}
            synced.append(
                external_secret(
                    f"{self.job_name}-mlflow-credentials",
                    namespace=team,
                    target=f"{self.job_name}-mlflow",
                    entries=properties(f"{platform.secrets_path_prefix}/{spec.mlflow_secret}", login),
                    labels=labels,
                    opts=self.after(namespace_ready, platform.dependencies.external_secrets),
                )
            )
        aws.glue.CatalogTable(
            f"{self.job_name}-captures-table",
            name=table_name(name),
            database_name=monitoring.capture_database,
            table_type="EXTERNAL_TABLE",
            description=f"Captured predictions of {team}/{name}",
            parameters=pulumi.Output.from_input(platform.artifact_bucket_name).apply(
                lambda bucket: projection(bucket, name, versions)
            ),
            partition_keys=[{"name": "version", "type": "string"}, {"name": "dt", "type": "string"}],
            storage_descriptor=parquet_storage(
                pulumi.Output.concat("s3://", platform.artifact_bucket_name, "/", captures_prefix(name)),
                tuple(c for c in COLUMNS if c[0] != "version"),
            ),
            opts=self.child,
        )
        config = pulumi.Output.from_input(platform.artifact_bucket_name).apply(
            lambda bucket: json.dumps(
                monitor_config(name, team, spec, bucket, monitoring.pushgateway_url), sort_keys=True
            )
        )
        pod = monitor_pod(
            self.job_name,
            monitoring.monitor_image,
            monitor_env(self.job_name, spec, platform, config),
            labels,
        )
        self._cron_job(team, spec, pod, self.after(namespace_ready, synced))
        self._alerts(name, team, spec, platform)
        grafana_dashboard(
            f"{self.job_name}-dashboard",
            object_name=f"{name}-monitor-dashboard",
            namespace=team,
            labels=labels,
            dashboards={
                f"{name}-monitor.json": json.dumps(monitor_dashboard(team, name, spec), sort_keys=True)
            },
            opts=in_namespace,
        )
        self.register_outputs({"jobName": self.job_name, "roleArn": self.role_arn})

    def _retrain_permission(
        self, team: str, spec: ModelMonitorSpec, labels: dict[str, str], opts: pulumi.ResourceOptions
    ) -> None:
        """Exactly what submitting the pipeline takes: create Workflows, read its WorkflowTemplate."""
        role_name = f"{self.job_name}-retrain"
        k8s.rbac.v1.Role(
            f"{self.job_name}-retrain-role",
            metadata={"name": role_name, "namespace": team, "labels": labels},
            rules=[
                {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create"]},
                {
                    "apiGroups": ["argoproj.io"],
                    "resources": ["workflowtemplates"],
                    "resourceNames": [spec.retrain_pipeline],
                    "verbs": ["get"],
                },
            ],
            opts=opts,
        )
        k8s.rbac.v1.RoleBinding(
            f"{self.job_name}-retrain-binding",
            metadata={"name": role_name, "namespace": team, "labels": labels},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role_name},
            subjects=[{"kind": "ServiceAccount", "name": self.job_name, "namespace": team}],
            opts=opts,
        )

    def _cron_job(
        self, team: str, spec: ModelMonitorSpec, pod: dict[str, Any], opts: pulumi.ResourceOptions
    ) -> None:
        k8s.batch.v1.CronJob(
            f"{self.job_name}-schedule",
            metadata={"name": self.job_name, "namespace": team, "labels": pod["metadata"]["labels"]},
            spec={
                "schedule": spec.schedule,
                "timeZone": spec.timezone,
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": 3600,
                # The newest success and failure stay: ModelMonitorFailed compares their times.
                "successfulJobsHistoryLimit": 1,
                "failedJobsHistoryLimit": 1,
                "jobTemplate": {
                    "metadata": pod["metadata"],
                    "spec": {"backoffLimit": 1, "activeDeadlineSeconds": 3600, "template": pod},
                },
            },
            opts=opts,
        )

    def _alerts(self, name: str, team: str, spec: ModelMonitorSpec, platform: PlatformRef) -> None:
        prometheus_rule(
            f"{self.job_name}-alerts",
            namespace=MONITORING,
            groups=[
                {
                    "name": f"monitor-{team}-{name}",
                    # The team label routes them to the model's owners (Alertmanager's team routes).
                    "rules": [
                        a.rule(platform.runbook_base_url, {"team": team})
                        for a in monitor_alerts(team, name, spec)
                    ],
                }
            ],
            labels={**rule_labels(self.job_name), kube.MODEL_LABEL: name, kube.TEAM_LABEL: team},
            object_name=f"{team}-{name}-monitor",
            opts=self.after(platform.dependencies.prometheus_operator),
        )


def monitor_env(
    job: str, spec: ModelMonitorSpec, platform: PlatformRef, config: pulumi.Input[str]
) -> list[dict]:
    """The job's environment: its configuration, and MLflow's address and login for ``referenceRun``."""
    env: list[dict[str, Any]] = [
        {"name": "MONITOR_CONFIG", "value": config},
        {"name": "AWS_DEFAULT_REGION", "value": platform.region},
        {"name": "HOME", "value": "/tmp"},
    ]
    if spec.reference_run is not None:
        env.append({"name": "MLFLOW_TRACKING_URI", "value": platform.mlflow_url})
        for variable in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            secret = {"secretKeyRef": {"name": f"{job}-mlflow", "key": variable}}
            env.append({"name": variable, "valueFrom": secret})
    return env


def monitor_pod(
    job: str, image: pulumi.Input[str], env: list[dict], labels: dict[str, str]
) -> dict[str, Any]:
    """One run's pod: restricted, its own service account, a scratch /tmp for the report."""
    container = {
        "name": "monitor",
        "image": image,
        "command": ["python", "/app/model_monitor.py"],
        "env": env,
        "resources": RESOURCES,
        "securityContext": kube.restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "metadata": {"labels": labels},
        "spec": {
            "serviceAccountName": job,
            "restartPolicy": "Never",
            "securityContext": kube.restricted_pod_security(),
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}],
        },
    }


def monitor_config(
    name: str, team: str, spec: ModelMonitorSpec, bucket: str, pushgateway_url: str
) -> dict[str, Any]:
    """What the job reads from ``MONITOR_CONFIG`` (``Config`` in the job)."""
    reference = (
        f"mlflow-run:{spec.reference_run}" if spec.reference_run else f"s3://{bucket}/{spec.reference}"
    )
    return {
        "model": name,
        "bucket": bucket,
        "captures_prefix": captures_prefix(name),
        "reference_uri": reference,
        "features": dict(spec.features),
        "task": spec.task,
        "window_days": spec.window_days,
        "labels_prefix": spec.labels_prefix(team, name) if spec.labels else None,
        "reports_prefix": reports_prefix(team, name),
        "pushgateway_url": pushgateway_url,
        "drift_threshold": spec.drift_threshold,
        "quality_floor": dict(spec.quality_floor),
        "retrain_on": None if spec.retrain_on == "none" else spec.retrain_on,
        "retrain": None
        if spec.retrain_on == "none"
        else {
            "namespace": team,
            "workflow_template": spec.retrain_pipeline,
            "cooldown_hours": spec.retrain_cooldown_hours,
            "api_url": "https://kubernetes.default.svc",
        },
    }


def projection(bucket: str, model: str, versions: Sequence[str]) -> dict[str, str]:
    """Athena partition projection: the model's versions, and every day since the platform began."""
    return {
        "classification": "parquet",
        "EXTERNAL": "TRUE",
        "projection.enabled": "true",
        "projection.version.type": "enum",
        "projection.version.values": ",".join(versions),
        "projection.dt.type": "date",
        "projection.dt.format": "yyyy-MM-dd",
        "projection.dt.range": "2026-01-01,NOW",
        "storage.location.template": f"s3://{bucket}/{captures_prefix(model)}version=${{version}}/dt=${{dt}}/",
    }


def monitor_alerts(team: str, name: str, spec: ModelMonitorSpec) -> list[Alert]:
    """The model's monitoring alerts; thresholds from its spec."""
    model = f'model="{name}"'
    where = f"{team}/{name}"
    job = f'namespace="{team}",job_name=~"{name}-monitor-.+"'
    alerts = [
        Alert(
            "ModelFeatureDrift",
            f"max by (model, version, feature) (mlops_monitor_feature_drift{{{model}}}) > {spec.drift_threshold}",
            "0m",
            Severity.WARNING,
            f"Feature {{{{ $labels.feature }}}} of {where} drifted (PSI {{{{ $value }}}})",
            f"Its distribution in the last {spec.window_days} day(s) of captures differs from the reference "
            f"beyond monitor.driftThreshold ({spec.drift_threshold}).",
            "model-drift",
        ),
        Alert(
            "ModelPredictionDrift",
            f"max by (model, version) (mlops_monitor_prediction_drift{{{model}}}) > {spec.drift_threshold}",
            "0m",
            Severity.WARNING,
            f"Predictions of {where} drifted from the reference (PSI {{{{ $value }}}})",
            "The model answers differently from how it answered on its reference set.",
            "model-drift",
        ),
        Alert(
            "ModelDataQuality",
            f"max by (model, version, check, feature) (mlops_monitor_data_quality_share{{{model}}}) > {spec.data_quality_threshold}",
            "0m",
            Severity.WARNING,
            f"{where}: {{{{ $labels.check }}}} in {{{{ $labels.feature }}}} (a share of {{{{ $value }}}} of rows)",
            f"More than {spec.data_quality_threshold:.0%} of the captured rows have a missing, mistyped, "
            "out-of-range or unseen value in this feature.",
            "model-data-quality",
        ),
        Alert(
            "ModelShadowDisagreement",
            f"min by (model, shadow_version) (mlops_monitor_shadow_agreement{{{model}}}) < {spec.agreement_floor}",
            "0m",
            Severity.INFO,
            f"Shadow {{{{ $labels.shadow_version }}}} of {where} agrees on a share of {{{{ $value }}}} of requests",
            f"Below monitor.agreementFloor ({spec.agreement_floor:.0%}) on the same request IDs.",
            "model-disagreement",
        ),
        Alert(
            "ModelBatchDisagreement",
            f"min by (model, batch_version) (mlops_monitor_batch_agreement{{{model}}}) < {spec.agreement_floor}",
            "0m",
            Severity.WARNING,
            f"Batch scores of {where} agree with online on a share of {{{{ $value }}}} of requests",
            f"Below monitor.agreementFloor ({spec.agreement_floor:.0%}): batch and online disagree on the same inputs.",
            "model-disagreement",
        ),
        Alert(
            "ModelMonitorFailed",
            # The newest failed run started after the last success (or there never was one).
            f"max(kube_job_status_start_time{{{job}}} * on (namespace, job_name) group_left () "
            f'(kube_job_failed{{{job},condition="true"}} == 1)) > '
            f'(max(kube_cronjob_status_last_successful_time{{namespace="{team}",cronjob="{name}-monitor"}}) or vector(0))',
            "0m",
            Severity.WARNING,
            f"The monitor job of {where} failed",
            "Its last run exited non-zero; the job's log names the reason (empty window, schema mismatch, "
            "unreadable input, a refused push).",
            "model-monitor-failed",
        ),
        Alert(
            "ModelMonitorStale",
            f'time() - max(kube_cronjob_status_last_successful_time{{namespace="{team}",cronjob="{name}-monitor"}}) '
            f"> {spec.stale_after_hours * 3600}",
            "0m",
            Severity.WARNING,
            f"No monitor run of {where} has succeeded for {spec.stale_after_hours} hours",
            "Drift and quality figures are out of date: the CronJob is suspended, cannot schedule, or keeps failing.",
            "model-monitor-failed",
        ),
    ]
    if spec.quality_floor:
        # One rule over every bounded metric: the metric label says which crossed.
        crossed = [
            f'(min by (model, version, metric) (mlops_monitor_model_quality{{{model},metric="{metric}"}}) '
            f"{'>' if metric in LOWER_IS_BETTER else '<'} {bound})"
            for metric, bound in sorted(spec.quality_floor.items())
        ]
        bounds = ", ".join(f"{m} {b}" for m, b in sorted(spec.quality_floor.items()))
        alerts.append(
            Alert(
                "ModelQualityBelowFloor",
                " or ".join(crossed),
                "0m",
                Severity.WARNING,
                f"{{{{ $labels.metric }}}} of {where} is {{{{ $value }}}}, past its bound ({bounds})",
                "Computed from the late labels joined with the captured predictions by request ID.",
                "model-quality",
            )
        )
    return alerts


def monitor_dashboard(team: str, name: str, spec: ModelMonitorSpec) -> dict[str, Any]:
    model = f'model="{name}"'
    return dashboard_document(
        f"monitor-{team}-{name}",
        f"Model monitoring: {team}/{name}",
        ["model-monitoring"],
        [
            timeseries_panel(
                "Drift per feature (PSI)",
                0,
                0,
                [(f"mlops_monitor_feature_drift{{{model}}}", "{{version}} {{feature}}")],
            ),
            timeseries_panel(
                "Prediction drift (PSI) and drifted feature share",
                0,
                12,
                [
                    (f"mlops_monitor_prediction_drift{{{model}}}", "{{version}} prediction"),
                    (f"mlops_monitor_drifted_features_share{{{model}}}", "{{version}} drifted share"),
                ],
            ),
            timeseries_panel(
                "Model quality (late labels)",
                8,
                0,
                [(f"mlops_monitor_model_quality{{{model}}}", "{{version}} {{metric}}")],
            ),
            timeseries_panel(
                "Data quality: share of rows with a problem",
                8,
                12,
                [(f"mlops_monitor_data_quality_share{{{model}}} > 0", "{{check}} {{feature}}")],
                "percentunit",
            ),
            timeseries_panel(
                "Capture volume per run, by source",
                16,
                0,
                [
                    (f"mlops_monitor_rows{{{model}}}", "{{source}}"),
                    (f"mlops_monitor_labelled_rows{{{model}}}", "labelled"),
                ],
            ),
            timeseries_panel(
                "Shadow and batch agreement with online",
                16,
                12,
                [
                    (f"mlops_monitor_shadow_agreement{{{model}}}", "shadow {{shadow_version}}"),
                    (f"mlops_monitor_batch_agreement{{{model}}}", "batch {{batch_version}}"),
                ],
                "percentunit",
            ),
        ],
        time_from="now-30d",
    )
