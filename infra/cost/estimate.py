"""The cost model: price tables, usage assumptions, and an estimator fed by what a program registers.

A ``CostRecorder`` is a stack transformation: it sees every resource the program constructs, in
``pulumi up`` and in offline synthesis alike, and keeps the few plain inputs that cost money
(instance types, node counts, storage sizes). At the end of the program, ``estimate`` prices them
with the region's table and the stack's usage assumptions into the ``costEstimate`` stack output.

Money is computed in ``Decimal``: each line item is rounded to the cent, and totals are sums of the
rounded lines, so a hand calculation matches to the cent. A month is 730 hours.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from mlops_platform.components.foundation.load_balancer_controller import INGRESS_CLASS
from mlops_platform.components.support import instance_catalog, kube
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import ACCESS_LOG_PURPOSE_TAG
from mlops_platform.components.support.validation import Problem, to_camel
from mlops_platform.infra.cost.prices import PriceTable, PricingError
from mlops_platform.infra.cost.recorder import UNKNOWN, Observed, _get

HOURS_PER_MONTH = Decimal(730)
DAYS_PER_MONTH = HOURS_PER_MONTH / Decimal(24)
CENT = Decimal("0.01")
SCENARIOS = ("idle", "expected", "peak")
DEFAULT_EBS_GIB = 20
"""EKS's root volume when a node group has neither a launch template volume nor a disk size."""
LOG_RETENTION_CAP_DAYS = 365
"""Stored log volume for a group that never expires is priced as one year's worth."""

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


# --- usage assumptions ----------------------------------------------------------------------------


@spec
class CostAssumptions:
    """Usage the cost estimate assumes, like an Infracost usage file (docs/cost-model.md)."""

    gpu_busy_hours_per_day: float = 8
    """Hours per day an autoscaled GPU pool runs the nodes its models need above its minimum."""
    average_replicas: Mapping[str, float] = field(default_factory=dict)
    """Model name -> average replicas per version while busy. Default: replicas.min."""
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
        for model, replicas in self.average_replicas.items():
            if replicas < 0:
                found.append(Problem(f"average_replicas.{model}", f"must be >= 0 (got {replicas})"))
        for family, factor in self.spot_price_factors.items():
            if not 0 < factor <= 1:
                found.append(Problem(f"spot_price_factors.{family}", f"must be > 0 and <= 1 (got {factor})"))
        return found

    def to_output(self) -> dict[str, Any]:
        return {to_camel(f.name): _jsonable(getattr(self, f.name)) for f in fields(self)}


def _jsonable(value: Any) -> Any:
    return dict(sorted(value.items())) if isinstance(value, Mapping) else value


# --- pricing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    """One priced thing: a resource's cost driver, its unit price and its units in each scenario."""

    component: str
    """The top-level component the resource belongs to (or the ALB it makes)."""
    resource_type: str
    resource: str
    """Logical name of the resource."""
    description: str
    unit: str
    """What the unit price is per: instance-hours, GB-months, ..."""
    unit_price: Decimal
    quantity: Mapping[str, Decimal]
    """Units per month in each scenario (idle, expected, peak)."""

    def monthly(self, scenario: str) -> Decimal:
        return (self.unit_price * self.quantity[scenario]).quantize(CENT, rounding=ROUND_HALF_UP)

    def to_output(self) -> dict[str, Any]:
        texts = ("component", "resource_type", "resource", "description", "unit")
        return {
            **{to_camel(name): getattr(self, name) for name in texts},
            "unitPrice": float(self.unit_price),
            "quantity": {s: float(round(self.quantity[s], 4)) for s in SCENARIOS},
            "monthly": {s: float(self.monthly(s)) for s in SCENARIOS},
        }


def _same(quantity: Decimal) -> dict[str, Decimal]:
    return dict.fromkeys(SCENARIOS, quantity)


def _number(value: Any, what: str, problems: list[str]) -> Decimal | None:
    if value is UNKNOWN:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{what}: not a number ({value!r})")
        return None


