"""The stack's monthly AWS Budget: actual and forecast thresholds notify the alert topic and emails."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email_problems(field: str, emails: Sequence[str]) -> list[Problem]:
    return [
        Problem(f"{field}[{i}]", f"must be an email address (got {email!r})")
        for i, email in enumerate(emails)
        if len(email) > 254 or not EMAIL.match(email)
    ]


@spec
class BudgetSpec:
    """A monthly cost budget for the stack."""

    monthly_limit_usd: float
    """Monthly cost limit in USD."""
    thresholds_percent: Sequence[int] = (50, 80, 100)
    """Actual-spend percentages of the limit that notify. Default: 50, 80, 100."""
    forecast_threshold_percent: int | None = 100
    """Forecast percentage that notifies; null for none. Default: 100."""
    subscriber_emails: Sequence[str] = ()
    """Emails notified (the alert topic always is). Default: nobody."""

    def problems(self) -> list[Problem]:
        found = []
        if not 0 < self.monthly_limit_usd <= 1e9:
            found.append(
                Problem("monthly_limit_usd", f"must be > 0 and at most 1e9 (got {self.monthly_limit_usd})")
            )
        for i, threshold in enumerate(self.thresholds_percent):
            if not 1 <= threshold <= 1000:
                found.append(
                    Problem(f"thresholds_percent[{i}]", f"must be between 1 and 1000 (got {threshold})")
                )
        if self.forecast_threshold_percent is not None and not 1 <= self.forecast_threshold_percent <= 1000:
            found.append(
                Problem(
                    "forecast_threshold_percent",
                    f"must be between 1 and 1000 (got {self.forecast_threshold_percent})",
                )
            )
        found += email_problems("subscriber_emails", self.subscriber_emails)
        if len(self.subscriber_emails) > 10:
            found.append(
                Problem(
                    "subscriber_emails", f"AWS Budgets allows at most 10 (got {len(self.subscriber_emails)})"
                )
            )
        return found


def monthly_budget(
    name: str,
    budget: BudgetSpec,
    *,
    context: StackContext,
    topic_arn: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.budgets.Budget:
    """The budget of this stack's spend only: resources tagged with its project *and* environment, so
    two platforms in one account each get their own."""

    def notification(threshold: int, kind: str) -> dict:
        return {
            "comparison_operator": "GREATER_THAN",
            "threshold": threshold,
            "threshold_type": "PERCENTAGE",
            "notification_type": kind,
            "subscriber_email_addresses": list(budget.subscriber_emails),
            "subscriber_sns_topic_arns": [topic_arn],
        }

    notifications = [notification(t, "ACTUAL") for t in budget.thresholds_percent]
    if budget.forecast_threshold_percent is not None:
        notifications.append(notification(budget.forecast_threshold_percent, "FORECASTED"))
    tags = context.tags
    return aws.budgets.Budget(
        f"{name}-budget",
        budget_type="COST",
        limit_amount=f"{budget.monthly_limit_usd:.2f}",
        limit_unit="USD",
        time_unit="MONTHLY",
        filter_expression={
            "ands": [
                {"tags": {"key": key, "values": [tags[key]], "match_options": ["EQUALS"]}}
                for key in ("project", "environment")
            ]
        },
        notifications=notifications,
        tags=dict(tags),
        opts=opts,
    )
