"""Alert rules and Alertmanager routing, checked with the real promtool, amtool and Alertmanager on
exactly what the stacks render: lint, unit tests per alert family, config check, routes, inhibition."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_platform.policies.graph import Graph
from tests.harness import STACKS, stack, wait_until_answers
from tests.prometheus_tools import (
    PROMETHEUS_RULE,
    alertmanager,
    alertmanager_config,
    amtool,
    annotations,
    promtool,
    rule_files,
    run,
)

MODEL = {"namespace": "growth", "model": "churn-classifier", "traffic": "live"}
SLO = "growth-churn-classifier"  # dev: 99.0% availability, p95 within 250 ms


@pytest.mark.parametrize("name", STACKS)
def test_every_rule_group_passes_promtool_lint(name, tmp_path):
    files = rule_files(stack(name).graph, tmp_path)
    assert len(files) >= 2  # the platform's alerts and at least one model's SLO
    checked = run(promtool(), "check", "rules", "--lint=all", *files.values())
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("SUCCESS") == len(files)


def test_promtool_lint_fails_on_a_broken_rule(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        yaml.safe_dump({"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "rate(x[5m]"}]}]})
    )
    assert run(promtool(), "check", "rules", "--lint=all", bad).returncode != 0


def _rule(graph: Graph, alert: str, **labels: str) -> dict[str, Any]:
    for rule_set in graph.of_type(PROMETHEUS_RULE):
        for group in rule_set.inputs["spec"]["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert and all(rule["labels"].get(k) == v for k, v in labels.items()):
                    return rule
    raise AssertionError(f"no {alert} rule with {labels}")


def _expected(
    graph: Graph, alert: str, labels: dict[str, str], value: str = "", **match: str
) -> dict[str, Any]:
    rule = _rule(graph, alert, **match)
    full = {**rule["labels"], **labels}
    return {"exp_labels": full, "exp_annotations": annotations(rule, full, value)}


def _unit_test(
    tmp_path: Path, graph: Graph, tests: list[dict[str, Any]], only: set[str] | None = None
) -> None:
    """``promtool test rules`` over the graph's own rule files (``only`` these PrometheusRules, when
    given: a test over days of series need not evaluate every rule of the stack); fails with
    promtool's report."""
    files = {k: v for k, v in rule_files(graph, tmp_path / "rules").items() if only is None or k in only}
    spec = tmp_path / "tests.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(p) for p in files.values()],
                "evaluation_interval": "1m",
                # Series samples one minute apart (promtool's own default would differ by version).
                "tests": [{"interval": "1m", **t} for t in tests],
            },
            sort_keys=False,
        )
    )
    done = run(promtool(), "test", "rules", spec)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _requests(
    ok_per_minute: str, errors_per_minute: str, traffic: str = "live", version: str = "v7"
) -> list[dict[str, str]]:
    """Counters of one model version: its successes and its 5xx, as ``promtool`` series notation,
    labelled as the model's ServiceMonitor labels them (version and traffic from the pod)."""
    series = (
        'http_requests_total{{namespace="growth",model="churn-classifier",'
        f'version="{version}",traffic="{traffic}",'
        'code="{code}"}}'
    )
    return [
        {"series": series.format(code="200"), "values": ok_per_minute},
        {"series": series.format(code="500"), "values": errors_per_minute},
    ]


def _burn(graph: Graph, window: str, kind: str = "Availability") -> dict[str, Any]:
    return _expected(graph, f"SLO{kind}BudgetBurn", MODEL, burn_window=window, slo_service=SLO)


@pytest.fixture(scope="module")
def dev() -> Graph:
    return stack("dev").graph


