"""`blueprint cost` and `blueprint refresh-prices` as a user runs them."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from mlops_platform.components.support.instance_catalog import CATALOG
from mlops_platform.infra.cli import main
from mlops_platform.infra.cost import refresh as price_refresh
from mlops_platform.infra.cost.prices import PriceTable
from tests.harness import ROOT, stack, without_aws_credentials


@pytest.fixture
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)


def test_cost_table_lists_components_and_totals(at_root, capsys):
    assert main(["cost", "prod"]) == 0
    out = capsys.readouterr().out
    doc = stack("prod").graph.outputs["costEstimate"]
    assert out.startswith("Estimated monthly cost of stack prod (USD, us-east-1, prices as of ")
    total = next(line for line in out.splitlines() if line.startswith("TOTAL"))
    assert total.split()[1:] == [f"{doc['monthly'][s]:,.2f}" for s in ("idle", "expected", "peak")]
    for component in doc["byComponent"]:
        assert f"\n{component} " in out
    # The nodes each pool runs: prod keeps four on-demand GPU nodes at idle, its spot pool none.
    pools = {
        line.split()[0]: line.split()[1:4]
        for line in out.splitlines()
        if line.split()[:1] in [[n] for n in doc["nodes"]]
    }
    assert pools["gpu-baseline-nodes"][0] == "4" and pools["gpu-burst-nodes"] == ["0", "0", "0"]
    assert pools == {
        name: [str(pool[s]) for s in ("idle", "expected", "peak")] for name, pool in doc["nodes"].items()
    }


def test_cost_markdown_and_json(at_root, capsys):
    assert main(["cost", "dev", "--format", "markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "| component | idle | expected | peak |" in markdown
    assert "| **TOTAL** |" in markdown
    assert "| node pool | idle | expected | peak | nodes of |" in markdown
    assert (
        "| gpu-spot-node-pool | 0 | 0 | 2 | g6.xlarge, Karpenter, on-demand fallback, spot at 45% of on-demand |"
        in markdown
    )
    assert main(["cost", "dev", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["stack"] == "dev"
    assert doc["monthly"] == stack("dev").graph.outputs["costEstimate"]["monthly"]


def test_cost_from_stack_outputs_needs_no_program(tmp_path, capsys):
    outputs = {"clusterName": "x", "costEstimate": stack("stage").graph.outputs["costEstimate"]}
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    assert main(["cost", "--from-outputs", str(path), "--format", "markdown"]) == 0  # cwd: no project needed
    out = capsys.readouterr().out
    assert f"**{outputs['costEstimate']['monthly']['peak']:,.2f}**" in out


@pytest.mark.parametrize(
    ("outputs", "message"),
    [
        ({"clusterName": "x"}, "has no costEstimate output"),
        (
            {"costEstimate": {"monthly": {"idle": 1}}},
            "costEstimate.monthly must hold idle, expected and peak",
        ),
        ([], "expected a JSON object of stack outputs"),
    ],
)
def test_cost_from_bad_outputs_exits_2(tmp_path, capsys, outputs, message):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    assert main(["cost", "--from-outputs", str(path)]) == 2
    assert message in capsys.readouterr().err


def test_cost_needs_exactly_one_source(tmp_path, capsys):
    assert main(["cost"]) == 2
    assert main(["cost", "dev", "--from-outputs", str(tmp_path / "o.json")]) == 2
    assert main(["cost", "--from-outputs", str(tmp_path / "missing.json")]) == 2
    assert "does not exist" in capsys.readouterr().err


# refresh-prices, against a stubbed Price List API


def product(usd: str, begin: str = "0") -> str:
    return json.dumps(
        {
            "product": {"sku": "X"},
            "terms": {
                "OnDemand": {
                    "X.T": {"priceDimensions": {"X.T.D": {"beginRange": begin, "pricePerUnit": {"USD": usd}}}}
                }
            },
        }
    )


SAGEMAKER_OFFERED = {"ml.g5.xlarge": "1.4084", "ml.m5.large": "0.115"}


def stubbed_client(
    region: str, template: PriceTable, *, skip: set[str] = frozenset(), empty_scalar: str | None = None
):
    """A pricing client answering every query refresh() makes, in order; prices are recognisable."""
    client = boto3.client("pricing", region_name="us-east-1")
    stub = Stubber(client)
    expected: dict[str, str] = {}
    for i, instance_type in enumerate(sorted(set(template.ec2) | set(CATALOG))):
        price = f"1.{i:04d}" if instance_type not in skip else None
        stub.add_response(
            "get_products",
            {"PriceList": [product(price)] if price else [], "FormatVersion": "aws_v1"},
            price_refresh.ec2_query(instance_type).request(region),
        )
        if price:
            expected[instance_type] = price
    for i, instance_class in enumerate(sorted(template.rds_instances)):
        stub.add_response(
            "get_products",
            {"PriceList": [product(f"0.{i + 1:03d}")]},
            price_refresh.rds_query(instance_class).request(region),
        )
    for name in sorted(set(template.sagemaker) | {f"ml.{t}" for t in CATALOG}):
        # SageMaker hosts some types only: the rest are left out, as "not offered".
        price = SAGEMAKER_OFFERED.get(name)
        stub.add_response(
            "get_products",
            {"PriceList": [product(price)] if price else []},
            price_refresh.sagemaker_query(name).request(region),
        )
    for attribute, query in price_refresh.SCALAR_QUERIES.items():
        # S3 and logs have tiered prices: the first tier is the one the table keeps.
        tiers = [] if attribute == empty_scalar else [product("0.5"), product("0.25", begin="51200")]
        stub.add_response("get_products", {"PriceList": tiers}, query.request(region))
    stub.activate()
    return client, stub, expected


@pytest.fixture
def prices_dir(tmp_path):
    shutil.copy(ROOT / "infra" / "cost" / "prices" / "us-west-2.json", tmp_path / "us-west-2.json")
    return tmp_path


def test_refresh_prices_rewrites_the_table_from_the_api(prices_dir, monkeypatch, capsys):
    template = PriceTable.load("us-west-2", prices_dir)
    client, stub, expected = stubbed_client("us-west-2", template, skip={"p5.48xlarge"})
    monkeypatch.setattr(boto3.session.Session, "client", lambda *a, **k: client)
    assert main(["refresh-prices", "--region", "us-west-2", "--prices-dir", str(prices_dir)]) == 0
    stub.assert_no_pending_responses()
    table = PriceTable.load("us-west-2", prices_dir)
    assert dict(table.ec2) == {k: Decimal(v) for k, v in expected.items()}
    assert "p5.48xlarge" not in table.ec2
    assert dict(table.sagemaker) == {k: Decimal(v) for k, v in SAGEMAKER_OFFERED.items()}
    assert str(table.eks_cluster_hour) == "0.5"
    assert "Price List API" in table.source
    err = capsys.readouterr().err
    assert "not offered in us-west-2 (left out): p5.48xlarge" in err


def test_refresh_prices_adds_a_new_region_from_an_existing_tables_entries(prices_dir, monkeypatch):
    template = PriceTable.load("us-west-2", prices_dir)
    client, stub, _ = stubbed_client("ap-south-1", template)
    monkeypatch.setattr(boto3.session.Session, "client", lambda *a, **k: client)
    assert main(["refresh-prices", "--region", "ap-south-1", "--prices-dir", str(prices_dir)]) == 0
    stub.assert_no_pending_responses()
    assert PriceTable.load("ap-south-1", prices_dir).region == "ap-south-1"


def test_refresh_prices_writes_nothing_when_a_service_price_is_missing(prices_dir, monkeypatch, capsys):
    before = (prices_dir / "us-west-2.json").read_text()
    template = PriceTable.load("us-west-2", prices_dir)
    client, _, _ = stubbed_client("us-west-2", template, empty_scalar="kms_key_month")
    monkeypatch.setattr(boto3.session.Session, "client", lambda *a, **k: client)
    assert main(["refresh-prices", "--region", "us-west-2", "--prices-dir", str(prices_dir)]) == 1
    assert "no on-demand price in us-west-2 for: kms.keyMonth" in capsys.readouterr().err
    assert (prices_dir / "us-west-2.json").read_text() == before


def test_refresh_prices_without_credentials_exits_2(prices_dir, monkeypatch, capsys):
    without_aws_credentials(monkeypatch, prices_dir)
    assert main(["refresh-prices", "--region", "us-west-2", "--prices-dir", str(prices_dir)]) == 2
    assert "no AWS credentials" in capsys.readouterr().err
