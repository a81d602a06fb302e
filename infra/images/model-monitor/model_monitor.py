"""The model monitor job: one run compares a model's captured predictions with its reference data.

It reads the capture window (Parquet that Firehose wrote under ``captures/model=<m>/version=<v>/
dt=<day>/``), the reference set (a dataset URI, or the dataset an MLflow run logged), and, when they
have arrived, late labels under the model's ``labels/`` prefix. It computes with Evidently:

- per-feature drift (PSI) and prediction drift against the reference;
- data quality: missing values, out-of-range numbers and new categories against the reference, and
  values that do not parse as their reference type;
- model quality from labels joined by request ID (accuracy and AUC, or MAE and RMSE);
- agreement of shadow and batch predictions with the online ones for the same request IDs.

It pushes every figure to the Pushgateway (labels ``model``, ``version``), writes the Evidently HTML
report and a JSON summary under the model's ``monitoring/`` prefix, and, when ``retrain_on`` is set
and its condition holds, submits the model's training pipeline (an Argo Workflow from its
WorkflowTemplate) unless one was submitted within the cooldown.

Configuration: the JSON in ``MONITOR_CONFIG``, rendered by ``ModelMonitor`` (components/lifecycle/
model_monitor.py). Exit codes: 0 done (drift is a finding, not a failure), 2 bad configuration,
3 empty capture window, 4 captures do not match the reference schema, 5 an unreadable input,
6 the Pushgateway or S3 refused a write. Every failure prints one line saying why and what to do.
"""

from __future__ import annotations

import base64
import io
import json
import math
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pandas as pd
import pyarrow.parquet as pq

CONFIG_ENV = "MONITOR_CONFIG"
PUSH_JOB = "model-monitor"
CAPTURE_FIELDS = ("request_id", "model", "version", "timestamp", "features", "prediction", "source")
SOURCES = ("online", "shadow", "batch")
DATASET_TAG = "mlops.dataset_uri"
"""The tag the platform's training pipelines put on their runs (components/lifecycle/mlflow_steps.py)."""


class MonitorError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Config:
    model: str
    bucket: str
    captures_prefix: str
    reference_uri: str
    features: dict[str, str]
    """Feature -> ``numerical`` or ``categorical``."""
    task: str
    """``classification`` or ``regression``."""
    window_days: int
    labels_prefix: str | None
    reports_prefix: str
    pushgateway_url: str
    drift_threshold: float
    quality_floor: dict[str, float]
    retrain_on: str | None
    retrain: dict[str, Any] | None
    """``namespace``, ``workflow_template``, ``cooldown_hours``, ``api_url``."""

    @classmethod
    def load(cls, raw: str | None) -> Config:
        if not raw:
            raise MonitorError(
                2, f"{CONFIG_ENV} is empty: the job runs with the configuration ModelMonitor renders"
            )
        try:
            data = json.loads(raw)
            config = cls(**data)
        except (ValueError, TypeError) as exc:
            raise MonitorError(2, f"{CONFIG_ENV} is not a valid monitor configuration: {exc}") from None
        bad = {f: t for f, t in config.features.items() if t not in ("numerical", "categorical")}
        if bad or config.task not in ("classification", "regression") or not config.features:
            raise MonitorError(
                2,
                f"{CONFIG_ENV}: features must be numerical or categorical (got {bad}) and task "
                f"classification or regression (got {config.task!r})",
            )
        return config


def s3_client() -> Any:
    # AWS_ENDPOINT_URL (boto3's own setting) points tests at a local S3.
    return boto3.client("s3")


def split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise MonitorError(2, f"reference {uri!r} must be an s3:// URI or mlflow-run:<run id>")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def read_table(s3: Any, bucket: str, key: str) -> pd.DataFrame:
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        if key.endswith(".csv"):
            return pd.read_csv(io.BytesIO(body))
        if key.endswith((".jsonl", ".json")):
            return pd.read_json(io.BytesIO(body), lines=True)
        return pq.read_table(io.BytesIO(body)).to_pandas()
    except MonitorError:
        raise
    except Exception as exc:
        raise MonitorError(
            5, f"s3://{bucket}/{key} is unreadable ({type(exc).__name__}: {exc}); check the producer"
        ) from None


