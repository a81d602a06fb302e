"""Who pays: platform cost spread over the models by a declared key, roll-ups per team and model,
and each model's cost per 1,000 inferences beside the same traffic on SageMaker real-time endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any

from mlops_platform.components.support import instance_catalog
from mlops_platform.infra.cost.placement import MIB, PLATFORM, Owner, Pod
from mlops_platform.infra.cost.prices import PriceTable
from mlops_platform.infra.cost.scenarios import CENT, DAYS_PER_MONTH, HOURS_PER_MONTH, SCENARIOS
from mlops_platform.infra.cost.workloads import Workload

PER_1K_PRECISION = Decimal("0.0001")
SHARED_RESOURCE_TYPE = "mlops:cost:PooledCost"
"""The resource type of a pooled line: a model's own resources, or its share of the platform's."""
SHARED_COMPONENT = "platform"
"""The component of a version's share of platform cost (byComponent reads the lines before pooling)."""


Part = tuple[Owner, str, Mapping[str, Decimal]]
"""An owner, how the cost reached it (``direct``, ``shared:<key>``, ``platform``) and its fraction of
the line in each scenario; a line's parts add up to 1 in every scenario."""


def _deal(whole: Decimal, fractions: list[Decimal]) -> list[Decimal]:
    """``whole`` (in cents) dealt by ``fractions`` by largest remainder: the results sum to ``whole``."""
    exact = [whole * f for f in fractions]
    dealt = [e.quantize(CENT, rounding=ROUND_DOWN) for e in exact]
    left = int((whole - sum(dealt, Decimal(0))) / CENT)
    for index in sorted(range(len(exact)), key=lambda i: (dealt[i] - exact[i], i))[:left]:
        dealt[index] += CENT
    return dealt


def split(item: Any, parts: list[Part]) -> list[Any]:
    """One line as a line per owner: quantities by fraction, the whole's cents dealt out exactly."""
    if len(parts) == 1 and all(f == 1 for f in parts[0][2].values()):
        owner, allocation, _ = parts[0]
        return [replace(item, owner=owner, allocation=allocation)]
    amounts = {s: _deal(item.monthly(s), [p[2][s] for p in parts]) for s in SCENARIOS}
    lines = []
    for index, (owner, allocation, fraction) in enumerate(parts):
        quantity = {s: item.quantity[s] * fraction[s] for s in SCENARIOS}
        if any(quantity.values()):
            cents = {s: amounts[s][index] for s in SCENARIOS}
            lines.append(replace(item, quantity=quantity, owner=owner, allocation=allocation, cents=cents))
    return lines


def _parts(
    owners: list[Owner], weights: Mapping[Owner, Mapping[str, Decimal]], allocation: str
) -> list[Part]:
    """Fractions of a line per owner, by weight in each scenario (evenly where none has any)."""
    parts: list[Part] = []
    for owner in owners:
        fraction = {}
        for s in SCENARIOS:
            total = sum((weights[o][s] for o in owners), Decimal(0))
            fraction[s] = weights[owner][s] / total if total else Decimal(1) / len(owners)
        parts.append((owner, allocation, fraction))
    return parts


def spread_shared(items: list[Any], key: str, models: Mapping[str, Owner]) -> list[Any]:
    """Every platform-owned line given an owner. A model's own resources (its role, repository: the
    lines of its component) go to its versions directly, pooled into one line per version. The rest,
    the platform's, is pooled into one line per model version and split in proportion to their
    direct cost in the same scenario (key ``requests``); kept on the platform where no model has any
    (or key ``none``). ``models``: each model component's name -> an owner of that model.

    Pooling keeps the estimate linear in the number of models (one shared line per version, not one
    per version and platform resource); byComponent and byResourceType are read before it."""
    weights: dict[Owner, dict[str, Decimal]] = {}
    own: dict[str, set[Owner]] = {}
    model_components = {(o.team, o.model): component for component, o in models.items()}
    for item in items:
        if item.allocation == "direct":
            component = model_components.get((item.owner.team, item.owner.model))
            if component is not None:
                own.setdefault(component, set()).add(item.owner)
            for s in SCENARIOS:
                weights.setdefault(item.owner, dict.fromkeys(SCENARIOS, Decimal(0)))[s] += item.monthly(s)
    ordered = sorted(weights, key=lambda o: (o.team, o.model, o.version))
    shared = _parts(ordered, weights, f"shared:{key}")
    totals = {s: sum((w[s] for w in weights.values()), Decimal(0)) for s in SCENARIOS}
    kept = {s: Decimal(0) if totals[s] else Decimal(1) for s in SCENARIOS}
    if any(kept.values()):
        shared = [(o, a, {s: f[s] if totals[s] else Decimal(0) for s in SCENARIOS}) for o, a, f in shared]
        shared.append((PLATFORM, "platform", kept))
    pools: dict[str, list[Any]] = {}
    spread: list[Any] = []
    for item in items:
        if item.allocation != "platform" or (key == "none" and item.component not in own):
            spread.append(item)
        else:
            pools.setdefault(item.component if item.component in own else SHARED_COMPONENT, []).append(item)
    for component, pooled in pools.items():
        owners = sorted(own.get(component, ()), key=lambda o: (o.team, o.model, o.version))
        components = sorted({i.component for i in pooled})
        whole = replace(
            pooled[0],
            component=component,
            resource_type=SHARED_RESOURCE_TYPE,
            resource=f"{len(pooled)} line items of {', '.join(components)}",
            description=f"cost of {component}, its own versions'"
            if owners
            else f"platform cost shared by {key}",
            unit="USD",
            unit_price=Decimal(1),
            quantity={s: sum((i.monthly(s) for i in pooled), Decimal(0)) for s in SCENARIOS},
            cents=None,
        )
        spread += split(whole, _parts(owners, weights, "direct") if owners else shared)
    return spread


