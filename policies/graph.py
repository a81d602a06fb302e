"""The resource graph: what the program asks the engine for, in a documented JSON format.

See ``docs/synth-format.md``. The same inputs always give byte-identical JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

FORMAT_VERSION = 1


@dataclass
class Resource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]
    provider: str | None = None
    depends_on: list[str] = field(default_factory=list)
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    delete_before_replace: bool = False
    aliases: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Input name -> URNs that input's value came from (which bucket a BucketPolicy is for)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "custom": self.custom,
            "provider": self.provider,
            "dependsOn": self.depends_on,
            "propertyDependencies": self.property_dependencies,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "ignoreChanges": self.ignore_changes,
            "replaceOnChanges": self.replace_on_changes,
            "deleteBeforeReplace": self.delete_before_replace,
            "aliases": self.aliases,
            "inputs": self.inputs,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Resource:
        return cls(
            urn=data["urn"],
            type=data["type"],
            name=data["name"],
            parent=data.get("parent"),
            custom=bool(data.get("custom")),
            provider=data.get("provider"),
            depends_on=list(data.get("dependsOn") or []),
            protect=bool(data.get("protect")),
            retain_on_delete=bool(data.get("retainOnDelete")),
            ignore_changes=list(data.get("ignoreChanges") or []),
            inputs=dict(data.get("inputs") or {}),
            replace_on_changes=list(data.get("replaceOnChanges") or []),
            delete_before_replace=bool(data.get("deleteBeforeReplace")),
            aliases=list(data.get("aliases") or []),
            property_dependencies={k: list(v) for k, v in (data.get("propertyDependencies") or {}).items()},
        )


@dataclass
class Graph:
    project: str
    stack: str
    resources: list[Resource]
    outputs: dict[str, Any]

    def to_json(self) -> str:
        doc = {
            "formatVersion": FORMAT_VERSION,
            "project": self.project,
            "stack": self.stack,
            "resources": [r.to_json() for r in self.resources],
            "outputs": self.outputs,
        }
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Graph:
        return cls.from_document(json.loads(text))

    @classmethod
    def from_document(cls, doc: Any) -> Graph:
        if not isinstance(doc, dict) or doc.get("formatVersion") != FORMAT_VERSION:
            found = doc.get("formatVersion") if isinstance(doc, dict) else None
            raise ValueError(f"not a synth graph of formatVersion {FORMAT_VERSION} (found {found!r})")
        return cls(
            project=doc.get("project", ""),
            stack=doc.get("stack", ""),
            resources=[Resource.from_json(r) for r in doc.get("resources", [])],
            outputs=dict(doc.get("outputs") or {}),
        )

    # -- queries used by tests, checks, cost and diff --------------------------------------------
    def of_type(self, resource_type: str) -> list[Resource]:
        return [r for r in self.resources if r.type == resource_type]

    def by_urn(self) -> dict[str, Resource]:
        return {r.urn: r for r in self.resources}

    def children(self, urn: str) -> list[Resource]:
        return [r for r in self.resources if r.parent == urn]

    def descendants(self, urn: str) -> Iterator[Resource]:
        by_parent: dict[str | None, list[Resource]] = {}
        for r in self.resources:
            by_parent.setdefault(r.parent, []).append(r)
        stack = list(reversed(by_parent.get(urn, [])))
        while stack:
            current = stack.pop()
            yield current
            stack.extend(reversed(by_parent.get(current.urn, [])))

    def find(self, resource_type: str, name: str) -> Resource:
        for r in self.resources:
            if r.type == resource_type and r.name == name:
                return r
        raise KeyError(f"no {resource_type} named {name!r}")
