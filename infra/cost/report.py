"""Renders a ``costEstimate`` stack output for people: a terminal table, Markdown or JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from typing import Any

from mlops_platform.infra.cost.scenarios import SCENARIOS


class NoEstimate(ValueError):
    """The outputs hold no usable ``costEstimate``."""


def estimate_from_outputs(outputs: Any, origin: str) -> dict[str, Any]:
    """The ``costEstimate`` of ``pulumi stack output --json`` (or of a synthesized graph's outputs)."""
    if not isinstance(outputs, Mapping):
        raise NoEstimate(f"{origin}: expected a JSON object of stack outputs (`pulumi stack output --json`)")
    doc = outputs.get("costEstimate")
    if doc is None:
        raise NoEstimate(
            f"{origin} has no costEstimate output; deploy the stack with this version of the blueprint first"
        )
    monthly = doc.get("monthly") if isinstance(doc, Mapping) else None
    if not isinstance(monthly, Mapping) or not all(
        isinstance(monthly.get(s), int | float) for s in SCENARIOS
    ):
        raise NoEstimate(f"{origin}: costEstimate.monthly must hold idle, expected and peak numbers")
    return dict(doc)


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def _unit(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _by_cost(groups: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, Mapping[str, Any]]]:
    """Most expensive (expected) first, then by name: stable for the same estimate."""
    return sorted(groups.items(), key=lambda kv: (-kv[1]["expected"], kv[0]))


def _heading(doc: Mapping[str, Any], stack: str) -> str:
    return (
        f"Estimated monthly cost of stack {stack} ({doc.get('currency', 'USD')}, {doc.get('region', '?')}, "
        f"prices as of {doc.get('priceTableDate', '?')})"
    )


def _notes(doc: Mapping[str, Any]) -> list[str]:
    key = doc.get("sharedCostKey", "none")
    notes = [
        "idle: every model at its minimum replicas on the nodes they force; expected: the stack's "
        "costAssumptions traffic (node pools: the nodes while busy); peak: every model at its maximum, "
        "bounded by its pool. List prices, spot at costAssumptions.spotPriceFactors: no Savings Plans, "
        "data transfer or taxes.",
        f"platform cost shared by: {key} (docs/cost-model.md#attribution)",
        "per 1k: cost per 1,000 inferences at the expected traffic, fully loaded; SageMaker: the same "
        "replica-hours on real-time endpoints of the same instance type.",
    ]
    for name, pool in sorted((doc.get("nodes") or {}).items()):
        if pool["idleNeeded"] < pool["idle"]:
            notes.append(
                f"{name} keeps {pool['idle']} nodes at idle (its minimum size) where its pods need "
                f"{pool['idleNeeded']}: lower its minSize to save {pool['idle'] - pool['idleNeeded']}"
            )
    for item in doc.get("unpriced") or []:
        notes.append(f"not priced: {item['resourceType']} {item['resource']}: {item['reason']}")
    return notes


Table = tuple[list[str], list[list[str]]]


def _scenario_rows(label: str, groups: Mapping[str, Mapping[str, Any]], total: Mapping[str, Any]) -> Table:
    rows = [[name, *(_money(v[s]) for s in SCENARIOS)] for name, v in _by_cost(groups)]
    rows.append(["TOTAL", *(_money(total[s]) for s in SCENARIOS)])
    return [label, *SCENARIOS], rows


def _model_rows(doc: Mapping[str, Any]) -> Table:
    rows = []
    for name, model in _by_cost(doc.get("byModel") or {}):
        per_1k = model.get("costPer1kInferences") or {}
        rows.append(
            [
                name,
                *(_money(model.get(s)) for s in SCENARIOS),
                f"{model.get('monthlyRequests', 0):,}",
                _unit(per_1k.get("platform")),
                _unit(per_1k.get("sagemaker")),
            ]
        )
    return ["team/model", *SCENARIOS, "requests/month", "per 1k", "SageMaker per 1k"], rows


NODES_OF = "nodes of"
"""The one text column after the first: left-aligned in a terminal."""


def _node_rows(nodes: Mapping[str, Mapping[str, Any]]) -> Table:
    """The nodes each pool runs per scenario: what the models' replicas and the add-ons force."""
    rows = [
        [name, *(str(pool[s]) for s in SCENARIOS), f"{pool['instanceType']}, {pool['capacity']}"]
        for name, pool in sorted(nodes.items())
    ]
    return ["node pool", *SCENARIOS, NODES_OF], rows


def _tables(doc: Mapping[str, Any]) -> list[Table]:
    tables = [_scenario_rows("component", doc.get("byComponent") or {}, doc["monthly"])]
    if doc.get("nodes"):
        tables.append(_node_rows(doc["nodes"]))
    if doc.get("byTeam"):
        tables.append(_scenario_rows("team", doc["byTeam"], doc["monthly"]))
    if doc.get("byModel"):
        tables.append(_model_rows(doc))
    return tables


def _text_grid(table: Table) -> list[str]:
    headers, rows = table
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(widths[i]) if i == 0 or headers[i] == NODES_OF else c.rjust(widths[i])
            for i, c in enumerate(cells)
        ).rstrip()

    out = [line(headers), "-" * len(line(headers))]
    for row in rows:
        if row[0] == "TOTAL":
            out.append("-" * len(line(headers)))
        out.append(line(row))
    return out


