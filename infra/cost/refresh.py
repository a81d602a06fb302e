"""Regenerate the cost model's price tables from the AWS Price List API (boto3 ``pricing`` client).

Every price is one ``get_products`` query: a service code and attribute filters that select one
on-demand price. The instance types and RDS classes refreshed are the ones the current table lists
(and the instance catalog), so a refresh never silently drops an entry.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from mlops_platform.components.support.instance_catalog import CATALOG
from mlops_platform.infra.cost.prices import TABLE_FIELDS, PriceTable

PRICING_REGION = "us-east-1"
"""The Price List API answers from us-east-1 (and two other regions) for every region's prices."""


@dataclass(frozen=True)
class Query:
    service: str
    filters: Mapping[str, str]
    contains: Mapping[str, str] | None = None
    """Attributes matched by substring (usage types carry a region prefix such as USE1-)."""

    def request(self, region: str) -> dict[str, Any]:
        filters = [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": region}]
        filters += [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in self.filters.items()]
        filters += [{"Type": "CONTAINS", "Field": k, "Value": v} for k, v in (self.contains or {}).items()]
        return {"ServiceCode": self.service, "Filters": filters, "FormatVersion": "aws_v1"}


def ec2_query(instance_type: str) -> Query:
    return Query(
        "AmazonEC2",
        {
            "instanceType": instance_type,
            "operatingSystem": "Linux",
            "tenancy": "Shared",
            "preInstalledSw": "NA",
            "capacitystatus": "Used",
            "licenseModel": "No License required",
        },
    )


def rds_query(instance_class: str) -> Query:
    return Query(
        "AmazonRDS",
        {"instanceType": instance_class, "databaseEngine": "PostgreSQL", "deploymentOption": "Single-AZ"},
    )


def sagemaker_query(instance_name: str) -> Query:
    """A SageMaker real-time endpoint instance (component ``Hosting``), e.g. ``ml.g5.xlarge``."""
    return Query(
        "AmazonSageMaker",
        {"productFamily": "ML Instance", "component": "Hosting", "instanceName": instance_name},
    )


SCALAR_QUERIES: dict[str, Query] = {
    "eks_cluster_hour": Query("AmazonEKS", {}, {"usagetype": "AmazonEKS-Hours:perCluster"}),
    "rds_storage_gb_month": Query(
        "AmazonRDS",
        {
            "productFamily": "Database Storage",
            "volumeType": "General Purpose-GP3",
            "databaseEngine": "PostgreSQL",
            "deploymentOption": "Single-AZ",
        },
    ),
    "nat_hour": Query("AmazonEC2", {"productFamily": "NAT Gateway"}, {"usagetype": "NatGateway-Hours"}),
    "nat_gb": Query("AmazonEC2", {"productFamily": "NAT Gateway"}, {"usagetype": "NatGateway-Bytes"}),
    "alb_hour": Query(
        "AWSELB", {"productFamily": "Load Balancer-Application"}, {"usagetype": "LoadBalancerUsage"}
    ),
    "alb_lcu_hour": Query(
        "AWSELB", {"productFamily": "Load Balancer-Application"}, {"usagetype": "LCUUsage"}
    ),
    "nlb_hour": Query(
        "AWSELB", {"productFamily": "Load Balancer-Network"}, {"usagetype": "LoadBalancerUsage"}
    ),
    "nlb_lcu_hour": Query("AWSELB", {"productFamily": "Load Balancer-Network"}, {"usagetype": "LCUUsage"}),
    "ebs_gp3_gb_month": Query("AmazonEC2", {"productFamily": "Storage", "volumeApiName": "gp3"}),
    "s3_standard_gb_month": Query("AmazonS3", {"volumeType": "Standard", "storageClass": "General Purpose"}),
    "logs_ingestion_gb": Query(
        "AmazonCloudWatch", {"productFamily": "Data Payload"}, {"usagetype": "DataProcessing-Bytes"}
    ),
    "logs_storage_gb_month": Query(
        "AmazonCloudWatch", {"productFamily": "Storage Snapshot"}, {"usagetype": "TimedStorage-ByteHrs"}
    ),
    "kms_key_month": Query("awskms", {}, {"usagetype": "KMS-Keys"}),
    "secret_month": Query("AWSSecretsManager", {}, {"usagetype": "AWSSecretsManager-Secrets"}),
    "ecr_storage_gb_month": Query("AmazonECR", {}, {"usagetype": "TimedStorage-ByteHrs"}),
}


class RefreshError(RuntimeError):
    """Prices the API did not return; nothing is written."""


def on_demand_price(price_list: Sequence[str]) -> Decimal | None:
    """The first-tier on-demand USD price of the products a query returned (None if there is none)."""
    found: list[Decimal] = []
    for entry in price_list:
        product = json.loads(entry) if isinstance(entry, str) else entry
        for term in (product.get("terms", {}).get("OnDemand") or {}).values():
            for dimension in (term.get("priceDimensions") or {}).values():
                if str(dimension.get("beginRange", "0")) != "0":
                    continue  # a later tier of tiered pricing (S3, logs)
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if usd is not None and Decimal(usd) > 0:
                    found.append(Decimal(usd))
    return max(found) if found else None


def fetch(client: Any, query: Query, region: str) -> Decimal | None:
    price_list: list[str] = []
    request = query.request(region)
    while True:
        response = client.get_products(**request)
        price_list += response.get("PriceList", [])
        token = response.get("NextToken")
        if not token:
            break
        request = {**request, "NextToken": token}
    return on_demand_price(price_list)


@dataclass
class Refreshed:
    table: PriceTable
    not_offered: list[str]
    """Instance types and classes the region does not offer: left out, so using them fails loudly."""


def _priced(
    client: Any, names: set[str], query: Callable[[str], Query], region: str, not_offered: list[str]
) -> dict[str, Decimal]:
    """The price of each name (in order), leaving out and listing those the region does not offer."""
    prices = {}
    for name in sorted(names):
        price = fetch(client, query(name), region)
        if price is None:
            not_offered.append(name)
        else:
            prices[name] = price
    return prices


def refresh(client: Any, region: str, template: PriceTable, today: datetime.date) -> Refreshed:
    """A new table for ``region`` with every entry of ``template`` (and the instance catalog) re-priced."""
    not_offered: list[str] = []
    ec2 = _priced(client, set(template.ec2) | set(CATALOG), ec2_query, region, not_offered)
    rds = _priced(client, set(template.rds_instances), rds_query, region, not_offered)
    sagemaker_names = set(template.sagemaker) | {f"ml.{t}" for t in CATALOG}
    sagemaker = _priced(client, sagemaker_names, sagemaker_query, region, not_offered)
    missing = []
    scalars = {}
    for attribute, query in SCALAR_QUERIES.items():
        price = fetch(client, query, region)
        if price is None:
            missing.append(TABLE_FIELDS[attribute])
        else:
            scalars[attribute] = price
    if missing or not ec2 or not rds:
        missing += [] if ec2 else ["every EC2 instance type"]
        missing += [] if rds else ["every RDS instance class"]
        raise RefreshError(
            f"the Price List API returned no on-demand price in {region} for: {', '.join(missing)}"
        )
    table = PriceTable(
        region=region,
        currency="USD",
        as_of=today.isoformat(),
        source=f"AWS Price List API (pricing:GetProducts), retrieved {today.isoformat()} by `blueprint refresh-prices`",
        notes="Linux, shared tenancy, on-demand; RDS is PostgreSQL single-AZ (Multi-AZ doubles instance and storage).",
        ec2=ec2,
        rds_instances=rds,
        sagemaker=sagemaker,
        **scalars,
    )
    return Refreshed(table, not_offered)
