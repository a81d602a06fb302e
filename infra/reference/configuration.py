"""docs/configuration.md and the ``config`` block of Pulumi.yaml, both generated from the specs:
adding a setting means adding one field (with its docstring) to a spec."""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic.alias_generators import to_camel

from mlops_platform.components.support.spec import default_of, field_docs, is_spec
from mlops_platform.infra import config
from mlops_platform.infra.config import parsing
from mlops_platform.infra.config.schema import StackSpec

ENVIRONMENTS = config.ENVIRONMENTS
_MISSING = object()


def type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        names = [type_name(a) for a in get_args(annotation) if a is not type(None)]
        return " or ".join(names) + (" (optional)" if type(None) in get_args(annotation) else "")
    if origin is Literal:
        return " \\| ".join(f"`{value}`" for value in get_args(annotation))
    if parsing.is_sequence(annotation):
        return f"list of {type_name(get_args(annotation)[0])}"
    if origin is not None and get_args(annotation) and len(get_args(annotation)) == 2:
        key, value = get_args(annotation)
        return f"map of {type_name(key)} to {type_name(value)}"
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return " \\| ".join(f"`{m.value}`" for m in annotation)
    if is_spec(annotation):
        return "object"
    return {int: "integer", str: "string", bool: "boolean", float: "number"}.get(annotation, str(annotation))


def show(value: Any) -> str:
    if value is None or value is _MISSING:
        return "-"
    return f"`{json.dumps(value)}`"


def ordered(cls: type) -> list[dataclasses.Field[Any]]:
    """A spec's fields, a list entry's ``name`` first."""
    fields = parsing.fields(cls)
    return sorted(fields, key=lambda f: f.name != "name")


def _dumped_default(cls: type, field: dataclasses.Field[Any]) -> Any:
    default = default_of(field)
    if default is dataclasses.MISSING:
        return _MISSING
    return parsing.adapter(parsing.hints(cls)[field.name]).dump_python(default, by_alias=True, mode="json")


def rows(
    cls: type, prefix: str, per_env: dict[str, Any] | None, required: str = "required"
) -> Iterator[tuple[str, str, str, list[str]]]:
    """(key, type, description, defaults) for every leaf of a spec; ``per_env`` holds the defaults at
    this level by environment, or None for one column of the spec's own defaults."""
    docs = field_docs(cls)
    for field in ordered(cls):
        key = to_camel(field.name)
        path = f"{prefix}.{key}" if prefix else key
        annotation = parsing.hints(cls)[field.name]
        doc = docs.get(field.name, "")
        nested = parsing.element_spec(annotation)
        below = {e: (v or {}).get(key) or {} for e, v in per_env.items()} if per_env is not None else None

        if nested is not None and parsing.is_sequence(annotation):
            yield path, "list of objects", doc, _defaults(cls, field, per_env, required)
            yield from rows(nested, f"{path}[]", None)
        elif nested is not None and parsing._strip_optional(annotation) is not annotation:
            yield path, "object (optional)", doc, _defaults(cls, field, per_env, required)
            yield from rows(nested, path, below, required=f"required with `{path}`")
        elif nested is not None:
            yield from rows(nested, path, below, required)
        else:
            yield path, type_name(annotation), doc, _defaults(cls, field, per_env, required)


