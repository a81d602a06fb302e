"""What one run of each batch scoring job costs: its shards, each taking its dominant share of a
node of its pool (the node's price, spot-discounted where the pool is spot), for the run's expected
minutes. Runs are not monthly lines: how often they run is the schedule's business, and an on-demand
job has none."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from mlops_platform.components.lifecycle.batch_scoring import (
    EXPECTED_MINUTES_ANNOTATION,
    SHARDS_ANNOTATION,
)
from mlops_platform.components.support import kube
from mlops_platform.infra.cost.placement import NodeShape, Owner, Pod
from mlops_platform.infra.cost.recorder import Observed, _get
from mlops_platform.infra.cost.scenarios import CENT
from mlops_platform.infra.cost.workloads import SYSTEM_POOL, requests_of

WORKFLOW_TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"


def batch_runs(
    observed: list[Observed], pool_nodes: Mapping[str, tuple[NodeShape, Decimal]]
) -> tuple[dict[str, dict[str, Any]], list[str], list[str]]:
    """``team/model`` -> the cost of one run and what it assumes; the jobs that could not be priced
    (deploy-time values), with the reason; and the problems (a shard no node of its pool holds)."""
    runs: dict[str, dict[str, Any]] = {}
    unpriced: list[str] = []
    problems: list[str] = []
    for template in (o for o in observed if o.type == WORKFLOW_TEMPLATE):
        metadata = _get(template.props, "metadata", default={})
        annotations = _get(metadata, "annotations", default={})
        if not isinstance(annotations, Mapping) or SHARDS_ANNOTATION not in annotations:
            continue  # a training pipeline: priced by the nodes it runs on, not per run
        labels = _get(metadata, "labels", default={})
        key = f"{labels.get(kube.TEAM_LABEL)}/{labels.get(kube.MODEL_LABEL)}"
        shard = next(
            t for t in _get(template.props, "spec", "templates", default=[]) if t.get("name") == "shard"
        )
        requested = requests_of({"containers": [shard["container"]]})
        pool = str(_get(shard, "nodeSelector", kube.GPU_POOL_LABEL, default=SYSTEM_POOL))
        if requested is None or pool not in pool_nodes:
            unpriced.append(f"{key}: its requests or its pool's nodes are only known at deploy time")
            continue
        shape, hourly = pool_nodes[pool]
        share = shape.share(Pod(Owner(labels.get(kube.TEAM_LABEL, "")), *requested))
        if share > 1:
            problems.append(
                f"batch scoring of {key}: a shard requests more than one {shape.instance_type} of pool "
                f"{pool or 'system'} offers ({share:.2f} of a node); lower batch.cpu or batch.memory"
            )
            continue
        shards = int(annotations[SHARDS_ANNOTATION])
        minutes = int(annotations[EXPECTED_MINUTES_ANNOTATION])
        cost = hourly * share * shards * Decimal(minutes) / 60
        runs[key] = {
            "costPerRun": float(cost.quantize(CENT)),
            "shards": shards,
            "expectedMinutes": minutes,
            "instanceType": shape.instance_type,
            "nodeSharePerShard": float(share.quantize(Decimal("0.001"))),
            "pool": pool or "system",
        }
    return runs, unpriced, problems
