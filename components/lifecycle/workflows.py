"""What every workflow a team runs on the platform shares (``TrainingPipeline``, ``BatchScoring``): its
identity (a service account with a Pod Identity role and the executor's binding), its pods' labels
(the team's Kueue LocalQueue) and security, and its WorkflowTemplate with an optional CronWorkflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.lifecycle.pipelines import EXECUTOR_ROLE, LOCAL_QUEUE, QUEUE_LABEL
from mlops_platform.components.refs import PlatformRef
from mlops_platform.components.support import iam, kube

WORKFLOWS_API = "argoproj.io/v1alpha1"
WORKFLOW_LABEL = f"{kube.LABEL_DOMAIN}/workflow"
"""Names the pipeline or batch job on its templates, workflows and pods (alerts and costs read it)."""
RUN_AS_USER = 65532


@dataclass(frozen=True)
class Runner:
    """Who a workflow's pods run as: a service account in the team's namespace."""

    namespace: str
    service_account: str
    labels: Mapping[str, str]
    tags: Mapping[str, str]
    """AWS tags of its role (the team's, and the model or pipeline it serves)."""


def workflow_identity(
    name: str,
    runner: Runner,
    platform: PlatformRef,
    *,
    read: Sequence[str],
    write: Sequence[str],
    opts: pulumi.ResourceOptions,
) -> PodIdentityRole:
    """The runner's service account, its Pod Identity role that reads under ``read`` and reads and
    writes under ``write`` in the artifact store (and nothing else), and the binding that lets Argo's
    executor in its pods report their results."""
    labels = dict(runner.labels)
    k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata={"name": runner.service_account, "namespace": runner.namespace, "labels": labels},
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        f"{name}-executor",
        metadata={
            "name": f"{runner.service_account}-executor",
            "namespace": runner.namespace,
            "labels": labels,
        },
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": EXECUTOR_ROLE},
        subjects=[{"kind": "ServiceAccount", "name": runner.service_account, "namespace": runner.namespace}],
        opts=opts,
    )
    policy = pulumi.Output.all(platform.artifact_bucket_name, platform.artifact_kms_key_arn).apply(
        lambda a: iam.document(
            iam.s3_prefixes_statements(f"arn:aws:s3:::{a[0]}", a[1], read=read, write=write)
        )
    )
    return PodIdentityRole(
        f"{name}-identity",
        PodIdentitySpec(namespace=runner.namespace, service_account=runner.service_account),
        cluster_name=platform.cluster_name,
        tags=runner.tags,
        policy=policy,
        opts=opts,
    )


def workflow_spec(
    *,
    team: str,
    workflow: str,
    service_account: str,
    entrypoint: str,
    templates: Sequence[Mapping[str, Any]],
    arguments: Sequence[Mapping[str, Any]] = (),
    extra: Mapping[str, Any] | None = None,
    pod_labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A workflow spec whose pods run as ``service_account``, queue in the team's LocalQueue, and meet
    the team namespace's restricted Pod Security Standard; ``pod_labels`` name what else the pods
    belong to (a model and its version), for cost allocation."""
    spec: dict[str, Any] = {
        "entrypoint": entrypoint,
        "serviceAccountName": service_account,
        "podMetadata": {
            "labels": {
                QUEUE_LABEL: LOCAL_QUEUE,
                kube.TEAM_LABEL: team,
                WORKFLOW_LABEL: workflow,
                **(pod_labels or {}),
            }
        },
        "workflowMetadata": {"labels": {kube.TEAM_LABEL: team, WORKFLOW_LABEL: workflow}},
        "securityContext": kube.restricted_pod_security(RUN_AS_USER),
        "podGC": {"strategy": "OnPodSuccess"},
        "templates": [dict(t) for t in templates],
    }
    if arguments:
        spec["arguments"] = {"parameters": [dict(a) for a in arguments]}
    spec.update(extra or {})
    return spec


def container(
    image: pulumi.Input[str],
    command: Sequence[str],
    *,
    env: pulumi.Input[Sequence[Mapping[str, Any]]],
    resources: Mapping[str, Any],
    env_from: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A step's container: its scratch space is an emptyDir on /tmp, everything else read-only."""
    body: dict[str, Any] = {
        "image": image,
        "command": list(command),
        "env": env if isinstance(env, pulumi.Output) else [dict(e) for e in env],
        "resources": dict(resources),
        "securityContext": kube.restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if env_from:
        body["envFrom"] = [dict(e) for e in env_from]
    return body


def scratch_volume(size: str) -> dict[str, Any]:
    return {"name": "tmp", "emptyDir": {"sizeLimit": size}}


def template_and_schedule(
    name: str,
    *,
    metadata: Mapping[str, Any],
    spec: Mapping[str, Any],
    schedule: str | None,
    timezone: str,
    opts: pulumi.ResourceOptions,
) -> tuple[pulumi.Resource, pulumi.Resource | None]:
    """The WorkflowTemplate, and a CronWorkflow that runs it on ``schedule`` (one run at a time: a
    run still going when the next is due makes the next wait its turn, never overlap)."""
    template = kube.custom_resource(
        f"{name}-template", f"{WORKFLOWS_API}/WorkflowTemplate", metadata, spec, opts
    )
    if schedule is None:
        return template, None
    cron = kube.custom_resource(
        f"{name}-schedule",
        f"{WORKFLOWS_API}/CronWorkflow",
        metadata,
        {
            "schedules": [schedule],
            "timezone": timezone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "workflowSpec": {"workflowTemplateRef": {"name": metadata["name"]}},
        },
        pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[template])),
    )
    return template, cron


def submission(
    namespace: str, template: str, labels: Mapping[str, str], parameters: Mapping[str, str]
) -> dict[str, Any]:
    """The Workflow that runs ``template`` once (what ``argo submit --from workflowtemplate/...``
    creates), for ``blueprint batch run`` and the docs."""
    spec: dict[str, Any] = {"workflowTemplateRef": {"name": template}}
    if parameters:
        spec["arguments"] = {"parameters": [{"name": k, "value": v} for k, v in parameters.items()]}
    return {
        "apiVersion": WORKFLOWS_API,
        "kind": "Workflow",
        "metadata": {"generateName": f"{template}-", "namespace": namespace, "labels": dict(labels)},
        "spec": spec,
    }
