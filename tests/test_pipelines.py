"""Pipelines, as the stacks render them: Argo Workflows and Kueue from their charts, the teams' queues
and quotas, the executor Role, the engines' alerts and dashboard; and the quota arithmetic."""

from __future__ import annotations

import json
import tarfile
from typing import Any

import pulumi
import pytest
import yaml

from mlops_platform.components.lifecycle.pipelines import (
    COHORT,
    CPU_FLAVOR,
    LOCAL_QUEUE,
    Pipelines,
    PipelinesSpec,
    nominal_gpu_quotas,
    quota_problems,
)
from mlops_platform.components.lifecycle.workflow_archive import ArchiveLocation
from mlops_platform.components.refs import GpuPoolInfo, PlatformDependencies
from mlops_platform.components.serving.team_namespace import NamespaceQuota
from mlops_platform.components.support import helm
from mlops_platform.components.support.pins import ARGO_EXECUTOR_IMAGE
from mlops_platform.components.support.validation import InvalidArgs
from mlops_platform.policies.graph import Graph, Resource
from tests.harness import ARTIFACTS, GPU_POOLS, context, only, run, stack

RELEASE = "kubernetes:helm.sh/v3:Release"
KUEUE = "kubernetes:kueue.x-k8s.io/v1beta2"


def pool(max_nodes: int, gpus_per_node: int = 1, *, spot: bool = False) -> GpuPoolInfo:
    return GpuPoolInfo({"mlops-platform.io/gpu-pool": "p"}, gpus_per_node, max_nodes, 300, spot)


def release(graph: Graph, chart_name: str) -> Resource:
    (found,) = [r for r in graph.of_type(RELEASE) if r.inputs["name"] == chart_name]
    return found


def gpu_quotas(graph: Graph) -> dict[str, dict[str, int]]:
    """Team -> flavor -> nominal nvidia.com/gpu quota, from the ClusterQueues the stack renders."""
    found: dict[str, dict[str, int]] = {}
    for queue in graph.of_type(f"{KUEUE}:ClusterQueue"):
        (group,) = queue.inputs["spec"]["resourceGroups"]
        found[queue.inputs["metadata"]["name"]] = {
            flavor["name"]: next(
                r["nominalQuota"] for r in flavor["resources"] if r["name"] == "nvidia.com/gpu"
            )
            for flavor in group["flavors"]
        }
    return found


