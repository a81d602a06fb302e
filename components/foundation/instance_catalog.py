"""Hardware facts about the EC2 instance types the platform schedules on.

Used to validate node pools (a pool's instance types must expose the same GPU count, or the
cluster-autoscaler's scale-from-zero template would lie) and to write the node-template tags.
Prices are not here: they live in the cost model's price tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceSpec:
    vcpus: int
    memory_gib: int
    gpus: int = 0
    gpu_model: str = ""


def _family(sizes: dict[str, tuple[int, int, int]], model: str) -> dict[str, InstanceSpec]:
    return {size: InstanceSpec(v, m, g, model if g else "") for size, (v, m, g) in sizes.items()}


_GPU_SIZES = {
    "xlarge": (4, 16, 1),
    "2xlarge": (8, 32, 1),
    "4xlarge": (16, 64, 1),
    "8xlarge": (32, 128, 1),
    "12xlarge": (48, 192, 4),
    "16xlarge": (64, 256, 1),
}

CATALOG: dict[str, InstanceSpec] = {}
for _name, _model, _sizes in (
    ("g4dn", "NVIDIA T4", _GPU_SIZES),
    ("g5", "NVIDIA A10G", {**_GPU_SIZES, "24xlarge": (96, 384, 4), "48xlarge": (192, 768, 8)}),
    ("g6", "NVIDIA L4", {**_GPU_SIZES, "24xlarge": (96, 384, 4), "48xlarge": (192, 768, 8)}),
    (
        "g6e",
        "NVIDIA L40S",
        {
            "xlarge": (4, 32, 1),
            "2xlarge": (8, 64, 1),
            "4xlarge": (16, 128, 1),
            "8xlarge": (32, 256, 1),
            "12xlarge": (48, 384, 4),
            "16xlarge": (64, 512, 1),
            "24xlarge": (96, 768, 4),
            "48xlarge": (192, 1536, 8),
        },
    ),
    ("p4d", "NVIDIA A100 40GB", {"24xlarge": (96, 1152, 8)}),
    ("p5", "NVIDIA H100", {"48xlarge": (192, 2048, 8)}),
):
    CATALOG.update({f"{_name}.{size}": spec for size, spec in _family(_sizes, _model).items()})

_GENERAL = {"large": (2, 8), "xlarge": (4, 16), "2xlarge": (8, 32), "4xlarge": (16, 64), "8xlarge": (32, 128)}
for _name, _ratio in (("m6i", 1), ("m7i", 1), ("c6i", 0.5), ("c7i", 0.5), ("r6i", 2), ("r7i", 2)):
    CATALOG.update({f"{_name}.{size}": InstanceSpec(v, int(m * _ratio)) for size, (v, m) in _GENERAL.items()})
CATALOG.update(
    {"t3.medium": InstanceSpec(2, 4), "t3.large": InstanceSpec(2, 8), "t3.xlarge": InstanceSpec(4, 16)}
)


def spec(instance_type: str) -> InstanceSpec | None:
    return CATALOG.get(instance_type)


def family(instance_type: str) -> str:
    return instance_type.split(".", 1)[0]


def gpus_per_node(instance_types: Sequence[str]) -> int:
    """GPUs every node of a pool of these types exposes (the smallest, should they differ)."""
    counts = [s.gpus for t in instance_types if (s := spec(t))]
    return min(counts) if counts else 0
