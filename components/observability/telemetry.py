"""The metrics the platform's exporters produce, and the contract model servers must meet.

Dashboards and alert rules may only query metrics listed here; a test parses every PromQL
expression the platform renders and checks it. ``docs/serving-metrics.md`` is generated from
``SERVING_METRICS``.
"""

from __future__ import annotations

import re

EXPORTED_METRICS: dict[str, frozenset[str]] = {
    "dcgm-exporter": frozenset(
        {
            "DCGM_FI_DEV_GPU_UTIL",
            "DCGM_FI_DEV_MEM_COPY_UTIL",
            "DCGM_FI_DEV_FB_USED",
            "DCGM_FI_DEV_FB_FREE",
            "DCGM_FI_DEV_GPU_TEMP",
            "DCGM_FI_DEV_POWER_USAGE",
            "DCGM_FI_DEV_XID_ERRORS",
            "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
            "DCGM_FI_DEV_ROW_REMAP_FAILURE",
        }
    ),
    "kube-state-metrics": frozenset(
        {
            "kube_node_status_condition",
            "kube_node_labels",
            "kube_pod_container_status_restarts_total",
            "kube_pod_container_status_waiting_reason",
            "kube_pod_status_phase",
            "kube_deployment_status_replicas_available",
            "kube_deployment_spec_replicas",
            "kube_horizontalpodautoscaler_status_current_replicas",
            "kube_pod_container_resource_requests",
        }
    ),
    "node-exporter": frozenset(
        {
            "node_cpu_seconds_total",
            "node_memory_MemAvailable_bytes",
            "node_memory_MemTotal_bytes",
            "node_filesystem_avail_bytes",
            "node_filesystem_size_bytes",
        }
    ),
    "kubelet": frozenset(
        {
            "container_cpu_usage_seconds_total",
            "container_memory_working_set_bytes",
            "kubelet_volume_stats_available_bytes",
            "kubelet_volume_stats_capacity_bytes",
        }
    ),
    "mlflow": frozenset({"flask_http_request_total", "flask_http_request_duration_seconds_bucket"}),
}

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

RECORDED_PREFIX = "slo:"
"""Recording rules the SLO builder writes; queries may use them as metrics too."""

CLOUDWATCH_METRICS: dict[str, frozenset[str]] = {
    "AWS/RDS": frozenset(
        {"CPUUtilization", "FreeStorageSpace", "DatabaseConnections", "ReadLatency", "WriteLatency"}
    ),
    "AWS/NATGateway": frozenset({"ErrorPortAllocation", "PacketsDropCount", "BytesOutToDestination"}),
}


def known_metric(name: str) -> bool:
    return (
        name.startswith(RECORDED_PREFIX)
        or name in SERVING_METRICS
        or any(name in metrics for metrics in EXPORTED_METRICS.values())
    )


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
