"""The model monitor job, run for real: the script the image ships, with the packages the image
installs (the ``monitor`` extra), with the configuration prod renders for fraud-scorer, against moto's
S3, a Pushgateway and a Kubernetes API that record what they receive. Synthetic data made here: no
drift, injected drift (and the retraining it submits), a missing column, late labels, shadow and batch
agreement, and the inputs the job must refuse with their exit codes."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlops_platform.components.support import pins
from mlops_platform.components.support.exporters import MODEL_MONITOR_METRICS
from tests.harness import ROOT, stack

JOB = ROOT / "infra" / "images" / "model-monitor" / "model_monitor.py"
NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
DAY = (NOW - timedelta(hours=5)).strftime("%Y-%m-%d")
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


class Recorder(BaseHTTPRequestHandler):
    """Keeps every request body (the Pushgateway's PUTs, the Kubernetes API's POSTs)."""

    received: list[tuple[str, str, str]] = []

    def _keep(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        type(self).received.append((self.command, self.path, body))
        self.send_response(201 if self.command == "POST" else 200)
        self.end_headers()

    do_PUT = do_POST = _keep

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def recorder() -> Iterator[tuple[str, type[Recorder]]]:
    handler = type("Handler", (Recorder,), {"received": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()


def rendered_config() -> dict[str, Any]:
    """MONITOR_CONFIG exactly as prod's fraud-scorer CronJob carries it."""
    (job,) = [
        r
        for r in stack("prod").graph.of_type("kubernetes:batch/v1:CronJob")
        if r.name == "fraud-scorer-monitor-schedule"
    ]
    (container,) = job.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["command"] == ["python", "/app/model_monitor.py"]
    return json.loads(env["MONITOR_CONFIG"])


@pytest.fixture(scope="module")
def world(s3_endpoint, recorder, tmp_path_factory) -> dict[str, Any]:
    url, handler = recorder
    config = rendered_config()
    # Only where the endpoints are differs from the rendered configuration.
    config["pushgateway_url"] = f"{url}/pushgateway"
    token = tmp_path_factory.mktemp("sa") / "token"
    token.write_text("service-account-token")
    config["retrain"] |= {"api_url": f"{url}/kubernetes", "token_file": str(token)}
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=config["bucket"])
    return {"config": config, "s3": s3, "endpoint": s3_endpoint, "handler": handler}


def frame(rng: np.random.Generator, n: int, *, amount_scale: float = 1.0) -> dict[str, list[Any]]:
    return {
        "amount": list(np.round(rng.lognormal(3, 0.5, n) * amount_scale, 2)),
        "merchant_category": list(rng.choice(["grocery", "travel", "fuel", "online", "dining"], n)),
        "country": list(rng.choice(["DE", "FR", "US", "GB"], n)),
        "card_age_days": list(rng.integers(1, 3000, n)),
        "hour_of_day": list(rng.integers(0, 24, n)),
    }


def put_reference(world: dict[str, Any], *, without: str | None = None) -> None:
    rng = np.random.default_rng(1)
    data = frame(rng, 3000)
    data["prediction"] = list(rng.choice(["0", "1"], 3000, p=[0.9, 0.1]))
    if without:
        data.pop(without)
    prefix = world["config"]["reference_uri"].split("/", 3)[3]
    world["s3"].put_object(
        Bucket=world["config"]["bucket"], Key=f"{prefix}reference.parquet", Body=parquet(pa.table(data))
    )


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


def captures(
    rng: np.random.Generator, n: int, *, amount_scale: float = 1.0, drop: str | None = None
) -> list[dict[str, Any]]:
    """Online predictions of v3 as the server records them; predictions follow the reference's mix."""
    features = frame(rng, n, amount_scale=amount_scale)
    rows = []
    for i in range(n):
        values = {k: str(v[i]) for k, v in features.items() if k != drop}
        rows.append(
            {
                "request_id": f"req-{i}",
                "model": "fraud-scorer",
                "version": "v3",
                "timestamp": f"{DAY}T10:00:00.000Z",
                "source": "online",
                "features": values,
                "prediction": str(rng.choice(["0", "1"], p=[0.9, 0.1])),
                "score": float(rng.random()),
                "label_key": None,
            }
        )
    return rows


