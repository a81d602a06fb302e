"""What the observability stack is configured with: ``ObservabilitySpec`` (the ``observability``
section of a stack file) and the Alertmanager receivers it routes to."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from mlops_platform.components.observability.alerting import Severity
from mlops_platform.components.observability.budgets import BudgetSpec, email_problems
from mlops_platform.components.support.aws import certificate_problem, retention_problems
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, quantity_problems, range_problems

RUNBOOK_BASE_URL = "https://github.com/acme/mlops-platform/blob/main/docs/runbooks"
"""Where alerts link by default; set ``runbook_base_url`` to your fork."""
_RECEIVER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class ReceiverKind(StrEnum):
    SLACK = "slack"
    PAGERDUTY = "pagerduty"


@spec
class AlertReceiver:
    """Where Alertmanager sends alerts of the given severities."""

    name: str
    """Receiver name in Alertmanager."""
    kind: ReceiverKind
    """`slack` (webhook URL) or `pagerduty` (Events API v2 routing key)."""
    secret: str
    """Name of the platform secret (an entry of `secrets.entries`) holding the webhook URL or routing key."""
    channel: str | None = None
    """Slack channel, e.g. ``#ml-alerts``. Default: the webhook's own channel."""
    severities: Sequence[Severity] = (Severity.CRITICAL, Severity.WARNING)
    """Severities routed to it. Default: critical and warning."""


def receiver_problems(receivers: Sequence[AlertReceiver], known_secrets: Sequence[str]) -> list[Problem]:
    found = []
    names = [r.name for r in receivers]
    for i, receiver in enumerate(receivers):
        if not _RECEIVER_NAME.match(receiver.name) or names.index(receiver.name) != i:
            found.append(
                Problem(f"receivers[{i}].name", f"must be a unique lowercase name (got {receiver.name!r})")
            )
        if receiver.secret not in known_secrets:
            known = ", ".join(sorted(known_secrets)) or "none"
            found.append(
                Problem(
                    f"receivers[{i}].secret",
                    f"must name an entry of secrets.entries (got {receiver.secret!r}; known: {known})",
                )
            )
        if receiver.channel is not None and receiver.kind is not ReceiverKind.SLACK:
            found.append(Problem(f"receivers[{i}].channel", "only applies to slack receivers"))
    return found


@spec
class ObservabilitySpec:
    """Metrics, dashboards, alerts, logs and the budget."""

    log_retention_days: int = 30
    """Retention of the container log group, in days. Default: 30."""
    prometheus_retention_days: int = 15
    """Days of metrics Prometheus keeps. Default: 15."""
    prometheus_storage_gib: int = 50
    """Prometheus volume size (encrypted gp3). Default: 50."""
    prometheus_cpu: str = "500m"
    """CPU each Prometheus replica requests (its memory request is 2Gi). Default: 500m; dev: 200m."""
    gpu_idle_hours: int = 2
    """Hours below 5% GPU utilisation before the idle-GPU cost alert. Default: 2."""
    runbook_base_url: str = RUNBOOK_BASE_URL
    """URL of docs/runbooks in your copy of this repository; alerts link there. Default: the upstream."""
    grafana_hostname: str | None = None
    """DNS name for Grafana. Default: ``/grafana`` on the shared internal ALB."""
    certificate_arn: str | None = None
    """ACM certificate to serve Grafana over HTTPS. Default: HTTP inside the VPC."""
    receivers: Sequence[AlertReceiver] = ()
    """Alertmanager receivers. Default: none (alerts are visible in Alertmanager only)."""
    alert_emails: Sequence[str] = ()
    """Email subscribers of the SNS alert topic (CloudWatch alarms, budgets). Default: none."""
    budget: BudgetSpec | None = None
    """The monthly AWS Budget of the stack. Default: none."""
    tracing: bool = False
    """Run an OpenTelemetry collector exporting traces to AWS X-Ray. Default: off."""
    storage_class: str = "encrypted-gp3"
    """StorageClass of the Prometheus, Alertmanager and Grafana volumes. Default: the cluster's encrypted gp3."""
    high_availability: bool | None = None
    """Two Prometheus and Alertmanager replicas. Default: on in prod only."""

    def problems(self, known_secrets: Sequence[str]) -> list[Problem]:
        found = retention_problems("log_retention_days", self.log_retention_days)
        if not self.runbook_base_url.startswith("https://") or len(self.runbook_base_url) > 1024:
            found.append(
                Problem("runbook_base_url", f"must be an https:// URL (got {self.runbook_base_url[:80]!r})")
            )
        found += range_problems("prometheus_retention_days", self.prometheus_retention_days, 1, 365)
        found += range_problems("prometheus_storage_gib", self.prometheus_storage_gib, 10, 16384)
        found += quantity_problems("prometheus_cpu", self.prometheus_cpu)
        found += range_problems("gpu_idle_hours", self.gpu_idle_hours, 1, 72)
        found += receiver_problems(self.receivers, known_secrets)
        found += email_problems("alert_emails", self.alert_emails)
        if self.budget is not None:
            found += [p.nested("budget") for p in self.budget.problems()]
        found += [p for p in [certificate_problem("certificate_arn", self.certificate_arn)] if p]
        return found
