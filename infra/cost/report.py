"""Renders a ``costEstimate`` stack output for people: a terminal table, Markdown or JSON."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from mlops_platform.infra.cost.estimate import SCENARIOS


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


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _rows(doc: Mapping[str, Any]) -> list[tuple[str, dict[str, float]]]:
    """Components, most expensive (expected) first, then by name: stable for the same estimate."""
    components = doc.get("byComponent") or {}
    return sorted(components.items(), key=lambda kv: (-kv[1]["expected"], kv[0]))


def _heading(doc: Mapping[str, Any], stack: str) -> str:
    return (
        f"Estimated monthly cost of stack {stack} ({doc.get('currency', 'USD')}, {doc.get('region', '?')}, "
        f"prices as of {doc.get('priceTableDate', '?')})"
    )


def _notes(doc: Mapping[str, Any]) -> list[str]:
    notes = [
        "idle: autoscaled pools at their minimum; expected: with the stack's costAssumptions; "
        "peak: every pool at its maximum. On-demand list prices: no Savings Plans, data transfer or taxes."
    ]
    for item in doc.get("unpriced") or []:
        notes.append(f"not priced: {item['resourceType']} {item['resource']}: {item['reason']}")
    return notes


def render_table(doc: Mapping[str, Any], stack: str) -> str:
    rows = [(name, [_money(v[s]) for s in SCENARIOS]) for name, v in _rows(doc)]
    total = ("TOTAL", [_money(doc["monthly"][s]) for s in SCENARIOS])
    width = max(len(name) for name, _ in [*rows, total, ("component", [])])
    cells = [max(len(s), *(len(r[1][i]) for r in [*rows, total])) for i, s in enumerate(SCENARIOS)]

    def line(name: str, values: list[str]) -> str:
        return f"{name:<{width}}  " + "  ".join(f"{v:>{cells[i]}}" for i, v in enumerate(values))

    out = [_heading(doc, stack), "", line("component", list(SCENARIOS))]
    out.append("-" * len(out[-1]))
    out += [line(name, values) for name, values in rows]
    out.append("-" * len(out[2]))
    out.append(line(*total))
    out.append("")
    out += _notes(doc)
    return "\n".join(out) + "\n"


def render_markdown(doc: Mapping[str, Any], stack: str) -> str:
    out = [
        f"### {_heading(doc, stack)}",
        "",
        "| component | idle | expected | peak |",
        "|---|---:|---:|---:|",
    ]
    out += [f"| {name} | " + " | ".join(_money(v[s]) for s in SCENARIOS) + " |" for name, v in _rows(doc)]
    out.append("| **total** | " + " | ".join(f"**{_money(doc['monthly'][s])}**" for s in SCENARIOS) + " |")
    out.append("")
    out += [f"- {note}" for note in _notes(doc)]
    return "\n".join(out) + "\n"


def render_json(doc: Mapping[str, Any], stack: str) -> str:
    return json.dumps({"stack": stack, **doc}, indent=2, sort_keys=True) + "\n"


RENDERERS = {"table": render_table, "markdown": render_markdown, "json": render_json}