def as_parquet(rows: list[dict[str, Any]]) -> bytes:
    """The Parquet Firehose writes through the envelope table (features a map of strings)."""
    schema = pa.schema(
        [
            ("request_id", pa.string()),
            ("model", pa.string()),
            ("version", pa.string()),
            ("timestamp", pa.string()),
            ("source", pa.string()),
            ("features", pa.map_(pa.string(), pa.string())),
            ("prediction", pa.string()),
            ("score", pa.float64()),
            ("label_key", pa.string()),
        ]
    )
    rows = [{**r, "features": list(r["features"].items())} for r in rows]
    return parquet(pa.Table.from_pylist(rows, schema=schema))


def reset(world: dict[str, Any]) -> None:
    s3, bucket = world["s3"], world["config"]["bucket"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
    world["handler"].received.clear()


def put_captures(
    world: dict[str, Any], rows: list[dict[str, Any]], version: str = "v3", body: bytes | None = None
) -> None:
    key = f"captures/model=fraud-scorer/version={version}/dt={DAY}/part-{len(rows)}.parquet"
    world["s3"].put_object(
        Bucket=world["config"]["bucket"], Key=key, Body=body if body is not None else as_parquet(rows)
    )


def run_job(
    world: dict[str, Any], now: datetime = NOW, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MONITOR_CONFIG": json.dumps(world["config"]),
        "AWS_ENDPOINT_URL": world["endpoint"],
        "MONITOR_NOW": str(now.timestamp()),
        **(extra_env or {}),
    }
    return subprocess.run([sys.executable, str(JOB)], env=env, capture_output=True, text=True, timeout=180)


def pushed(world: dict[str, Any]) -> list[tuple[str, dict[str, str], float]]:
    puts = [(path, body) for method, path, body in world["handler"].received if method == "PUT"]
    assert len(puts) == 1, puts
    ((path, body),) = puts
    assert path == "/pushgateway/metrics/job/model-monitor/model/fraud-scorer"
    samples = []
    for line in body.strip().splitlines():
        match = SAMPLE.match(line)
        assert match, line
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
        samples.append((match["name"], labels, float(match["value"])))
    return samples


def value(samples, name: str, **labels: str) -> float:
    (found,) = [v for n, have, v in samples if n == name and all(have.get(k) == x for k, x in labels.items())]
    return found


def test_the_monitor_extra_installs_exactly_what_the_image_does():
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"][
        "monitor"
    ]
    assert sorted(extra) == sorted(pins.MODEL_MONITOR_REQUIREMENTS)


@pytest.fixture(scope="module")
def no_drift_run(world) -> dict[str, Any]:
    """One run on a window like the reference, with late labels, a shadow and batch scores: what it
    exited with, pushed, submitted and reported (the contract test reads it too)."""
    reset(world)
    put_reference(world)
    rng = np.random.default_rng(2)
    online = captures(rng, 1500)
    # The shadow v6 answers 90% of the first 500 requests as v3 did; batch v3 all of 400 alike.
    shadow = [
        {
            **r,
            "source": "shadow",
            "version": "v6",
            "prediction": r["prediction"] if i % 10 else ("1" if r["prediction"] == "0" else "0"),
        }
        for i, r in enumerate(online[:500])
    ]
    batch = [{**r, "source": "batch"} for r in online[:400]]
    put_captures(world, online)
    put_captures(world, shadow, version="v6")
    put_captures(world, batch)
    # Labels for 1000 requests arrive later: right on 95% of them.
    labels = [
        {
            "key": r["request_id"],
            "label": r["prediction"] if i % 20 else ("1" if r["prediction"] == "0" else "0"),
        }
        for i, r in enumerate(online[:1000])
    ]
    world["s3"].put_object(
        Bucket=world["config"]["bucket"],
        Key=f"{world['config']['labels_prefix']}2026-12-06.jsonl",
        Body="\n".join(json.dumps(row) for row in labels).encode(),
    )
    result = run_job(world)
    reports = world["s3"].list_objects_v2(
        Bucket=world["config"]["bucket"], Prefix=world["config"]["reports_prefix"]
    )
    return {
        "result": result,
        "samples": pushed(world) if result.returncode == 0 else [],
        "posts": [r for r in world["handler"].received if r[0] == "POST"],
        "reports": sorted(o["Key"].rsplit("/", 1)[1] for o in reports.get("Contents", [])),
    }


