"""The platform's tag contract: every taggable AWS resource carries these keys."""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlops_platform.components.support.validation import Problem

REQUIRED_TAG_KEYS = ("environment", "project", "owner", "cost-center", "managed-by")

ACCESS_LOG_PURPOSE_TAG = ("mlops-platform.io/purpose", "s3-access-logs")
MODELS_PURPOSE_TAG = ("mlops-platform.io/purpose", "models")
"""On buckets that hold model artifacts: the audit trail must record their data events."""
"""Marks access-log buckets: S3 server access logging only delivers to SSE-S3 buckets, so these are
the one documented exception to SSE-KMS (the policy pack and the cost model read this tag)."""

LINEAGE_TAG_PREFIX = "mlops-platform.io/lineage/"
"""Tags ``<prefix><version>/<field>`` on a model's AWS resources: the lineage annotations, AWS-side."""

TAG_VALUE_MAX = 256
"""AWS caps tag values at 256 characters (keys at 128)."""
_TAG_VALUE = re.compile(r"^[\w\s.:/=+\-@]*$")
"""Characters AWS allows in tag values across services: letters, digits, spaces and _ . : / = + - @."""


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


def tag_value_problems(field: str, value: str) -> list[Problem]:
    """A value that becomes a tag on every resource must fit AWS's rules, checked before deploy."""
    if not value.strip():
        return [Problem(field, "must not be empty")]
    if len(value) > TAG_VALUE_MAX:
        return [
            Problem(
                field, f"must be at most {TAG_VALUE_MAX} characters: it becomes an AWS tag (got {len(value)})"
            )
        ]
    if not _TAG_VALUE.match(value):
        return [
            Problem(
                field,
                "may only hold letters, digits, spaces and _ . : / = + - @: it becomes an AWS tag "
                f"(got {value[:40]!r})",
            )
        ]
    return []


def tag_problems(tags: Mapping[str, str], field: str = "tags") -> list[Problem]:
    missing = [key for key in REQUIRED_TAG_KEYS if not tags.get(key)]
    if missing:
        return [
            Problem(
                field,
                f"missing required tag(s) {', '.join(missing)}; "
                "build them with mlops_platform.components.support.tagging.platform_tags(...)",
            )
        ]
    return [p for key, value in tags.items() for p in tag_value_problems(f"{field}.{key}", str(value))]
