"""Benchmark: each stack's estimated monthly cost against its physical floor.

The floor is what the environment cannot avoid, priced from the same tables as the estimate:
the EKS control plane; one NAT gateway with the stack's assumed NAT traffic; one load balancer
with its assumed capacity units; the smallest MLflow database the price table offers (single-AZ,
20 GiB); the stack's KMS keys and secrets; and system capacity equal to the summed requests of the
add-ons (their declared ``helm.Footprint``, one node's daemons included), priced as that fraction of
the system node group's cheapest instance type by its dominant resource.

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
from mlops_platform.infra.offline.runner import synthesize  # noqa: E402


def floor(graph) -> dict[str, Decimal]:
    estimate = graph.outputs["costEstimate"]
    table = PriceTable.load(estimate["region"])
    assumed = estimate["assumptions"]
    system_types = [
        t
        for g in graph.of_type("aws:eks/nodeGroup:NodeGroup")
        if "NVIDIA" not in g.inputs.get("amiType", "")
        for t in g.inputs["instanceTypes"]
    ]
    system_type = min(system_types, key=lambda t: table.ec2[t])
    shape = node_shape(system_type)
    cpu = memory = Decimal(0)
    for footprint in estimate["addOns"].values():
        for replicas, pod_cpu, pod_memory in [*footprint["systemPods"], *footprint.get("operatedPods", [])]:
            cpu += replicas * kube.quantity(pod_cpu)
            memory += replicas * kube.quantity(pod_memory)
        cpu += kube.quantity(footprint["everyNode"][0])
        memory += kube.quantity(footprint["everyNode"][1])
    nodes = max(cpu / shape.cpu, memory / shape.memory)
    database = min(table.rds_instances.values())
    keys = len(graph.of_type("aws:kms/key:Key"))
    secrets = len(graph.of_type("aws:secretsmanager/secret:Secret"))
    month = HOURS_PER_MONTH
    return {
        "control plane": table.eks_cluster_hour * month,
        "one NAT": table.nat_hour * month + table.nat_gb * Decimal(str(assumed["natGbPerMonth"])),
        "one load balancer": (table.alb_hour + table.alb_lcu_hour * Decimal(str(assumed["albLcus"]))) * month,
        "smallest database": database * month + table.rds_storage_gb_month * 20,
        "keys and secrets": table.kms_key_month * keys + table.secret_month * secrets,
        f"system capacity ({nodes:.2f} x {system_type})": nodes * table.ec2[system_type] * month,
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
