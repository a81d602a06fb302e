"""Run the pack's policies on a synthesized graph: the same policy objects ``pulumi preview`` runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from mlops_platform.policies.graph import Graph
from mlops_platform.policies.registry import RULES
from mlops_platform.policies.rule import Rule


@dataclass(frozen=True)
class Violation:
    rule: str
    area: str
    severity: str
    enforcement: str
    urn: str
    message: str
    remediation: str

    def to_json(self) -> dict[str, str]:
        return dict(vars(self))


def policy_resources(graph: Graph) -> list[PolicyResource]:
    """The graph as CrossGuard sees a stack: props, options, parents and dependencies."""
    by_urn: dict[str, PolicyResource] = {}
    for r in graph.resources:
        opts = PolicyResourceOptions(
            protect=r.protect,
            ignore_changes=list(r.ignore_changes),
            delete_before_replace=r.delete_before_replace,
            aliases=list(r.aliases),
            custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
            additional_secret_outputs=[],
            parent=r.parent,
        )
        by_urn[r.urn] = PolicyResource(r.type, r.inputs, r.urn, r.name, opts, None, None, [], {})
    for r in graph.resources:
        resource = by_urn[r.urn]
        resource.parent = by_urn.get(r.parent) if r.parent else None
        resource.dependencies = [by_urn[d] for d in r.depends_on if d in by_urn]
        resource.property_dependencies = {
            key: [by_urn[d] for d in urns if d in by_urn] for key, urns in r.property_dependencies.items()
        }
    return list(by_urn.values())


def settings_of(rule: Rule, config: Mapping[str, Any]) -> dict[str, Any]:
    """A rule's entry in a policy config; Pulumi accepts a bare enforcement level as shorthand."""
    entry = config.get(rule.name)
    if isinstance(entry, str):
        return {"enforcementLevel": entry}
    return dict(entry or {})


def enforcement(rule: Rule, config: Mapping[str, Any]) -> str:
    return str(settings_of(rule, config).get("enforcementLevel") or rule.enforcement.value)


def evaluate(graph: Graph, config: Mapping[str, Any]) -> list[Violation]:
    """Every violation of every rule, using each rule's CrossGuard policy object."""
    resources = policy_resources(graph)
    violations: list[Violation] = []
    for rule in RULES:
        level = enforcement(rule, config)
        if level == EnforcementLevel.DISABLED.value:
            continue
        rule_config = {k: v for k, v in settings_of(rule, config).items() if k != "enforcementLevel"}
        policy = rule.policy()

        def report(
            message: str, urn: str | None, current_urn: str = "", rule: Rule = rule, level: str = level
        ) -> None:
            violations.append(
                Violation(
                    rule.name,
                    rule.area.value,
                    rule.severity.value,
                    level,
                    urn or current_urn,
                    message,
                    rule.remediation,
                )
            )

        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                if resource.resource_type not in rule.resource_types:
                    continue
                args = ResourceValidationArgs(
                    resource.resource_type,
                    resource.props,
                    resource.urn,
                    resource.name,
                    resource.opts,
                    None,
                    rule_config,
                )
                policy.validate(args, lambda message, urn=None, r=resource: report(message, urn, r.urn))
        else:
            policy.validate(StackValidationArgs(resources, rule_config), report)
    return violations


class PolicyConfigError(ValueError):
    """A policy config document that names unknown rules or breaks a rule's schema."""


ENFORCEMENT_LEVELS = tuple(level.value for level in EnforcementLevel)


def check_config(config: Any) -> list[str]:
    """Problems with a ``--policy-pack-config`` document, each naming the rule and key to fix."""
    import jsonschema

    if not isinstance(config, Mapping):
        return ["the policy config must be a JSON object of rule name -> settings"]
    rules = {rule.name: rule for rule in RULES}
    problems = []
    for name, settings in config.items():
        rule = rules.get(name)
        if rule is None:
            problems.append(f"{name}: no such rule (see docs/policies.md for the rule names)")
            continue
        if isinstance(settings, str):
            settings = {"enforcementLevel": settings}
        if not isinstance(settings, Mapping):
            problems.append(f"{name}: must be an enforcement level or an object of settings")
            continue
        level = settings.get("enforcementLevel")
        if level is not None and level not in ENFORCEMENT_LEVELS:
            problems.append(
                f"{name}.enforcementLevel: must be one of {', '.join(ENFORCEMENT_LEVELS)} (got {level!r})"
            )
        for key, value in settings.items():
            if key == "enforcementLevel":
                continue
            if key not in rule.config:
                known = ", ".join(sorted(rule.config)) or "none"
                problems.append(f"{name}.{key}: unknown setting (this rule's settings: {known})")
                continue
            schema = {k: v for k, v in rule.config[key].items() if k != "default"}
            error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(schema).iter_errors(value))
            if error is not None:
                problems.append(f"{name}.{key}: {error.message}")
    return problems


def _group(violations: Sequence[Violation]) -> dict[str, list[Violation]]:
    grouped: dict[str, list[Violation]] = {}
    for v in violations:
        grouped.setdefault(v.rule, []).append(v)
    return grouped


def blocking(violations: Sequence[Violation]) -> list[Violation]:
    """Violations that fail a ``pulumi preview``: mandatory (and remediate, which previews as mandatory)."""
    return [v for v in violations if v.enforcement in ("mandatory", "remediate")]


def render_table(stack: str, violations: Sequence[Violation], rules_run: int) -> str:
    if not violations:
        return f"Policy pack: stack {stack} passes all {rules_run} rules.\n"
    lines = []
    for name, found in _group(violations).items():
        first = found[0]
        lines.append(
            f"[{first.enforcement}] {name} ({first.area}, {first.severity}): {len(found)} violation(s)"
        )
        for v in found:
            lines.append(f"  - {v.urn}")
            lines.append(f"    {v.message}")
        lines.append(f"  remediation: {first.remediation}")
        lines.append("")
    mandatory = len(blocking(violations))
    advisory = len(violations) - mandatory
    lines.append(
        f"Policy pack: stack {stack}: {mandatory} mandatory and {advisory} advisory violation(s) of {rules_run} rules."
    )
    return "\n".join(lines) + "\n"


def render_json(stack: str, violations: Sequence[Violation], rules_run: int) -> str:
    doc = {
        "stack": stack,
        "rulesRun": rules_run,
        "mandatoryViolations": len(blocking(violations)),
        "violations": [v.to_json() for v in violations],
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
