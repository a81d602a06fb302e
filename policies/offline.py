"""Run the pack's policies on a synthesized graph: the same policy objects ``pulumi preview`` runs."""

from __future__ import annotations

from collections.abc import Mapping
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

from infra.offline.graph import Graph
from policies.registry import RULES
from policies.rule import Rule


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
    return list(by_urn.values())


def enforcement(rule: Rule, config: Mapping[str, Any]) -> str:
    level = (config.get(rule.name) or {}).get("enforcementLevel") if isinstance(config.get(rule.name), Mapping) else config.get(rule.name)
    return str(level or rule.enforcement.value)


def evaluate(graph: Graph, config: Mapping[str, Any]) -> list[Violation]:
    """Every violation of every rule, using each rule's CrossGuard policy object."""
    resources = policy_resources(graph)
    violations: list[Violation] = []
    for rule in RULES:
        level = enforcement(rule, config)
        if level == EnforcementLevel.DISABLED.value:
            continue
        rule_config = {k: v for k, v in (config.get(rule.name) or {}).items() if k != "enforcementLevel"}
        policy = rule.policy()

        def report(message: str, urn: str | None, current_urn: str = "", rule: Rule = rule, level: str = level) -> None:
            violations.append(
                Violation(rule.name, rule.area.value, rule.severity.value, level, urn or current_urn, message, rule.remediation)
            )

        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                if resource.resource_type not in rule.resource_types:
                    continue
                args = ResourceValidationArgs(
                    resource.resource_type, resource.props, resource.urn, resource.name, resource.opts, None, rule_config
                )
                policy.validate(args, lambda message, urn=None, r=resource: report(message, urn, r.urn))
        else:
            policy.validate(StackValidationArgs(resources, rule_config), report)
    return violations
