"""Parse plain data straight into spec dataclasses, and report every problem on the user's key.

pydantic checks the structure (types, unknown keys, required keys); each spec's ``problems()``
checks the meaning. Both are reported in one run: where part of a spec is structurally wrong, the
rest is still built (the wrong parts replaced by defaults or neutral placeholders) and checked, and
any semantic problem about a wrong part is dropped, since its structural error already stands.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
from collections.abc import Callable, Mapping, Sequence
from enum import Enum
from typing import Any, Union, get_args, get_origin, get_type_hints

from pydantic import TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel

from mlops_platform.components.support.spec import default_of, is_spec
from mlops_platform.components.support.validation import Problem
from mlops_platform.components.support.validation import to_camel as path_to_camel


@functools.cache
def adapter(annotation: Any) -> TypeAdapter[Any]:
    return TypeAdapter(annotation)


def validate(annotation: Any, value: Any) -> Any:
    """``value`` (parsed YAML or JSON) as ``annotation``, with JSON's types kept apart as Pulumi
    passes them: ``1`` is not ``true``, ``"8"`` is not ``8``. (Strict JSON mode still reads enums
    from their values and lists as tuples.)"""
    return adapter(annotation).validate_json(json.dumps(value, default=str), strict=True)


@functools.cache
def hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def fields(cls: type) -> list[dataclasses.Field[Any]]:
    return list(dataclasses.fields(cls))


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def element_spec(annotation: Any) -> type | None:
    """The spec a field holds directly, in a list, or behind ``| None``; else None."""
    annotation = _strip_optional(annotation)
    if is_spec(annotation):
        return annotation
    if get_origin(annotation) in (list, tuple, Sequence):
        args = get_args(annotation)
        if args and is_spec(args[0]):
            return args[0]
    return None


def is_sequence(annotation: Any) -> bool:
    origin = get_origin(_strip_optional(annotation))
    return origin is not None and origin not in (dict, Mapping) and issubclass(origin, Sequence)


# --- structural errors ------------------------------------------------------------------------------


def user_path(prefix: str, loc: Sequence[Any]) -> str:
    text = prefix
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text and not text.endswith(":") else "") + str(part)
    return text


def _type_at(cls: type, loc: Sequence[Any]) -> Any:
    """The annotation a pydantic error location points into, or None when it leaves the specs."""
    annotation: Any = cls
    for part in loc:
        annotation = _strip_optional(annotation)
        if isinstance(part, int):
            args = get_args(annotation)
            annotation = args[0] if args else None
            continue
        if not is_spec(annotation):
            return None
        by_key = {to_camel(f.name): f.name for f in fields(annotation)}
        if part not in by_key:
            return None
        annotation = hints(annotation)[by_key[part]]
    return annotation


def _valid_keys(cls: type, loc: Sequence[Any]) -> list[str]:
    annotation = _strip_optional(_type_at(cls, loc))
    if is_spec(annotation):
        return sorted(to_camel(f.name) for f in fields(annotation))
    return []


def _got(value: Any) -> str:
    shown = value.value if isinstance(value, Enum) else value
    try:
        text = json.dumps(shown)
    except (TypeError, ValueError):
        text = repr(shown)
    return f"(got {text if len(text) <= 80 else text[:77] + '...'})"


def error_message(cls: type, error: Mapping[str, Any]) -> str:
    kind, value, loc = error["type"], error.get("input"), tuple(error["loc"])
    got = _got(value)
    if kind in ("missing", "missing_keyword_argument", "missing_argument"):
        return "required; set it in stacks/Pulumi.<stack>.yaml"
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        valid = _valid_keys(cls, loc[:-1])
        return f"unknown key; valid keys: {', '.join(valid)}" if valid else "unknown key"
    if kind in ("enum", "literal_error"):
        expected = (error.get("ctx") or {}).get("expected", "")
        return f"must be one of {expected.replace(chr(39), '')} {got}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"must be an integer {got}"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"must be a number {got}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false {got}"
    if kind == "string_type":
        return f"must be a string {got}"
    if kind in ("list_type", "sequence_str", "tuple_type") or (
        kind == "is_instance_of" and (error.get("ctx") or {}).get("class") == "Sequence"
    ):
        return f"must be a list {got}"
    if kind in (
        "model_type",
        "dict_type",
        "model_attributes_type",
        "dataclass_type",
        "dataclass_args_type",
        "mapping_type",
    ):
        return f"must be a mapping of keys {got}"
    if kind == "string_too_short":
        return f"must not be empty {got}"
    return f"{error['msg']} {got}"


# --- partial construction ---------------------------------------------------------------------------


def _placeholder(annotation: Any) -> Any:
    """A harmless stand-in of the right type for a value that failed validation."""
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return next(iter(annotation))
    if is_spec(annotation):
        return partial(annotation, {}, "")[0]
    if is_sequence(annotation):
        return ()
    if get_origin(annotation) in (dict, Mapping):
        return {}
    return {int: 0, str: "", bool: False, float: 0.0}.get(annotation)


def partial(annotation: Any, value: Any, path: str) -> tuple[Any, set[str]]:
    """``value`` as ``annotation`` where it is valid, stand-ins where not, and the bad paths."""
    optional = _strip_optional(annotation) is not annotation
    if optional and value is None:
        return None, set()
    inner = _strip_optional(annotation)
    if is_spec(inner):
        if not isinstance(value, Mapping):
            return partial(inner, {}, path)[0], {path}
        bad: set[str] = set()
        values = {}
        for f in fields(inner):
            key, sub = to_camel(f.name), f"{path}.{f.name}" if path else f.name
            if key in value:
                values[f.name], sub_bad = partial(hints(inner)[f.name], value[key], sub)
                bad |= sub_bad
                continue
            default = default_of(f)
            if default is dataclasses.MISSING:
                values[f.name] = _placeholder(hints(inner)[f.name])
                bad.add(sub)
            else:
                values[f.name] = default
        return inner(**values), bad
    item = element_spec(inner)
    if item is not None and is_sequence(inner):
        if not isinstance(value, list):
            return (), {path}
        built, bad = [], set()
        for i, element in enumerate(value):
            one, element_bad = partial(item, element, f"{path}[{i}]")
            built.append(one)
            bad |= element_bad
        return built, bad
    try:
        return validate(annotation, value), set()
    except ValidationError:
        return _placeholder(annotation), {path}


def _about_bad(problem: Problem, bad: set[str]) -> bool:
    """Whether a semantic problem is about (or refers to) a part that failed structurally."""
    parent = problem.field.rsplit(".", 1)[0] if "." in problem.field else ""
    referenced = [
        f"{parent}.{ref}" if parent else ref for ref in re.findall(r"<<([a-z_][a-z0-9_]*)>>", problem.message)
    ]
    for path in (problem.field, *referenced):
        for b in bad:
            if path == b or path.startswith((f"{b}.", f"{b}[")):
                return True
    return False


def parse(
    cls: type, data: Mapping[str, Any], prefix: str, semantics: Callable[[Any], list[Problem]]
) -> tuple[Any, list[str]]:
    """``data`` as a ``cls`` spec (None when anything is wrong) and every problem, rendered with
    ``prefix`` and the user's keys: ``mlops-platform:gpuNodePools[1].maxSize: must be >= minSize (got 0 < 2)``."""
    messages: list[str] = []
    try:
        spec = validate(cls, data)
        bad: set[str] = set()
        ok = True
    except ValidationError as exc:
        messages = [f"{user_path(prefix, e['loc'])}: {error_message(cls, e)}" for e in exc.errors()]
        spec, bad = partial(cls, data, "")
        ok = False
    try:
        problems = [p for p in semantics(spec) if not _about_bad(p, bad)]
    except (AttributeError, TypeError, KeyError, ValueError, IndexError):
        if ok:
            raise
        problems = []  # stand-ins too far from real values to check; the structural errors stand
    messages += [f"{prefix}{p.render(path_to_camel)}" for p in problems]
    return (spec if ok and not problems else None), messages


def defaults(cls: type) -> dict[str, Any]:
    """Every default of a spec as config data (camelCase), nested specs included."""
    result: dict[str, Any] = {}
    for f in fields(cls):
        default = default_of(f)
        annotation = hints(cls)[f.name]
        if default is not dataclasses.MISSING:
            result[to_camel(f.name)] = adapter(annotation).dump_python(default, by_alias=True, mode="json")
        elif is_spec(_strip_optional(annotation)):
            result[to_camel(f.name)] = defaults(_strip_optional(annotation))
    return result