def _markdown_grid(table: Table) -> list[str]:
    headers, rows = table
    out = ["| " + " | ".join(headers) + " |", "|---|" + "---:|" * (len(headers) - 1)]
    for row in rows:
        cells = [f"**{c}**" for c in row] if row[0] == "TOTAL" else row
        out.append("| " + " | ".join(cells) + " |")
    return out


def render_table(doc: Mapping[str, Any], stack: str) -> str:
    out = [_heading(doc, stack), ""]
    for table in _tables(doc):
        out += [*_text_grid(table), ""]
    out += _notes(doc)
    return "\n".join(out) + "\n"


def render_markdown(doc: Mapping[str, Any], stack: str) -> str:
    out = [f"### {_heading(doc, stack)}", ""]
    for table in _tables(doc):
        out += [*_markdown_grid(table), ""]
    out += [f"- {note}" for note in _notes(doc)]
    return "\n".join(out) + "\n"


def rollup(docs: list[tuple[str, Mapping[str, Any]]]) -> dict[str, Any]:
    """Several stacks' estimates summed per environment, per environment and team, and per model."""
    by_environment: dict[str, dict[str, float]] = {}
    by_team: dict[str, dict[str, float]] = {}
    by_model: dict[str, dict[str, float]] = {}

    def add(groups: dict[str, dict[str, float]], key: str, values: Mapping[str, Any]) -> None:
        group = groups.setdefault(key, dict.fromkeys(SCENARIOS, 0.0))
        for s in SCENARIOS:
            group[s] = round(group[s] + float(values[s]), 2)

    for stack, doc in docs:
        environment = str(doc.get("environment") or stack)
        add(by_environment, environment, doc["monthly"])
        for team, values in (doc.get("byTeam") or {}).items():
            add(by_team, f"{environment}/{team}", values)
        for model, values in (doc.get("byModel") or {}).items():
            add(by_model, f"{environment}/{model}", values)
    total = dict.fromkeys(SCENARIOS, 0.0)
    for values in by_environment.values():
        total = {s: round(total[s] + values[s], 2) for s in SCENARIOS}
    return {"monthly": total, "byEnvironment": by_environment, "byTeam": by_team, "byModel": by_model}


def _render_rollup(docs: list[tuple[str, Mapping[str, Any]]], grid: Any, heading: str) -> list[str]:
    summary = rollup(docs)
    out = [heading, ""]
    for label in ("environment", "team", "model"):
        groups = summary[f"by{label.capitalize()}"]
        out += [
            *grid(
                _scenario_rows(label if label != "team" else "environment/team", groups, summary["monthly"])
            ),
            "",
        ]
    return out


def render_json(doc: Mapping[str, Any], stack: str) -> str:
    return json.dumps({**doc, "stack": stack}, indent=2, sort_keys=True) + "\n"


CSV_COLUMNS = (
    "environment",
    "stack",
    "team",
    "model",
    "version",
    "component",
    "resourceType",
    "resource",
    "description",
    "allocation",
    "unit",
    "unitPrice",
    "idle",
    "expected",
    "peak",
)
"""One row per environment, stack, owner and line item; amounts in the estimate's currency."""


def render_csv(docs: list[tuple[str, Mapping[str, Any]]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for stack, doc in docs:
        for item in doc.get("lineItems") or []:
            row = {key: item.get(key, "") for key in CSV_COLUMNS}
            row.update(
                environment=doc.get("environment") or stack,
                stack=stack,
                unitPrice=f"{item['unitPrice']:.6g}",
                **{s: f"{item['monthly'][s]:.2f}" for s in SCENARIOS},
            )
            writer.writerow(row)
    return buffer.getvalue()


def render(docs: list[tuple[str, Mapping[str, Any]]], fmt: str) -> str:
    """Estimates of one or more stacks in ``fmt`` (table, markdown, json, csv); several roll up."""
    if fmt == "csv":
        return render_csv(docs)
    if fmt == "json":
        if len(docs) == 1:
            return render_json(docs[0][1], docs[0][0])
        stacks = [{**doc, "stack": stack} for stack, doc in docs]
        return json.dumps({"stacks": stacks, "rollup": rollup(docs)}, indent=2, sort_keys=True) + "\n"
    single, grid = (render_table, _text_grid) if fmt == "table" else (render_markdown, _markdown_grid)
    out = "".join(single(doc, stack) + ("\n" if len(docs) > 1 else "") for stack, doc in docs)
    if len(docs) > 1:
        names = ", ".join(stack for stack, _ in docs)
        heading = f"Roll-up of stacks {names} (USD per month)"
        out += "\n".join(_render_rollup(docs, grid, heading if fmt == "table" else f"### {heading}")) + "\n"
    return out
