"""``Pipelines``: the engines that train, retrain and score models in bulk, and fair GPU queues.

**Argo Workflows** from its vendored chart runs the workflows teams declare (``TrainingPipeline``,
``BatchScoring``): the controller always, the server (UI and API) only behind SSO, as config decides.
Its default artifact repository is the artifact store's ``pipelines/<team>/`` prefixes (KMS-encrypted),
and each pipeline narrows it to its own ``pipelines/<team>/<pipeline>/``; every workflow pod writes with
its pipeline's own Pod Identity role, never static keys. The workflow archive, when on, lives in a
small database of its own or in MLflow's (``workflow_archive.py``). Prometheus scrapes the
controller; a dashboard shows workflows, pods and queues; alerts say when workflows fail, the
controller errs, or pods stay pending.

**Kueue** from its vendored chart admits workflow pods by team quota: one ResourceFlavor per GPU pool
(and one for CPU-only steps), one ClusterQueue per team, all in one Cohort so idle quota can be
borrowed (and reclaimed by preempting the borrower), and a LocalQueue ``pipelines`` in each team
namespace that workflow pods name. The teams' GPU quotas become nominal quotas that together never
exceed what the pools can hold (``nominal_gpu_quotas``); a team may borrow up to its namespace's quota.

Example::

    Pipelines("pipelines", PipelinesSpec(), context, on_cluster, artifacts=artifacts.ref,
              teams={"risk": NamespaceQuota(gpus=4)}, gpu_pools=cfg.gpu_pools(),
              runbook_base_url=url, dependencies=PlatformDependencies(...),
              secrets_path_prefix=context.secrets_path_prefix)
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import field
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.data.platform_secrets import (
    PlatformSecrets,
    external_secret,
    properties,
    undeclared_secret_problems,
)
from mlops_platform.components.foundation.load_balancer_controller import internal_ingress
from mlops_platform.components.lifecycle.workflow_archive import (
    ARCHIVE_SECRET,
    ArchiveConnection,
    ArchiveDatabaseSpec,
    ArchiveLocation,
    own_database,
    persistence_values,
)
from mlops_platform.components.observability.engine_alerts import engine_alerts
from mlops_platform.components.observability.grafana import dashboard_config_map
from mlops_platform.components.observability.stack import NAMESPACE as MONITORING
from mlops_platform.components.refs import (
    ArtifactsRef,
    ClusterRef,
    GpuPoolInfo,
    NetworkRef,
    PlatformDependencies,
)
from mlops_platform.components.serving.team_namespace import NamespaceQuota
from mlops_platform.components.support import helm, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.pins import ARGO_EXECUTOR_IMAGE, KUEUE_IMAGE
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem

ARGO_NAMESPACE = "argo"
EXECUTOR_REPOSITORY = "argoexec"
"""The platform registry's mirror of Argo's executor image (``pins.ARGO_EXECUTOR_IMAGE``)."""
KUEUE_NAMESPACE = "kueue-system"
ARTIFACT_PREFIX = "pipelines/"
"""Where workflow artifacts go in the artifact store: ``pipelines/<team>/<pipeline>/<workflow>/<pod>``."""
LOCAL_QUEUE = "pipelines"
"""The LocalQueue of each team namespace: workflow pods name it (``QUEUE_LABEL``)."""
QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
COHORT = "mlops-teams"
CPU_FLAVOR = "cpu"
"""The ResourceFlavor of steps that need no GPU (any untainted node)."""
EXECUTOR_ROLE = "argo-workflow-executor"
"""The Role in each team namespace that lets a workflow pod report its results (bound per pipeline)."""
SSO_SECRET = "argo-server-sso"
KUEUE_API = "kueue.x-k8s.io/v1beta2"
RESOURCES = {
    "controller": kube.container_resources("100m", "256Mi", "1Gi"),
    "server": kube.container_resources("50m", "128Mi", "512Mi"),
    "kueue": kube.container_resources("100m", "256Mi", "512Mi"),
    "executor": kube.container_resources("10m", "64Mi", "256Mi"),
}


class PipelinesUi(StrEnum):
    NONE = "none"
    """No Argo server: workflows are submitted and read through the Kubernetes API only."""
    SSO = "sso"
    """The Argo server (UI and API) on the internal ALB, behind the organisation's OIDC provider."""