def test_no_drift_with_late_labels_shadow_and_batch(world, no_drift_run):
    result, samples = no_drift_run["result"], no_drift_run["samples"]
    assert result.returncode == 0, result.stderr
    assert value(samples, "mlops_monitor_rows", source="online") == 1500
    assert value(samples, "mlops_monitor_rows", source="shadow") == 500
    for feature in ("amount", "merchant_category", "country", "card_age_days", "hour_of_day"):
        assert (
            value(samples, "mlops_monitor_feature_drift", feature=feature)
            < world["config"]["drift_threshold"]
        )
    assert value(samples, "mlops_monitor_drifted_features_share") == 0
    assert value(samples, "mlops_monitor_prediction_drift") < world["config"]["drift_threshold"]
    assert value(samples, "mlops_monitor_data_quality_share", check="missing", feature="amount") == 0
    assert value(samples, "mlops_monitor_labelled_rows") == 1000
    assert value(samples, "mlops_monitor_model_quality", metric="accuracy") == pytest.approx(0.95)
    assert 0 <= value(samples, "mlops_monitor_model_quality", metric="auc") <= 1
    assert value(samples, "mlops_monitor_shadow_agreement", shadow_version="v6") == pytest.approx(0.9)
    assert value(samples, "mlops_monitor_batch_agreement", batch_version="v3") == 1.0
    assert value(samples, "mlops_monitor_last_success_timestamp_seconds") == NOW.timestamp()
    assert not no_drift_run["posts"]  # no drift: no retraining
    assert no_drift_run["reports"] == ["report.html", "report.json", "summary.json"]


@pytest.fixture(scope="module")
def drift_run(world) -> dict[str, Any]:
    """A run on a window whose amounts tripled, then another six hours later (within the cooldown)."""
    reset(world)
    put_reference(world)
    put_captures(world, captures(np.random.default_rng(3), 1500, amount_scale=3.0))
    result = run_job(world)
    run = {
        "result": result,
        "samples": pushed(world) if result.returncode == 0 else [],
        "posts": [r for r in world["handler"].received if r[0] == "POST"],
    }
    world["handler"].received.clear()
    run["again"] = run_job(world, NOW + timedelta(hours=6))  # within the 72-hour cooldown
    run["posts_again"] = [r for r in world["handler"].received if r[0] == "POST"]
    return run


def test_injected_drift_is_measured_and_retrains_once_per_cooldown(drift_run):
    result, samples = drift_run["result"], drift_run["samples"]
    assert result.returncode == 0, result.stderr
    assert value(samples, "mlops_monitor_feature_drift", feature="amount") > 1.0
    assert value(samples, "mlops_monitor_feature_drift", feature="country") < 0.2
    assert value(samples, "mlops_monitor_drifted_features_share") == pytest.approx(0.2)
    # amount beyond the reference's largest value in a share of rows
    assert value(samples, "mlops_monitor_data_quality_share", check="out_of_range", feature="amount") > 0.05
    (post,) = drift_run["posts"]
    assert post[1] == "/kubernetes/apis/argoproj.io/v1alpha1/namespaces/risk/workflows"
    workflow = json.loads(post[2])
    assert workflow["spec"] == {"workflowTemplateRef": {"name": "fraud-train"}}
    assert value(samples, "mlops_monitor_retrain_submitted_timestamp_seconds") == NOW.timestamp()
    assert drift_run["again"].returncode == 0, drift_run["again"].stderr
    assert not drift_run["posts_again"]


