"""Cost rules (advisory): what each environment may spend on compute."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity

from mlops_platform.components.support import kube
from mlops_platform.policies.capacity import CAPACITY_TYPES, capacity
from mlops_platform.policies.rule import (
    Area,
    RuleSet,
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


@_rule(
    "allowed-instance-types",
    types=CAPACITY_TYPES,
    config={
        "allowedInstanceTypes": strings_setting([], "Instance types node groups may use; empty allows any.")
    },
)
def allowed_types(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Node groups and Karpenter NodePools use instance types from the environment's allowlist.

    Fix: Pick an allowed type, or extend the allowlist in policies/config/<env>.json after a cost review.
    """
    found = capacity(props)
    allowed = config["allowedInstanceTypes"]
    if found is not None and allowed:
        outside = [t for t in found.instance_types if t not in allowed]
        if outside:
            yield f"instance types {', '.join(outside)} are not allowed in {config['environment']}"


@_rule(
    "gpu-pool-max-size-cap",
    types=CAPACITY_TYPES,
    config={"maxGpuNodes": integer_setting(4, "Maximum maxSize of one GPU node group.")},
)
def gpu_cap(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """A GPU pool (node group or NodePool) cannot grow past the environment's node cap.

    Fix: Lower gpuNodePools[].maxSize, or raise the cap in policies/config/<env>.json after a cost review.
    """
    found = capacity(props)
    if found is not None and found.gpu and found.max_nodes > config["maxGpuNodes"]:
        yield f"GPU {found.kind} may grow to {found.max_nodes} nodes (cap {config['maxGpuNodes']})"


@_rule("dev-gpu-spot-or-zero", types=CAPACITY_TYPES)
def dev_gpu(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """In dev, GPU pools are spot, or scale to zero when idle (Karpenter pools always do).

    Fix: Set capacityType: SPOT or minSize: 0 for dev GPU pools.
    """
    found = capacity(props)
    if config["environment"] == "dev" and found is not None and found.gpu and found.idle_on_demand:
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
    instance type (a NodePool: its GPU limit), stay within the environment's cap. Mandatory in dev and
    stage, where a stray ``p5.48xlarge`` or a large maxSize would otherwise only warn.

    Fix: Lower gpuNodePools[].maxSize or pick smaller instance types, or raise maxEnvironmentGpus in
    policies/registry.py (policies/config/<env>.json) after a cost review.
    """
    pools = []
    for resource in resources:
        found = capacity(resource.props) if resource.resource_type in CAPACITY_TYPES else None
        if found is not None and found.gpu:
            pool = get(resource.props, "labels", kube.GPU_POOL_LABEL) or get(
                resource.props, "spec", "template", "metadata", "labels", kube.GPU_POOL_LABEL
            )
            per_node = found.max_gpus // found.max_nodes if found.max_nodes else 0
            pools.append((resource.urn, f"{pool}: {found.max_nodes} x {per_node}", found.max_gpus))
    total = sum(gpus for _, _, gpus in pools)
    if pools and total > config["maxEnvironmentGpus"]:
        detail = ", ".join(text for _, text, _ in pools)
        yield (
            pools[0][0],
            f"the {config['environment']} environment may reach {total} GPUs ({detail}); "
            f"its cap is {config['maxEnvironmentGpus']}",
        )