def test_argo_workflows_installs_with_a_kms_artifact_repository_and_no_static_keys():
    graph = stack("prod").graph
    values = release(graph, "argo-workflows").inputs["values"]
    s3 = values["artifactRepository"]["s3"]
    assert s3["keyFormat"] == "pipelines/{{workflow.namespace}}/adhoc/{{workflow.name}}/{{pod.name}}"
    assert s3["useSDKCreds"] is True and values["useStaticCredentials"] is False
    assert s3["encryptionOptions"]["enableEncryption"] is True
    assert s3["encryptionOptions"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert s3["bucket"] == graph.outputs["artifactBucket"]
    controller = values["controller"]
    assert controller["workflowNamespaces"] == ["growth", "risk"]
    assert controller["metricsConfig"]["enabled"] and controller["serviceMonitor"]["enabled"]
    assert values["server"] == {"enabled": False}  # prod's config: no UI
    assert values["crds"]["full"] is False  # the full CRDs' hook Job would download them
    assert values["workflow"]["rbac"]["create"] is False
    # Its executor runs inside team pods: from the platform registry (signed there), at the chart's version.
    registry = graph.outputs["registryUrls"]["argoexec"]
    image = values["executor"]["image"]
    assert f"{image['registry']}/{image['repository']}" == registry
    with tarfile.open(helm.archive("argo-workflows")) as archive:
        chart = yaml.safe_load(archive.extractfile("argo-workflows/Chart.yaml"))  # type: ignore[arg-type]
    assert image["tag"] == chart["appVersion"] == ARGO_EXECUTOR_IMAGE.rsplit(":", 1)[1]


def test_kueue_runs_the_released_image_and_manages_only_queued_pods_in_team_namespaces():
    values = release(stack("prod").graph, "kueue").inputs["values"]
    image = values["controllerManager"]["manager"]["image"]
    assert f"{image['repository']}:{image['tag']}" == "registry.k8s.io/kueue/kueue:v0.19.2"
    config = json.loads(values["managerConfig"]["controllerManagerConfigYaml"])
    assert config["integrations"]["frameworks"] == ["pod"]
    assert config["managedJobsNamespaceSelector"] == {
        "matchExpressions": [{"key": "mlops-platform.io/team", "operator": "Exists"}]
    }
    assert "manageJobsWithoutQueueName" not in config  # model servers name no queue: never gated


def test_each_team_gets_a_cluster_queue_in_one_cohort_and_a_local_queue():
    graph = stack("prod").graph
    (cohort,) = graph.of_type(f"{KUEUE}:Cohort")
    assert cohort.inputs["metadata"]["name"] == COHORT
    flavors = {
        f.inputs["metadata"]["name"]: f.inputs["spec"] for f in graph.of_type(f"{KUEUE}:ResourceFlavor")
    }
    assert flavors[CPU_FLAVOR] == {}
    assert flavors["gpu-burst"]["nodeLabels"] == {"mlops-platform.io/gpu-pool": "gpu-burst"}
    assert flavors["gpu-burst"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    queues = {q.inputs["metadata"]["name"]: q.inputs["spec"] for q in graph.of_type(f"{KUEUE}:ClusterQueue")}
    assert sorted(queues) == ["growth", "risk"]
    risk = queues["risk"]
    assert risk["cohortName"] == COHORT
    assert risk["namespaceSelector"] == {"matchLabels": {"mlops-platform.io/team": "risk"}}
    assert risk["preemption"]["reclaimWithinCohort"] == "Any"  # borrowed quota is taken back
    cpu = risk["resourceGroups"][0]["flavors"][0]
    assert cpu["name"] == CPU_FLAVOR
    assert {r["name"]: r["nominalQuota"] for r in cpu["resources"]} == {
        "cpu": "64",
        "memory": "256Gi",
        "nvidia.com/gpu": 0,
    }
    locals_ = {
        (q.inputs["metadata"]["namespace"], q.inputs["metadata"]["name"]): q.inputs["spec"]
        for q in graph.of_type(f"{KUEUE}:LocalQueue")
    }
    assert locals_ == {
        ("growth", LOCAL_QUEUE): {"clusterQueue": "growth"},
        ("risk", LOCAL_QUEUE): {"clusterQueue": "risk"},
    }


@pytest.mark.parametrize("name", ["dev", "stage", "prod"])
def test_nominal_gpu_quotas_never_exceed_what_each_pool_holds(name):
    graph = stack(name).graph
    pools = graph.outputs["gpuNodePools"]
    capacity = {p: info["maxSize"] * info["gpusPerNode"] for p, info in pools.items()}
    used = {p: 0 for p in capacity}
    for flavors in gpu_quotas(graph).values():
        for flavor, gpus in flavors.items():
            if flavor != CPU_FLAVOR:
                used[flavor] += gpus
    assert all(used[p] <= capacity[p] for p in capacity), (used, capacity)


def test_quotas_that_fit_are_kept_whole_and_land_on_spot_first():
    pools = {"baseline": pool(6), "burst": pool(8, spot=True)}
    quotas = nominal_gpu_quotas({"growth": NamespaceQuota(gpus=4), "risk": NamespaceQuota(gpus=8)}, pools)
    assert quotas == {"growth": {"burst": 4, "baseline": 0}, "risk": {"burst": 4, "baseline": 4}}


def test_quotas_over_the_pools_shrink_together_to_fill_them_exactly():
    pools = {"spot": pool(2, spot=True)}
    quotas = nominal_gpu_quotas({"a": NamespaceQuota(gpus=4), "b": NamespaceQuota(gpus=4)}, pools)
    assert quotas == {"a": {"spot": 1}, "b": {"spot": 1}}
    uneven = nominal_gpu_quotas(
        {"a": NamespaceQuota(gpus=5), "b": NamespaceQuota(gpus=3), "c": NamespaceQuota(gpus=0)},
        {"p": pool(3)},
    )
    assert {t: sum(q.values()) for t, q in uneven.items()} == {"a": 2, "b": 1, "c": 0}


def test_a_team_quota_no_pool_could_ever_hold_is_a_problem():
    pools = {"a": pool(2, 4), "b": pool(1)}
    (problem,) = quota_problems(NamespaceQuota(gpus=10), pools)
    assert problem.field == "gpus"
    assert problem.message == (
        "is 10 but the GPU pools can hold at most 9 (a: 8, b: 1); lower it or raise a pool's maxSize"
    )
    assert quota_problems(NamespaceQuota(gpus=9), pools) == []


def test_the_executor_role_only_reports_results():
    graph = stack("prod").graph
    roles = [
        r
        for r in graph.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
        if r.name.startswith("pipelines-executor")
    ]
    assert sorted(r.inputs["metadata"]["namespace"] for r in roles) == ["growth", "risk"]
    for role in roles:
        assert role.inputs["rules"] == [
            {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
        ]


def test_pipeline_alerts_each_link_a_runbook_and_the_dashboard_ships():
    graph = stack("prod").graph
    (rule,) = [
        r
        for r in graph.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        if r.name == "pipelines-alerts"
    ]
    alerts = {a["alert"]: a for group in rule.inputs["spec"]["groups"] for a in group["rules"]}
    assert sorted(alerts) == [
        "PipelineQueueInadmissible",
        "WorkflowControllerErrors",
        "WorkflowPodsStuckPending",
        "WorkflowsFailing",
    ]
    for alert in alerts.values():
        assert alert["annotations"]["runbook_url"].endswith(
            alert["annotations"]["runbook_url"].rsplit("/", 1)[1]
        )
    (dashboard,) = [
        d for d in graph.of_type("kubernetes:core/v1:ConfigMap") if d.name == "pipelines-dashboard-pipelines"
    ]
    board = json.loads(dashboard.inputs["data"]["pipelines.json"])
    assert board["title"] == "Pipelines" and len(board["panels"]) == 8


def test_prod_archives_workflows_in_a_database_of_its_own_reachable_only_from_the_cluster():
    graph = stack("prod").graph
    databases = {r.name: r for r in graph.of_type("aws:rds/instance:Instance")}
    archive, mlflow = databases["pipelines-archive-db"], databases["mlflow-db"]
    assert (archive.inputs["dbName"], archive.inputs["username"]) == ("argo", "argo")
    assert archive.inputs["instanceClass"] == "db.t4g.micro"
    assert archive.inputs["multiAz"] and archive.inputs["deletionProtection"]
    assert archive.inputs["storageEncrypted"] and archive.inputs["publiclyAccessible"] is False
    assert archive.inputs["kmsKeyId"] != mlflow.inputs["kmsKeyId"]  # a key of its own
    (group,) = [
        g for g in graph.of_type("aws:ec2/securityGroup:SecurityGroup") if g.name == "pipelines-archive-db-sg"
    ]
    (ingress,) = group.inputs["ingress"]
    assert (ingress["fromPort"], ingress["toPort"], "cidrBlocks" in ingress) == (5432, 5432, False)
    assert group.property_dependencies["ingress"] == [only(graph, "aws:eks/cluster:Cluster").urn]
    postgresql = release(graph, "argo-workflows").inputs["values"]["controller"]["persistence"]["postgresql"]
    assert postgresql["database"] == "argo" and postgresql["sslMode"] == "require"
    assert postgresql["host"].startswith("pipelines-archive-db-")  # the archive's address, not MLflow's
    (synced,) = [
        s
        for s in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
        if s.name == "pipelines-archive-secret"
    ]
    assert {d["remoteRef"]["key"] for d in synced.inputs["spec"]["data"]} == {
        "mlops-platform/prod/pipelines/archive-database"
    }
    alarms = {a.name: a for a in graph.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    for role in ("cpu", "free-storage", "connections"):
        (watched,) = alarms[f"observability-alarms-rds-1-{role}"].inputs["dimensions"].values()
        assert watched.startswith("pipelines-archive-db-")


def one_pipelines(spec: PipelinesSpec, **wiring: Any) -> Pipelines:
    """One Pipelines component on its own, for one team."""
    return Pipelines(
        "pipelines",
        spec,
        context(),
        pulumi.ResourceOptions(),
        artifacts=ARTIFACTS,
        teams={"risk": NamespaceQuota(gpus=1)},
        gpu_pools=GPU_POOLS,
        runbook_base_url="https://runbooks.example.com",
        dependencies=PlatformDependencies(),
        secrets_path_prefix="mlops-platform/dev",
        **wiring,
    )


def pipelines(spec: PipelinesSpec, **wiring: Any) -> Graph:
    return run(lambda: one_pipelines(spec, **wiring)).graph


def test_the_archive_can_live_in_the_mlflow_database_with_its_credentials_or_nowhere():
    in_mlflow = pipelines(
        PipelinesSpec(archive=ArchiveLocation.MLFLOW_DATABASE), mlflow_database_host="mlflow-db.example"
    )
    postgresql = release(in_mlflow, "argo-workflows").inputs["values"]["controller"]["persistence"][
        "postgresql"
    ]
    assert (postgresql["host"], postgresql["database"]) == ("mlflow-db.example", "mlflow")
    (synced,) = in_mlflow.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
    assert {d["remoteRef"]["key"] for d in synced.inputs["spec"]["data"]} == {
        "mlops-platform/dev/mlflow/database"
    }
    assert not in_mlflow.of_type("aws:rds/instance:Instance")

    nowhere = pipelines(PipelinesSpec(), mlflow_database_host="mlflow-db.example")
    assert "persistence" not in release(nowhere, "argo-workflows").inputs["values"]["controller"]
    assert not nowhere.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")


@pytest.mark.parametrize(
    ("archive", "message"),
    [
        (
            ArchiveLocation.MLFLOW_DATABASE,
            "archive: mlflowDatabase needs the MLflow database (mlflow_database_host)",
        ),
        (
            ArchiveLocation.OWN_DATABASE,
            "archive: ownDatabase needs the network, cluster and secrets (database)",
        ),
    ],
)
def test_an_archive_without_its_database_is_refused_before_anything_registers(archive, message):
    with pytest.raises(InvalidArgs) as raised:
        one_pipelines(PipelinesSpec(archive=archive))
    assert message in str(raised.value)
