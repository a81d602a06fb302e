"""Placement, attribution and unit cost: bin packing by hand, a pool too small for its minimum,
every dollar owned and summing back to the cent, CSV and JSON round trips, cost per 1,000 inferences."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from decimal import Decimal

import pytest

from mlops_platform.components.support import kube
from mlops_platform.infra.cli import main
from mlops_platform.infra.cost.assumptions import CostAssumptions, SharedCostKey
from mlops_platform.infra.cost.placement import MIB, Owner, Pod, Unschedulable, node_shape, pack
from mlops_platform.infra.cost.report import render
from mlops_platform.infra.offline.runner import SynthError
from tests.test_cost_model import Model, Pool, estimate

GIB = MIB * 1024
TEAM = Owner("risk", "scorer", "v1")


def pods(count: int, cpu: str, memory_gib: str, gpus: int = 0) -> list[Pod]:
    return [Pod(TEAM, Decimal(cpu), Decimal(memory_gib) * GIB, Decimal(gpus))] * count


def test_a_node_offers_its_allocatable_capacity():
    shape = node_shape("m6i.large")  # 2 vCPU, 8 GiB
    assert shape.cpu == Decimal("1.93")  # 2 - (0.06 + 0.01) kube-reserved
    assert shape.memory == (8192 - 255 - 11 * 58 - 100) * MIB  # 7199 MiB
    assert node_shape("g5.12xlarge").gpus == 4


def test_bin_packing_worked_by_hand():
    small = node_shape("m6i.large")
    # 1 CPU each: 1.93 allocatable holds one, so three pods need three nodes
    assert len(pack(pods(3, "1", "1"), small)) == 3
    # 500m each: three per node (1.5 <= 1.93), so four pods need two nodes
    assert [len(n) for n in pack(pods(4, "0.5", "1"), small)] == [3, 1]
    # memory binds first: 3 GiB each, two per node (6 GiB <= 7199 MiB)
    assert [len(n) for n in pack(pods(5, "0.1", "3"), small)] == [2, 2, 1]
    # GPUs: one per g5.xlarge, four per g5.12xlarge
    assert len(pack(pods(2, "1", "4", gpus=1), node_shape("g5.xlarge"))) == 2
    assert [len(n) for n in pack(pods(6, "1", "4", gpus=1), node_shape("g5.12xlarge"))] == [4, 2]
    # first fit decreasing: the big pod opens a node, small ones fill the gaps
    mixed = pods(1, "1.6", "1") + pods(3, "0.4", "1")  # 1.6 + 0.4 > 1.93
    assert [len(n) for n in pack(mixed, small)] == [1, 3]
    assert pack([], small) == []


def test_a_pod_larger_than_a_node_is_an_error_naming_both():
    with pytest.raises(Unschedulable, match=r"requests 4 CPU.*one m6i.large offers 1.93 CPU"):
        pack(pods(1, "4", "1"), node_shape("m6i.large"))


def test_a_pool_that_cannot_hold_its_minimum_replicas_is_refused():
    def build():
        Pool("gpu", "g5.xlarge", "SPOT", 0, 1)
        Model("scorer", "gpu", gpus=1, min_replicas=2)

    with pytest.raises(SynthError) as raised:
        estimate(build)
    assert raised.value.exit_code == 2
    assert (
        "node group gpu-ng: its minimum replicas need 2 g5.xlarge nodes but it may run 1; "
        "raise the pool's maxSize or lower the models' replicas.min"
    ) in str(raised.value)


def test_a_pool_kept_larger_than_its_pods_need_is_named():
    def build():
        Pool("gpu", "g5.xlarge", "ON_DEMAND", 3, 4)
        Model("scorer", "gpu", gpus=1, min_replicas=1)

    doc = estimate(build)
    pool = doc["nodes"]["gpu-ng"]
    assert (pool["idle"], pool["idleNeeded"]) == (3, 1)
    assert (
        "gpu-ng keeps 3 nodes at idle (its minimum size) where its pods need 1: lower its minSize to save 2"
        in render([("test", doc)], "table")
    )


def test_cost_per_1k_inferences_worked_by_hand():
    def build():
        Pool("gpu", "g5.xlarge", "ON_DEMAND", 0, 4)
        Model("scorer", "gpu", gpus=1, min_replicas=1)  # throughput annotation: 10 req/s per replica

    assumptions = CostAssumptions(
        gpu_busy_hours_per_day=10, requests_per_second={"scorer": 20}, shared_cost_key=SharedCostKey.NONE
    )
    doc = estimate(build, assumptions)
    model = doc["byModel"]["risk/scorer"]
    # 20 req/s at 10 per replica: 2 replicas while busy (10 h x 30.41667 days = 304.1667 h), 1 otherwise.
    # Node-hours 730 + 304.1667 = 1034.1667 x 1.006 = 1040.37; root volume 100 GiB x 1034.1667/730
    # node-months x 0.08 = 11.33. Expected 1051.70.
    assert model["expectedMonthly"] == 1051.70
    # Requests: 20 x 3600 x 304.1667 = 21,900,000 a month. 1051.70 / 21,900 = 0.048023
    assert model["monthlyRequests"] == 21_900_000
    assert model["costPer1kInferences"]["platform"] == 0.0480
    # SageMaker: the same 1034.1667 replica-hours on ml.g5.xlarge at 1.4084 = 1456.52; / 21,900 = 0.066508
    assert model["sagemakerInstances"] == ["ml.g5.xlarge"]
    assert model["sagemakerExpectedMonthly"] == 1456.52
    assert model["costPer1kInferences"]["sagemaker"] == 0.0665
    # Key none: the platform's own lines (none here) stay with the platform team.
    assert doc["sharedCostKey"] == "none"


def _cents(value: float) -> int:
    return round(value * 100)


@pytest.fixture(scope="module")
def dev_estimate() -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["cost", "dev", "--format", "json"]) == 0
    return json.loads(out.getvalue())


def test_every_dev_dollar_has_an_owner_and_sums_back_to_the_cent(dev_estimate):
    doc = dev_estimate
    assert doc["stack"] == "dev" and doc["environment"] == "dev"
    for scenario in ("idle", "expected", "peak"):
        total = _cents(doc["monthly"][scenario])
        assert sum(_cents(i["monthly"][scenario]) for i in doc["lineItems"]) == total
        assert sum(_cents(t[scenario]) for t in doc["byTeam"].values()) == total
        assert sum(_cents(c[scenario]) for c in doc["byComponent"].values()) == total
    # shared by requests: with models running, no platform line is left over
    assert set(doc["byTeam"]) == {"growth", "risk"}
    for item in doc["lineItems"]:
        assert item["team"] and item["model"] and item["version"], item
        assert item["allocation"] in ("direct", "shared:requests")


SCALE_TO_ZERO = "      scaleToZero: {idleMinutes: 15, coldStartSeconds: 600}\n"


def test_dev_idle_counts_the_gpu_nodes_min_replicas_force(dev_estimate, project_copy, monkeypatch):
    def gpu_hours(estimate: dict) -> list[dict]:
        return [
            i for i in estimate["lineItems"] if i["component"] == "gpu-spot" and i["unit"] == "instance-hours"
        ]

    # As dev ships, fraud-scorer scales to zero: idle keeps no GPU node; peak has its two replicas.
    assert sum(_cents(i["monthly"]["idle"]) for i in gpu_hours(dev_estimate)) == 0
    pool = dev_estimate["nodes"]["gpu-spot-node-pool"]
    assert (pool["idle"], pool["expected"], pool["peak"], pool["instanceType"]) == (0, 0, 2, "g6.xlarge")
    # One node as priced: g6.xlarge spot at 45% of 0.8048 an hour, a 100 GiB root volume.
    assert (pool["instanceHourPrice"], pool["rootVolumeGib"]) == (0.36216, 100.0)
    assert sum(_cents(i["monthly"]["peak"]) for i in gpu_hours(dev_estimate)) == _cents(
        2 * 730 * 0.8048 * 0.45
    )
    # Without scaleToZero its stable and canary each keep one single-GPU replica: two g6.xlarge spot
    # nodes (0.8048 x 0.45 = 0.36216/h) all month, though the pool's minSize is 0.
    stack_file = project_copy / "stacks" / "Pulumi.dev.yaml"
    assert SCALE_TO_ZERO in stack_file.read_text()
    stack_file.write_text(stack_file.read_text().replace(SCALE_TO_ZERO, ""))
    monkeypatch.chdir(project_copy)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["cost", "dev", "--format", "json"]) == 0
    forced = json.loads(out.getvalue())
    lines = gpu_hours(forced)
    assert forced["nodes"]["gpu-spot-node-pool"]["idle"] == 2
    assert {i["version"] for i in lines} == {"v3", "v4"}
    assert all(i["allocation"] == "direct" for i in lines)
    assert sum(_cents(i["monthly"]["idle"]) for i in lines) == _cents(2 * 730 * 0.8048 * 0.45)


def test_dev_system_nodes_hold_every_platform_pod_and_the_eks_add_ons_on_two_nodes(dev_estimate):
    add_ons = dev_estimate["addOns"]
    # The EKS-managed add-ons take their share like any release: CoreDNS on the system nodes, the
    # network, proxy and CSI daemons on every node.
    assert add_ons["cluster-coredns"]["systemPods"] == [[2, "100m", "70Mi"]]
    assert add_ons["cluster-aws-ebs-csi-driver"]["systemPods"] == [[2, "50m", "200Mi"]]
    daemons = [kube.quantity(f["everyNode"][0]) for f in add_ons.values()]
    # By hand, per node: Fluent Bit 50m + VPC CNI 50m + kube-proxy 100m + EBS CSI 30m = 230m, so
    # one t3.large offers 1.93 - 0.23 = 1.70 CPU to pods.
    assert sum(daemons) == Decimal("0.23")
    pods_cpu = sum(
        replicas * kube.quantity(cpu)
        for f in add_ons.values()
        for replicas, cpu, _ in [*f["systemPods"], *f["operatedPods"]]
    )
    # Plus the MLflow server (250m in dev) and churn-classifier's one replica (500m): 3.18 CPU, more
    # than one node's 1.70 and within two (3.40), so idle runs two system nodes all month.
    assert pods_cpu + Decimal("0.25") + Decimal("0.5") == Decimal("3.18")
    # Two spot t3.large (dev's cheapest system type): 2 x 730 h x 0.0832 x 0.35 = 42.52, and their
    # 50 GiB roots 2 x 50 x 0.08 = 8.00.
    assert dev_estimate["byResourceType"]["aws:eks/nodeGroup:NodeGroup"]["idle"] == 50.52


def test_cost_per_1k_is_exported_per_model_beside_sagemaker(dev_estimate):
    per_1k = {key: model["costPer1kInferences"] for key, model in dev_estimate["byModel"].items()}
    assert (
        per_1k["growth/churn-classifier"]["platform"] > 0
        and per_1k["growth/churn-classifier"]["sagemaker"] > 0
    )
    # A model at zero replicas with no declared traffic serves nothing: no unit cost, not a zero one.
    assert per_1k["risk/fraud-scorer"] == {"platform": None, "platformDirect": None, "sagemaker": None}


def test_csv_rolls_up_environments_and_round_trips_to_the_json(capsys):
    assert main(["cost", "dev", "stage", "prod", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert main(["cost", "dev", "stage", "prod", "--format", "json"]) == 0
    combined = json.loads(capsys.readouterr().out)
    stacks = {s["stack"]: s for s in combined["stacks"]}
    assert {r["environment"] for r in rows} == {"dev", "stage", "prod"}
    for name, doc in stacks.items():
        mine = [r for r in rows if r["stack"] == name]
        assert len(mine) == len(doc["lineItems"])
        for scenario in ("idle", "expected", "peak"):
            assert sum(_cents(float(r[scenario])) for r in mine) == _cents(doc["monthly"][scenario])
            assert _cents(combined["rollup"]["byEnvironment"][doc["environment"]][scenario]) == _cents(
                doc["monthly"][scenario]
            )
    for row in rows:
        assert row["team"] and row["model"], row


def test_from_outputs_names_the_stack_and_rolls_up_with_a_named_stack(tmp_path, capsys):
    assert main(["synth", "stage", "-o", str(tmp_path / "stage.json")]) == 0
    graph = json.loads((tmp_path / "stage.json").read_text())
    (tmp_path / "outputs.json").write_text(json.dumps(graph["outputs"]))
    capsys.readouterr()
    assert main(["cost", "--from-outputs", str(tmp_path / "outputs.json")]) == 0
    assert "Estimated monthly cost of stack stage " in capsys.readouterr().out
    assert (
        main(["cost", "dev", "--from-outputs", str(tmp_path / "outputs.json"), "--format", "markdown"]) == 0
    )
    assert "Roll-up of stacks stage, dev" in capsys.readouterr().out
    assert main(["cost", "stage", "--from-outputs", str(tmp_path / "outputs.json")]) == 2
    assert "each stack may be named once (got stage, stage)" in capsys.readouterr().err


def test_shared_platform_cost_reaches_each_version_in_one_line(dev_estimate):
    """Pooled before it is shared: the estimate grows with the models, not with models x resources."""
    shared = [i for i in dev_estimate["lineItems"] if i["allocation"].startswith("shared:")]
    keys = [(i["team"], i["model"], i["version"]) for i in shared]
    assert shared and len(keys) == len(set(keys))
    assert {(i["component"], i["unit"], i["resourceType"]) for i in shared} == {
        ("platform", "USD", "mlops:cost:PooledCost")
    }
    # Nothing is lost in the pooling: the shared lines hold what the platform's components cost
    # beyond what models pay for directly there (their pods' share of the nodes).
    models = {i["model"] for i in dev_estimate["lineItems"]}
    platform = [c for c in dev_estimate["byComponent"] if c not in models]
    for scenario in ("idle", "peak"):
        direct = sum(
            _cents(i["monthly"][scenario])
            for i in dev_estimate["lineItems"]
            if i["allocation"] == "direct" and i["component"] in platform
        )
        owed = sum(_cents(dev_estimate["byComponent"][c][scenario]) for c in platform) - direct
        assert sum(_cents(i["monthly"][scenario]) for i in shared) == owed > 0


def test_a_models_own_resources_are_its_direct_cost(dev_estimate):
    """Its repository, role and grants are the model's, not platform cost shared by everyone."""
    own = [i for i in dev_estimate["lineItems"] if i["component"] == "churn-classifier"]
    assert own and {(i["team"], i["model"], i["allocation"]) for i in own} == {
        ("growth", "churn-classifier", "direct")
    }


