"""Rewrite one model version in a stack file and keep everything else byte for byte: comments, order,
quoting. Edits go by the positions PyYAML's composer reports, and the result is read back and compared
with the intended config before anyone sees it."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import yaml

IDENTITY = (
    "name",
    "imageTag",
    "imageDigest",
    "modelPath",
    "registeredModel",
    "registryVersion",
    "trainingRunId",
    "datasetUri",
    "codeCommit",
)
"""What a version *is*: promoted from the source. Everything else (``weight``) is the target's."""
MODELS_KEY = "mlops-platform:models"


class StackFileError(Exception):
    """The stack file is not shaped as promotion expects: exit 2."""


def models(document: Any) -> list[dict[str, Any]]:
    config = document.get("config") if isinstance(document, dict) else None
    entries = (config or {}).get(MODELS_KEY) or []
    if not isinstance(entries, list):
        raise StackFileError(f"{MODELS_KEY} must be a list of models")
    return [e for e in entries if isinstance(e, dict)]


def model_entry(document: Any, model: str) -> dict[str, Any] | None:
    return next((m for m in models(document) if m.get("name") == model), None)


def _scalar(value: str, style: str | None = None) -> str:
    """``value`` as YAML: double-quoted where the old value was quoted or where a plain scalar would
    read back as something else ("3", a comment, a mapping), plain otherwise."""
    if style not in ('"', "'"):
        try:
            same = yaml.safe_load(value) == value
        except yaml.YAMLError:
            same = False
        plain = same and value.strip() == value and ": " not in value and " #" not in value
        if plain and value[0] not in "!&*{}[]|>'\"%@`,?:-#":
            return value
    return json.dumps(value)


def _version_node(text: str, model: str, role: str) -> yaml.MappingNode:
    root = yaml.compose(text)
    config = _get(root, "config")
    entries = _get(config, MODELS_KEY)
    if not isinstance(entries, yaml.SequenceNode):
        raise StackFileError(f"{MODELS_KEY} is not a list")
    for entry in entries.value:
        name = _get(entry, "name")
        if isinstance(name, yaml.ScalarNode) and name.value == model:
            node = _get(entry, role)
            if not isinstance(node, yaml.MappingNode):
                raise StackFileError(f"model {model!r} has no {role} version mapping")
            return node
    raise StackFileError(f"model {model!r} is not in the stack file")


def _get(node: Any, key: str) -> Any:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _line_start(text: str, index: int) -> int:
    return text.rfind("\n", 0, index) + 1


def _line_end(text: str, index: int) -> int:
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def replace_version(text: str, model: str, role: str, identity: Mapping[str, str | None]) -> str:
    """``text`` with the ``role`` version of ``model`` given ``identity`` (keys of IDENTITY; None or
    absent removes a key); its other keys (weight) stay as they are."""
    node = _version_node(text, model, role)
    wanted = {k: identity[k] for k in IDENTITY if identity.get(k) is not None}
    if node.flow_style:
        kept = [
            (k.value, text[v.start_mark.index : v.end_mark.index])
            for k, v in node.value
            if k.value not in IDENTITY
        ]
        pairs = [f"{k}: {_scalar(str(v))}" for k, v in wanted.items()] + [f"{k}: {v}" for k, v in kept]
        new = text[: node.start_mark.index] + "{" + ", ".join(pairs) + "}" + text[node.end_mark.index :]
    else:
        edits: list[tuple[int, int, str]] = []
        present = {k.value: (k, v) for k, v in node.value}
        indent = " " * node.value[0][0].start_mark.column
        for key, (k, v) in present.items():
            if key not in IDENTITY:
                continue
            if key in wanted:
                style = v.style if isinstance(v, yaml.ScalarNode) else None
                edits.append((v.start_mark.index, v.end_mark.index, _scalar(str(wanted[key]), style)))
            else:  # the source has no such field: the line goes
                edits.append((_line_start(text, k.start_mark.index), _line_end(text, v.end_mark.index), ""))
        missing = [k for k in wanted if k not in present]
        if missing:
            after = _line_end(text, node.value[-1][1].end_mark.index)
            lines = "".join(f"{indent}{k}: {_scalar(str(wanted[k]))}\n" for k in missing)
            edits.append((after, after, lines))
        new = text
        for start, end, replacement in sorted(edits, reverse=True):
            new = new[:start] + replacement + new[end:]
    _check(text, new, model, role, wanted)
    return new


def _check(old: str, new: str, model: str, role: str, wanted: Mapping[str, str]) -> None:
    expected = copy.deepcopy(yaml.safe_load(old))
    version = model_entry(expected, model)[role]  # type: ignore[index]
    for key in IDENTITY:
        version.pop(key, None)
    version.update(wanted)
    got = yaml.safe_load(new)
    if json.dumps(got, sort_keys=True, default=str) != json.dumps(expected, sort_keys=True, default=str):
        raise StackFileError(
            f"rewriting {model}.{role} would change more than that version; edit the stack file by hand"
        )
