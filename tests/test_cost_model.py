"""The cost model: hand-computed estimates match to the cent; multipliers apply; gaps fail loudly."""

from __future__ import annotations

import json
from collections.abc import Callable

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pytest

from mlops_platform.components.support import kube
from mlops_platform.components.support.instance_catalog import CATALOG
from mlops_platform.infra.cost.assumptions import CostAssumptions, SharedCostKey
from mlops_platform.infra.cost.prices import PriceTable, PricingError, available_regions
from mlops_platform.infra.cost.recorder import CostRecorder
from mlops_platform.infra.offline.runner import SynthError
from tests.harness import ROOT, run, stack

ASSUMED = CostAssumptions(
    gpu_busy_hours_per_day=6,
    s3_storage_gb=100,
    log_gb_per_day=1,
    nat_gb_per_month=100,
    ecr_storage_gb_per_repository=10,
    alb_lcus=1,
    spot_price_factors={"g5": 0.4},
    # These tests check prices line by line; sharing platform cost pools it per component
    # (tests/test_cost_attribution.py checks that).
    shared_cost_key=SharedCostKey.NONE,
)


def estimate(
    build: Callable[[], None], assumptions: CostAssumptions = ASSUMED, region: str = "us-east-1"
) -> dict:
    def program() -> None:
        costs = CostRecorder().start()
        build()
        pulumi.export("costEstimate", costs.estimate(region, assumptions))

    return run(program).graph.outputs["costEstimate"]


def line(doc: dict, resource: str, unit: str) -> dict:
    [found] = [i for i in doc["lineItems"] if i["resource"] == resource and i["unit"] == unit]
    return found["monthly"]


class Pool(pulumi.ComponentResource):
    """A GPU pool as GpuNodePool builds it: a launch template and a node group under one component."""

    def __init__(self, name: str, instance_type: str, capacity: str, minimum: int, maximum: int):
        super().__init__("test:index:Pool", name)
        child = pulumi.ResourceOptions(parent=self)
        aws.ec2.LaunchTemplate(
            f"{name}-lt",
            block_device_mappings=[
                {"device_name": "/dev/xvda", "ebs": {"volume_size": 100, "encrypted": "true"}}
            ],
            opts=child,
        )
        aws.eks.NodeGroup(
            f"{name}-ng",
            cluster_name="c",
            node_role_arn="arn:aws:iam::123456789012:role/n",
            subnet_ids=["subnet-1"],
            instance_types=[instance_type],
            capacity_type=capacity,
            ami_type="AL2023_x86_64_NVIDIA",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                min_size=minimum, desired_size=minimum, max_size=maximum
            ),
            labels={kube.GPU_POOL_LABEL: name},
            opts=child,
        )


class Model(pulumi.ComponentResource):
    """What ModelEndpoint renders that the cost model reads: a GPU Deployment and its autoscaler."""

    def __init__(self, name: str, pool: str, gpus: int, min_replicas: int):
        super().__init__("mlops:model_endpoint:ModelEndpoint", name)
        child = pulumi.ResourceOptions(parent=self)
        container = {"name": "model", "image": "m:1", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
        k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={
                "name": name,
                "namespace": "team",
                "labels": {kube.MODEL_LABEL: name, kube.TEAM_LABEL: "risk", kube.VERSION_LABEL: "v1"},
                "annotations": {kube.THROUGHPUT_ANNOTATION: "10"},
            },
            spec={
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"nodeSelector": {kube.GPU_POOL_LABEL: pool}, "containers": [container]},
                },
            },
            opts=child,
        )
        k8s.autoscaling.v2.HorizontalPodAutoscaler(
            f"{name}-hpa",
            metadata={"name": name, "namespace": "team"},
            spec={
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicas": min_replicas,
                "maxReplicas": 6,
            },
            opts=child,
        )


