"""The cost model: price tables, usage assumptions, and an estimator fed by what a program registers.

A ``CostRecorder`` is a stack transformation: it sees every resource the program constructs, in
``pulumi up`` and in offline synthesis alike, and keeps the few plain inputs that cost money
(instance types, node counts, storage sizes). At the end of the program, ``estimate`` prices them
with the region's table and the stack's usage assumptions into the ``costEstimate`` stack output.

Money is computed in ``Decimal``: each line item is rounded to the cent, and totals are sums of the
rounded lines, so a hand calculation matches to the cent. A month is 730 hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from mlops_platform.components.foundation.load_balancer_controller import INGRESS_CLASS
from mlops_platform.components.support import instance_catalog, kube
from mlops_platform.components.support.tagging import ACCESS_LOG_PURPOSE_TAG
from mlops_platform.components.support.validation import to_camel
from mlops_platform.infra.cost import attribution
from mlops_platform.infra.cost.assumptions import CostAssumptions
from mlops_platform.infra.cost.batch import WORKFLOW_TEMPLATE, batch_runs
from mlops_platform.infra.cost.placement import (
    PLATFORM,
    NodeShape,
    Owner,
    Unschedulable,
    node_shape,
    owner_shares,
    pack,
)
from mlops_platform.infra.cost.prices import PriceTable, PricingError
from mlops_platform.infra.cost.recorder import UNKNOWN, Observed, _get
from mlops_platform.infra.cost.scenarios import CENT, DAYS_PER_MONTH, HOURS_PER_MONTH, SCENARIOS
from mlops_platform.infra.cost.workloads import SYSTEM_POOL, Daemons, Workload, read_add_ons, read_workloads

DEFAULT_EBS_GIB = 20
"""EKS's root volume when a node group has neither a launch template volume nor a disk size."""
LOG_RETENTION_CAP_DAYS = 365
"""Stored log volume for a group that never expires is priced as one year's worth."""

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
    owner: Owner = PLATFORM
    """The team, model and version the cost is attributed to (the platform's when no model's)."""
    allocation: str = "platform"
    """How it reached its owner: ``direct`` (its pods' share of the nodes), ``shared:<key>``
    (a share of platform cost) or ``platform`` (kept by the platform)."""

    cents: Mapping[str, Decimal] | None = None
    """The amount per scenario of a line that is one owner's part of a larger one: the whole's cents
    are dealt out by largest remainder, so the parts add up to the whole exactly."""

    def monthly(self, scenario: str) -> Decimal:
        if self.cents is not None:
            return self.cents[scenario]
        return (self.unit_price * self.quantity[scenario]).quantize(CENT, rounding=ROUND_HALF_UP)

    def to_output(self) -> dict[str, Any]:
        texts = ("component", "resource_type", "resource", "description", "unit", "allocation")
        return {
            **{to_camel(name): getattr(self, name) for name in texts},
            "team": self.owner.team,
            "model": self.owner.model,
            "version": self.owner.version,
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
        self.workloads: list[Workload] = []
        self.daemons = Daemons()
        self.add_ons: dict[str, Any] = {}
        """Release -> the pods it declares (``helm.Footprint``), for the document."""
        self.pool_types: dict[str, str] = {}
        """Pool label value -> the instance type its nodes are priced as."""
        self.pool_nodes: dict[str, tuple[NodeShape, Decimal]] = {}
        """Pool label value -> what one node offers pods, and its hourly price (spot-discounted)."""
        self.nodes: dict[str, dict[str, Any]] = {}
        """Pool resource -> what one node is and costs, and the nodes each scenario runs (busy hours
        for ``expected``), for the document."""

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
        """Each node group runs the nodes its pods force in each scenario (infra/cost/placement.py),
        and its cost goes to the pods' owners by their share of the requested resources."""
        workloads, unknown = read_workloads(
            self.observed, self.component, self.assumptions.requests_per_second
        )
        for deployment in unknown:
            self.skip(deployment, "requests or replica counts are only known at deploy time")
        add_ons, self.daemons, self.add_ons = read_add_ons(self.observed, self.component)
        self.workloads = workloads + add_ons
        for group in self.of_type("aws:eks/nodeGroup:NodeGroup"):
            self.node_group(group)
        self.node_pools()

    def node_group(self, group: Observed) -> None:
        types = _get(group.props, "instance_types", default=[])
        scaling = _get(group.props, "scaling_config", default={})
        sizes = [_get(scaling, k) for k in ("min_size", "desired_size", "max_size")]
        if types is UNKNOWN or not types or UNKNOWN in types or UNKNOWN in sizes or None in sizes:
            self.skip(group, "instance types or scaling sizes are only known at deploy time")
            return
        labels = _get(group.props, "labels", default={})
        self.pool(
            group,
            f"node group {group.name}",
            [str(t) for t in types],
            tuple(int(s) for s in sizes),
            spot=_get(group.props, "capacity_type") == "SPOT",
            labels=labels if isinstance(labels, Mapping) else {},
            volume=self.volume_gib(group),
            provisioner="",
        )

    def node_pools(self) -> None:
        """Karpenter NodePools: no minimum (it launches what pods ask for and consolidates the rest);
        the maximum is the GPU limit in nodes of the cheapest allowed type."""
        classes = {
            _get(c.props, "metadata", "name"): _get(
                c.props, "spec", "block_device_mappings", 0, "ebs", "volume_size"
            )
            for c in self.of_type("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass")
        }
        for pool in self.of_type("kubernetes:karpenter.sh/v1:NodePool"):
            template = _get(pool.props, "spec", "template", default={})
            requirements = {
                _get(r, "key"): _get(r, "values", default=[])
                for r in _get(template, "spec", "requirements", default=[])
            }
            types = requirements.get("node.kubernetes.io/instance-type", [])
            capacity = requirements.get("karpenter.sh/capacity-type", ["on-demand"])
            limit = _get(pool.props, "spec", "limits", kube.GPU_RESOURCE)
            labels = _get(template, "metadata", "labels", default={})
            volume = classes.get(_get(template, "spec", "node_class_ref", "name"))
            if UNKNOWN in (limit, volume) or not types or UNKNOWN in types:
                self.skip(pool, "instance types or GPU limit are only known at deploy time")
                continue
            per_node = instance_catalog.gpus_per_node([str(t) for t in types]) * kube.sharing_replicas(labels)
            maximum = int(kube.quantity(limit) // per_node) if per_node and limit is not None else 0
            fallback = ", on-demand fallback" if "spot" in capacity and "on-demand" in capacity else ""
            self.pool(
                pool,
                f"Karpenter NodePool {pool.name}",
                [str(t) for t in types],
                (0, 0, maximum),
                spot="spot" in capacity,
                labels=labels,
                volume=Decimal(str(kube.quantity(volume or f"{DEFAULT_EBS_GIB}Gi") / 2**30)),
                provisioner=f"Karpenter{fallback}, ",
            )

    def pool(
        self,
        resource: Observed,
        what: str,
        types: list[str],
        sizes: tuple[int, int, int],
        *,
        spot: bool,
        labels: Mapping[str, Any],
        volume: Decimal,
        provisioner: str,
    ) -> None:
        """The nodes one pool runs in each scenario, priced and split over the pods' owners."""
        table = self.table(resource)
        missing = [t for t in types if t not in table.ec2]
        if missing:
            self.problems += [f"{what}: {table.missing_instance_message(t)}" for t in missing]
            return
        instance_type = min(types, key=lambda t: (table.ec2[t], t))
        pool = str(labels.get(kube.GPU_POOL_LABEL, SYSTEM_POOL))
        try:
            shape = node_shape(instance_type, gpu_sharing=kube.sharing_replicas(labels)).less(
                *self.daemons.every_node
            )
            if pool != SYSTEM_POOL:
                shape = shape.less(*self.daemons.gpu_nodes)
        except KeyError:
            self.problems.append(
                f"{what}: {instance_type!r} is not in components/support/instance-types.json"
            )
            return
        minimum, desired, maximum = sizes
        family = instance_catalog.family(instance_type)
        factor = Decimal(1)
        if spot:
            if family not in self.assumptions.spot_price_factors:
                self.problems.append(
                    f"{what}: no spot price factor for family {family!r}; "
                    f"set costAssumptions.spotPriceFactors.{family}"
                )
                return
            factor = Decimal(str(self.assumptions.spot_price_factors[family]))
        self.pool_types[pool] = instance_type
        self.pool_nodes[pool] = (shape, table.instance_hour(instance_type) * factor)
        residents = [w for w in self.workloads if w.pool == pool]
        try:
            placed = {s: pack([p for w in residents for p in w.pods(s)], shape) for s in SCENARIOS}
        except Unschedulable as exc:
            self.problems.append(f"{what}: {exc}")
            return
        needed = {s: len(placed[s]) for s in SCENARIOS}
        if needed["idle"] > maximum:
            self.problems.append(
                f"{what}: its minimum replicas need {needed['idle']} {instance_type} "
                f"nodes but it may run {maximum}; raise the pool's maxSize or lower the models' replicas.min"
            )
            return
        idle = max(minimum, needed["idle"])
        busy = min(max(needed["expected"], idle), maximum)
        if pool == SYSTEM_POOL:
            expected = Decimal(max(desired, busy)) * HOURS_PER_MONTH
        else:
            busy_hours = Decimal(str(self.assumptions.gpu_busy_hours_per_day)) * DAYS_PER_MONTH
            expected = idle * HOURS_PER_MONTH + (busy - idle) * busy_hours
        # The system pool is sized by hand for the add-ons too: at least desiredSize at peak.
        peak = min(max(needed["peak"], desired if pool == SYSTEM_POOL else minimum), maximum)
        node_hours = {"idle": idle * HOURS_PER_MONTH, "expected": expected, "peak": peak * HOURS_PER_MONTH}
        capacity = provisioner + (f"spot at {factor:.0%} of on-demand" if spot else "on-demand")
        lines = (
            (f"{instance_type} {capacity}", "instance-hours", table.instance_hour(instance_type) * factor, 1),
            (
                f"gp3 root volume {volume} GiB per node",
                "GB-months",
                table.ebs_gp3_gb_month,
                volume / HOURS_PER_MONTH,
            ),
        )
        running = {
            "idle": idle,
            "expected": max(desired, busy) if pool == SYSTEM_POOL else busy,
            "peak": peak,
        }
        self.nodes[resource.name] = {
            "instanceType": instance_type,
            "capacity": capacity,
            "instanceHourPrice": float(self.pool_nodes[pool][1]),
            "rootVolumeGib": float(volume),
            **running,
            "idleNeeded": needed["idle"],
        }
        parts = [
            (owner, "direct" if owner.is_model else "platform", share)
            for owner, share in owner_shares(placed, shape, running).items()
            if any(share.values())
        ]
        for description, unit, price, per_node_hour in lines:
            self.add(
                resource, description, unit, price, {s: node_hours[s] * per_node_hour for s in SCENARIOS}
            )
            self.items[-1:] = attribution.split(self.items[-1], parts)

    def volume_gib(self, group: Observed) -> Decimal:
        """The root volume a node gets: its launch template's (a sibling), else the group's disk size."""
        for template in self.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
            if template.parent == group.parent:
                size = _get(template.props, "block_device_mappings", 0, "ebs", "volume_size")
                if size not in (None, UNKNOWN):
                    return Decimal(str(size))
        size = _get(group.props, "disk_size")
        return Decimal(str(size)) if size not in (None, UNKNOWN) else Decimal(DEFAULT_EBS_GIB)

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
        """The AWS Load Balancer Controller makes one ALB per ingress group (or per ungrouped Ingress)
        and one NLB per Service of its NLB class (the model gateway's)."""
        balancers: dict[str, tuple[Observed, bool]] = {}
        for ingress in self.of_type("kubernetes:networking.k8s.io/v1:Ingress"):
            if _get(ingress.props, "spec", "ingress_class_name") == INGRESS_CLASS:
                annotations = _get(ingress.props, "metadata", "annotations", default={})
                group = annotations.get("alb.ingress.kubernetes.io/group.name")
                balancers.setdefault(
                    f"alb:{group if isinstance(group, str) else ingress.name}", (ingress, True)
                )
        for service in self.of_type("kubernetes:core/v1:Service"):
            if _get(service.props, "spec", "load_balancer_class") == NLB_CLASS:
                balancers[service.name] = (service, False)
        lcus = _same(Decimal(str(self.assumptions.alb_lcus)) * HOURS_PER_MONTH)
        for component, (resource, alb) in balancers.items():
            table, kind = self.table(resource), "ALB" if alb else "NLB"
            hour, lcu = (table.alb_hour, table.alb_lcu_hour) if alb else (table.nlb_hour, table.nlb_lcu_hour)
            owner = component if alb else None
            balancer = "Application Load Balancer" if alb else "Network Load Balancer"
            self.add(resource, balancer, f"{kind}-hours", hour, _same(HOURS_PER_MONTH), component=owner)
            units = "ALB capacity units (assumed)" if alb else "NLB capacity units (assumed as albLcus)"
            self.add(resource, units, "LCU-hours" if alb else "NLCU-hours", lcu, lcus, component=owner)


NLB_CLASS = "service.k8s.aws/nlb"
"""Services of this load balancer class get an NLB from the AWS Load Balancer Controller."""


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
    owners = {w.component: w.owner for w in pricer.workloads if w.owner.is_model}
    items = attribution.spread_shared(pricer.items, assumptions.shared_cost_key.value, owners)
    units = attribution.unit_costs(
        items,
        pricer.workloads,
        pricer.pool_types,
        assumptions.requests_per_second,
        assumptions.gpu_busy_hours_per_day,
        table,
    )
    # What each component and resource type costs, read before attribution pools platform lines.
    by: dict[str, Any] = {
        "byComponent": attribution.grouped(pricer.items, lambda i: i.component),
        "byResourceType": attribution.grouped(pricer.items, lambda i: i.resource_type),
    }
    runs, unpriced_runs, problems = batch_runs(observed, pricer.pool_nodes)
    if problems:
        raise PricingError(problems)
    pricer.unpriced += [
        {"resourceType": WORKFLOW_TEMPLATE, "resource": key, "reason": reason}
        for key, _, reason in (line.partition(": ") for line in unpriced_runs)
    ]
    by["batchRuns"] = runs
    by["nodes"] = pricer.nodes
    return _document(items, pricer.unpriced, table, assumptions, units, pricer.add_ons, by)


def _document(
    items: list[LineItem],
    unpriced: list[dict[str, str]],
    table: PriceTable,
    assumptions: CostAssumptions,
    units: dict[str, dict[str, Any]],
    add_ons: dict[str, Any],
    by_kind: dict[str, Any],
) -> dict[str, Any]:
    by_model = attribution.grouped(
        (i for i in items if i.owner.is_model), lambda i: attribution.model_key(i.owner)
    )
    return {
        "currency": table.currency,
        "region": table.region,
        "priceTableDate": table.as_of,
        "priceTableSource": table.source,
        "hoursPerMonth": int(HOURS_PER_MONTH),
        "monthly": attribution.totals(items),
        **by_kind,
        "byTeam": attribution.grouped(items, lambda i: i.owner.team),
        "byModel": {key: {**by_model.get(key, {}), **unit} for key, unit in units.items()},
        "sharedCostKey": assumptions.shared_cost_key.value,
        "addOns": add_ons,
        "lineItems": [i.to_output() for i in items],
        "unpriced": unpriced,
        "assumptions": assumptions.to_output(),
    }