class _Pricer:
    def __init__(
        self, observed: list[Observed], region: str, assumptions: CostAssumptions, prices_dir: Path | None
    ):
        self.observed = observed
        self.by_key = {o.key: o for o in observed}
        self.region = region
        self.assumptions = assumptions
        self.prices_dir = prices_dir
        self.items: list[LineItem] = []
        self.unpriced: list[dict[str, str]] = []
        self.problems: list[str] = []

    def table(self, resource: Observed) -> PriceTable:
        return PriceTable.load(resource.region or self.region, self.prices_dir)

    def component(self, resource: Observed) -> str:
        """The top-level component a resource belongs to (or the resource itself at top level)."""
        current = resource
        while current.parent is not None and current.parent in self.by_key:
            current = self.by_key[current.parent]
        return current.name

    def ancestor(self, resource: Observed, resource_type: str) -> Observed | None:
        current: Observed | None = resource
        while current is not None:
            if current.type == resource_type:
                return current
            current = self.by_key.get(current.parent) if current.parent is not None else None
        return None

    def add(
        self,
        resource: Observed,
        description: str,
        unit: str,
        unit_price: Decimal,
        quantity: Mapping[str, Decimal],
        component: str | None = None,
    ) -> None:
        self.items.append(
            LineItem(
                component or self.component(resource),
                resource.type,
                resource.name,
                description,
                unit,
                unit_price,
                dict(quantity),
            )
        )

    def skip(self, resource: Observed, reason: str) -> None:
        self.unpriced.append({"resourceType": resource.type, "resource": resource.name, "reason": reason})

    def of_type(self, *types: str) -> list[Observed]:
        return [o for o in self.observed if o.type in types]

    # each priced type --------------------------------------------------------------------------

    def clusters(self) -> None:
        for cluster in self.of_type("aws:eks/cluster:Cluster"):
            table = self.table(cluster)
            self.add(
                cluster, "EKS control plane", "cluster-hours", table.eks_cluster_hour, _same(HOURS_PER_MONTH)
            )

    def node_groups(self) -> None:
        demand = self.gpu_demand()
        for group in self.of_type("aws:eks/nodeGroup:NodeGroup"):
            table = self.table(group)
            types = _get(group.props, "instance_types", default=[])
            scaling = _get(group.props, "scaling_config", default={})
            sizes = [_get(scaling, k) for k in ("min_size", "desired_size", "max_size")]
            if types is UNKNOWN or not types or types[0] is UNKNOWN or UNKNOWN in sizes or None in sizes:
                self.skip(group, "instance type or scaling sizes are only known at deploy time")
                continue
            instance_type = str(types[0])
            if instance_type not in table.ec2:
                self.problems.append(
                    f"node group {group.name}: {table.missing_instance_message(instance_type)}"
                )
                continue
            minimum, desired, maximum = (Decimal(str(s)) for s in sizes)
            spot = _get(group.props, "capacity_type") == "SPOT"
            family = instance_catalog.family(instance_type)
            factor = Decimal(1)
            if spot:
                if family not in self.assumptions.spot_price_factors:
                    self.problems.append(
                        f"node group {group.name}: no spot price factor for family {family!r}; "
                        f"set costAssumptions.spotPriceFactors.{family}"
                    )
                    continue
                factor = Decimal(str(self.assumptions.spot_price_factors[family]))
            labels = _get(group.props, "labels", default={})
            pool = labels.get(kube.GPU_POOL_LABEL) if isinstance(labels, Mapping) else None
            gpu = "NVIDIA" in str(_get(group.props, "ami_type", default=""))
            if gpu:
                busy = self.busy_nodes(instance_type, demand.get(pool, Decimal(0)))
                busy = min(max(busy, minimum), maximum)
                busy_hours = Decimal(str(self.assumptions.gpu_busy_hours_per_day)) * DAYS_PER_MONTH
                expected = minimum * HOURS_PER_MONTH + (busy - minimum) * busy_hours
            else:
                expected = desired * HOURS_PER_MONTH
            node_hours = {
                "idle": minimum * HOURS_PER_MONTH,
                "expected": expected,
                "peak": maximum * HOURS_PER_MONTH,
            }
            capacity = f"spot at {factor:.0%} of on-demand" if spot else "on-demand"
            self.add(
                group,
                f"{instance_type} {capacity}, {minimum}-{maximum} nodes",
                "instance-hours",
                table.instance_hour(instance_type) * factor,
                node_hours,
            )
            volume = self.volume_gib(group)
            self.add(
                group,
                f"gp3 root volume {volume} GiB per node",
                "GB-months",
                table.ebs_gp3_gb_month,
                {s: node_hours[s] / HOURS_PER_MONTH * volume for s in SCENARIOS},
            )

    def volume_gib(self, group: Observed) -> Decimal:
        """The root volume a node gets: its launch template's (a sibling), else the group's disk size."""
        for template in self.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
            if template.parent == group.parent:
                size = _get(template.props, "block_device_mappings", 0, "ebs", "volume_size")
                if size not in (None, UNKNOWN):
                    return Decimal(str(size))
        size = _get(group.props, "disk_size")
        return Decimal(str(size)) if size not in (None, UNKNOWN) else Decimal(DEFAULT_EBS_GIB)

    def gpu_demand(self) -> dict[str, Decimal]:
        """GPUs each pool's models use on average while busy: replicas x GPUs per replica."""
        autoscalers = {
            (h.parent, _get(h.props, "spec", "scale_target_ref", "name")): h
            for h in self.of_type("kubernetes:autoscaling/v2:HorizontalPodAutoscaler")
        }
        demand: dict[str, Decimal] = {}
        for deployment in self.of_type("kubernetes:apps/v1:Deployment"):
            pod = _get(deployment.props, "spec", "template", "spec", default={})
            pool = (
                _get(pod, "node_selector", default={}).get(kube.GPU_POOL_LABEL)
                if isinstance(_get(pod, "node_selector"), Mapping)
                else None
            )
            if not isinstance(pool, str):
                continue
            gpus = sum(
                Decimal(str(_get(c, "resources", "limits", "nvidia.com/gpu", default=0)))
                for c in _get(pod, "containers", default=[])
                if _get(c, "resources", "limits", "nvidia.com/gpu", default=0) is not UNKNOWN
            )
            name = _get(deployment.props, "metadata", "name")
            autoscaler = autoscalers.get((deployment.parent, name))
            replicas: Any = (
                _get(autoscaler.props, "spec", "min_replicas", default=1)
                if autoscaler
                else _get(deployment.props, "spec", "replicas", default=1)
            )
            endpoint = self.ancestor(deployment, "mlops:model_endpoint:ModelEndpoint")
            if endpoint is not None and endpoint.name in self.assumptions.average_replicas:
                replicas = self.assumptions.average_replicas[endpoint.name]
            if replicas is UNKNOWN:
                continue
            demand[pool] = demand.get(pool, Decimal(0)) + Decimal(str(replicas)) * gpus
        return demand

    @staticmethod
    def busy_nodes(instance_type: str, gpus: Decimal) -> Decimal:
        spec = instance_catalog.spec(instance_type)
        per_node = spec.gpus if spec and spec.gpus else 1
        return Decimal(math.ceil(gpus / per_node)) if gpus > 0 else Decimal(0)

    def nat_gateways(self) -> None:
        gateways = self.of_type("aws:ec2/natGateway:NatGateway")
        for gateway in gateways:
            table = self.table(gateway)
            self.add(gateway, "NAT gateway", "gateway-hours", table.nat_hour, _same(HOURS_PER_MONTH))
            share = Decimal(str(self.assumptions.nat_gb_per_month)) / len(gateways)
            self.add(gateway, "NAT data processed (assumed)", "GB", table.nat_gb, _same(share))

    def databases(self) -> None:
        for database in self.of_type("aws:rds/instance:Instance"):
            table = self.table(database)
            instance_class = _get(database.props, "instance_class")
            storage = _number(
                _get(database.props, "allocated_storage", default=0),
                f"database {database.name}: allocated_storage",
                self.problems,
            )
            if instance_class is UNKNOWN or storage is None:
                self.skip(database, "instance class or storage is only known at deploy time")
                continue
            if instance_class not in table.rds_instances:
                self.problems.append(
                    f"database {database.name}: no price for RDS instance class {instance_class!r} in {table.region}; "
                    f"add it to infra/cost/prices/{table.region}.json (rds.instances)"
                )
                continue
            copies = Decimal(2) if _get(database.props, "multi_az") is True else Decimal(1)
            az = "Multi-AZ (x2)" if copies == 2 else "single-AZ"
            self.add(
                database,
                f"{instance_class} PostgreSQL, {az}",
                "instance-hours",
                table.rds_instances[instance_class],
                _same(HOURS_PER_MONTH * copies),
            )
            self.add(
                database,
                f"gp3 storage {storage} GiB, {az}",
                "GB-months",
                table.rds_storage_gb_month,
                _same(storage * copies),
            )

    def flat(self) -> None:
        """Resources with one monthly unit each, or an assumed stored volume."""
        a = self.assumptions
        # (type, description, unit, price in the table, units per month)
        flat_rates = (
            ("aws:kms/key:Key", "KMS customer-managed key", "key-months", "kms_key_month", 1),
            (
                "aws:secretsmanager/secret:Secret",
                "Secrets Manager secret",
                "secret-months",
                "secret_month",
                1,
            ),
            (
                "aws:ecr/repository:Repository",
                "ECR image storage (assumed)",
                "GB-months",
                "ecr_storage_gb_month",
                a.ecr_storage_gb_per_repository,
            ),
        )
        for resource_type, description, unit, price, quantity in flat_rates:
            for resource in self.of_type(resource_type):
                self.add(
                    resource,
                    description,
                    unit,
                    getattr(self.table(resource), price),
                    _same(Decimal(str(quantity))),
                )
        key, value = ACCESS_LOG_PURPOSE_TAG
        for bucket in self.of_type("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"):
            tags = _get(bucket.props, "tags", default={})
            if isinstance(tags, Mapping) and tags.get(key) == value:
                continue  # access logs: small, and not a usage anyone sizes
            self.add(
                bucket,
                "S3 Standard storage (assumed)",
                "GB-months",
                self.table(bucket).s3_standard_gb_month,
                _same(Decimal(str(a.s3_storage_gb))),
            )

    def log_groups(self) -> None:
        groups = self.of_type("aws:cloudwatch/logGroup:LogGroup")
        for group in groups:
            table = self.table(group)
            daily = Decimal(str(self.assumptions.log_gb_per_day)) / len(groups)
            retention = _get(group.props, "retention_in_days")
            days = (
                Decimal(min(int(retention), LOG_RETENTION_CAP_DAYS))
                if isinstance(retention, int) and retention > 0
                else Decimal(LOG_RETENTION_CAP_DAYS)
            )
            self.add(
                group,
                "CloudWatch Logs ingestion (assumed)",
                "GB",
                table.logs_ingestion_gb,
                _same(daily * DAYS_PER_MONTH),
            )
            self.add(
                group,
                f"CloudWatch Logs storage, {days} days kept",
                "GB-months",
                table.logs_storage_gb_month,
                _same(daily * days),
            )

    def load_balancers(self) -> None:
        """The AWS Load Balancer Controller makes one ALB per ingress group (or per ungrouped Ingress)."""
        seen: set[str] = set()
        for ingress in self.of_type("kubernetes:networking.k8s.io/v1:Ingress"):
            if _get(ingress.props, "spec", "ingress_class_name") != INGRESS_CLASS:
                continue
            annotations = _get(ingress.props, "metadata", "annotations", default={})
            group = (
                annotations.get("alb.ingress.kubernetes.io/group.name")
                if isinstance(annotations, Mapping)
                else None
            )
            alb = f"alb:{group}" if isinstance(group, str) else f"alb:{ingress.name}"
            if alb in seen:
                continue
            seen.add(alb)
            table = self.table(ingress)
            self.add(
                ingress,
                "Application Load Balancer",
                "ALB-hours",
                table.alb_hour,
                _same(HOURS_PER_MONTH),
                component=alb,
            )
            lcus = Decimal(str(self.assumptions.alb_lcus)) * HOURS_PER_MONTH
            self.add(
                ingress,
                "ALB capacity units (assumed)",
                "LCU-hours",
                table.alb_lcu_hour,
                _same(lcus),
                component=alb,
            )