def small_platform() -> None:
    aws.eks.Cluster("cluster", role_arn="r", vpc_config={"subnet_ids": ["s"]})
    Pool("gpu", "g5.xlarge", "SPOT", 0, 4)
    Model("scorer", "gpu", gpus=1, min_replicas=2)
    aws.rds.Instance(
        "db", instance_class="db.t4g.medium", engine="postgres", allocated_storage=50, multi_az=True
    )
    aws.ec2.NatGateway("nat", subnet_id="s")
    aws.kms.Key("key")
    aws.secretsmanager.Secret("secret")
    aws.ecr.Repository("repo")
    aws.s3.Bucket("bucket")
    aws.s3.Bucket("access-logs", tags={"mlops-platform.io/purpose": "s3-access-logs"})
    aws.cloudwatch.LogGroup("logs", retention_in_days=30)
    for name in ("a", "b"):  # two Ingresses in one group: one ALB
        k8s.networking.v1.Ingress(
            f"ingress-{name}",
            metadata={"annotations": {"alb.ingress.kubernetes.io/group.name": "shared"}},
            spec={"ingressClassName": "alb", "rules": []},
        )


# Each figure computed by hand from infra/cost/prices/us-east-1.json; a month is 730 hours.
HAND = {
    # (resource, unit): (idle, expected, peak)
    ("cluster", "cluster-hours"): (73.00, 73.00, 73.00),  # 0.10 x 730
    # g5.xlarge 1.006 x spot 0.4 = 0.4024/h. The pool's minSize is 0, but the model's 2 minimum
    # replicas of 1 GPU force 2 one-GPU nodes all month: 1460 h -> 587.504, idle and expected (no
    # traffic assumption: expected = minimum). Peak: 6 replicas want 6 nodes, the pool stops at 4:
    # 2920 h -> 1175.008.
    ("gpu-ng", "instance-hours"): (587.50, 587.50, 1175.01),
    ("gpu-ng", "GB-months"): (16.00, 16.00, 32.00),  # 100 GiB x node-months (2, 2, 4) x 0.08
    ("db", "instance-hours"): (94.90, 94.90, 94.90),  # 0.065 x 730 x 2 (Multi-AZ)
    ("db", "GB-months"): (11.50, 11.50, 11.50),  # 50 GiB x 2 (Multi-AZ) x 0.115
    ("nat", "gateway-hours"): (32.85, 32.85, 32.85),  # 0.045 x 730
    ("nat", "GB"): (4.50, 4.50, 4.50),  # 100 GB x 0.045
    ("key", "key-months"): (1.00, 1.00, 1.00),
    ("secret", "secret-months"): (0.40, 0.40, 0.40),
    ("repo", "GB-months"): (1.00, 1.00, 1.00),  # 10 GB x 0.10
    ("bucket", "GB-months"): (2.30, 2.30, 2.30),  # 100 GB x 0.023; the access-log bucket is not priced
    ("logs", "GB"): (15.21, 15.21, 15.21),  # 1 GB/day x 30.4167 days x 0.50 = 15.2083
    ("logs", "GB-months"): (0.90, 0.90, 0.90),  # 1 GB/day x 30 days kept x 0.03
    ("ingress-a", "ALB-hours"): (16.43, 16.43, 16.43),  # 0.0225 x 730 = 16.425
    ("ingress-a", "LCU-hours"): (5.84, 5.84, 5.84),  # 1 LCU x 730 x 0.008
}


def test_small_platform_matches_a_hand_calculation_to_the_cent():
    doc = estimate(small_platform)
    for (resource, unit), (idle, expected, peak) in HAND.items():
        assert line(doc, resource, unit) == {"idle": idle, "expected": expected, "peak": peak}, (
            resource,
            unit,
        )
    assert len(doc["lineItems"]) == len(HAND)
    for i, scenario in enumerate(("idle", "expected", "peak")):
        assert doc["monthly"][scenario] == pytest.approx(round(sum(v[i] for v in HAND.values()), 2), abs=1e-9)
    # 259.83 of fixed lines; idle and expected add 587.50 + 16.00 of GPU nodes, peak 1175.01 + 32.00
    assert doc["monthly"] == {"idle": 863.33, "expected": 863.33, "peak": 1466.84}
    assert doc["currency"] == "USD" and doc["hoursPerMonth"] == 730
    assert doc["priceTableDate"] == PriceTable.load("us-east-1").as_of
    assert doc["byComponent"]["gpu"] == {"idle": 603.5, "expected": 603.5, "peak": 1207.01}
    assert doc["byComponent"]["alb:shared"] == {"idle": 22.27, "expected": 22.27, "peak": 22.27}
    assert doc["byResourceType"]["aws:rds/instance:Instance"]["idle"] == 106.40
    assert doc["assumptions"]["gpuBusyHoursPerDay"] == 6
    assert doc["unpriced"] == []


