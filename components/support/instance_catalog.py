"""Hardware facts about the EC2 instance types the platform schedules on (data: instance-types.json).

Used to validate node pools (a pool's instance types must expose the same GPU count, or the
cluster-autoscaler's scale-from-zero template would lie) and to write the node-template tags.
Prices are not here: they live in the cost model's price tables.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class InstanceSpec:
    vcpus: int
    memory_gib: int
    gpus: int = 0
    gpu_model: str = ""


def _load() -> dict[str, InstanceSpec]:
    document = json.loads((Path(__file__).parent / "instance-types.json").read_text(encoding="utf-8"))
    return {
        name: InstanceSpec(t["vcpus"], t["memoryGib"], t.get("gpus", 0), t.get("gpuModel", ""))
        for name, t in document["instanceTypes"].items()
    }


CATALOG: dict[str, InstanceSpec] = _load()
"""Instance type -> hardware, from instance-types.json beside this module."""


def spec(instance_type: str) -> InstanceSpec | None:
    return CATALOG.get(instance_type)


def family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def gpus_per_node(instance_types: Sequence[str]) -> int:
    """GPUs every node of a pool of these types exposes (the smallest, should they differ)."""
    counts = [s.gpus for t in instance_types if (s := spec(t))]
    return min(counts) if counts else 0


def largest_gpus_per_node(instance_types: Sequence[str]) -> int:
    """GPUs the largest node of a pool of these types exposes: what its maxSize nodes may reach."""
    return max((s.gpus for t in instance_types if (s := spec(t))), default=0)
