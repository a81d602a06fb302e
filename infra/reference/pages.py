"""The serving-metrics contract and the policy pack's reference, generated from their sources."""

from __future__ import annotations

import json
from typing import Any

ENVIRONMENTS = ("dev", "stage", "prod")


def show(value: Any) -> str:
    """A value as a table cell: JSON in backticks, or ``-`` for none."""
    if value is None:
        return "-"
    if hasattr(value, "value") and not isinstance(value, dict | list | str | int | float | bool):
        value = value.value
    return f"`{json.dumps(value)}`"


def serving_metrics_reference() -> str:
    from mlops_platform.components.support.exporters import (
        DEFAULT_LATENCY_BUCKETS,
        EXPORTERS,
        SERVING_METRICS,
    )

    lines = [
        "# Serving metrics contract",
        "",
        "<!-- Generated from components/support/exporters.py by `blueprint docs`; do not edit by hand. -->",
        "",
        "Every model server exposes these Prometheus metrics on its metrics port at `/metrics`. The",
        "platform's ServiceMonitor scrapes them, the SLO burn-rate alerts and the *Model serving*",
        "dashboard read nothing else, and Prometheus adds `namespace`, `service` and `pod` labels.",
        "",
        "| metric | meaning |",
        "|---|---|",
        *[f"| `{name}` | {meaning} |" for name, meaning in SERVING_METRICS.items()],
        "",
        "## Latency buckets",
        "",
        "The histogram's bucket bounds are part of the contract. A model declares them in",
        "`latencyBuckets` (seconds; default: the Prometheus client libraries' defaults,",
        f"{', '.join(map(str, DEFAULT_LATENCY_BUCKETS))}), the platform passes them to the server",
        "in the `LATENCY_BUCKETS` environment variable (comma-separated) and records them on the pod",
        "template (annotation `mlops-platform.io/latency-buckets`), and the server **must export exactly",
        "these buckets**. The SLO's `latencyP95Ms` must be one of them: its alert reads the bucket",
        '`le="<latencyP95Ms / 1000>"`, and a bucket the server does not export yields no series, so the',
        "alert could never fire. The config refuses such an SLO, and the `slo-latency-bucket` policy",
        "checks the rendered rules against the pods' buckets. With `prometheus_client`:",
        "",
        "```python",
        'buckets = [float(b) for b in os.environ["LATENCY_BUCKETS"].split(",")]',
        'LATENCY = Histogram("http_request_duration_seconds", "Request latency", ["path"], buckets=buckets)',
        "```",
        "",
        "Python servers get them from `prometheus_client` (a `Counter` and a `Histogram` named",
        "`http_requests` and `http_request_duration_seconds`) or from framework exporters such as",
        "`prometheus-fastapi-instrumentator` configured with those names.",
        "",
        "Alert rules and dashboards read only metrics that an exporter installed in the same stack",
        "emits (the `alert-metrics-exported` policy checks every rule). What each exporter emits is read",
        "from one source file at the version the vendored charts install",
        "(`components/support/exporter-metrics.json`, refreshed by `python charts/exporter_metrics.py`):",
        "",
        "| exporter | version | metrics | source |",
        "|---|---|---:|---|",
        *[
            f"| {e.name} | {e.version} | {len(e.metrics)} | {e.source} |"
            for e in EXPORTERS.values()
            if e.name != "model-server"
        ],
        "",
    ]
    return "\n".join(lines)


def policies_reference() -> str:
    from mlops_platform.policies import registry

    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [
        "# Policy pack reference",
        "",
        "<!-- Generated from the rule metadata in policies/ by `blueprint docs`; do not edit by hand. -->",
        "",
        f"The `{registry.PACK_NAME}` pack holds {len(registry.RULES)} rules. The same rule code runs in",
        "`pulumi preview --policy-pack policies --policy-pack-config policies/config/<env>.json` and offline",
        "in `blueprint check <stack>`. Mandatory rules fail the preview (and `blueprint check` exits 1);",
        "advisory rules only report. Override a rule's enforcement level or knobs in the config file,",
        'for example `{"gpu-pool-max-size-cap": {"enforcementLevel": "mandatory", "maxGpuNodes": 8}}`.',
        "",
        "Kubernetes rules see the objects the program renders (model endpoints, MLflow, team",
        "namespaces); objects a Helm chart creates inside its release are not resources of the stack, so",
        "the pinned charts' values are reviewed by hand instead.",
        "",
    ]
    areas: dict[str, list] = {}
    for rule in registry.RULES:
        areas.setdefault(rule.area.value, []).append(rule)
    for area, rules in areas.items():
        lines += [
            f"## {area.capitalize()}",
            "",
            "| rule | enforcement | severity | checks | remediation |",
            "|---|---|---|---|---|",
        ]
        for rule in rules:
            lines.append(
                f"| `{rule.name}` | {rule.enforcement.value} | {rule.severity.value} | "
                f"{cell(rule.description)} | {cell(rule.remediation)} |"
            )
        lines.append("")
    lines += [
        "## Knobs",
        "",
        "Rules with settings take them from the policy config; these are the defaults and the per-environment",
        "values in `policies/config/`.",
        "",
        "| rule | setting | type | default | dev | stage | prod | meaning |",
        "|---|---|---|---|---|---|---|---|",
    ]
    configs = {env: registry.policy_config(env) for env in ENVIRONMENTS}
    for rule in registry.RULES:
        for key, spec in rule.config.items():
            per_env = [show(configs[env].get(rule.name, {}).get(key)) for env in ENVIRONMENTS]
            lines.append(
                f"| {rule.name} | `{key}` | {spec.get('type', '')} | {show(spec.get('default'))} | "
                + " | ".join(per_env)
                + f" | {cell(spec.get('description', ''))} |"
            )
    lines.append("")
    return "\n".join(lines)


def policy_config_page(environment: str):
    def render() -> str:
        from mlops_platform.policies import registry

        return registry.config_file_text(environment)

    return render