def test_on_demand_costs_more_than_spot_and_single_az_half_of_multi_az():
    def spot():
        Pool("gpu", "g5.xlarge", "SPOT", 1, 1)

    def on_demand():
        Pool("gpu", "g5.xlarge", "ON_DEMAND", 1, 1)

    assert line(estimate(spot), "gpu-ng", "instance-hours")["idle"] == 293.75  # 1.006 x 0.4 x 730 = 293.752
    assert line(estimate(on_demand), "gpu-ng", "instance-hours")["idle"] == 734.38  # 1.006 x 730 = 734.38

    def single_az():
        aws.rds.Instance("db", instance_class="db.t4g.medium", engine="postgres", allocated_storage=50)

    assert line(estimate(single_az), "db", "instance-hours")["idle"] == 47.45  # 0.065 x 730


def test_traffic_and_busy_hours_drive_the_expected_cost():
    def build():
        Pool("gpu", "g5.xlarge", "SPOT", 0, 4)
        Model("scorer", "gpu", gpus=1, min_replicas=1)

    busier = CostAssumptions(
        gpu_busy_hours_per_day=12, requests_per_second={"scorer": 30}, spot_price_factors={"g5": 0.4}
    )
    # 30 req/s at 10 per replica: 3 replicas, 3 one-GPU nodes while busy (12 h x 30.4167 days = 365 h);
    # the minimum replica keeps 1 node all month: 730 + 2 x 365 = 1460 node-hours x 0.4024 = 587.504
    assert line(estimate(build, busier), "gpu-ng", "instance-hours")["expected"] == 587.50
    capped = CostAssumptions(
        gpu_busy_hours_per_day=12, requests_per_second={"scorer": 90}, spot_price_factors={"g5": 0.4}
    )
    # 9 replicas wanted, 6 at most (maxReplicas), 4 nodes at most (maxSize): 730 + 3 x 365 = 1825 h
    # x 0.4024 = 734.38
    assert line(estimate(build, capped), "gpu-ng", "instance-hours")["expected"] == 734.38


def test_cpu_node_groups_expect_their_desired_size():
    def build():
        aws.eks.NodeGroup(
            "system",
            cluster_name="c",
            node_role_arn="r",
            subnet_ids=["s"],
            instance_types=["m6i.large"],
            scaling_config={"min_size": 2, "desired_size": 3, "max_size": 5},
        )

    # 0.096 x 730 = 70.08 per node; no launch template: EKS's 20 GiB root volume x 0.08 = 1.60 per node.
    # No pod asks for more: idle at minSize, expected and peak at desiredSize.
    assert line(estimate(build), "system", "instance-hours") == {
        "idle": 140.16,
        "expected": 210.24,
        "peak": 210.24,
    }
    assert line(estimate(build), "system", "GB-months") == {"idle": 3.20, "expected": 4.80, "peak": 4.80}


def test_resources_in_another_region_use_that_regions_table():
    def build():
        aws.kms.Key("here")
        aws.s3.Bucket("replica", region="eu-west-1")

    doc = estimate(build)
    eu = PriceTable.load("eu-west-1")
    assert line(doc, "replica", "GB-months")["idle"] == round(float(eu.s3_standard_gb_month) * 100, 2)


def test_unknown_instance_type_fails_naming_it():
    def build():
        Pool("gpu", "g5.xlarge", "ON_DEMAND", 0, 1)
        aws.eks.NodeGroup(
            "odd",
            cluster_name="c",
            node_role_arn="r",
            subnet_ids=["s"],
            instance_types=["x9.huge"],
            scaling_config={"min_size": 0, "desired_size": 0, "max_size": 1},
        )

    with pytest.raises(SynthError) as raised:
        estimate(build)
    assert raised.value.exit_code == 2
    assert "node group odd: no price for EC2 instance type 'x9.huge' in us-east-1" in str(raised.value)
    assert "Traceback" not in str(raised.value)


def test_unknown_region_fails_naming_it():
    with pytest.raises(SynthError) as raised:
        estimate(lambda: aws.kms.Key("k"), region="ap-south-1")
    assert "no price table for region 'ap-south-1' (tables: eu-west-1, us-east-1, us-west-2)" in str(
        raised.value
    )