def keys_under(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    return sorted(keys)


def read_captures(s3: Any, config: Config, now: datetime) -> pd.DataFrame:
    """The records of the last ``window_days`` (the day partitions that window touches, then each
    record's own timestamp)."""
    start = now - timedelta(days=config.window_days)
    days = {(start + timedelta(days=d)).strftime("%Y-%m-%d") for d in range(config.window_days + 1)}
    keys = [
        k
        for k in keys_under(s3, config.bucket, config.captures_prefix)
        if any(f"/dt={d}/" in k for d in days)
    ]
    frames = [read_table(s3, config.bucket, k) for k in keys]
    frames = [f for f in frames if len(f)]
    captures = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    missing = [f for f in CAPTURE_FIELDS if f not in captures.columns]
    if frames and missing:
        raise MonitorError(
            4, f"captures lack the contract's fields {missing} (docs/monitoring.md#record-contract)"
        )
    if frames:
        stamps = pd.to_datetime(captures["timestamp"], utc=True, errors="coerce")
        captures = captures[(stamps >= start) & (stamps <= now)].reset_index(drop=True)
    if captures.empty:
        raise MonitorError(
            3,
            f"no captured predictions for {config.model} in the last {config.window_days} day(s) under "
            f"s3://{config.bucket}/{config.captures_prefix}: is capture on and the model serving?",
        )
    return captures


def features_frame(captures: pd.DataFrame) -> pd.DataFrame:
    """The ``features`` map (a dict, or Parquet's list of key/value pairs) as columns."""
    rows = [dict(f) if f is not None else {} for f in captures["features"]]
    return pd.DataFrame(rows, index=captures.index)


def reference_frame(s3: Any, config: Config) -> pd.DataFrame:
    uri = config.reference_uri
    if uri.startswith("mlflow-run:"):
        uri = mlflow_dataset_uri(uri.removeprefix("mlflow-run:"))
    bucket, key = split_uri(uri)
    if key.endswith("/") or not key:
        frames = [read_table(s3, bucket, k) for k in keys_under(s3, bucket, key)]
        if not frames:
            raise MonitorError(5, f"the reference {uri} holds no files")
        return pd.concat(frames, ignore_index=True)
    return read_table(s3, bucket, key)


def mlflow_dataset_uri(run_id: str) -> str:
    """The source URI of the dataset the run logged as its input (``mlflow.log_input``)."""
    tracking = os.environ.get("MLFLOW_TRACKING_URI", "").rstrip("/")
    if not tracking:
        raise MonitorError(2, "the reference names an MLflow run but MLFLOW_TRACKING_URI is unset")
    request = urllib.request.Request(f"{tracking}/api/2.0/mlflow/runs/get?run_id={run_id}")
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            run = json.load(response)["run"]
    except (urllib.error.URLError, KeyError, ValueError) as exc:
        raise MonitorError(5, f"MLflow run {run_id} could not be read ({exc})") from None
    for dataset_input in run.get("inputs", {}).get("dataset_inputs", []):
        source = json.loads(dataset_input["dataset"].get("source") or "{}")
        if str(source.get("uri", "")).startswith("s3://"):
            return str(source["uri"])
    # The platform's training pipelines tag their runs with the dataset they trained on.
    tags = {t["key"]: t["value"] for t in run.get("data", {}).get("tags", [])}
    if str(tags.get(DATASET_TAG, "")).startswith("s3://"):
        return tags[DATASET_TAG]
    raise MonitorError(
        5, f"MLflow run {run_id} logged no s3:// dataset (mlflow.log_input) and has no {DATASET_TAG} tag"
    )


def typed(column: pd.Series, kind: str) -> pd.Series:
    return pd.to_numeric(column, errors="coerce") if kind == "numerical" else column.astype("string")


def data_quality(
    current: pd.DataFrame, raw: pd.DataFrame, reference: pd.DataFrame, features: dict[str, str]
) -> list[tuple[str, str, float]]:
    """(check, feature, share of rows) for missing values, values of the wrong type, out-of-range
    numbers and categories the reference never had."""
    found = []
    for feature, kind in features.items():
        present = raw[feature].notna() if feature in raw else pd.Series(False, index=raw.index)
        values = current[feature]
        found.append(("missing", feature, float((~present).mean())))
        found.append(("wrong_type", feature, float((present & values.isna()).mean())))
        known = reference[feature].dropna()
        if kind == "numerical":
            outside = values.notna() & ((values < known.min()) | (values > known.max()))
            found.append(("out_of_range", feature, float(outside.mean())))
        else:
            new = values.notna() & ~values.isin(set(known.astype("string")))
            found.append(("new_category", feature, float(new.mean())))
    return found


def drift(
    current: pd.DataFrame, reference: pd.DataFrame, columns: dict[str, str], threshold: float
) -> tuple[dict[str, float], Any]:
    """PSI per column (Evidently's ``psi`` test) and the Evidently snapshot for the HTML report."""
    # Evidently and scikit-learn take seconds to import: a run that fails on its inputs exits first.
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift

    definition = DataDefinition(
        numerical_columns=[c for c, k in columns.items() if k == "numerical"],
        categorical_columns=[c for c, k in columns.items() if k == "categorical"],
    )
    report = Report([ValueDrift(column=c, method="psi", threshold=threshold) for c in columns])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = report.run(
            Dataset.from_pandas(current[list(columns)], data_definition=definition),
            Dataset.from_pandas(reference[list(columns)], data_definition=definition),
        )
    scores = {m["config"]["column"]: float(m["value"]) for m in snapshot.dict()["metrics"]}
    return scores, snapshot


def model_quality(online: pd.DataFrame, labels: pd.DataFrame, task: str) -> dict[str, float]:
    from sklearn import metrics

    keyed = online.assign(
        key=online["label_key"].fillna(online["request_id"])
        if "label_key" in online
        else online["request_id"]
    )
    joined = keyed.merge(labels[["key", "label"]], on="key", how="inner")
    if joined.empty:
        return {}
    quality: dict[str, float] = {"labelled_rows": float(len(joined))}
    if task == "classification":
        truth, predicted = joined["label"].astype(str), joined["prediction"].astype(str)
        quality["accuracy"] = float(metrics.accuracy_score(truth, predicted))
        if "score" in joined and joined["score"].notna().all() and truth.nunique() == 2:
            positive = sorted(truth.unique())[-1]
            quality["auc"] = float(metrics.roc_auc_score(truth == positive, joined["score"].astype(float)))
    else:
        truth, predicted = joined["label"].astype(float), pd.to_numeric(joined["prediction"], errors="coerce")
        quality["mae"] = float(metrics.mean_absolute_error(truth, predicted))
        quality["rmse"] = math.sqrt(float(metrics.mean_squared_error(truth, predicted)))
    return quality


def agreement(online: pd.DataFrame, other: pd.DataFrame, task: str) -> float | None:
    """Share of the same requests answered alike (classification) or 1 - mean relative difference
    (regression); None when no request ID is in both."""
    joined = online[["request_id", "prediction"]].merge(
        other[["request_id", "prediction"]], on="request_id", suffixes=("", "_other")
    )
    if joined.empty:
        return None
    if task == "classification":
        return float((joined["prediction"].astype(str) == joined["prediction_other"].astype(str)).mean())
    a, b = pd.to_numeric(joined["prediction"]), pd.to_numeric(joined["prediction_other"])
    return float(1 - ((a - b).abs() / a.abs().clip(lower=1e-9)).clip(upper=1).mean())


def exposition(model: str, samples: list[tuple[str, dict[str, str], float]]) -> str:
    lines = []
    for name, labels, value in samples:
        rendered = ",".join(f'{k}="{v}"' for k, v in sorted({"model": model, **labels}.items()))
        lines.append(f"{name}{{{rendered}}} {value!r}")
    return "\n".join(lines) + "\n"


def push(config: Config, body: str) -> None:
    url = f"{config.pushgateway_url.rstrip('/')}/metrics/job/{PUSH_JOB}/model/{config.model}"
    request = urllib.request.Request(
        url, data=body.encode(), method="PUT", headers={"Content-Type": "text/plain"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30):
            pass
    except urllib.error.URLError as exc:
        raise MonitorError(
            6, f"the Pushgateway at {config.pushgateway_url} refused the metrics ({exc})"
        ) from None


def submit_retraining(s3: Any, config: Config, reason: str, now: datetime) -> bool:
    """An Argo Workflow from the model's WorkflowTemplate, through the Kubernetes API with the job's
    service account, unless one was submitted within the cooldown (a marker in S3 says when)."""
    retrain = config.retrain or {}
    marker = f"{config.reports_prefix}retrain-last.json"
    try:
        last = json.loads(s3.get_object(Bucket=config.bucket, Key=marker)["Body"].read())["submitted"]
        if now - datetime.fromisoformat(last) < timedelta(hours=retrain["cooldown_hours"]):
            return False
    except s3.exceptions.NoSuchKey:
        pass
    namespace, template = retrain["namespace"], retrain["workflow_template"]
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {
            "generateName": f"{template}-retrain-",
            "namespace": namespace,
            "labels": {"mlops-platform.io/triggered-by": "model-monitor"},
            "annotations": {"mlops-platform.io/reason": reason},
        },
        "spec": {"workflowTemplateRef": {"name": template}},
    }
    token_file = retrain.get("token_file", "/var/run/secrets/kubernetes.io/serviceaccount/token")
    with open(token_file) as handle:
        token = handle.read().strip()
    url = f"{retrain['api_url'].rstrip('/')}/apis/argoproj.io/v1alpha1/namespaces/{namespace}/workflows"
    request = urllib.request.Request(
        url,
        data=json.dumps(workflow).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    ca = retrain.get("ca_file", "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt")
    context = ssl.create_default_context(cafile=ca) if url.startswith("https") else None
    try:
        with urllib.request.urlopen(request, timeout=30, context=context):
            pass
    except urllib.error.URLError as exc:
        raise MonitorError(6, f"the Kubernetes API refused the retraining Workflow ({exc})") from None
    s3.put_object(
        Bucket=config.bucket,
        Key=marker,
        Body=json.dumps({"submitted": now.isoformat(), "reason": reason}).encode(),
    )
    return True


def run(config: Config, now: datetime) -> dict[str, Any]:
    s3 = s3_client()
    captures = read_captures(s3, config, now)
    reference = reference_frame(s3, config)
    absent = [f for f in [*config.features, "prediction"] if f not in reference.columns]
    if absent:
        raise MonitorError(
            4,
            f"the reference {config.reference_uri} lacks {absent}: it must have every declared feature and the prediction",
        )
    raw = features_frame(captures)
    unknown = sorted(set(raw.columns) - set(config.features))
    if not set(config.features) & set(raw.columns):
        raise MonitorError(
            4,
            f"no declared feature appears in the captures (they carry {sorted(raw.columns)}): the server and monitor.features disagree",
        )
    current = pd.DataFrame(
        {
            f: typed(raw[f] if f in raw else pd.Series(None, index=raw.index, dtype="object"), k)
            for f, k in config.features.items()
        }
    )
    current["prediction"] = captures["prediction"]
    online_mask = captures["source"] == "online"
    if not online_mask.any():
        raise MonitorError(
            3,
            f"the window holds no online predictions of {config.model} (only {sorted(captures['source'].unique())})",
        )
    online_rows = captures[online_mask]
    version = str(online_rows["version"].mode().iloc[0])
    prediction_kind = "categorical" if config.task == "classification" else "numerical"
    ref = pd.DataFrame({f: typed(reference[f], k) for f, k in config.features.items()})
    ref["prediction"] = typed(reference["prediction"], prediction_kind)
    cur = current[online_mask].copy()
    cur["prediction"] = typed(cur["prediction"], prediction_kind)
    # A feature no captured row carries has no distribution to compare: data quality reports it
    # (missing in every row), drift is measured on the others.
    measured = {f: k for f, k in config.features.items() if cur[f].notna().any() and ref[f].notna().any()}
    scores, snapshot = drift(cur, ref, {**measured, "prediction": prediction_kind}, config.drift_threshold)
    feature_scores = {f: s for f, s in scores.items() if f != "prediction"}
    drifted_share = sum(s > config.drift_threshold for s in feature_scores.values()) / max(
        1, len(feature_scores)
    )
    quality_checks = data_quality(cur, raw[online_mask], reference, config.features)

    labels_summary: dict[str, float] = {}
    if config.labels_prefix:
        label_frames = [
            read_table(s3, config.bucket, k) for k in keys_under(s3, config.bucket, config.labels_prefix)
        ]
        if label_frames:
            labels = pd.concat(label_frames, ignore_index=True)
            if not {"key", "label"} <= set(labels.columns):
                raise MonitorError(
                    4,
                    f"labels under s3://{config.bucket}/{config.labels_prefix} need the columns key and label (got {sorted(labels.columns)})",
                )
            labels_summary = model_quality(online_rows, labels, config.task)

    samples: list[tuple[str, dict[str, str], float]] = []
    common = {"version": version}
    for source in SOURCES:
        samples.append(
            ("mlops_monitor_rows", {**common, "source": source}, float((captures["source"] == source).sum()))
        )
    for feature, score in sorted(feature_scores.items()):
        samples.append(("mlops_monitor_feature_drift", {**common, "feature": feature}, score))
    samples.append(("mlops_monitor_drifted_features_share", common, drifted_share))
    samples.append(("mlops_monitor_prediction_drift", common, scores["prediction"]))
    for check, feature, share in quality_checks:
        samples.append(
            ("mlops_monitor_data_quality_share", {**common, "check": check, "feature": feature}, share)
        )
    samples.append(("mlops_monitor_unexpected_features", common, float(len(unknown))))
    for metric, value in sorted(labels_summary.items()):
        if metric == "labelled_rows":
            samples.append(("mlops_monitor_labelled_rows", common, value))
        else:
            samples.append(("mlops_monitor_model_quality", {**common, "metric": metric}, value))
    agreements: dict[str, float] = {}
    for source in ("shadow", "batch"):
        for other_version, rows in captures[captures["source"] == source].groupby("version"):
            share = agreement(online_rows, rows, config.task)
            if share is not None:
                agreements[f"{source}:{other_version}"] = share
                samples.append(
                    (
                        f"mlops_monitor_{source}_agreement",
                        {**common, f"{source}_version": str(other_version)},
                        share,
                    )
                )

    retrain_reason = None
    if config.retrain_on == "drift" and drifted_share > 0:
        retrain_reason = f"{drifted_share:.0%} of features drifted (PSI > {config.drift_threshold})"
    elif config.retrain_on == "quality":
        below = {
            m: v
            for m, v in labels_summary.items()
            if m in config.quality_floor and v < config.quality_floor[m]
        }
        if below:
            retrain_reason = f"quality below its floor: {below}"
    submitted = (
        bool(retrain_reason)
        and config.retrain is not None
        and submit_retraining(s3, config, retrain_reason or "", now)
    )
    if submitted:
        samples.append(("mlops_monitor_retrain_submitted_timestamp_seconds", common, now.timestamp()))
    samples.append(("mlops_monitor_last_success_timestamp_seconds", {}, now.timestamp()))

    summary = {
        "model": config.model,
        "version": version,
        "window_days": config.window_days,
        "rows": {s: int((captures["source"] == s).sum()) for s in SOURCES},
        "feature_drift": feature_scores,
        "prediction_drift": scores["prediction"],
        "drifted_features_share": drifted_share,
        "data_quality": [{"check": c, "feature": f, "share": s} for c, f, s in quality_checks],
        "unexpected_features": unknown,
        "model_quality": labels_summary,
        "agreement": agreements,
        "retrain": {"reason": retrain_reason, "submitted": submitted},
    }
    stamp = now.strftime("%Y-%m-%dT%H-%M-%SZ")
    try:
        s3.put_object(
            Bucket=config.bucket,
            Key=f"{config.reports_prefix}{stamp}/summary.json",
            Body=json.dumps(summary, indent=2).encode(),
        )
        s3.put_object(
            Bucket=config.bucket,
            Key=f"{config.reports_prefix}{stamp}/report.json",
            Body=snapshot.json().encode(),
        )
        s3.put_object(
            Bucket=config.bucket,
            Key=f"{config.reports_prefix}{stamp}/report.html",
            Body=snapshot.get_html_str(as_iframe=False).encode(),
            ContentType="text/html",
        )
    except Exception as exc:
        raise MonitorError(
            6, f"could not write the report to s3://{config.bucket}/{config.reports_prefix} ({exc})"
        ) from None
    push(config, exposition(config.model, samples))
    return summary


def main() -> int:
    now = datetime.fromtimestamp(float(os.environ.get("MONITOR_NOW", time.time())), tz=UTC)
    try:
        config = Config.load(os.environ.get(CONFIG_ENV))
        summary = run(config, now)
    except MonitorError as exc:
        print(f"model-monitor: {exc}", file=sys.stderr)
        return exc.code
    print(
        json.dumps(
            {
                k: summary[k]
                for k in ("model", "version", "rows", "drifted_features_share", "model_quality", "retrain")
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