def test_slo_availability_burn_rates(dev, tmp_path):
    all_windows = [_burn(dev, w) for w in ("1h", "6h", "1d", "3d")]
    _unit_test(
        tmp_path,
        dev,
        [
            {  # fast: 20% errors, 20x the 1% budget; the criticals fire within minutes, then every window
                "input_series": _requests("0+80x240", "0+20x240"),
                "alert_rule_test": [
                    {
                        "eval_time": "10m",
                        "alertname": "SLOAvailabilityBudgetBurn",
                        "exp_alerts": all_windows[:2],
                    },
                    {"eval_time": "3h", "alertname": "SLOAvailabilityBudgetBurn", "exp_alerts": all_windows},
                ],
            },
            {  # slow: 2% errors, 2x the budget; only the 3-day window sees it, and it opens a ticket
                "input_series": _requests("0+98x600", "0+2x600"),
                "alert_rule_test": [
                    {
                        "eval_time": "9h",
                        "alertname": "SLOAvailabilityBudgetBurn",
                        "exp_alerts": [all_windows[3]],
                    }
                ],
            },
            {  # recovering: an hour at 20%, then clean; the pages stop once the short windows clear
                "input_series": _requests("0+80x60 4800+100x180", "0+20x60 1200+0x180"),
                "alert_rule_test": [
                    {"eval_time": "50m", "alertname": "SLOAvailabilityBudgetBurn", "exp_alerts": all_windows},
                    {
                        "eval_time": "3h",
                        "alertname": "SLOAvailabilityBudgetBurn",
                        "exp_alerts": [all_windows[3]],
                    },
                ],
            },
            {  # healthy: 0.1% errors, a tenth of the budget
                "input_series": _requests("0+999x600", "0+1x600"),
                "alert_rule_test": [
                    {"eval_time": "9h", "alertname": "SLOAvailabilityBudgetBurn", "exp_alerts": []}
                ],
            },
        ],
    )


def test_slo_latency_burn_reads_the_slo_bucket(dev, tmp_path):
    def latency(fast_per_minute: str) -> list[dict[str, str]]:
        labels = 'namespace="growth",model="churn-classifier",version="v7",traffic="live"'
        return [
            {
                "series": f'http_request_duration_seconds_bucket{{{labels},le="0.25"}}',
                "values": fast_per_minute,
            },
            {"series": f"http_request_duration_seconds_count{{{labels}}}", "values": "0+100x600"},
        ]

    windows = [_burn(dev, w, "Latency") for w in ("1h", "6h", "1d", "3d")]
    _unit_test(
        tmp_path,
        dev,
        [
            {  # 80% of requests slower than 250 ms: 16x the 5% budget, past every window's rate
                "input_series": latency("0+20x600"),
                "alert_rule_test": [
                    {"eval_time": "3h", "alertname": "SLOLatencyBudgetBurn", "exp_alerts": windows}
                ],
            },
            {  # half slower: 10x, under the 1h window's 14.4x page, over the 6h window's 6x
                "input_series": latency("0+50x600"),
                "alert_rule_test": [
                    {"eval_time": "3h", "alertname": "SLOLatencyBudgetBurn", "exp_alerts": windows[1:]}
                ],
            },
            {  # 99% within 250 ms
                "input_series": latency("0+99x600"),
                "alert_rule_test": [
                    {"eval_time": "9h", "alertname": "SLOLatencyBudgetBurn", "exp_alerts": []}
                ],
            },
        ],
    )