def test_unknown_spot_family_and_bad_assumptions_fail_naming_them():
    with pytest.raises(SynthError) as raised:
        estimate(lambda: Pool("gpu", "g6.xlarge", "SPOT", 0, 1), CostAssumptions(spot_price_factors={}))
    assert "no spot price factor for family 'g6'; set costAssumptions.spotPriceFactors.g6" in str(
        raised.value
    )
    with pytest.raises(SynthError) as raised:
        estimate(lambda: None, CostAssumptions(gpu_busy_hours_per_day=30, spot_price_factors={"g5": 1.5}))
    assert "costAssumptions.gpuBusyHoursPerDay: must be between 0 and 24 (got 30)" in str(raised.value)
    assert "costAssumptions.spotPriceFactors.g5: must be > 0 and <= 1 (got 1.5)" in str(raised.value)


def test_inputs_known_only_at_deploy_time_are_listed_not_zeroed():
    def build():
        types = pulumi.Output.from_input(["g5.xlarge"]).apply(list)
        aws.eks.NodeGroup(
            "late",
            cluster_name="c",
            node_role_arn="r",
            subnet_ids=["s"],
            instance_types=types,
            scaling_config={"min_size": 0, "desired_size": 0, "max_size": 1},
        )

    doc = estimate(build)
    assert doc["unpriced"] == [
        {
            "resourceType": "aws:eks/nodeGroup:NodeGroup",
            "resource": "late",
            "reason": "instance types or scaling sizes are only known at deploy time",
        }
    ]


def test_bad_price_table_is_refused_naming_each_problem(tmp_path):
    doc = json.loads((ROOT / "infra" / "cost" / "prices" / "us-east-1.json").read_text())
    doc["ec2"]["g5.xlarge"] = "cheap"
    del doc["kms"]
    doc["region"] = "us-east-1"
    (tmp_path / "us-east-1.json").write_text(json.dumps(doc))
    with pytest.raises(PricingError) as raised:
        PriceTable.load("us-east-1", tmp_path)
    message = str(raised.value)
    assert "ec2.g5.xlarge: must be a non-negative number (got 'cheap')" in message
    assert "kms.keyMonth: missing" in message


def test_price_tables_cover_every_catalog_instance_type_and_carry_provenance():
    assert available_regions() == ["eu-west-1", "us-east-1", "us-west-2"]
    for region in available_regions():
        table = PriceTable.load(region)
        assert set(CATALOG) <= set(table.ec2), region
        assert table.source and table.as_of and table.currency == "USD"
        for family in ("g4dn", "g5", "g6", "g6e", "p4d", "p5"):
            assert any(t.startswith(f"{family}.") for t in table.ec2), (region, family)


@pytest.mark.parametrize("environment", ["dev", "stage", "prod"])
def test_every_stack_exports_a_cost_estimate(environment):
    doc = stack(environment).graph.outputs["costEstimate"]
    monthly = doc["monthly"]
    assert 0 < monthly["idle"] <= monthly["expected"] <= monthly["peak"]
    assert doc["unpriced"] == []
    for component in ("cluster", "network", "artifacts", "mlflow"):
        assert doc["byComponent"][component]["idle"] > 0, component
    assert round(sum(c["peak"] for c in doc["byComponent"].values()), 2) == monthly["peak"]


def test_prod_runs_multi_az_database_and_more_than_dev():
    dev = stack("dev").graph.outputs["costEstimate"]
    prod = stack("prod").graph.outputs["costEstimate"]
    assert prod["monthly"]["idle"] > dev["monthly"]["idle"]
    # Platform lines are pooled per component once shared; the database's own cost is by type:
    # prod's db.r6g.large runs Multi-AZ (two instances), dev's db.t4g.small one.
    table = PriceTable.load("us-east-1")
    rds = "aws:rds/instance:Instance"
    assert prod["byResourceType"][rds]["idle"] >= float(2 * 730 * table.rds_instances["db.r6g.large"])
    assert dev["byResourceType"][rds]["idle"] < float(2 * 730 * table.rds_instances["db.t4g.small"])


def test_stack_config_with_an_unpriced_region_fails_before_any_resource(project_copy):
    import subprocess
    import sys

    stack_file = project_copy / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("aws:region: us-east-1", "aws:region: ap-south-1"))
    result = subprocess.run(
        [sys.executable, "-m", "mlops_platform.infra.cli", "synth", "dev"],
        cwd=project_copy,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "aws:region: no price table for region 'ap-south-1'" in result.stderr
    assert "Traceback" not in result.stderr
