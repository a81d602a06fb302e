"""Cost rules (advisory): what each environment may spend on compute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, Severity

from mlops_platform.policies.rule import (
    Area,
    RuleSet,
    as_list,
    get,
    integer_setting,
    strings_setting,
)

_rules = RuleSet(
    Area.COST,
    enforcement=EnforcementLevel.ADVISORY,
    severity=Severity.MEDIUM,
    per_environment=True,
)
_rule = _rules.rule
RULES = _rules.rules


def _is_gpu_group(props: Mapping[str, Any]) -> bool:
    return "NVIDIA" in str(props.get("amiType", ""))


@_rule(
    "allowed-instance-types",
    types=("aws:eks/nodeGroup:NodeGroup",),
    config={
        "allowedInstanceTypes": strings_setting([], "Instance types node groups may use; empty allows any.")
    },
)
def allowed_types(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Node groups use instance types from the environment's allowlist.

    Fix: Pick an allowed type, or extend the allowlist in policies/config/<env>.json after a cost review.
    """
    allowed = config["allowedInstanceTypes"]
    if allowed:
        outside = [t for t in as_list(props.get("instanceTypes")) if t not in allowed]
        if outside:
            yield f"instance types {', '.join(outside)} are not allowed in {config['environment']}"


@_rule(
    "gpu-pool-max-size-cap",
    types=("aws:eks/nodeGroup:NodeGroup",),
    config={"maxGpuNodes": integer_setting(4, "Maximum maxSize of one GPU node group.")},
)
def gpu_cap(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """A GPU node group cannot grow past the environment's cap.

    Fix: Lower gpuNodePools[].maxSize, or raise the cap in policies/config/<env>.json after a cost review.
    """
    size = get(props, "scalingConfig", "maxSize", default=0)
    if _is_gpu_group(props) and size > config["maxGpuNodes"]:
        yield f"GPU node group may grow to {size} nodes (cap {config['maxGpuNodes']})"


@_rule("dev-gpu-spot-or-zero", types=("aws:eks/nodeGroup:NodeGroup",))
def dev_gpu(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """In dev, GPU node groups are spot, or scale to zero when idle.

    Fix: Set capacityType: SPOT or minSize: 0 for dev GPU pools.
    """
    if config["environment"] != "dev" or not _is_gpu_group(props):
        return
    if props.get("capacityType") != "SPOT" and get(props, "scalingConfig", "minSize", default=0) > 0:
        yield "the dev GPU pool is on-demand and keeps nodes running when idle"
