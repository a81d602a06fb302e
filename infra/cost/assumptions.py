"""What the cost estimate assumes about usage the program cannot know, like an Infracost usage file
(docs/cost-model.md#assumptions-and-how-to-override-them): the stack config's ``costAssumptions``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field, fields
from enum import StrEnum
from typing import Any

from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, to_camel

DEFAULT_SPOT_PRICE_FACTORS: dict[str, float] = {
    "t3": 0.35,
    "m6i": 0.40,
    "m7i": 0.45,
    "c6i": 0.40,
    "c7i": 0.45,
    "r6i": 0.40,
    "r7i": 0.45,
    "g4dn": 0.35,
    "g5": 0.40,
    "g6": 0.45,
    "g6e": 0.55,
    "p4d": 0.60,
    "p5": 0.70,
}
"""Spot price as a fraction of on-demand, per instance family: an assumption (spot prices move every
few minutes), based on typical discounts in the Spot Instance Advisor; override per stack."""


class SharedCostKey(StrEnum):
    REQUESTS = "requests"
    NONE = "none"


@spec
class CostAssumptions:
    """Usage the cost estimate assumes, like an Infracost usage file (docs/cost-model.md)."""

    gpu_busy_hours_per_day: float = 8
    """Hours per day an autoscaled GPU pool runs the nodes its models need above its minimum."""
    requests_per_second: Mapping[str, float] = field(default_factory=dict)
    """Model name -> requests per second it serves during the busy hours; versions share them by
    traffic weight and run ceil(share / throughputPerReplica) replicas, within their replica range.
    Default: what the model's minimum replicas serve at their throughput."""
    shared_cost_key: SharedCostKey = SharedCostKey.REQUESTS
    """How platform cost no model owns (control plane, network, add-ons, MLflow...) is split:
    ``requests`` (in proportion to each model version's directly attributed cost, i.e. the priced
    resources it requests) or ``none`` (kept on the ``platform`` team). Default: ``requests``."""
    s3_storage_gb: float = 100
    """Average stored GB in each bucket (access-log buckets excluded; replicas included)."""
    log_gb_per_day: float = 1
    """CloudWatch Logs ingested per day, split evenly across the stack's log groups."""
    nat_gb_per_month: float = 100
    """GB processed by the NAT gateways per month, split evenly across them."""
    ecr_storage_gb_per_repository: float = 10
    """Average stored image GB per ECR repository."""
    alb_lcus: float = 1
    """Average load balancer capacity units of each ALB."""
    spot_price_factors: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPOT_PRICE_FACTORS))
    """Instance family -> spot price as a fraction of on-demand. A stack's entries merge over the
    built-in table (``DEFAULT_SPOT_PRICE_FACTORS``), like every mapping default."""

    def problems(self) -> list[Problem]:
        found = []
        if not 0 <= self.gpu_busy_hours_per_day <= 24:
            found.append(
                Problem(
                    "gpu_busy_hours_per_day", f"must be between 0 and 24 (got {self.gpu_busy_hours_per_day})"
                )
            )
        for name in (
            "s3_storage_gb",
            "log_gb_per_day",
            "nat_gb_per_month",
            "ecr_storage_gb_per_repository",
            "alb_lcus",
        ):
            if getattr(self, name) < 0:
                found.append(Problem(name, f"must be >= 0 (got {getattr(self, name)})"))
        for model, rate in self.requests_per_second.items():
            if rate < 0:
                found.append(Problem(f"requests_per_second.{model}", f"must be >= 0 (got {rate})"))
        for family, factor in self.spot_price_factors.items():
            if not 0 < factor <= 1:
                found.append(Problem(f"spot_price_factors.{family}", f"must be > 0 and <= 1 (got {factor})"))
        return found

    def to_output(self) -> dict[str, Any]:
        return {to_camel(f.name): _jsonable(getattr(self, f.name)) for f in fields(self)}


def _jsonable(value: Any) -> Any:
    return dict(sorted(value.items())) if isinstance(value, Mapping) else value
