"""What a rule is: metadata, a check, and the config it reads; and how it becomes a Pulumi policy."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)


class Area(StrEnum):
    SECURITY = "security"
    RELIABILITY = "reliability"
    COST = "cost"
    TAGGING = "tagging"
    KUBERNETES = "kubernetes"
    CONSISTENCY = "cross-resource"
    GOVERNANCE = "governance"


ResourceCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], Iterable[str]]
"""(props, config) -> violation messages for one resource."""
StackCheck = Callable[[Sequence[PolicyResource], Mapping[str, Any]], Iterable[tuple[str, str]]]
"""(resources, config) -> (urn, message) pairs for the whole stack."""


@dataclass(frozen=True)
class Rule:
    name: str
    """Kebab-case identifier; the name in policy config and in reports."""
    area: Area
    description: str
    severity: Severity
    enforcement: EnforcementLevel
    remediation: str
    resource_types: tuple[str, ...] = ()
    """Types the resource check applies to; empty for stack rules."""
    check: ResourceCheck | None = None
    stack_check: StackCheck | None = None
    config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """JSON-schema properties of the rule's config, each with a ``default``."""

    def settings(self, given: Mapping[str, Any] | None) -> dict[str, Any]:
        """The rule's config: schema defaults overlaid with what the stack's policy config sets."""
        values = {key: spec.get("default") for key, spec in self.config.items()}
        values.update(given or {})
        return values

    def resource_violations(
        self, resource_type: str, props: Mapping[str, Any], config: Mapping[str, Any]
    ) -> list[str]:
        if self.check is None or resource_type not in self.resource_types:
            return []
        return list(self.check(props, self.settings(config)))

    def stack_violations(
        self, resources: Sequence[PolicyResource], config: Mapping[str, Any]
    ) -> list[tuple[str, str]]:
        if self.stack_check is None:
            return []
        return list(self.stack_check(resources, self.settings(config)))

    def policy(self) -> ResourceValidationPolicy | StackValidationPolicy:
        """The CrossGuard policy that runs this rule under ``pulumi preview``/``up``."""
        schema = (
            PolicyConfigSchema(properties={k: dict(v) for k, v in self.config.items()})
            if self.config
            else None
        )
        common = {
            "name": self.name,
            "description": self.description,
            "enforcement_level": self.enforcement,
            "config_schema": schema,
            "severity": self.severity,
            "remediation_steps": self.remediation,
            "tags": [self.area.value],
        }
        if self.stack_check is not None:

            def validate_stack(args: StackValidationArgs, report: Callable[[str, str | None], None]) -> None:
                for urn, message in self.stack_violations(args.resources, args.get_config()):
                    report(message, urn)

            return StackValidationPolicy(validate=validate_stack, **common)

        def validate(args: ResourceValidationArgs, report: Callable[[str, str | None], None]) -> None:
            for message in self.resource_violations(args.resource_type, args.props, args.get_config()):
                report(message, None)

        return ResourceValidationPolicy(validate=validate, **common)


def integer_setting(
    default: int, description: str, minimum: int = 0, maximum: int | None = None
) -> dict[str, Any]:
    """A rule setting that is a whole number, as a JSON-schema property with its default."""
    bounds = {"minimum": minimum, **({"maximum": maximum} if maximum is not None else {})}
    return {"type": "integer", **bounds, "default": default, "description": description}


def strings_setting(default: Sequence[str], description: str) -> dict[str, Any]:
    """A rule setting that is a list of strings, as a JSON-schema property with its default."""
    return {
        "type": "array",
        "items": {"type": "string"},
        "default": list(default),
        "description": description,
    }


def environment_setting() -> dict[str, Any]:
    return {
        "type": "string",
        "enum": ["dev", "stage", "prod"],
        "default": "dev",
        "description": "Environment of the stack.",
    }


def get(props: Mapping[str, Any], *path: str | int, default: Any = None) -> Any:
    """Nested lookup that tolerates missing keys and unknown values (previews have them)."""
    value: Any = props
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or len(value) <= key:
                return default
            value = value[key]
        else:
            if not isinstance(value, Mapping) or key not in value:
                return default
            value = value[key]
    return default if value is None else value


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def rule_texts(check: Callable) -> tuple[str, str]:
    """(description, remediation) from a check's docstring: first paragraph, then ``Fix: ...``."""
    paragraphs = [" ".join(p.split()) for p in inspect.cleandoc(check.__doc__ or "").split("\n\n")]
    fix = next((p.removeprefix("Fix:").strip() for p in paragraphs if p.startswith("Fix:")), "")
    description = paragraphs[0] if paragraphs and not paragraphs[0].startswith("Fix:") else ""
    return description, fix


class RuleSet:
    """The rules of one area, registered by decorating their checks with ``rule(...)``."""

    def __init__(
        self,
        area: Area,
        *,
        enforcement: EnforcementLevel = EnforcementLevel.MANDATORY,
        severity: Severity = Severity.HIGH,
        per_environment: bool = False,
    ):
        """``per_environment``: every rule of the area reads the ``environment`` setting."""
        self.area = area
        self.enforcement = enforcement
        self.severity = severity
        self.config = {"environment": environment_setting()} if per_environment else {}
        """Settings every rule of the area reads."""
        self.rules: list[Rule] = []

    def rule(
        self,
        name: str,
        *,
        severity: Severity | None = None,
        types: Sequence[str] = (),
        config: Mapping[str, Mapping[str, Any]] | None = None,
        stack: bool = False,
        description: str | None = None,
        remediation: str | None = None,
        documented_by: Callable | None = None,
    ) -> Callable[[Callable], Callable]:
        """Register the decorated function as a resource check on ``types``, or a stack check.

        The check's docstring documents the rule: its first paragraph is the description, a paragraph
        starting ``Fix:`` the remediation; ``description``/``remediation`` stand in for computed texts.
        """

        def register(check: Callable) -> Callable:
            described, fix = rule_texts(documented_by or check)
            description_ = description or described
            remediation_ = remediation or fix
            if not description_ or not remediation_:
                raise ValueError(f"rule {name}: document it (a description, then a 'Fix:' paragraph)")
            self.rules.append(
                Rule(
                    name=name,
                    area=self.area,
                    description=description_,
                    severity=severity or self.severity,
                    enforcement=self.enforcement,
                    remediation=remediation_,
                    resource_types=tuple(types),
                    check=None if stack else check,
                    stack_check=check if stack else None,
                    config={**self.config, **(config or {})},
                )
            )
            return check

        return register
