"""Alert rules: one builder for every alert, and multi-window, multi-burn-rate SLO alerts.

Every alert carries a ``severity`` label and ``summary``, ``description`` and ``runbook_url``
annotations; the runbook is a page under ``docs/runbooks/``. The SLO builder follows the Google SRE
workbook: an alert fires when the error budget burns fast over a long window *and* a short one, so
it pages quickly for real outages and resets quickly once they end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.support import kube
from mlops_platform.components.support.exporters import bucket_label
from mlops_platform.components.support.validation import Problem

RUNBOOKS_PATH = "docs/runbooks"


class Severity(StrEnum):
    CRITICAL = "critical"
    """Pages on-call now."""
    WARNING = "warning"
    """Opens a ticket; look within a working day."""
    INFO = "info"


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    duration: str
    severity: Severity
    summary: str
    description: str
    runbook: str
    """File name under docs/runbooks, without ``.md``."""

    def rule(self, runbook_base_url: str, extra_labels: Mapping[str, str] | None = None) -> dict[str, Any]:
        return {
            "alert": self.name,
            "expr": self.expr,
            "for": self.duration,
            "labels": {"severity": self.severity.value, **(extra_labels or {})},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{runbook_base_url.rstrip('/')}/{self.runbook}.md",
            },
        }


def prometheus_rule(
    name: str,
    *,
    namespace: str,
    groups: Sequence[Mapping[str, Any]],
    labels: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    object_name: str | None = None,
) -> k8s.apiextensions.CustomResource:
    """A PrometheusRule; ``object_name`` names it in the cluster. Default: the resource name."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version="monitoring.coreos.com/v1",
        kind="PrometheusRule",
        metadata={"name": object_name or name, "namespace": namespace, "labels": dict(labels)},
        spec={"groups": [dict(g) for g in groups]},
        opts=opts,
    )


# (long window, short window, burn rate, severity): the SRE workbook's recommended pairs for a 30-day SLO.
BURN_RATE_WINDOWS = (
    ("1h", "5m", 14.4, Severity.CRITICAL),
    ("6h", "30m", 6.0, Severity.CRITICAL),
    ("1d", "2h", 3.0, Severity.WARNING),
    ("3d", "6h", 1.0, Severity.WARNING),
)


@dataclass(frozen=True, kw_only=True)
class ServiceLevelObjective:
    service: str
    """Name of the service in alert labels and rule names."""
    selector: Mapping[str, str]
    """Label matchers picking the service's request metrics (``namespace``, ``job``, ...)."""
    availability_target: float
    """Percentage of requests that must not fail with 5xx over 30 days, e.g. 99.9."""
    latency_p95_ms: int | None = None
    """95% of requests must complete within this many milliseconds. Default: no latency objective."""

    def problems(self) -> list[Problem]:
        found = []
        if not 90.0 <= self.availability_target < 100.0:
            found.append(
                Problem(
                    "availability_target",
                    f"must be a percentage in [90, 100), such as 99.9 (got {self.availability_target})",
                )
            )
        if self.latency_p95_ms is not None and not 1 <= self.latency_p95_ms <= 600_000:
            found.append(
                Problem("latency_p95_ms", f"must be between 1 and 600000 ms (got {self.latency_p95_ms})")
            )
        return found


def _matchers(selector: Mapping[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in sorted(selector.items()))


def slo_rule_groups(slo: ServiceLevelObjective, runbook_base_url: str) -> list[dict[str, Any]]:
    """Recording rules for the error ratios over every window, and the burn-rate alerts on them."""
    windows = sorted({w for long, short, _, _ in BURN_RATE_WINDOWS for w in (long, short)}, key=_seconds)
    service = {"slo_service": slo.service}
    selected = _matchers(slo.selector)

    # Keep the selector's labels (namespace, model): alerts then carry them, so Alertmanager's
    # grouping and inhibition, which match on them, never mix two models.
    kept = ", ".join(sorted(slo.selector))
    by = f" by ({kept})" if kept else ""

    def ratio(numerator: str, denominator: str, w: str) -> str:
        return f"sum{by} (rate({numerator}[{w}])) / sum{by} (rate({denominator}[{w}]))"

    records = [
        {
            "record": f"slo:availability_errors:ratio_rate{w}",
            "expr": ratio(
                f'http_requests_total{{{selected},code=~"5.."}}', f"http_requests_total{{{selected}}}", w
            ),
            "labels": service,
        }
        for w in windows
    ]
    budget = round(1 - slo.availability_target / 100.0, 6)
    alerts = [
        _burn_alert(
            slo,
            "Availability",
            "slo:availability_errors:ratio_rate",
            budget,
            "slo-availability-burn",
            runbook_base_url,
        )
    ]
    if slo.latency_p95_ms is not None:
        fast = f'http_request_duration_seconds_bucket{{{selected},le="{bucket_label(slo.latency_p95_ms / 1000)}"}}'
        count = f"http_request_duration_seconds_count{{{selected}}}"
        records += [
            {
                "record": f"slo:latency_slow:ratio_rate{w}",
                "expr": f"1 - ({ratio(fast, count, w)})",
                "labels": service,
            }
            for w in windows
        ]
        alerts.append(
            _burn_alert(
                slo, "Latency", "slo:latency_slow:ratio_rate", 0.05, "slo-latency-burn", runbook_base_url
            )
        )
    return [
        {"name": f"slo-{slo.service}-recording", "interval": "30s", "rules": records},
        {"name": f"slo-{slo.service}-alerts", "rules": [rule for group in alerts for rule in group]},
    ]


def _burn_alert(
    slo: ServiceLevelObjective, kind: str, record: str, budget: float, runbook: str, runbook_base_url: str
) -> list[dict[str, Any]]:
    rules = []
    selector = f'{{slo_service="{slo.service}"}}'
    objective = (
        f"{slo.availability_target}% of requests succeed"
        if kind == "Availability"
        else f"95% of requests finish within {slo.latency_p95_ms} ms"
    )
    for long, short, rate, severity in BURN_RATE_WINDOWS:
        threshold = round(rate * budget, 6)
        alert = Alert(
            name=f"SLO{kind}BudgetBurn",
            expr=f"{record}{long}{selector} > {threshold} and {record}{short}{selector} > {threshold}",
            duration="2m" if severity is Severity.CRITICAL else "15m",
            severity=severity,
            summary=f"{slo.service}: {kind.lower()} error budget burning {rate}x too fast",
            description=(
                f"Over the last {long} (and still over {short}) {slo.service} burns its 30-day {kind.lower()} error budget "
                f"at {rate}x the sustainable rate. Objective: {objective}."
            ),
            runbook=runbook,
        )
        rules.append(alert.rule(runbook_base_url, {"slo_service": slo.service, "burn_window": long}))
    return rules


def _seconds(window: str) -> int:
    unit = {"m": 60, "h": 3600, "d": 86400}[window[-1]]
    return int(window[:-1]) * unit


def rule_labels(name: str) -> dict[str, str]:
    return kube.labels(name, "alert-rules")