def test_a_missing_feature_column_is_a_data_quality_finding_not_a_crash(world):
    reset(world)
    put_reference(world)
    put_captures(world, captures(np.random.default_rng(4), 800, drop="card_age_days"))
    result = run_job(world)
    assert result.returncode == 0, result.stderr
    samples = pushed(world)
    assert value(samples, "mlops_monitor_data_quality_share", check="missing", feature="card_age_days") == 1.0
    assert value(samples, "mlops_monitor_data_quality_share", check="missing", feature="amount") == 0.0


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("empty-window", 3, "no captured predictions for fraud-scorer in the last 1 day(s)"),
        ("reference-lacks-a-feature", 4, "lacks ['hour_of_day']: it must have every declared feature"),
        ("unreadable-capture", 5, "is unreadable (ArrowInvalid"),
        ("no-declared-feature", 4, "no declared feature appears in the captures"),
    ],
)
def test_bad_input_exits_non_zero_with_its_reason(world, case, code, message):
    reset(world)
    put_reference(world, without="hour_of_day" if case == "reference-lacks-a-feature" else None)
    rows = captures(np.random.default_rng(5), 50)
    if case == "reference-lacks-a-feature":
        put_captures(world, rows)
    if case == "unreadable-capture":
        put_captures(world, rows, body=b"not parquet at all")
    if case == "no-declared-feature":
        put_captures(world, [{**r, "features": {"colour": "red"}} for r in rows])
    result = run_job(world)
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert result.stderr.startswith("model-monitor: ") and "Traceback" not in result.stderr
    assert not [r for r in world["handler"].received if r[0] == "PUT"]  # nothing pushed on failure


def test_what_the_job_pushes_is_the_contract_and_every_alert_reads_it(no_drift_run, drift_run):
    names = {n for n, _, _ in no_drift_run["samples"]} | {n for n, _, _ in drift_run["samples"]}
    assert names == MODEL_MONITOR_METRICS
    (rule,) = [
        r
        for r in stack("prod").graph.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        if r.name == "fraud-scorer-monitor-alerts"
    ]
    exprs = " ".join(a["expr"] for g in rule.inputs["spec"]["groups"] for a in g["rules"])
    read = set(re.findall(r"\b(mlops_monitor_[a-z_]+)", exprs))
    assert read and read <= names


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory) -> Iterator[str]:
    """The pinned MLflow on a SQLite store."""
    from tests.mlflow_server import sqlite_mlflow_server

    with sqlite_mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


def test_the_reference_can_be_the_dataset_a_training_run_was_tagged_with(world, mlflow_server):
    url = mlflow_server
    reset(world)
    put_reference(world)
    put_captures(world, captures(np.random.default_rng(6), 600))
    reference = world["config"]["reference_uri"]

    # What the training pipeline's start-run step tags a run with (components/lifecycle/mlflow_steps.py),
    # through MLflow's REST API (the client's own start takes seconds).
    def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{url}/api/2.0/mlflow/{path}", json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    run_id = call("runs/create", {"experiment_id": "0", "start_time": 0})["run"]["info"]["run_id"]
    call("runs/set-tag", {"run_id": run_id, "key": "mlops.dataset_uri", "value": reference})
    config = {**world["config"], "reference_uri": f"mlflow-run:{run_id}"}
    result = run_job({**world, "config": config}, extra_env={"MLFLOW_TRACKING_URI": url})
    assert result.returncode == 0, result.stderr
    assert value(pushed(world), "mlops_monitor_drifted_features_share") == 0

    world["handler"].received.clear()
    missing = run_job(
        {**world, "config": {**config, "reference_uri": "mlflow-run:" + "0" * 32}},
        extra_env={"MLFLOW_TRACKING_URI": url},
    )
    assert missing.returncode == 5 and f"MLflow run {'0' * 32} could not be read" in missing.stderr
