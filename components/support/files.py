"""The one reader for every file a user hands the platform: stack files, outputs files, graph files,
price tables, policy configs. Each failure is one line that names the file and what is wrong with it.

YAML is read with the semantics Pulumi's own reader (Go's yaml.v3) has: a duplicate key is an error,
not a silent overwrite, and only ``true``/``false`` are booleans (YAML 1.1's ``yes``/``no``/``on``/``off``
stay strings, as Pulumi passes them to the program).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 50 * 1024 * 1024
"""No input file is anywhere near this; a larger one is a wrong path (a dump, an image)."""


class FileInputError(ValueError):
    """A user-supplied file that cannot be used; the message is one line naming the file."""


def read_text(path: str | Path, what: str) -> str:
    """The file as UTF-8 text; ``what`` names its role in messages ("stack outputs", "price table")."""
    file = Path(path)
    try:
        if file.is_dir():
            raise FileInputError(f"{what} file {file} is a directory, not a file")
        if not file.exists():
            raise FileInputError(f"{what} file {file} does not exist")
        size = file.stat().st_size
        if size > MAX_BYTES:
            raise FileInputError(
                f"{what} file {file} is {size / 2**20:.0f} MiB; the limit is {MAX_BYTES // 2**20} MiB"
            )
        data = file.read_bytes()
    except OSError as exc:
        raise FileInputError(f"{what} file {file}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileInputError(
            f"{what} file {file} is not UTF-8 (byte {exc.start}, line {line}); save it as UTF-8"
        ) from exc


def read_json(path: str | Path, what: str) -> Any:
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if not text.strip():
            raise FileInputError(f"{what} file {path} is empty; expected JSON") from exc
        # Cut short: the error is at the very end, or a string runs into it.
        truncated = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        reason = (
            "ends before the JSON does (truncated?)"
            if truncated
            else f"{exc.msg} at line {exc.lineno}, column {exc.colno}"
        )
        raise FileInputError(f"{what} file {path} is not valid JSON: {reason}") from exc


class StrictLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's parser when PyYAML has it) that refuses duplicate keys and reads booleans
    as YAML 1.2 (and Pulumi) do."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in first:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {first[key]})", key_node.start_mark
                )
            first[key] = line
        return super().construct_mapping(node, deep=deep)


# YAML 1.1's yes/no/on/off booleans are plain strings in YAML 1.2, which Pulumi's reader implements.
StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(text: str, origin: str) -> Any:
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{origin}:{mark.line + 1}" if mark else origin
        raise FileInputError(f"{where}: invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise FileInputError(f"{origin}: invalid YAML: {exc}") from exc


def read_yaml(path: str | Path, what: str) -> Any:
    return parse_yaml(read_text(path, what), str(path))
