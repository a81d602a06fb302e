"""Cost rules (advisory): what each environment may spend on compute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity

from mlops_platform.components.support import instance_catalog, kube
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
Pairs = Iterable[tuple[str, str]]


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


@_rule(
    "environment-gpu-cap",
    stack=True,
    config={
        "maxEnvironmentGpus": integer_setting(
            32, "Most GPUs the environment may reach: every GPU pool at maxSize x GPUs per instance."
        )
    },
)
def environment_gpu_cap(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """The GPUs an environment may reach, every GPU pool at its maxSize times the GPUs of its largest
    instance type, stay within the environment's cap. Mandatory in dev and stage, where a stray
    ``p5.48xlarge`` or a large maxSize would otherwise only warn.

    Fix: Lower gpuNodePools[].maxSize or pick smaller instance types, or raise maxEnvironmentGpus in
    policies/registry.py (policies/config/<env>.json) after a cost review.
    """
    pools: list[tuple[PolicyResource, str, int]] = []
    for group in resources:
        if group.resource_type != "aws:eks/nodeGroup:NodeGroup" or not _is_gpu_group(group.props):
            continue
        types = as_list(group.props.get("instanceTypes"))
        per_node = max((s.gpus for t in types if (s := instance_catalog.spec(str(t)))), default=0)
        size = get(group.props, "scalingConfig", "maxSize", default=0)
        pools.append(
            (
                group,
                f"{get(group.props, 'labels', kube.GPU_POOL_LABEL)}: {size} x {per_node}",
                size * per_node,
            )
        )
    total = sum(gpus for _, _, gpus in pools)
    if pools and total > config["maxEnvironmentGpus"]:
        detail = ", ".join(text for _, text, _ in pools)
        yield (
            pools[0][0].urn,
            f"the {config['environment']} environment may reach {total} GPUs ({detail}); "
            f"its cap is {config['maxEnvironmentGpus']}",
        )
