"""Benchmark: each stack's estimated monthly cost against its physical floor.

The floor is what the environment cannot avoid, priced from the same tables as the estimate:
the EKS control plane; one NAT gateway with the stack's assumed NAT traffic; one load balancer
with its assumed capacity units; the smallest MLflow database the price table offers (single-AZ,
20 GiB); the stack's KMS keys and secrets; and system capacity equal to the summed requests of the
platform's own pods (every release's and EKS add-on's declared ``helm.Footprint``, one node's
daemons included, and the MLflow server), as that fraction of one node of the system node group's
cheapest instance type, by its dominant resource, at the price the group pays for it (its spot
discount included) with its root volume. Models are not in the floor: the idle figure holds the
example models at their minimum replicas.

    python benchmarks/cost_floor.py                 # markdown table for dev, stage and prod
    python benchmarks/cost_floor.py --stacks dev    # some of them

Goal (docs/cost-model.md): dev at idle within 1.1x of its floor, with its example models at idle.
"""

from __future__ import annotations

import argparse
import sys
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mlops_platform.components.support import kube  # noqa: E402
from mlops_platform.infra.cost.placement import node_shape  # noqa: E402
from mlops_platform.infra.cost.prices import PriceTable  # noqa: E402
from mlops_platform.infra.cost.scenarios import HOURS_PER_MONTH  # noqa: E402
from mlops_platform.infra.cost.workloads import requests_of  # noqa: E402
from mlops_platform.infra.offline.runner import synthesize  # noqa: E402


def platform_requests(graph, estimate) -> tuple[Decimal, Decimal]:
    """CPU and memory of every platform pod on the system nodes: the declared footprints (one
    node's daemons) and the platform's own Deployments (the MLflow server; no team label)."""
    cpu = memory = Decimal(0)
    for footprint in estimate["addOns"].values():
        for replicas, pod_cpu, pod_memory in [*footprint["systemPods"], *footprint.get("operatedPods", [])]:
            cpu += replicas * kube.quantity(pod_cpu)
            memory += replicas * kube.quantity(pod_memory)
        cpu += kube.quantity(footprint["everyNode"][0])
        memory += kube.quantity(footprint["everyNode"][1])
    for deployment in graph.of_type("kubernetes:apps/v1:Deployment"):
        if kube.TEAM_LABEL not in deployment.inputs["metadata"].get("labels", {}):
            pod_cpu, pod_memory, _ = requests_of(deployment.inputs["spec"]["template"]["spec"])
            cpu += deployment.inputs["spec"].get("replicas", 1) * pod_cpu
            memory += deployment.inputs["spec"].get("replicas", 1) * pod_memory
    return cpu, memory


def floor(graph) -> dict[str, Decimal]:
    estimate = graph.outputs["costEstimate"]
    table = PriceTable.load(estimate["region"])
    assumed = estimate["assumptions"]
    (group,) = [
        g for g in graph.of_type("aws:eks/nodeGroup:NodeGroup") if "NVIDIA" not in g.inputs.get("amiType", "")
    ]
    # One system node as the estimate priced it: its cheapest type, spot discount and root volume.
    system = estimate["nodes"][group.name]
    node_month = Decimal(
        str(system["instanceHourPrice"])
    ) * HOURS_PER_MONTH + table.ebs_gp3_gb_month * Decimal(str(system["rootVolumeGib"]))
    shape = node_shape(system["instanceType"])
    cpu, memory = platform_requests(graph, estimate)
    nodes = max(cpu / shape.cpu, memory / shape.memory)
    database = min(table.rds_instances.values())
    keys = len(graph.of_type("aws:kms/key:Key"))
    secrets = len(graph.of_type("aws:secretsmanager/secret:Secret"))
    month = HOURS_PER_MONTH
    spot = "spot " if group.inputs.get("capacityType") == "SPOT" else ""
    return {
        "control plane": table.eks_cluster_hour * month,
        "one NAT": table.nat_hour * month + table.nat_gb * Decimal(str(assumed["natGbPerMonth"])),
        "one load balancer": (table.alb_hour + table.alb_lcu_hour * Decimal(str(assumed["albLcus"]))) * month,
        "smallest database": database * month + table.rds_storage_gb_month * 20,
        "keys and secrets": table.kms_key_month * keys + table.secret_month * secrets,
        f"system capacity ({nodes:.2f} x {spot}{system['instanceType']} with its disk)": nodes * node_month,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stacks", nargs="+", default=["dev", "stage", "prod"])
    args = parser.parse_args(argv)
    print("| stack | idle | expected | peak | floor | idle / floor | floor made of |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in args.stacks:
        graph = synthesize(name, ROOT).graph
        monthly = graph.outputs["costEstimate"]["monthly"]
        parts = floor(graph)
        total = sum(parts.values(), Decimal(0))
        made_of = ", ".join(f"{label} {value:.2f}" for label, value in parts.items())
        print(
            f"| {name} | {monthly['idle']:,.2f} | {monthly['expected']:,.2f} | {monthly['peak']:,.2f} | "
            f"{total:,.2f} | {Decimal(str(monthly['idle'])) / total:.2f}x | {made_of} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