@spec
class PipelinesSpec:
    """Argo Workflows and Kueue."""

    enabled: bool = True
    """Install Argo Workflows and Kueue. Default: on."""
    ui: PipelinesUi = PipelinesUi.NONE
    """``none`` or ``sso``: the Argo server (UI and API) only behind SSO. Default: none."""
    hostname: str | None = None
    """Hostname of the Argo UI for ``ui: sso`` (its DNS name points at the internal ALB)."""
    certificate_arn: str | None = None
    """ACM certificate for ``hostname``; ``ui: sso`` needs HTTPS for the OIDC redirect."""
    sso_issuer: str | None = None
    """OIDC issuer URL for ``ui: sso``, e.g. ``https://login.example.com``."""
    sso_secret: str | None = None
    """Platform secret (``secrets.entries``) with ``client-id`` and ``client-secret`` for ``ui: sso``."""
    archive: ArchiveLocation = ArchiveLocation.NONE
    """Where finished workflows are kept beyond their TTL: ``none``, ``mlflowDatabase`` or
    ``ownDatabase``. Default: none."""
    archive_database: ArchiveDatabaseSpec = field(default_factory=ArchiveDatabaseSpec)
    """The archive's own PostgreSQL, for ``archive: ownDatabase`` (checked only then). Default: a
    db.t4g.micro with 20 GiB."""
    workflow_ttl_days: int = 7
    """Days finished workflows (and their pods) stay as objects. Default: 7."""

    def problems(self, environment: Environment, secret_names: Sequence[str] | None = None) -> list[Problem]:
        """``secret_names``: the stack's platform secrets, when known (stack config)."""
        found = []
        if self.archive is ArchiveLocation.OWN_DATABASE:
            found += [p.nested("archive_database") for p in self.archive_database.problems(environment)]
        if self.ui is PipelinesUi.SSO:
            if not (self.sso_issuer or "").startswith("https://"):
                found.append(
                    Problem(
                        "sso_issuer",
                        f"must be an https:// OIDC issuer with ui: sso (got {self.sso_issuer!r})",
                    )
                )
            if not self.sso_secret:
                found.append(
                    Problem("sso_secret", "must name the platform secret holding client-id and client-secret")
                )
            elif secret_names is not None:
                found += undeclared_secret_problems("sso_secret", self.sso_secret, secret_names)
            for key in ("hostname", "certificate_arn"):
                if not getattr(self, key):
                    found.append(Problem(key, "is required with ui: sso (the OIDC redirect needs HTTPS)"))
        if not 1 <= self.workflow_ttl_days <= 365:
            found.append(
                Problem("workflow_ttl_days", f"must be between 1 and 365 (got {self.workflow_ttl_days})")
            )
        return found


def executor_image(repository: pulumi.Input[str] | None) -> pulumi.Input[dict[str, str]]:
    """The chart's ``executor.image``: the platform's mirror at the pinned tag, or the upstream image."""
    upstream, tag = ARGO_EXECUTOR_IMAGE.rsplit(":", 1)
    if repository is None:
        registry, path = upstream.split("/", 1)
        return {"registry": registry, "repository": path, "tag": tag}
    return pulumi.Output.from_input(repository).apply(
        lambda url: dict(zip(("registry", "repository"), url.split("/", 1), strict=True), tag=tag)
    )


def gpu_capacity(gpu_pools: Mapping[str, GpuPoolInfo]) -> int | None:
    """GPUs all pools can ever hold together (maxSize x GPUs per node); None when a pool's size is
    unknown."""
    sizes = [info.max_gpus() for info in gpu_pools.values()]
    return None if any(s is None for s in sizes) else sum(s for s in sizes if s is not None)


