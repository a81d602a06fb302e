"""Specs: the plain, user-settable half of a component's inputs.

A spec is a frozen, keyword-only dataclass of plain values (no ``Output``), one docstring per field
stating its default. The same class is the stack-config schema: ``infra/config`` parses a stack
file's camelCase keys straight into it with pydantic, so a setting is declared once, here, and every
error names the key the user wrote. A component's other inputs, the ``Output``s it gets from other
components, are its wiring (``components/refs.py``).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
from typing import Any, TypeVar, dataclass_transform

from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

SPEC_CONFIG = ConfigDict(alias_generator=to_camel, extra="forbid", populate_by_name=False)
"""How specs read config: camelCase keys, unknown keys refused."""

T = TypeVar("T")


@dataclass_transform(kw_only_default=True, frozen_default=True)
def spec(cls: type[T]) -> type[T]:
    """Make ``cls`` a spec: a frozen, keyword-only dataclass that config parses into."""
    cls.__pydantic_config__ = SPEC_CONFIG  # type: ignore[attr-defined]
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


def is_spec(annotation: Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


@functools.cache
def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its docstring (the string literal that follows the field), base classes first."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for item, following in zip(body, [*body[1:], None], strict=True):
            if (
                isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[item.target.id] = " ".join(following.value.value.split())
    return docs


def default_of(field: dataclasses.Field[Any]) -> Any:
    """A field's default value, or ``dataclasses.MISSING`` when it is required."""
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return dataclasses.MISSING
