"""AWS facts the components follow and the policy pack, verify and the config check: name and ARN
formats, the values AWS accepts, the log types the platform turns on."""

from __future__ import annotations

import re

from mlops_platform.components.support.validation import Problem

REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*([\w+=,.@-]+)$")
"""An IAM role ARN; group 1 is the role's name (without its path)."""
PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/.+")
ACM_CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")
DESCRIPTION_MAX = 256
"""IAM role, KMS key and Secrets Manager descriptions are capped (IAM at 1000, KMS at 8192, Secrets
Manager at 2048); 256 keeps every one of them valid and readable."""

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
"""Every EKS control-plane log type; the platform enables them all."""

LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
"""The values CloudWatch Logs accepts for ``retentionInDays``."""


def region_problem(field: str, value: str | None) -> Problem | None:
    if value is not None and not REGION.match(value):
        return Problem(field, f"must be an AWS region such as us-west-2 (got {value!r})")
    return None


def role_arn_problem(field: str, value: str) -> Problem | None:
    if not ROLE_ARN.match(value):
        return Problem(field, f"must be an IAM role ARN (got {value!r})")
    return None


def certificate_problem(field: str, value: str | None) -> Problem | None:
    if value is not None and not ACM_CERTIFICATE_ARN.match(value):
        return Problem(field, f"must be an ACM certificate ARN (got {value!r})")
    return None


def retention_problems(field: str, days: int) -> list[Problem]:
    if days in LOG_RETENTION_DAYS:
        return []
    return [
        Problem(field, f"must be a CloudWatch Logs retention period such as 7, 30, 90 or 365 (got {days})")
    ]