def totals(items: Iterable[Any]) -> dict[str, float]:
    items = list(items)
    return {s: float(sum((i.monthly(s) for i in items), Decimal(0))) for s in SCENARIOS}


def grouped(items: Iterable[Any], key: Any) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return {name: totals(group) for name, group in sorted(groups.items())}


def model_key(owner: Owner) -> str:
    return f"{owner.team}/{owner.model}"


def sagemaker_instance(pod: Pod, instance_type: str, table: PriceTable) -> str | None:
    """The SageMaker instance a replica would take: the same type as its nodes where SageMaker offers
    it, else the cheapest priced ``ml.`` type whose hardware holds the replica's requests (of the
    same family first, so a g6 node compares with a g6 endpoint)."""
    if f"ml.{instance_type}" in table.sagemaker:
        return f"ml.{instance_type}"
    fitting = [
        (
            instance_catalog.family(name.removeprefix("ml.")) != instance_catalog.family(instance_type),
            price,
            name,
        )
        for name, price in table.sagemaker.items()
        if (hardware := instance_catalog.spec(name.removeprefix("ml."))) is not None
        and hardware.vcpus >= pod.cpu
        and hardware.memory_gib * MIB * 1024 >= pod.memory
        and hardware.gpus >= pod.gpus
        and (hardware.gpus > 0) == (pod.gpus > 0)
    ]
    return min(fitting)[2] if fitting else None


def _per_1k(cost: Decimal, requests: Decimal) -> float | None:
    return float((cost / requests * 1000).quantize(PER_1K_PRECISION)) if requests else None


def _replica_hours(workload: Workload, busy_hours: Decimal) -> Decimal:
    """Replica-hours a month in the expected scenario: the minimum all month, the rest while busy."""
    low, expected = workload.replicas["idle"], workload.replicas["expected"]
    return low * HOURS_PER_MONTH + (expected - low) * busy_hours


def unit_costs(
    items: list[Any],
    workloads: list[Workload],
    pool_types: Mapping[str, str],
    requests_per_second: Mapping[str, float],
    busy_hours_per_day: float,
    table: PriceTable,
) -> dict[str, dict[str, Any]]:
    """Per model: its monthly cost, monthly requests, and cost per 1,000 inferences here and on
    SageMaker (one real-time instance of the same type per replica, for the same replica-hours)."""
    busy_hours = Decimal(str(busy_hours_per_day)) * DAYS_PER_MONTH
    models: dict[str, list[Workload]] = {}
    for workload in workloads:
        if workload.owner.is_model:
            models.setdefault(model_key(workload.owner), []).append(workload)
    lines: dict[str, list[Any]] = {}
    for item in items:
        if item.owner.is_model:
            lines.setdefault(model_key(item.owner), []).append(item)
    result: dict[str, dict[str, Any]] = {}
    for key, versions in sorted(models.items()):
        owner = versions[0].owner
        mine = lines.get(key, [])
        full = sum((i.monthly("expected") for i in mine), Decimal(0))
        direct = sum((i.monthly("expected") for i in mine if i.allocation == "direct"), Decimal(0))
        if owner.model in requests_per_second:
            rate = Decimal(str(requests_per_second[owner.model]))
        else:
            rate = sum((w.replicas["idle"] * (w.throughput or 0) for w in versions), Decimal(0))
        requests = rate * 3600 * busy_hours
        sagemaker = Decimal(0)
        instances: list[str] = []
        missing: list[str] = []
        for workload in versions:
            instance = sagemaker_instance(workload.pod, pool_types.get(workload.pool, ""), table)
            if instance is None:
                missing.append(f"ml.{pool_types.get(workload.pool, '?')}")
                continue
            instances.append(instance)
            sagemaker += table.sagemaker[instance] * _replica_hours(workload, busy_hours)
        sagemaker = sagemaker.quantize(CENT, rounding=ROUND_HALF_UP)

        result[key] = {
            "team": owner.team,
            "model": owner.model,
            "monthlyRequests": int(requests),
            "requestsPerSecondBusy": float(rate),
            "expectedMonthly": float(full),
            "costPer1kInferences": {
                "platform": _per_1k(full, requests),
                "platformDirect": _per_1k(direct, requests),
                "sagemaker": _per_1k(sagemaker, requests) if not missing else None,
            },
            "sagemakerExpectedMonthly": float(sagemaker) if not missing else None,
            "sagemakerInstances": sorted(set(instances)),
            **({"sagemakerUnpriced": sorted(set(missing))} if missing else {}),
        }
    return result