def test_a_rollouts_live_versions_each_run_their_share_of_its_replicas():
    """ModelEndpoint's Rollout runs stable and canary from one template: the cost model prices each
    version at its share of what the Rollout's autoscaler keeps (Argo's setCanaryScale)."""
    import json as _json

    import pulumi
    import pulumi_kubernetes as k8s

    from mlops_platform.components.support import kube
    from tests.test_cost_model import Pool, estimate

    def build():
        Pool("gpu", "g5.xlarge", "SPOT", 0, 8)
        endpoint = pulumi.ComponentResource("mlops:model_endpoint:ModelEndpoint", "scorer")
        child = pulumi.ResourceOptions(parent=endpoint)
        versions = {"v3": {"traffic": 90, "replicas": 100}, "v4": {"traffic": 10, "replicas": 50}}
        k8s.apiextensions.CustomResource(
            "scorer-rollout",
            api_version="argoproj.io/v1alpha1",
            kind="Rollout",
            metadata={
                "name": "scorer",
                "namespace": "risk",
                "labels": {kube.MODEL_LABEL: "scorer", kube.TEAM_LABEL: "risk"},
                "annotations": {kube.ROLLOUT_VERSIONS_ANNOTATION: _json.dumps(versions)},
            },
            spec={
                "template": {
                    "metadata": {"labels": {kube.MODEL_LABEL: "scorer", kube.VERSION_LABEL: "v4"}},
                    "spec": {
                        "nodeSelector": {kube.GPU_POOL_LABEL: "gpu"},
                        "containers": [{"name": "m", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
                    },
                }
            },
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            "scorer-hpa",
            metadata={"name": "scorer", "namespace": "risk"},
            spec={
                "scaleTargetRef": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "scorer"},
                "minReplicas": 3,
                "maxReplicas": 5,
            },
            opts=child,
        )

    doc = estimate(build)
    hours = {
        i["version"]: i["quantity"]
        for i in doc["lineItems"]
        if i["unit"] == "instance-hours" and i["model"] == "scorer"
    }
    # stable: all 3..5 replicas; canary at 50%: ceil(3 x 0.5) = 2 .. ceil(5 x 0.5) = 3; one GPU node each
    assert (hours["v3"]["idle"], hours["v3"]["peak"]) == (3 * 730, 5 * 730)
    assert (hours["v4"]["idle"], hours["v4"]["peak"]) == (2 * 730, 3 * 730)
