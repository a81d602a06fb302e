"""Human-readable rendering of a synthesized graph: the tree, counts by type, stack outputs."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from mlops_platform.policies.graph import Graph, Resource


def render(graph: Graph) -> str:
    lines = [
        f"Stack {graph.project}-{graph.stack} (offline preview: what the program asks for, not a diff against live state)",
        "",
    ]
    by_parent: dict[str | None, list[Resource]] = {}
    known = {r.urn for r in graph.resources}
    for r in graph.resources:
        parent = r.parent if r.parent in known else None
        by_parent.setdefault(parent, []).append(r)

    def walk(parent: str | None, prefix: str) -> None:
        children = by_parent.get(parent, [])
        for i, child in enumerate(children):
            last = i == len(children) - 1
            flags = [
                f for f, on in (("protected", child.protect), ("retained", child.retain_on_delete)) if on
            ]
            suffix = f"  [{', '.join(flags)}]" if flags else ""
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{child.name}  {child.type}{suffix}")
            walk(child.urn, prefix + ("   " if last else "│  "))

    walk(None, "")
    counts = Counter(r.type for r in graph.resources)
    lines += ["", f"Resources: {len(graph.resources)} ({sum(1 for r in graph.resources if r.custom)} custom)"]
    lines += [f"  {n:4d}  {t}" for t, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += ["", "Outputs:"]
    lines += [f"  {key}: {_short(value)}" for key, value in sorted(graph.outputs.items())]
    return "\n".join(lines) + "\n"


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
