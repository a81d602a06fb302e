"""Price tables: on-demand USD prices per region (``prices/<region>.json``), validated, cached, and
the config-time check that everything a stack runs has a price."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

import pulumi

from mlops_platform.components.support import files

PRICES_DIR = Path(__file__).parent / "prices"


class PricingError(pulumi.RunError):
    """Something the cost model cannot price: an unknown region, instance type or a bad price table.

    A RunError, so ``pulumi up`` reports it without a traceback; offline it exits 2 (bad input)."""

    exit_code = 2

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__("cannot estimate cost:\n" + "\n".join(f"  - {p}" for p in self.problems))


# --- price tables ---------------------------------------------------------------------------------

TABLE_FIELDS: dict[str, str] = {
    "eks_cluster_hour": "eks.clusterHour",
    "rds_storage_gb_month": "rds.storageGbMonth",
    "nat_hour": "natGateway.hour",
    "nat_gb": "natGateway.gb",
    "alb_hour": "alb.hour",
    "alb_lcu_hour": "alb.lcuHour",
    "nlb_hour": "nlb.hour",
    "nlb_lcu_hour": "nlb.nlcuHour",
    "ebs_gp3_gb_month": "ebs.gp3GbMonth",
    "s3_standard_gb_month": "s3.standardGbMonth",
    "logs_ingestion_gb": "cloudwatchLogs.ingestionGb",
    "logs_storage_gb_month": "cloudwatchLogs.storageGbMonth",
    "kms_key_month": "kms.keyMonth",
    "secret_month": "secretsManager.secretMonth",
    "ecr_storage_gb_month": "ecr.storageGbMonth",
}
"""Scalar prices: attribute -> dotted path in the JSON document."""


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
    sagemaker: Mapping[str, Decimal]
    """SageMaker real-time inference (hosting) instance-hour by ``ml.`` instance type: the managed
    alternative each model's cost per 1,000 inferences is compared with. Optional per region."""
    eks_cluster_hour: Decimal
    rds_storage_gb_month: Decimal
    nat_hour: Decimal
    nat_gb: Decimal
    alb_hour: Decimal
    alb_lcu_hour: Decimal
    nlb_hour: Decimal
    nlb_lcu_hour: Decimal
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
        for attribute, dotted in TABLE_FIELDS.items():
            path = tuple(dotted.split("."))
            value = lookup(path)
            if value is None:
                problems.append(f"{origin}: {dotted}: missing")
            scalars[attribute] = price(value, ".".join(path)) if value is not None else Decimal(0)
        table = cls(
            region=text("region"),
            currency=text("currency"),
            as_of=text("asOf"),
            source=text("source"),
            ec2=prices(("ec2",)),
            rds_instances=prices(("rds", "instances")),
            sagemaker=prices(("sagemaker", "realTimeHour")) if lookup(("sagemaker",)) is not None else {},
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
            "sagemaker": {"realTimeHour": {k: float(v) for k, v in sorted(self.sagemaker.items())}},
        }
        for attribute, dotted in TABLE_FIELDS.items():
            section, key = dotted.split(".")
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
        doc = files.read_json(path, "price table")
    except files.FileInputError as exc:
        raise PricingError([str(exc)]) from exc
    table = PriceTable.from_document(doc, str(path))
    if table.region != region:
        raise PricingError(
            [f"{path}: region: must be {region!r} to match the file name (got {table.region!r})"]
        )
    return table


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