def _defaults(
    cls: type, field: dataclasses.Field[Any], per_env: dict[str, Any] | None, required: str
) -> list[str]:
    """One cell per environment (or one for the spec) with the field's default."""
    key = to_camel(field.name)
    default = _dumped_default(cls, field)
    fallback = required if default is _MISSING else show(default)
    if per_env is None:
        return [fallback]
    return [
        show(per_env[e][key]) if isinstance(per_env[e], dict) and key in per_env[e] else fallback
        for e in ENVIRONMENTS
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def configuration_reference() -> str:
    defaults = {e: config.environment_defaults(e) for e in ENVIRONMENTS}
    lines = [
        "# Stack configuration",
        "",
        "<!-- Generated from the component specs by `blueprint docs`; do not edit by hand. -->",
        "",
        f"Every key lives in the `{config.NAMESPACE}` namespace of `stacks/Pulumi.<stack>.yaml`, plus",
        "`aws:region` (required) and optionally `aws:profile` and `aws:allowedAccountIds`. Each top-level",
        "key is the spec of one component (its reference is docs/components.md). Unknown keys are",
        "rejected. A stack sets only what differs from its environment's defaults",
        "(`infra/config/defaults/<env>.yaml`, then the specs' own); objects merge key by key with the",
        "defaults, lists replace them. Every problem is reported at once, e.g.",
        "",
        "```",
        f"{config.NAMESPACE}:gpuNodePools[1].maxSize: must be >= minSize (got 0 < 2)",
        "```",
        "",
    ]
    docs = field_docs(StackSpec)
    for field in parsing.fields(StackSpec):
        key = to_camel(field.name)
        annotation = parsing.hints(StackSpec)[field.name]
        nested = parsing.element_spec(annotation)
        lines += [f"## `{key}`", "", docs.get(field.name, ""), ""]
        if nested is None:
            lines += [f"Type: {type_name(annotation)}. Required.", ""]
        elif parsing.is_sequence(annotation):
            lines += [
                f"A list; each entry has these keys. Default for every environment: {show(defaults['dev'][key])}.",
                "",
                "| key | type | description | default |",
                "|---|---|---|---|",
                *(f"| `{k}` | {t} | {_cell(d)} | {v[0]} |" for k, t, d, v in rows(nested, "", None)),
                "",
            ]
        else:
            lines += [
                "| key | type | description | dev | stage | prod |",
                "|---|---|---|---|---|---|",
                *(
                    f"| `{k}` | {t} | {_cell(d)} | {' | '.join(v)} |"
                    for k, t, d, v in rows(nested, "", {e: defaults[e].get(key) for e in ENVIRONMENTS})
                ),
                "",
            ]
    return "\n".join(lines)


def _declaration(field: dataclasses.Field[Any]) -> dict[str, Any]:
    annotation = parsing.hints(StackSpec)[field.name]
    doc = field_docs(StackSpec).get(field.name, "").split(". Default")[0].rstrip(".")
    nested = parsing.element_spec(annotation)
    if nested is None:
        return {"type": "string", "description": f"{doc}. Required; no default."}
    keys = ", ".join(to_camel(f.name) for f in ordered(nested))
    if parsing.is_sequence(annotation):
        described = f"{doc}. Keys of each entry: {keys}. Default: none; see docs/configuration.md."
        return {"type": "array", "items": {"type": "object"}, "description": described, "default": []}
    return {
        "type": "object",
        "description": f"{doc}. Keys: {keys}. Default: per environment, see docs/configuration.md.",
    }


def pulumi_project_file(root: Path) -> str:
    """Pulumi.yaml with its ``config`` block declaring every top-level key, from the specs."""
    current = (root / "Pulumi.yaml").read_text(encoding="utf-8")
    head_lines = current.split("\nconfig:", 1)[0].rstrip("\n").splitlines()
    while head_lines and head_lines[-1].startswith("#"):
        head_lines.pop()
    head = "\n".join(head_lines)
    declarations: dict[str, Any] = {
        "aws:region": {
            "type": "string",
            "description": "AWS region of the stack, e.g. us-east-1. Required; no default.",
        }
    }
    for field in parsing.fields(StackSpec):
        declarations[to_camel(field.name)] = _declaration(field)
    block = yaml.safe_dump({"config": declarations}, sort_keys=False, width=10_000, allow_unicode=True)
    return (
        f"{head}\n"
        "# Every top-level key of the mlops-platform namespace, generated from the component specs by\n"
        "# `blueprint docs` (docs/configuration.md has every nested key and its default per environment).\n"
        f"{block}"
    )