def test_gpu_alerts(dev, tmp_path):
    gpu = {"Hostname": "ip-10-0-1-5", "gpu": "0"}
    labels = 'Hostname="ip-10-0-1-5",gpu="0"'
    _unit_test(
        tmp_path,
        dev,
        [
            {  # one XID 13 at minute 5: it fires, then resolves although the gauge keeps the code
                "input_series": [{"series": f"DCGM_FI_DEV_XID_ERRORS{{{labels}}}", "values": "0x4 13x60"}],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "GpuXidError", "exp_alerts": []},
                    {
                        "eval_time": "7m",
                        "alertname": "GpuXidError",
                        "exp_alerts": [_expected(dev, "GpuXidError", gpu)],
                    },
                    {"eval_time": "30m", "alertname": "GpuXidError", "exp_alerts": []},
                ],
            },
            {
                "input_series": [
                    {"series": f"DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS{{{labels}}}", "values": "0x5 1x20"},
                    {"series": f"DCGM_FI_DEV_ROW_REMAP_FAILURE{{{labels}}}", "values": "0x25"},
                    {"series": f"DCGM_FI_DEV_GPU_TEMP{{{labels}}}", "values": "70x5 90x30"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "15m",
                        "alertname": "GpuHealthDegraded",
                        "exp_alerts": [_expected(dev, "GpuHealthDegraded", gpu)],
                    },
                    {
                        "eval_time": "25m",
                        "alertname": "GpuTemperatureHigh",
                        "exp_alerts": [_expected(dev, "GpuTemperatureHigh", gpu, "90")],
                    },
                ],
            },
            {  # two GPU nodes, one exporting nothing
                "input_series": [
                    {
                        "series": 'kube_node_labels{node="a",label_nvidia_com_gpu_present="true"}',
                        "values": "1x30",
                    },
                    {
                        "series": 'kube_node_labels{node="b",label_nvidia_com_gpu_present="true"}',
                        "values": "1x30",
                    },
                    {"series": 'DCGM_FI_DEV_GPU_UTIL{Hostname="a",gpu="0"}', "values": "50x30"},
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "20m",
                        "alertname": "GpuTelemetryMissing",
                        "exp_alerts": [_expected(dev, "GpuTelemetryMissing", {})],
                    }
                ],
            },
        ],
    )


def test_platform_alerts(dev, tmp_path):
    hpa = {"namespace": "growth", "horizontalpodautoscaler": "churn-classifier-v7"}
    hpa_labels = 'namespace="growth",horizontalpodautoscaler="churn-classifier-v7"'
    _unit_test(
        tmp_path,
        dev,
        [
            {
                "input_series": [
                    {
                        "series": 'kube_node_status_condition{node="n1",condition="Ready",status="true"}',
                        "values": "1x5 0x20",
                    },
                    {
                        "series": 'kube_pod_container_status_waiting_reason{namespace="growth",pod="p",container="model",reason="CrashLoopBackOff"}',
                        "values": "1x40",
                    },
                    {
                        "series": f"kube_horizontalpodautoscaler_status_current_replicas{{{hpa_labels}}}",
                        "values": "2x5 4x30",
                    },
                    {
                        "series": f"kube_horizontalpodautoscaler_spec_max_replicas{{{hpa_labels}}}",
                        "values": "4x35",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "15m",
                        "alertname": "NodeNotReady",
                        "exp_alerts": [
                            _expected(
                                dev, "NodeNotReady", {"node": "n1", "condition": "Ready", "status": "true"}
                            )
                        ],
                    },
                    {
                        "eval_time": "25m",
                        "alertname": "PodCrashLooping",
                        "exp_alerts": [
                            _expected(
                                dev,
                                "PodCrashLooping",
                                {
                                    "namespace": "growth",
                                    "pod": "p",
                                    "container": "model",
                                    "reason": "CrashLoopBackOff",
                                },
                            )
                        ],
                    },
                    {"eval_time": "15m", "alertname": "ModelAtMaxReplicas", "exp_alerts": []},
                    {
                        "eval_time": "25m",
                        "alertname": "ModelAtMaxReplicas",
                        "exp_alerts": [_expected(dev, "ModelAtMaxReplicas", hpa)],
                    },
                ],
            },
            {
                "input_series": [
                    {
                        "series": 'kubelet_volume_stats_available_bytes{persistentvolumeclaim="prometheus-db-0",namespace="monitoring"}',
                        "values": "10x30",
                    },
                    {
                        "series": 'kubelet_volume_stats_capacity_bytes{persistentvolumeclaim="prometheus-db-0",namespace="monitoring"}',
                        "values": "100x30",
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": "20m",
                        "alertname": "PrometheusStorageFillingUp",
                        "exp_alerts": [
                            _expected(
                                dev,
                                "PrometheusStorageFillingUp",
                                {"persistentvolumeclaim": "prometheus-db-0", "namespace": "monitoring"},
                            )
                        ],
                    }
                ],
            },
        ],
    )


