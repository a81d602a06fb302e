"""The cost model: price tables, usage assumptions, and an estimator fed by what a program registers.

A ``CostRecorder`` is a stack transformation: it sees every resource the program constructs, in
``pulumi up`` and in offline synthesis alike, and keeps the few plain inputs that cost money
(instance types, node counts, storage sizes). At the end of the program, ``estimate`` prices them
with the region's table and the stack's usage assumptions into the ``costEstimate`` stack output.

Money is computed in ``Decimal``: each line item is rounded to the cent, and totals are sums of the
rounded lines, so a hand calculation matches to the cent. A month is 730 hours.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
from pulumi import _types as pulumi_types

from mlops_platform.components.foundation import instance_catalog
from mlops_platform.components.foundation.load_balancer_controller import INGRESS_CLASS
from mlops_platform.components.support import kube
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import ACCESS_LOG_PURPOSE_TAG
from mlops_platform.components.support.validation import Problem, to_camel

HOURS_PER_MONTH = Decimal(730)
DAYS_PER_MONTH = HOURS_PER_MONTH / Decimal(24)
CENT = Decimal("0.01")
PRICES_DIR = Path(__file__).parent / "prices"
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


class PricingError(pulumi.RunError):
    """Something the cost model cannot price: an unknown region, instance type or a bad price table.

    A RunError, so ``pulumi up`` reports it without a traceback; offline it exits 2 (bad input)."""

    exit_code = 2

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("cannot estimate cost:\n" + "\n".join(f"  - {p}" for p in self.problems))


# --- price tables ---------------------------------------------------------------------------------

TABLE_FIELDS: dict[str, tuple[str, ...]] = {
    "eks_cluster_hour": ("eks", "clusterHour"),
    "rds_storage_gb_month": ("rds", "storageGbMonth"),
    "nat_hour": ("natGateway", "hour"),
    "nat_gb": ("natGateway", "gb"),
    "alb_hour": ("alb", "hour"),
    "alb_lcu_hour": ("alb", "lcuHour"),
    "ebs_gp3_gb_month": ("ebs", "gp3GbMonth"),
    "s3_standard_gb_month": ("s3", "standardGbMonth"),
    "logs_ingestion_gb": ("cloudwatchLogs", "ingestionGb"),
    "logs_storage_gb_month": ("cloudwatchLogs", "storageGbMonth"),
    "kms_key_month": ("kms", "keyMonth"),
    "secret_month": ("secretsManager", "secretMonth"),
    "ecr_storage_gb_month": ("ecr", "storageGbMonth"),
}
"""Scalar prices: attribute -> path in the JSON document."""


@dataclass(frozen=True)
class PriceTable:
    """On-demand USD prices of one region (infra/cost/prices/<region>.json)."""

    region: str
    currency: str
    as_of: str
    source: str
    ec2: Mapping[str, Decimal]
    """Linux instance-hour by instance type."""
    rds_instances: Mapping[str, Decimal]
    """PostgreSQL single-AZ instance-hour by instance class."""
    eks_cluster_hour: Decimal
    rds_storage_gb_month: Decimal
    nat_hour: Decimal
    nat_gb: Decimal
    alb_hour: Decimal
    alb_lcu_hour: Decimal
    ebs_gp3_gb_month: Decimal
    s3_standard_gb_month: Decimal
    logs_ingestion_gb: Decimal
    logs_storage_gb_month: Decimal
    kms_key_month: Decimal
    secret_month: Decimal
    ecr_storage_gb_month: Decimal
    notes: str = ""

    @classmethod
    def from_document(cls, doc: Any, origin: str) -> PriceTable:
        """Validate a price table document; every problem is named with its path."""
        problems: list[str] = []
        if not isinstance(doc, Mapping):
            raise PricingError([f"{origin}: must be a JSON object"])

        def text(key: str) -> str:
            value = doc.get(key)
            if not isinstance(value, str) or not value:
                problems.append(f"{origin}: {key}: must be a non-empty string")
                return ""
            return value

        def price(value: Any, path: str) -> Decimal:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                problems.append(f"{origin}: {path}: must be a non-negative number (got {value!r})")
                return Decimal(0)
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                number = Decimal(-1)
            if not number.is_finite() or number < 0:
                problems.append(f"{origin}: {path}: must be a non-negative number (got {value!r})")
                return Decimal(0)
            return number

        def lookup(path: tuple[str, ...]) -> Any:
            value: Any = doc
            for key in path:
                value = value.get(key) if isinstance(value, Mapping) else None
            return value

        def prices(path: tuple[str, ...]) -> dict[str, Decimal]:
            table = lookup(path)
            if not isinstance(table, Mapping) or not table:
                problems.append(f"{origin}: {'.'.join(path)}: must be a non-empty object of name -> price")
                return {}
            return {name: price(value, f"{'.'.join(path)}.{name}") for name, value in table.items()}

        scalars = {}
        for attribute, path in TABLE_FIELDS.items():
            value = lookup(path)
            if value is None:
                problems.append(f"{origin}: {'.'.join(path)}: missing")
            scalars[attribute] = price(value, ".".join(path)) if value is not None else Decimal(0)
        table = cls(
            region=text("region"),
            currency=text("currency"),
            as_of=text("asOf"),
            source=text("source"),
            ec2=prices(("ec2",)),
            rds_instances=prices(("rds", "instances")),
            notes=str(doc.get("notes", "")),
            **scalars,
        )
        if table.currency and table.currency != "USD":
            problems.append(f"{origin}: currency: only USD tables are supported (got {table.currency!r})")
        if problems:
            raise PricingError(problems)
        return table

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "region": self.region,
            "currency": self.currency,
            "asOf": self.as_of,
            "source": self.source,
            "notes": self.notes,
            "ec2": {k: float(v) for k, v in sorted(self.ec2.items())},
            "rds": {"instances": {k: float(v) for k, v in sorted(self.rds_instances.items())}},
        }
        for attribute, (section, key) in TABLE_FIELDS.items():
            doc.setdefault(section, {})[key] = float(getattr(self, attribute))
        return doc

    @staticmethod
    def load(region: str, directory: Path | None = None) -> PriceTable:
        path = (directory or PRICES_DIR).resolve() / f"{region}.json"
        # Keyed on the modification time too, so a table rewritten by refresh-prices is read again.
        return _load_table(region, path.parent, path.stat().st_mtime_ns if path.exists() else 0)

    def instance_hour(self, instance_type: str) -> Decimal:
        if instance_type not in self.ec2:
            raise PricingError([self.missing_instance_message(instance_type)])
        return self.ec2[instance_type]

    def missing_instance_message(self, instance_type: str) -> str:
        return (
            f"no price for EC2 instance type {instance_type!r} in {self.region}; add it to "
            f"infra/cost/prices/{self.region}.json (or run `blueprint refresh-prices --region {self.region}`)"
        )


def available_regions(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or PRICES_DIR).glob("*.json"))


@cache
def _load_table(region: str, directory: Path, modified: int) -> PriceTable:
    path = directory / f"{region}.json"
    if not path.exists():
        have = ", ".join(available_regions(directory)) or "none"
        raise PricingError(
            [
                f"no price table for region {region!r} (tables: {have}); generate "
                f"infra/cost/prices/{region}.json with `blueprint refresh-prices --region {region}`"
            ]
        )
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PricingError([f"{path}: not valid JSON: {exc}"]) from exc
    table = PriceTable.from_document(doc, str(path))
    if table.region != region:
        raise PricingError(
            [f"{path}: region: must be {region!r} to match the file name (got {table.region!r})"]
        )
    return table


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


# --- what the program registers -------------------------------------------------------------------

UNKNOWN = object()
"""Stands for an input only known at deploy time (an Output)."""

PRICED_TYPES = frozenset(
    {
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:rds/instance:Instance",
        "aws:kms/key:Key",
        "aws:secretsmanager/secret:Secret",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ecr/repository:Repository",
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
    }
)
"""Types whose inputs the recorder keeps; everything else only counts for attribution."""


def _plain(value: Any) -> Any:
    """Inputs as plain data: Outputs and other deploy-time values become UNKNOWN."""
    if isinstance(value, pulumi.Output | pulumi.Resource) or hasattr(value, "__await__"):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if pulumi_types.is_input_type(type(value)):  # typed args classes (NodeGroupScalingConfigArgs...)
        return _plain(pulumi_types.input_type_to_dict(value))
    if hasattr(value, "value") and type(value).__module__.startswith("pulumi_"):  # provider enums
        return value.value
    return value


def _get(props: Any, *path: str | int, default: Any = None) -> Any:
    """Nested lookup by snake_case names that also finds camelCase keys (typed args translate)."""
    value = props
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or len(value) <= key:
                return default
            value = value[key]
            continue
        if not isinstance(value, Mapping):
            return default
        if key in value:
            value = value[key]
        elif to_camel(key) in value:
            value = value[to_camel(key)]
        else:
            return default
    return default if value is None else value


@dataclass
class Observed:
    key: int
    type: str
    name: str
    parent: int | None
    props: dict[str, Any]
    region: str | None = None


class CostRecorder:
    """Sees every resource the program constructs, through a stack transformation.

    The legacy in-process transformation API is used on purpose: it runs inside the program in both
    ``pulumi up`` and the mock runtime, without the engine callbacks newer transforms need."""

    def __init__(self) -> None:
        self.observed: dict[int, Observed] = {}

    def start(self) -> CostRecorder:
        pulumi.runtime.register_stack_transformation(self._observe)
        return self

    def _observe(self, args: pulumi.ResourceTransformationArgs) -> None:
        parent = args.opts.parent if args.opts is not None else None
        props = _plain(dict(args.props)) if args.type_ in PRICED_TYPES else {}
        region = props.get("region") if isinstance(props.get("region"), str) else None
        self.observed[id(args.resource)] = Observed(
            id(args.resource),
            args.type_,
            args.name,
            id(parent) if parent is not None else None,
            props,
            region,
        )
        return None

    def estimate(
        self, region: str, assumptions: CostAssumptions, prices_dir: Path | None = None
    ) -> dict[str, Any]:
        return estimate(list(self.observed.values()), region, assumptions, prices_dir)


# --- pricing --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineItem:
    component: str
    resource_type: str
    resource: str
    description: str
    unit: str
    unit_price: Decimal
    quantity: Mapping[str, Decimal]
    """Units per month in each scenario (idle, expected, peak)."""

    def monthly(self, scenario: str) -> Decimal:
        return (self.unit_price * self.quantity[scenario]).quantize(CENT, rounding=ROUND_HALF_UP)

    def to_output(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "resourceType": self.resource_type,
            "resource": self.resource,
            "description": self.description,
            "unit": self.unit,
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
        for key in self.of_type("aws:kms/key:Key"):
            self.add(
                key,
                "KMS customer-managed key",
                "key-months",
                self.table(key).kms_key_month,
                _same(Decimal(1)),
            )
        for secret in self.of_type("aws:secretsmanager/secret:Secret"):
            self.add(
                secret,
                "Secrets Manager secret",
                "secret-months",
                self.table(secret).secret_month,
                _same(Decimal(1)),
            )
        for repository in self.of_type("aws:ecr/repository:Repository"):
            self.add(
                repository,
                "ECR image storage (assumed)",
                "GB-months",
                self.table(repository).ecr_storage_gb_month,
                _same(Decimal(str(a.ecr_storage_gb_per_repository))),
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


def price_problems(
    region: str,
    instance_types: Mapping[str, str],
    rds_classes: Mapping[str, str],
    extra_regions: Mapping[str, str] | None = None,
) -> list[str]:
    """Config-time check that everything a stack will run has a price: ``where -> value`` pairs in,
    ``where: problem`` messages out. Run before any resource exists."""
    try:
        table = PriceTable.load(region)
    except PricingError as exc:
        return [f"aws:region: {p}" for p in exc.problems]
    problems = []
    for where, instance_type in instance_types.items():
        if instance_type not in table.ec2:
            problems.append(f"{where}: {table.missing_instance_message(instance_type)}")
    for where, rds_class in rds_classes.items():
        if rds_class not in table.rds_instances:
            problems.append(
                f"{where}: no price for RDS instance class {rds_class!r} in {region}; priced classes: "
                f"{', '.join(sorted(table.rds_instances))}"
            )
    for where, other in (extra_regions or {}).items():
        try:
            PriceTable.load(other)
        except PricingError as exc:
            problems += [f"{where}: {p}" for p in exc.problems]
    return problems
