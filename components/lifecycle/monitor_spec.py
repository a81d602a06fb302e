"""``ModelMonitorSpec``: the ``monitor`` block of a model. It turns on prediction capture (with a
sampling rate) and a scheduled monitor job: drift, data quality, model quality from late labels,
shadow and batch agreement, and optionally a retraining trigger (docs/monitoring.md).

It lives apart from ``ModelMonitor`` because the model's own spec holds it: serving imports this
module, and the component imports serving.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field
from typing import Literal

from mlops_platform.components.data.artifact_store import store_prefix_problems
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, bounds_problems, cron_problems

FeatureKind = Literal["numerical", "categorical"]
ModelTask = Literal["classification", "regression"]
RetrainOn = Literal["none", "drift", "quality"]

QUALITY_METRICS = {"classification": ("accuracy", "auc"), "regression": ("mae", "rmse")}
"""What the monitor computes per task. Higher is better for accuracy and AUC, lower for the errors."""
LOWER_IS_BETTER = frozenset({"mae", "rmse"})
_FEATURE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


@spec
class ModelMonitorSpec:
    """Prediction capture and the monitor job of one model."""

    features: Mapping[str, FeatureKind]
    """The model's input features and their kinds (``numerical`` or ``categorical``), as the server
    records them in each capture's ``features``."""
    task: ModelTask
    """``classification`` (quality as accuracy, and AUC when the server records a score) or
    ``regression`` (MAE and RMSE): what prediction drift and quality mean."""
    reference: str
    """Artifact-store prefix of the reference set: Parquet, CSV or JSON-lines files with every
    feature and a ``prediction`` column, e.g. ``datasets/risk/fraud/reference/``."""
    reference_run: str | None = None
    """MLflow run ID whose logged input dataset is the reference instead (it must lie under
    ``reference``, the prefix the job may read). Needs ``mlflowSecret``. Default: none."""
    mlflow_secret: str | None = None
    """Platform secret (``secrets.entries``) with the MLflow ``username`` and ``password``, for
    ``referenceRun``. Default: none."""
    sampling_rate: float = 1.0
    """Share of requests the server records (0 < rate <= 1). Default: 1 (all)."""
    schedule: str = "0 3 * * *"
    """When the monitor job runs (cron, UTC unless ``timezone``). Default: daily at 03:00."""
    timezone: str = "UTC"
    """Time zone of ``schedule``. Default: UTC."""
    window_days: int = 1
    """Days of captures each run compares with the reference. Default: 1."""
    stale_after_hours: int = 50
    """ModelMonitorStale fires when no run has succeeded for this long. Default: 50 (two daily runs missed)."""
    labels: bool = False
    """Late labels arrive under ``labels/<team>/<model>/`` (``key``, ``label``); turns on model
    quality. Default: off."""
    drift_threshold: float = 0.2
    """PSI above which a feature (or the prediction) counts as drifted. Default: 0.2."""
    data_quality_threshold: float = 0.05
    """Share of rows with a missing, mistyped, out-of-range or new-category value above which
    ModelDataQuality fires. Default: 0.05."""
    quality_floor: Mapping[str, float] = field(default_factory=dict)
    """Metric -> its bound: a minimum for ``accuracy`` and ``auc``, a maximum for ``mae`` and
    ``rmse``. Needs ``labels``. Default: none."""
    agreement_floor: float = 0.95
    """Least share of the same requests a shadow or batch version answers as the online one does.
    Default: 0.95."""
    retrain_on: RetrainOn = "none"
    """``drift`` (a feature past ``driftThreshold``) or ``quality`` (a metric past its
    ``qualityFloor``): the job submits the model's training pipeline when that condition holds. Without a pipeline there is nothing to submit: configure one or keep ``none`` (alerts
    only). Default: none."""
    retrain_pipeline: str | None = None
    """The team's training pipeline (``teams[].pipelines[].name``, its WorkflowTemplate) to submit;
    required with ``retrainOn``. Default: none."""
    retrain_cooldown_hours: int = 72
    """No second submission within this many hours. Default: 72."""

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if not self.features:
            found.append(Problem("features", "must name at least one feature, e.g. {amount: numerical}"))
        for feature in self.features:
            if not _FEATURE.match(feature):
                found.append(
                    Problem(
                        f"features.{feature}",
                        "must be an identifier (letters, digits, _), at most 63 characters",
                    )
                )
        found += store_prefix_problems("reference", self.reference, "datasets/risk/fraud/reference/")
        if self.reference_run is not None:
            if not _RUN_ID.match(self.reference_run):
                found.append(
                    Problem(
                        "reference_run",
                        f"must be an MLflow run ID (32 hex characters; got {self.reference_run!r})",
                    )
                )
            if self.mlflow_secret is None:
                found.append(
                    Problem(
                        "mlflow_secret",
                        "is required with <<reference_run>>: the job reads the run from MLflow",
                    )
                )
        if not 0 < self.sampling_rate <= 1:
            found.append(Problem("sampling_rate", f"must be > 0 and <= 1 (got {self.sampling_rate:g})"))
        found += cron_problems("schedule", self.schedule)
        found += bounds_problems(
            self,
            {
                "window_days": (1, 90),
                "stale_after_hours": (1, 24 * 31),
                "drift_threshold": (0.01, 10),
                "data_quality_threshold": (0, 1),
                "agreement_floor": (0, 1),
                "retrain_cooldown_hours": (1, 24 * 90),
            },
        )
        known = QUALITY_METRICS[self.task]
        for metric in self.quality_floor:
            if metric not in known:
                found.append(
                    Problem(
                        f"quality_floor.{metric}",
                        f"is not a {self.task} metric; use {' or '.join(known)}",
                    )
                )
        if self.quality_floor and not self.labels:
            found.append(Problem("quality_floor", "needs <<labels>>: quality is computed from late labels"))
        if self.retrain_on != "none" and self.retrain_pipeline is None:
            found.append(
                Problem(
                    "retrain_pipeline",
                    f"is required with <<retrain_on>>: {self.retrain_on} (the pipeline to submit)",
                )
            )
        if self.retrain_on == "quality" and not self.quality_floor:
            found.append(Problem("retrain_on", "quality needs a <<quality_floor>> to compare with"))
        return found

    def labels_prefix(self, team: str, model: str) -> str:
        return f"labels/{team}/{model}/"