# --- Alertmanager ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STACKS)
def test_the_merged_alertmanager_config_passes_amtool(name, tmp_path):
    config = tmp_path / "alertmanager.yaml"
    config.write_text(yaml.safe_dump(alertmanager_config(stack(name).graph)))
    checked = run(amtool(), "check-config", config)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


@pytest.mark.parametrize(
    "labels, receivers",
    [
        ({"severity": "critical", "team": "risk"}, "oncall,ml-platform-slack"),
        ({"severity": "critical", "team": "growth"}, "oncall,ml-platform-slack"),
        ({"severity": "warning", "team": "risk"}, "ml-platform-slack"),
        ({"severity": "info", "team": "risk"}, "null"),
        ({"alertname": "Watchdog", "severity": "none"}, "null"),
    ],
)
def test_prod_routes_each_severity_and_team(labels, receivers, tmp_path):
    config = tmp_path / "alertmanager.yaml"
    config.write_text(yaml.safe_dump(alertmanager_config(stack("prod").graph)))
    routed = run(
        amtool(),
        "config",
        "routes",
        "test",
        f"--config.file={config}",
        *(f"{k}={v}" for k, v in labels.items()),
    )
    assert routed.stdout.strip() == receivers, routed.stdout + routed.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _inhibition(config: dict[str, Any], folder: Path) -> dict[tuple[str, str], list[str]]:
    """Post two models' SLO alerts, labelled as the rules label them, to a real Alertmanager running
    ``config``; returns (model, severity) -> the fingerprints inhibiting that alert."""
    for receiver in config["receivers"]:  # secrets are files in the cluster; here, a closed local port
        for kind, key in (("slack_configs", "api_url_file"), ("pagerduty_configs", "routing_key_file")):
            for entry in receiver.get(kind, []):
                secret = folder / receiver["name"]
                secret.write_text("http://127.0.0.1:9/" if kind == "slack_configs" else "0" * 32)
                entry[key] = str(secret)
    config["templates"] = []
    path = folder / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(config))
    port = _free_port()
    command = [
        alertmanager(),
        f"--config.file={path}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/api/v2"
    try:
        wait_until_answers(f"{base}/status", server, 10)
        prod = stack("prod").graph

        def slo_alert(model: str, severity: str, window: str) -> dict[str, Any]:
            rule = _rule(prod, "SLOAvailabilityBudgetBurn", burn_window=window)
            labels = {**rule["labels"], "slo_service": f"risk-{model}", "namespace": "risk", "model": model}
            return {"labels": {**labels, "alertname": "SLOAvailabilityBudgetBurn", "severity": severity}}

        alerts = [
            slo_alert("fraud-scorer", "critical", "1h"),
            slo_alert("fraud-scorer", "warning", "1d"),
            slo_alert("fraud-triage", "warning", "1d"),  # another model of the same team
        ]
        posted = urllib.request.Request(
            f"{base}/alerts", json.dumps(alerts).encode(), {"Content-Type": "application/json"}
        )
        urllib.request.urlopen(posted, timeout=5)
        state: dict[tuple[str, str], list[str]] = {}
        for _ in range(50):
            listed = json.load(urllib.request.urlopen(f"{base}/alerts", timeout=5))
            state = {
                (a["labels"]["model"], a["labels"]["severity"]): a["status"]["inhibitedBy"] for a in listed
            }
            if len(state) == 3 and state[("fraud-scorer", "warning")]:
                break
            time.sleep(0.2)
        return state
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_critical_burn_of_one_model_never_silences_another_model(tmp_path):
    state = _inhibition(alertmanager_config(stack("prod").graph), tmp_path)
    assert state[("fraud-scorer", "warning")], "the same model's warning is silenced by its critical"
    assert state[("fraud-triage", "warning")] == [], "another model's warning must stay visible"
    assert state[("fraud-scorer", "critical")] == []


def test_with_the_charts_default_inhibit_rules_it_would(tmp_path):
    """The check above can fail: the chart's own rules (namespace and alertname) do cross models."""
    import helm_python as helm

    from tests.helm_render import PROGRAM_DIR, RELEASE

    graph = stack("prod").graph
    (release,) = [r for r in graph.of_type(RELEASE) if r.inputs["name"] == "kube-prometheus-stack"]
    chart = helm.Chart.load((PROGRAM_DIR / release.inputs["chart"]).resolve())
    config = alertmanager_config(graph)
    config["inhibit_rules"] = chart.merge_values({})["alertmanager"]["config"]["inhibit_rules"]
    state = _inhibition(config, tmp_path)
    assert state[("fraud-triage", "warning")], "the chart's defaults silence the other model"


def test_slo_alerts_carry_the_labels_inhibition_matches_on(dev):
    """Every label of INHIBIT_EQUAL that tells models apart is on the SLO alerts after recording."""
    from mlops_platform.components.observability.metrics import INHIBIT_EQUAL

    for rule_set in dev.of_type(PROMETHEUS_RULE):
        for group in rule_set.inputs["spec"]["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    grouping = rule["expr"].split("by (", 1)[1].split(")", 1)[0]
                    assert {"model", "namespace"} <= {g.strip() for g in grouping.split(",")}, rule["record"]
    assert {"model", "namespace", "slo_service"} <= set(INHIBIT_EQUAL)


def test_delivery_alerts(dev, tmp_path):
    """The engines' alerts fire on the series their exporters write (names from exporter-metrics.json)."""
    rollout = {"namespace": "risk", "name": "fraud-scorer"}
    analysis = {"namespace": "risk", "name": "fraud-scorer-6f9c", "metric": "error-ratio"}
    cluster = 'envoy_cluster_name="httproute/risk/fraud-scorer/rule/0"'
    _unit_test(
        tmp_path,
        dev,
        [
            {
                "input_series": [
                    {
                        "series": 'rollout_phase{namespace="risk",name="fraud-scorer",strategy="Canary",phase="Abort"}',
                        "values": "0x2 1x10",
                    },
                    {
                        "series": 'analysis_run_metric_phase{namespace="risk",name="fraud-scorer-6f9c",'
                        'metric="error-ratio",type="Prometheus",dry_run="false",phase="Error"}',
                        "values": "1x12",
                    },
                    {
                        "series": f'envoy_cluster_upstream_rq_xx{{{cluster},envoy_response_code_class="5"}}',
                        "values": "0+10x30",
                    },
                    {"series": f"envoy_cluster_upstream_rq_total{{{cluster}}}", "values": "0+100x30"},
                    {
                        "series": f"envoy_cluster_upstream_rq_pending_overflow{{{cluster}}}",
                        "values": "0x3 1+1x10",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "2m", "alertname": "ModelRolloutAborted", "exp_alerts": []},
                    {
                        "eval_time": "5m",
                        "alertname": "ModelRolloutAborted",
                        "exp_alerts": [_expected(dev, "ModelRolloutAborted", rollout)],
                    },
                    {
                        "eval_time": "6m",
                        "alertname": "ModelAnalysisErroring",
                        "exp_alerts": [_expected(dev, "ModelAnalysisErroring", analysis)],
                    },
                    {"eval_time": "8m", "alertname": "ModelGateway5xx", "exp_alerts": []},
                    {
                        "eval_time": "20m",
                        "alertname": "ModelGateway5xx",
                        "exp_alerts": [
                            _expected(
                                dev,
                                "ModelGateway5xx",
                                {"envoy_cluster_name": "httproute/risk/fraud-scorer/rule/0"},
                            )
                        ],
                    },
                    {
                        "eval_time": "7m",
                        "alertname": "InterceptorQueueFull",
                        "exp_alerts": [
                            _expected(
                                dev,
                                "InterceptorQueueFull",
                                {"envoy_cluster_name": "httproute/risk/fraud-scorer/rule/0"},
                            )
                        ],
                    },
                ],
            }
        ],
    )


def test_the_canary_is_measured_per_version_and_the_shadow_never_burns_the_slo(dev, tmp_path):
    """What the analysis reads: a version's own error ratio. What the SLO reads: live traffic only."""
    _unit_test(
        tmp_path,
        dev,
        [
            {
                "input_series": [
                    *_requests("0+100x60", "0+0x60", version="v7"),
                    *_requests("0+50x60", "0+50x60", version="v8"),
                    # the shadow fails every request: nobody gets its answers, the SLO must not move
                    *_requests("0+0x600", "0+100x600", traffic="shadow", version="v9"),
                ],
                "promql_expr_test": [
                    {
                        "expr": 'model_version:http_errors:ratio_rate5m{model="churn-classifier"}',
                        "eval_time": "30m",
                        "exp_samples": [
                            {"labels": f"model_version:http_errors:ratio_rate5m{{{labels}}}", "value": value}
                            for labels, value in (
                                ('model="churn-classifier",namespace="growth",version="v7"', 0),
                                ('model="churn-classifier",namespace="growth",version="v8"', 0.5),
                            )
                        ],
                    }
                ],
            },
            {
                "input_series": _requests("0+0x600", "0+100x600", traffic="shadow", version="v9"),
                "alert_rule_test": [
                    {"eval_time": "9h", "alertname": "SLOAvailabilityBudgetBurn", "exp_alerts": []}
                ],
            },
        ],
    )


def test_pipeline_and_batch_alerts(dev, tmp_path):
    """The pipeline engines' alerts and a batch job's fire on the series Argo and Kueue write (and the
    batch template's own custom metrics), and not before their time."""
    batch = 'team="growth",model="churn-classifier"'
    _unit_test(
        tmp_path,
        dev,
        [
            {
                "input_series": [
                    {
                        "series": 'argo_workflows_total_count{namespace="risk",phase="Failed"}',
                        "values": "0x5 1x20",
                    },
                    {
                        "series": 'argo_workflows_error_count{cause="CronWorkflowSubmissionError"}',
                        "values": "0x2 1x20",
                    },
                    # 3 pods pending, 1 of them held back by Kueue for quota: 2 admitted pods find no node.
                    {"series": 'argo_workflows_pods_gauge{phase="Pending"}', "values": "3x60"},
                    {
                        "series": 'kueue_pending_workloads{cluster_queue="risk",status="active"}',
                        "values": "1x60",
                    },
                    {
                        "series": 'kueue_pending_workloads{cluster_queue="growth",status="inadmissible"}',
                        "values": "1x60",
                    },
                    {"series": f"argo_workflows_batch_scoring_failed{{{batch}}}", "values": "0x10 1x10"},
                    {
                        "series": f"argo_workflows_batch_scoring_duration_seconds{{{batch}}}",
                        "values": "0+60x40",
                    },
                ],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "WorkflowsFailing", "exp_alerts": []},
                    {
                        "eval_time": "8m",
                        "alertname": "WorkflowsFailing",
                        "exp_alerts": [_expected(dev, "WorkflowsFailing", {"namespace": "risk"})],
                    },
                    {
                        "eval_time": "9m",
                        "alertname": "WorkflowControllerErrors",
                        "exp_alerts": [
                            _expected(
                                dev, "WorkflowControllerErrors", {"cause": "CronWorkflowSubmissionError"}
                            )
                        ],
                    },
                    {"eval_time": "20m", "alertname": "WorkflowPodsStuckPending", "exp_alerts": []},
                    {
                        "eval_time": "31m",
                        "alertname": "WorkflowPodsStuckPending",
                        "exp_alerts": [_expected(dev, "WorkflowPodsStuckPending", {})],
                    },
                    {
                        "eval_time": "31m",
                        "alertname": "PipelineQueueInadmissible",
                        "exp_alerts": [
                            _expected(dev, "PipelineQueueInadmissible", {"cluster_queue": "growth"})
                        ],
                    },
                    {"eval_time": "9m", "alertname": "BatchScoringFailed", "exp_alerts": []},
                    {
                        "eval_time": "12m",
                        "alertname": "BatchScoringFailed",
                        "exp_alerts": [_expected(dev, "BatchScoringFailed", {})],
                    },
                    # expectedMinutes 30: the duration passes 1800 s after 30 minutes.
                    {"eval_time": "30m", "alertname": "BatchScoringOverdue", "exp_alerts": []},
                    {
                        "eval_time": "32m",
                        "alertname": "BatchScoringOverdue",
                        "exp_alerts": [_expected(dev, "BatchScoringOverdue", {})],
                    },
                ],
            }
        ],
    )