def estimate(
    observed: list[Observed], region: str, assumptions: CostAssumptions, prices_dir: Path | None = None
) -> dict[str, Any]:
    """The ``costEstimate`` document for what a program registered."""
    problems = assumptions.problems()
    if problems:
        raise PricingError([p.render(to_camel, "costAssumptions") for p in problems])
    pricer = _Pricer(observed, region, assumptions, prices_dir)
    table = PriceTable.load(region, prices_dir)
    regions = {o.region for o in observed if o.region} - {region}
    for other in sorted(regions):
        try:
            PriceTable.load(other, prices_dir)
        except PricingError as exc:
            pricer.problems += exc.problems
    if pricer.problems:
        raise PricingError(pricer.problems)
    pricer.clusters()
    pricer.node_groups()
    pricer.nat_gateways()
    pricer.databases()
    pricer.flat()
    pricer.log_groups()
    pricer.load_balancers()
    if pricer.problems:
        raise PricingError(pricer.problems)
    return _document(pricer.items, pricer.unpriced, table, assumptions)


def _totals(items: Iterable[LineItem]) -> dict[str, float]:
    items = list(items)
    return {s: float(sum((i.monthly(s) for i in items), Decimal(0))) for s in SCENARIOS}


def _grouped(items: list[LineItem], key: str) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[LineItem]] = {}
    for item in items:
        groups.setdefault(getattr(item, key), []).append(item)
    return {name: _totals(group) for name, group in sorted(groups.items())}


def _document(
    items: list[LineItem], unpriced: list[dict[str, str]], table: PriceTable, assumptions: CostAssumptions
) -> dict[str, Any]:
    return {
        "currency": table.currency,
        "region": table.region,
        "priceTableDate": table.as_of,
        "priceTableSource": table.source,
        "hoursPerMonth": int(HOURS_PER_MONTH),
        "monthly": _totals(items),
        "byComponent": _grouped(items, "component"),
        "byResourceType": _grouped(items, "resource_type"),
        "lineItems": [i.to_output() for i in items],
        "unpriced": unpriced,
        "assumptions": assumptions.to_output(),
    }
