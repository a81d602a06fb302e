"""What every workflow a team runs on the platform shares (``TrainingPipeline``, ``BatchScoring``): its
identity (a service account with a Pod Identity role and the executor's binding), its pods' labels
(the team's Kueue LocalQueue) and security, and its WorkflowTemplate with an optional CronWorkflow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.lifecycle.pipelines import EXECUTOR_ROLE, LOCAL_QUEUE, QUEUE_LABEL
from mlops_platform.components.support import kube

WORKFLOWS_API = "argoproj.io/v1alpha1"
WORKFLOW_LABEL = f"{kube.LABEL_DOMAIN}/workflow"
"""Names the pipeline or batch job on its templates, workflows and pods (alerts and costs read it)."""
RUN_AS_USER = 65532


def workflow_identity(
    name: str,
    *,
    namespace: str,
    service_account: str,
    labels: Mapping[str, str],
    cluster_name: pulumi.Input[str],
    tags: Mapping[str, str],
    policy: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> PodIdentityRole:
    """The workflow's service account, its Pod Identity role with ``policy`` (and nothing else), and
    the binding that lets Argo's executor in its pods report their results."""
    k8s.core.v1.ServiceAccount(
        f"{name}-service-account",
        metadata={"name": service_account, "namespace": namespace, "labels": dict(labels)},
        opts=opts,
    )
    k8s.rbac.v1.RoleBinding(
        f"{name}-executor",
        metadata={"name": f"{service_account}-executor", "namespace": namespace, "labels": dict(labels)},
        role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": EXECUTOR_ROLE},
        subjects=[{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
        opts=opts,
    )
    return PodIdentityRole(
        f"{name}-identity",
        PodIdentitySpec(namespace=namespace, service_account=service_account),
        cluster_name=cluster_name,
        tags=tags,
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
) -> dict[str, Any]:
    """A workflow spec whose pods run as ``service_account``, queue in the team's LocalQueue, and meet
    the team namespace's restricted Pod Security Standard."""
    spec: dict[str, Any] = {
        "entrypoint": entrypoint,
        "serviceAccountName": service_account,
        "podMetadata": {
            "labels": {QUEUE_LABEL: LOCAL_QUEUE, kube.TEAM_LABEL: team, WORKFLOW_LABEL: workflow}
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
    env: Sequence[Mapping[str, Any]],
    resources: Mapping[str, Any],
    env_from: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A step's container: its scratch space is an emptyDir on /tmp, everything else read-only."""
    body: dict[str, Any] = {
        "image": image,
        "command": list(command),
        "env": [dict(e) for e in env],
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