def quota_problems(quota: NamespaceQuota, gpu_pools: Mapping[str, GpuPoolInfo]) -> list[Problem]:
    """A team's GPU quota that the pools could never hold, even with nothing else running."""
    capacity = gpu_capacity(gpu_pools)
    if quota.gpus and capacity is not None and quota.gpus > capacity:
        held = ", ".join(f"{name}: {info.max_gpus()}" for name, info in gpu_pools.items()) or "no GPU pools"
        return [
            Problem(
                "gpus",
                f"is {quota.gpus} but the GPU pools can hold at most {capacity} ({held}); lower it or "
                "raise a pool's maxSize",
            )
        ]
    return []


def nominal_gpu_quotas(
    teams: Mapping[str, NamespaceQuota], gpu_pools: Mapping[str, GpuPoolInfo]
) -> dict[str, dict[str, int]]:
    """Team -> pool -> its Kueue nominal GPU quota. The teams' quotas are scaled down together
    (largest remainder) when they add up to more than the pools hold, then placed on spot pools
    first, so per pool they never exceed its capacity. What a team lacks it borrows from the cohort."""
    capacity = gpu_capacity(gpu_pools) or 0
    demand = sum(q.gpus for q in teams.values())
    if demand <= capacity:
        totals = {team: q.gpus for team, q in teams.items()}
    else:
        exact = {team: q.gpus * capacity / demand for team, q in teams.items()}
        totals = {team: int(share) for team, share in exact.items()}
        by_remainder = sorted(exact, key=lambda t: (-(exact[t] - totals[t]), t))
        for team in by_remainder[: capacity - sum(totals.values())]:
            totals[team] += 1
    free = {
        pool: info.max_gpus() or 0 for pool, info in sorted(gpu_pools.items(), key=lambda p: not p[1].spot)
    }
    quotas: dict[str, dict[str, int]] = {}
    for team in sorted(teams):
        wanted, placed = totals[team], {}
        for pool in free:
            take = min(wanted, free[pool])
            placed[pool], free[pool], wanted = take, free[pool] - take, wanted - take
        quotas[team] = placed
    return quotas


def team_queue(team: str, quota: NamespaceQuota, gpus: Mapping[str, int]) -> dict[str, Any]:
    """A team's ClusterQueue: CPU-only steps on the ``cpu`` flavor, GPU steps on their pool's flavor,
    in the shared cohort. CPU and memory are the namespace's quota on each flavor: its ResourceQuota
    caps the total."""

    def flavor(name: str, gpu_quota: int) -> dict[str, Any]:
        return {
            "name": name,
            "resources": [
                {"name": "cpu", "nominalQuota": quota.cpu},
                {"name": "memory", "nominalQuota": quota.memory},
                {"name": kube.GPU_RESOURCE, "nominalQuota": gpu_quota},
            ],
        }

    return {
        "cohortName": COHORT,
        "namespaceSelector": {"matchLabels": {kube.TEAM_LABEL: team}},
        "queueingStrategy": "BestEffortFIFO",
        "resourceGroups": [
            {
                "coveredResources": ["cpu", "memory", kube.GPU_RESOURCE],
                "flavors": [flavor(CPU_FLAVOR, 0), *(flavor(pool, n) for pool, n in gpus.items())],
            }
        ],
        # Borrowed quota is given back when its owner needs it; within a team, priority decides.
        "preemption": {
            "reclaimWithinCohort": "Any",
            "borrowWithinCohort": {"policy": "LowerPriority"},
            "withinClusterQueue": "LowerPriority",
        },
    }


def kueue_config() -> str:
    """Kueue's manager configuration: it manages pods (workflow steps) in team namespaces only, and
    there only those that name a queue (model servers never do)."""
    config = {
        "apiVersion": "config.kueue.x-k8s.io/v1beta2",
        "kind": "Configuration",
        "health": {"healthProbeBindAddress": ":8081"},
        # Quota and usage per ClusterQueue and flavor (the dashboard's GPU panel) are off by default.
        "metrics": {"bindAddress": ":8443", "enableClusterQueueResources": True},
        "webhook": {"port": 9443},
        "leaderElection": {"leaderElect": True, "resourceName": "c1f6bfd2.kueue.x-k8s.io"},
        "managedJobsNamespaceSelector": {
            "matchExpressions": [{"key": kube.TEAM_LABEL, "operator": "Exists"}]
        },
        "integrations": {"frameworks": ["pod"]},
    }
    return json.dumps(config, indent=2)


