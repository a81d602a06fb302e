"""Tagging rules: every taggable AWS resource says who owns it and who pays."""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, PolicyResource, Severity

from mlops_platform.components.support.tagging import REQUIRED_TAG_KEYS
from mlops_platform.policies.rule import Area, Rule


@functools.cache
def taggable(resource_type: str) -> bool:
    """Whether the pulumi-aws resource of this type accepts ``tags`` (read from the provider SDK)."""
    package, _, rest = resource_type.partition(":")
    if package != "aws" or ":" not in rest:
        return False
    module, _, class_name = rest.partition(":")
    module_name = module.split("/")[0]
    try:
        cls = getattr(
            importlib.import_module(f"pulumi_aws.{module_name}" if module_name != "index" else "pulumi_aws"),
            class_name,
        )
    except (ImportError, AttributeError):
        return False
    init = getattr(cls, "_internal_init", None)
    return init is not None and "tags" in inspect.signature(init).parameters


def required_tags(resources: list[PolicyResource], config: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    keys = config["requiredKeys"]
    for resource in resources:
        if not taggable(resource.resource_type):
            continue
        tags = resource.props.get("tags") or {}
        missing = [k for k in keys if not (isinstance(tags, Mapping) and tags.get(k))]
        if missing:
            yield (
                resource.urn,
                f"{resource.resource_type} {resource.name} is missing tags: {', '.join(missing)}",
            )


RULES = [
    Rule(
        name="required-tags",
        area=Area.TAGGING,
        description=f"Every taggable AWS resource carries the tags {', '.join(REQUIRED_TAG_KEYS)} on the resource itself.",
        severity=Severity.MEDIUM,
        enforcement=EnforcementLevel.MANDATORY,
        remediation="Pass tags=mlops_platform.components.support.tagging.platform_tags(...) (components do for everything they create).",
        stack_check=required_tags,
        config={
            "requiredKeys": {
                "type": "array",
                "items": {"type": "string"},
                "default": list(REQUIRED_TAG_KEYS),
                "description": "Tag keys every taggable resource must carry.",
            }
        },
    )
]
