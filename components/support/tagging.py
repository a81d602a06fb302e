"""The platform's tag contract: every taggable AWS resource carries these keys."""

from __future__ import annotations

from collections.abc import Mapping

from mlops_platform.components.support.validation import Problem

REQUIRED_TAG_KEYS = ("environment", "project", "owner", "cost-center", "managed-by")


def platform_tags(*, environment: str, project: str, owner: str, cost_center: str) -> dict[str, str]:
    """The required tags for one stack."""
    return {
        "environment": environment,
        "project": project,
        "owner": owner,
        "cost-center": cost_center,
        "managed-by": "pulumi",
    }


def with_tags(tags: Mapping[str, str], **extra: str) -> dict[str, str]:
    """The component's tags plus resource-specific ones (``Name``, discovery tags)."""
    merged = dict(tags)
    merged.update(extra)
    return merged


def tag_problems(tags: Mapping[str, str], field: str = "tags") -> list[Problem]:
    missing = [key for key in REQUIRED_TAG_KEYS if not tags.get(key)]
    if missing:
        return [
            Problem(
                field,
                f"missing required tag(s) {', '.join(missing)}; "
                "build them with components.tagging.platform_tags(...)",
            )
        ]
    return []
