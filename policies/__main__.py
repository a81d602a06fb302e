"""The policy pack, as `pulumi preview --policy-pack policies` loads it (rules live in the modules)."""

from pulumi_policy import EnforcementLevel, PolicyPack

from mlops_platform.policies.registry import PACK_NAME, RULES

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[rule.policy() for rule in RULES],
    description="Guardrails for the mlops-platform blueprint: security, reliability, cost, tagging, Kubernetes.",
)