def test_model_monitor_alerts(tmp_path):
    """Prod's fraud-scorer monitor alerts fire on what the job pushes (thresholds from its spec) and on
    kube-state-metrics' view of its CronJob, and not before."""
    prod = stack("prod").graph
    pushed = 'job="model-monitor",model="fraud-scorer",version="v3"'
    job = 'namespace="risk",job_name="fraud-scorer-monitor-29012345"'
    cron = 'namespace="risk",cronjob="fraud-scorer-monitor"'
    model = {"model": "fraud-scorer"}

    def fires(alert: str, at: str, labels: dict[str, str], value: str = "") -> dict[str, Any]:
        """The alert of team risk firing at ``at`` with these labels and value."""
        expected = _expected(prod, alert, labels, value, team="risk")
        return {"eval_time": at, "alertname": alert, "exp_alerts": [expected]}

    _unit_test(
        tmp_path,
        prod,
        only={"fraud-scorer-monitor-alerts"},
        tests=[
            {
                "input_series": [
                    {
                        "series": f'mlops_monitor_feature_drift{{{pushed},feature="amount"}}',
                        "values": "0.1x10 0.5x10",
                    },
                    {
                        "series": f'mlops_monitor_feature_drift{{{pushed},feature="country"}}',
                        "values": "0.1x20",
                    },
                    {
                        "series": f'mlops_monitor_data_quality_share{{{pushed},check="missing",feature="card_age_days"}}',
                        "values": "0x10 1x10",
                    },
                    {
                        "series": f'mlops_monitor_model_quality{{{pushed},metric="auc"}}',
                        "values": "0.95x10 0.8x10",
                    },
                    {
                        "series": f'mlops_monitor_shadow_agreement{{{pushed},shadow_version="v6"}}',
                        "values": "0.99x10 0.5x10",
                    },
                    # A run failed at minute 10, after the last success at minute 5 (Unix seconds).
                    {"series": f"kube_cronjob_status_last_successful_time{{{cron}}}", "values": "300x20"},
                    {"series": f"kube_job_status_start_time{{{job}}}", "values": "600x20"},
                    {"series": f'kube_job_failed{{{job},condition="true"}}', "values": "0x10 1x10"},
                ],
                "alert_rule_test": [
                    {"eval_time": "9m", "alertname": "ModelFeatureDrift", "exp_alerts": []},
                    fires("ModelFeatureDrift", "12m", {**model, "version": "v3", "feature": "amount"}, "0.5"),
                    fires(
                        "ModelDataQuality",
                        "12m",
                        {**model, "version": "v3", "check": "missing", "feature": "card_age_days"},
                        "1",
                    ),
                    {"eval_time": "9m", "alertname": "ModelQualityBelowFloor", "exp_alerts": []},
                    fires(
                        "ModelQualityBelowFloor", "12m", {**model, "version": "v3", "metric": "auc"}, "0.8"
                    ),
                    fires("ModelShadowDisagreement", "12m", {**model, "shadow_version": "v6"}, "0.5"),
                    {"eval_time": "9m", "alertname": "ModelMonitorFailed", "exp_alerts": []},
                    fires("ModelMonitorFailed", "12m", {}),
                    {"eval_time": "12m", "alertname": "ModelMonitorStale", "exp_alerts": []},
                ],
            },
            {
                # The last success at time 0: stale once 50 hours have passed without another.
                "input_series": [
                    {"series": f"kube_cronjob_status_last_successful_time{{{cron}}}", "values": "0x3100"}
                ],
                "alert_rule_test": [
                    {"eval_time": "49h", "alertname": "ModelMonitorStale", "exp_alerts": []},
                    fires("ModelMonitorStale", "51h", {}),
                ],
            },
        ],
    )
