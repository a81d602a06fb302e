"""Was a model's SLO quiet? Prometheus' ``ALERTS`` series over a window, from a saved query result
(``/api/v1/query_range`` JSON) or from Prometheus itself.

The SLO alerts are the burn-rate alerts the endpoint's PrometheusRule defines
(components/observability/alerting.py): ``SLOAvailabilityBudgetBurn`` and ``SLOLatencyBudgetBurn``,
labelled ``slo_service="<team>-<model>"``.
"""

from __future__ import annotations

import datetime
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlops_platform.components.support import files

SLO_ALERTS = ("SLOAvailabilityBudgetBurn", "SLOLatencyBudgetBurn")


class AlertHistoryError(Exception):
    """The alert history cannot be read: exit 2."""


def query(slo_service: str) -> str:
    """The PromQL whose range result the gate reads (also what docs/promotion.md tells you to export)."""
    names = "|".join(SLO_ALERTS)
    return f'ALERTS{{alertname=~"{names}",alertstate="firing",slo_service="{slo_service}"}}'


@dataclass(frozen=True)
class Firing:
    alert: str
    severity: str
    first: datetime.datetime
    last: datetime.datetime


def _series(document: Any, where: str) -> list[Mapping[str, Any]]:
    data = document.get("data") if isinstance(document, dict) else None
    if not isinstance(data, dict) or data.get("resultType") not in ("matrix", "vector"):
        raise AlertHistoryError(
            f"{where}: not a Prometheus query result (want the JSON of /api/v1/query_range of {query('<team>-<model>')})"
        )
    return list(data.get("result") or [])


def read_export(path: str) -> list[Mapping[str, Any]]:
    try:
        return _series(files.read_json(path, "alert history"), path)
    except files.FileInputError as exc:
        raise AlertHistoryError(str(exc)) from exc


def read_prometheus(
    url: str, slo_service: str, start: datetime.datetime, end: datetime.datetime
) -> list[Mapping[str, Any]]:
    params = urllib.parse.urlencode(
        {"query": query(slo_service), "start": start.timestamp(), "end": end.timestamp(), "step": "60"}
    )
    endpoint = f"{url.rstrip('/')}/api/v1/query_range?{params}"
    try:
        with urllib.request.urlopen(endpoint, timeout=15) as response:
            return _series(json.load(response), url)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise AlertHistoryError(f"Prometheus at {url} cannot be read: {exc}") from exc


def firing(
    series: Iterable[Mapping[str, Any]], slo_service: str, start: datetime.datetime, end: datetime.datetime
) -> list[Firing]:
    """The model's SLO alerts that fired between ``start`` and ``end``."""
    found = []
    for entry in series:
        labels = entry.get("metric") or {}
        if labels.get("slo_service") != slo_service or labels.get("alertname") not in SLO_ALERTS:
            continue
        if labels.get("alertstate", "firing") != "firing":
            continue
        samples = entry.get("values") or ([entry["value"]] if "value" in entry else [])
        times = [
            datetime.datetime.fromtimestamp(float(t), datetime.UTC)
            for t, value in samples
            if str(value) != "0" and start.timestamp() <= float(t) <= end.timestamp()
        ]
        if times:
            found.append(Firing(labels["alertname"], str(labels.get("severity", "")), min(times), max(times)))
    return sorted(found, key=lambda f: f.first)
