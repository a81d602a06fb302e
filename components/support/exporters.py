"""What each exporter the platform installs emits, and the metrics contract model servers meet.

The lists come from one source file per exporter at the version the vendored charts install
(``exporter-metrics.json``, refreshed by ``charts/exporter_metrics.py``); MLflow's, Prometheus' own and
the model-server contract are stated here with their sources. Alert rules and dashboards may only read
these (the ``alert-metrics-exported`` policy and tests/test_observability.py check it).
``docs/serving-metrics.md`` is generated from ``SERVING_METRICS``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mlops_platform.components.support.pins import MLFLOW_VERSION


@dataclass(frozen=True)
class Exporter:
    name: str
    version: str
    source: str
    """The file the metric names were read from, at that version."""
    metrics: frozenset[str]


SERVING_METRICS: dict[str, str] = {
    "http_requests_total": "Counter of requests handled, labelled `code` (HTTP status) and `path`.",
    "http_request_duration_seconds_bucket": (
        "Histogram buckets of request latency in seconds, labelled `le`; the buckets must include the "
        'SLO\'s p95 threshold (for 250 ms, a bucket `le="0.25"`).'
    ),
    "http_request_duration_seconds_count": "Number of observations of that histogram.",
    "http_request_duration_seconds_sum": "Sum of the observed latencies.",
}
"""What every model server exposes on its metrics port (``/metrics``): the names the Python
``prometheus_client`` and most HTTP frameworks' exporters use. SLO alerts and the serving dashboard
read nothing else."""


DEFAULT_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""``prometheus_client``'s default histogram buckets (Go's and Java's clients use the same); a
model's ``latencyBuckets`` default."""


def bucket_label(seconds: float) -> str:
    """The ``le`` label a Prometheus client writes for a bucket bound: 0.25 -> "0.25", 1 -> "1.0"."""
    return repr(float(seconds))


PROMETHEUS_SYNTHETIC = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
        "ALERTS",
        "ALERTS_FOR_STATE",
    }
)
"""Series Prometheus writes itself for every target and alert (docs: Jobs and instances; Alerting rules)."""

MLFLOW_METRICS = frozenset(
    {
        "mlflow_http_request_total",
        "mlflow_http_request_duration_seconds_bucket",
        "mlflow_http_request_duration_seconds_count",
        "mlflow_http_request_duration_seconds_sum",
        "mlflow_http_request_exceptions_total",
        "mlflow_exporter_info",
    }
)
"""What ``mlflow server --expose-prometheus`` serves: prometheus_flask_exporter's defaults with the
``mlflow`` prefix that mlflow/server/prometheus_exporter.py sets (tests/test_mlflow_server.py scrapes a
real server and checks these names)."""


BATCH_SCORING_METRICS = frozenset(
    {"argo_workflows_batch_scoring_failed", "argo_workflows_batch_scoring_duration_seconds"}
)
"""The custom metrics every batch scoring WorkflowTemplate declares (components/lifecycle/
batch_scoring.py), which Argo's controller serves with the ``argo_workflows_`` prefix."""


MODEL_MONITOR_METRICS = frozenset(
    {
        "mlops_monitor_rows",
        "mlops_monitor_feature_drift",
        "mlops_monitor_drifted_features_share",
        "mlops_monitor_prediction_drift",
        "mlops_monitor_data_quality_share",
        "mlops_monitor_unexpected_features",
        "mlops_monitor_labelled_rows",
        "mlops_monitor_model_quality",
        "mlops_monitor_shadow_agreement",
        "mlops_monitor_batch_agreement",
        "mlops_monitor_retrain_submitted_timestamp_seconds",
        "mlops_monitor_last_success_timestamp_seconds",
    }
)
"""What the model monitor job pushes to the Pushgateway (infra/images/model-monitor/model_monitor.py;
components/lifecycle/model_monitor.py alerts on them). tests/test_model_monitor_job.py runs the job
and compares what it pushed with this set."""


def _load() -> dict[str, Exporter]:
    document = json.loads((Path(__file__).parent / "exporter-metrics.json").read_text(encoding="utf-8"))
    found = {
        name: Exporter(name, entry["version"], entry["source"], frozenset(entry["metrics"]))
        for name, entry in document.items()
    }
    found["mlflow"] = Exporter(
        "mlflow",
        f"v{MLFLOW_VERSION}",
        f"https://github.com/mlflow/mlflow/blob/v{MLFLOW_VERSION}/mlflow/server/prometheus_exporter.py",
        MLFLOW_METRICS,
    )
    found["model-server"] = Exporter(
        "model-server", "contract", "docs/serving-metrics.md", frozenset(SERVING_METRICS)
    )
    found["batch-scoring"] = Exporter(
        "batch-scoring", "contract", "components/lifecycle/batch_scoring.py", BATCH_SCORING_METRICS
    )
    found["model-monitor"] = Exporter(
        "model-monitor", "contract", "infra/images/model-monitor/model_monitor.py", MODEL_MONITOR_METRICS
    )
    found["prometheus"] = Exporter(
        "prometheus", "any", "https://prometheus.io/docs/concepts/jobs_instances/", PROMETHEUS_SYNTHETIC
    )
    return found


EXPORTERS: dict[str, Exporter] = _load()
"""Exporter name -> what it emits."""


_PROMQL_WORDS = frozenset(
    {
        # functions
        "abs",
        "absent",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp_max",
        "clamp_min",
        "count_over_time",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_quantile",
        "holt_winters",
        "idelta",
        "increase",
        "irate",
        "label_replace",
        "ln",
        "max_over_time",
        "min_over_time",
        "predict_linear",
        "quantile_over_time",
        "rate",
        "resets",
        "round",
        "scalar",
        "sort",
        "sort_desc",
        "sqrt",
        "sum_over_time",
        "time",
        "timestamp",
        "vector",
        "last_over_time",
        # aggregations and keywords
        "sum",
        "avg",
        "min",
        "max",
        "count",
        "count_values",
        "stddev",
        "stdvar",
        "topk",
        "bottomk",
        "quantile",
        "group",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
    }
)
_STRINGS = re.compile(r'"[^"]*"|\'[^\']*\'')
_LABELS = re.compile(r"\{[^}]*\}")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGES = re.compile(r"\[[^\]]*\]")
_IDENT = re.compile(r"(?<![\w:.])([a-zA-Z_:][a-zA-Z0-9_:]*)")


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels and durations removed)."""
    text = _STRINGS.sub("", expression)
    text = _LABELS.sub("", text)
    text = _GROUPING.sub("", text)
    text = _RANGES.sub("", text)
    names = set()
    for match in _IDENT.finditer(text):
        word = match.group(1)
        if word in _PROMQL_WORDS or re.fullmatch(r"\d+[smhdwy]?", word) or word in ("e", "Inf", "NaN"):
            continue
        names.add(word)
    return names