class Pipelines(PlatformComponent):
    """Argo Workflows, Kueue, the teams' queues, the executor Role in each team namespace, and the
    engines' dashboard and alerts."""

    releases: list[pulumi.Resource]
    """Argo Workflows' and Kueue's releases: workflow objects and queues wait for their CRDs."""
    ui_url: pulumi.Output[str] | None
    """URL of the Argo UI (``ui: sso``), else None."""
    archive_database_identifier: pulumi.Output[str] | None
    """RDS identifier of the archive's own database (``archive: ownDatabase``), for alarms; else None."""

    def __init__(
        self,
        name: str,
        spec: PipelinesSpec,
        context: StackContext,
        opts: pulumi.ResourceOptions,
        *,
        artifacts: ArtifactsRef,
        teams: Mapping[str, NamespaceQuota],
        gpu_pools: Mapping[str, GpuPoolInfo],
        runbook_base_url: str,
        dependencies: PlatformDependencies,
        secrets_path_prefix: str,
        team_namespaces: Sequence[pulumi.Resource] = (),
        mlflow_database_host: pulumi.Input[str] | None = None,
        database: tuple[NetworkRef, ClusterRef, PlatformSecrets] | None = None,
        executor_repository: pulumi.Input[str] | None = None,
    ):
        """``teams``: each team's namespace quota (the namespaces exist: ``team_namespaces``).
        ``gpu_pools``: the pools Kueue offers. ``mlflow_database_host``: the MLflow database, for
        ``archive: mlflowDatabase``; ``database``: the network, cluster and secrets that
        ``archive: ownDatabase`` builds its database with. ``executor_repository``: the platform registry's mirror of Argo's executor (team
        namespaces admit signed platform images only); default: the upstream image."""
        # A quota the pools could never hold is refused in the stack config (``quota_problems``);
        # here the nominal quotas are fitted to the pools whatever the quotas say.
        problems = [*spec.problems(context.environment), *context.problems()]
        if spec.archive is ArchiveLocation.MLFLOW_DATABASE and mlflow_database_host is None:
            problems.append(
                Problem("archive", "mlflowDatabase needs the MLflow database (mlflow_database_host)")
            )
        if spec.archive is ArchiveLocation.OWN_DATABASE and database is None:
            problems.append(
                Problem("archive", "ownDatabase needs the network, cluster and secrets (database)")
            )
        super().__init__("mlops:pipelines:Pipelines", name, "PipelinesSpec", problems, opts)
        secrets_after = self.after(dependencies.external_secrets)
        archive: ArchiveConnection | None = None
        if spec.archive is ArchiveLocation.MLFLOW_DATABASE and mlflow_database_host is not None:
            archive = ArchiveConnection(
                mlflow_database_host, "mlflow", f"{secrets_path_prefix}/mlflow/database"
            )
        elif spec.archive is ArchiveLocation.OWN_DATABASE and database is not None:
            archive = own_database(name, spec.archive_database, context, database, self.child)
        self.archive_database_identifier = archive.database_identifier if archive else None
        controller = self._controller_values(spec, sorted(teams), archive)
        server, secrets = self._server_values(name, spec, secrets_path_prefix, secrets_after)
        if archive is not None:
            user = {"username": "username", "password": "password"}
            secrets.append(
                external_secret(
                    f"{name}-archive-secret",
                    namespace=ARGO_NAMESPACE,
                    target=ARCHIVE_SECRET,
                    entries=properties(archive.secret_path, user),
                    opts=secrets_after,
                )
            )
        region = self.region
        pods = [(1, RESOURCES["controller"]), *([(1, RESOURCES["server"])] if server["enabled"] else [])]
        workflows = helm.release(
            f"{name}-argo-workflows",
            "argo-workflows",
            namespace=ARGO_NAMESPACE,
            create_namespace=True,
            values={
                "images": {"pullPolicy": "IfNotPresent"},
                # The full CRDs come through a hook Job that downloads them from GitHub at install;
                # the chart's own (schema-less) CRDs need nothing from outside. tests/ validate every
                # workflow object against the full schemas (tests/crds/).
                "crds": {"install": True, "keep": True, "full": False},
                "controller": controller,
                "server": server,
                "artifactRepository": {
                    "archiveLogs": False,
                    "s3": artifact_repository(
                        artifacts.bucket_name,
                        artifacts.kms_key_arn,
                        region,
                        ARTIFACT_PREFIX + "{{workflow.namespace}}/adhoc/{{workflow.name}}/{{pod.name}}",
                    ),
                },
                # Argo's init and wait containers in every workflow pod: the team namespaces enforce
                # the restricted Pod Security Standard.
                "executor": {
                    "image": executor_image(executor_repository),
                    "securityContext": kube.restricted_container_security(),
                    "resources": RESOURCES["executor"],
                },
                # Each pod uses its pipeline's Pod Identity role: the SDK's default chain, no keys.
                "useStaticCredentials": False,
                # Workflow service accounts and their bindings are each pipeline's own.
                "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
            },
            opts=self.after(dependencies.prometheus_operator, secrets, team_namespaces),
            footprint=helm.Footprint(system_pods=tuple(pods)),
        )
        repository, tag = KUEUE_IMAGE.rsplit(":", 1)
        kueue = helm.release(
            f"{name}-kueue",
            "kueue",
            namespace=KUEUE_NAMESPACE,
            create_namespace=True,
            values={
                "enablePrometheus": True,
                "controllerManager": {
                    "manager": {
                        "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
                        "resources": RESOURCES["kueue"],
                    },
                    "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                },
                "managerConfig": {"controllerManagerConfigYaml": kueue_config()},
            },
            opts=self.after(dependencies.prometheus_operator),
            footprint=helm.Footprint(system_pods=((1, RESOURCES["kueue"]),)),
        )
        self.releases = [workflows, kueue]
        self._queues(name, teams, gpu_pools, self.after([kueue], team_namespaces))
        for team in sorted(teams):
            k8s.rbac.v1.Role(
                f"{name}-executor-{team}",
                metadata={
                    "name": EXECUTOR_ROLE,
                    "namespace": team,
                    "labels": kube.labels(EXECUTOR_ROLE, "pipelines"),
                },
                # What Argo's executor in a workflow pod does: report its outputs, nothing more.
                rules=[
                    {
                        "apiGroups": ["argoproj.io"],
                        "resources": ["workflowtaskresults"],
                        "verbs": ["create", "patch"],
                    }
                ],
                opts=self.after(team_namespaces),
            )
        self.ui_url = None
        if spec.ui is PipelinesUi.SSO:
            internal_ingress(
                f"{name}-ui-ingress",
                object_name="argo-server",
                namespace=ARGO_NAMESPACE,
                labels=kube.labels("argo-server", "pipelines"),
                path="/",
                backend={"service": {"name": "argo-workflows-server", "port": {"number": 2746}}},
                health_check_path="/",
                hostname=spec.hostname,
                certificate_arn=spec.certificate_arn,
                opts=self.after([workflows], dependencies.load_balancer_controller),
            )
            self.ui_url = pulumi.Output.from_input(f"https://{spec.hostname}")
        monitored = self.after(dependencies.prometheus_operator)
        dashboard_config_map(name, "pipelines", namespace=MONITORING, opts=monitored)
        engine_alerts(name, "pipelines", runbook_base_url, monitored)
        self.register_outputs({"uiUrl": self.ui_url})

    @staticmethod
    def _controller_values(
        spec: PipelinesSpec, teams: Sequence[str], archive: ArchiveConnection | None
    ) -> dict[str, Any]:
        controller: dict[str, Any] = {
            "replicas": 1,
            "resources": RESOURCES["controller"],
            "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
            "workflowNamespaces": list(teams),
            "metricsConfig": {"enabled": True},
            "serviceMonitor": {"enabled": True},
            "workflowDefaults": {
                "spec": {"ttlStrategy": {"secondsAfterCompletion": spec.workflow_ttl_days * 86400}}
            },
        }
        if archive is not None:
            controller["persistence"] = persistence_values(archive, spec.workflow_ttl_days * 10)
        return controller

    def _server_values(
        self, name: str, spec: PipelinesSpec, secrets_path_prefix: str, opts: pulumi.ResourceOptions
    ) -> tuple[dict[str, Any], list[pulumi.Resource]]:
        if spec.ui is not PipelinesUi.SSO:
            return {"enabled": False}, []
        client = {"client-id": "client-id", "client-secret": "client-secret"}
        path = f"{secrets_path_prefix}/{spec.sso_secret}"
        entries = properties(path, client)
        synced = external_secret(
            f"{name}-sso-secret", namespace=ARGO_NAMESPACE, target=SSO_SECRET, entries=entries, opts=opts
        )
        server = {
            "enabled": True,
            "replicas": 1,
            "resources": RESOURCES["server"],
            "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
            "authModes": ["sso"],
            "sso": {
                "enabled": True,
                "issuer": spec.sso_issuer,
                "clientId": {"name": SSO_SECRET, "key": "client-id"},
                "clientSecret": {"name": SSO_SECRET, "key": "client-secret"},
                "redirectUrl": f"https://{spec.hostname}/oauth2/callback",
                "scopes": ["groups"],
                "rbac": {"enabled": True},
            },
        }
        return server, [synced]

    def _queues(
        self,
        name: str,
        teams: Mapping[str, NamespaceQuota],
        gpu_pools: Mapping[str, GpuPoolInfo],
        opts: pulumi.ResourceOptions,
    ) -> None:
        labels = kube.labels("kueue", "pipelines")
        kube.custom_resource(
            f"{name}-cohort", f"{KUEUE_API}/Cohort", {"name": COHORT, "labels": labels}, {}, opts
        )
        flavors = {CPU_FLAVOR: {}}
        for pool in sorted(gpu_pools):
            flavors[pool] = {"nodeLabels": {kube.GPU_POOL_LABEL: pool}, "tolerations": [kube.GPU_TOLERATION]}
        for flavor, body in flavors.items():
            kube.custom_resource(
                f"{name}-flavor-{flavor}",
                f"{KUEUE_API}/ResourceFlavor",
                {"name": flavor, "labels": labels},
                body,
                opts,
            )
        gpus = nominal_gpu_quotas(teams, gpu_pools)
        for team, quota in sorted(teams.items()):
            metadata = {"name": team, "labels": {**labels, kube.TEAM_LABEL: team}}
            kube.custom_resource(
                f"{name}-queue-{team}",
                f"{KUEUE_API}/ClusterQueue",
                metadata,
                team_queue(team, quota, gpus[team]),
                opts,
            )
            local = {**metadata, "name": LOCAL_QUEUE, "namespace": team}
            kube.custom_resource(
                f"{name}-local-queue-{team}", f"{KUEUE_API}/LocalQueue", local, {"clusterQueue": team}, opts
            )


def artifact_repository(
    bucket: pulumi.Input[str], kms_key_arn: pulumi.Input[str], region: str, key_format: str
) -> dict[str, Any]:
    """An Argo S3 artifact repository in the artifact store: KMS-encrypted, written with the pod's own
    role (the SDK's credential chain), keys under ``key_format``."""
    return {
        "bucket": bucket,
        "region": region,
        "endpoint": f"s3.{region}.amazonaws.com",
        "insecure": False,
        "keyFormat": key_format,
        "useSDKCreds": True,
        "encryptionOptions": {"enableEncryption": True, "kmsKeyId": kms_key_arn},
    }
