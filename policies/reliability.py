"""Reliability rules: what must survive failures and mistakes, mostly in prod."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, Severity

from mlops_platform.policies.capacity import CAPACITY_TYPES, capacity, pod_sets
from mlops_platform.policies.documents import descendants
from mlops_platform.policies.rule import (
    Area,
    RuleSet,
    get,
    integer_setting,
)

_rules = RuleSet(Area.RELIABILITY, per_environment=True)
_rule = _rules.rule
RULES = _rules.rules

STATEFUL_TYPES = (
    "aws:s3/bucket:Bucket",
    "aws:rds/instance:Instance",
    "aws:ecr/repository:Repository",
    "aws:kms/key:Key",
    "aws:secretsmanager/secret:Secret",
)


@_rule("rds-multi-az-prod", types=("aws:rds/instance:Instance",))
def rds_multi_az(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Prod databases keep a standby in a second availability zone.

    Fix: Set mlflow.database.multiAz: true in prod.
    """
    if config["environment"] == "prod" and props.get("multiAz") is not True:
        yield "the prod database is single-AZ"


@_rule(
    "rds-backup-retention",
    types=("aws:rds/instance:Instance",),
    config={"minimumDays": integer_setting(7, "Minimum retention.", minimum=1, maximum=35)},
)
def rds_backups(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Databases keep automated backups long enough to recover from a mistake found late.

    Fix: Raise backupRetentionPeriod (mlflow.database.backupRetentionDays).
    """
    days = props.get("backupRetentionPeriod") or 0
    if days < config["minimumDays"]:
        yield f"backups are kept {days} days (minimum {config['minimumDays']})"


@_rule("rds-deletion-protection-prod", types=("aws:rds/instance:Instance",))
def rds_deletion(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Prod databases refuse deletion and take a final snapshot when deleted anyway.

    Fix: Set mlflow.database.deletionProtection and finalSnapshot to true.
    """
    if config["environment"] != "prod":
        return
    if props.get("deletionProtection") is not True:
        yield "deletion protection is off"
    if props.get("skipFinalSnapshot") is True:
        yield "no final snapshot on deletion"


@_rule("log-group-retention", severity=Severity.MEDIUM, types=("aws:cloudwatch/logGroup:LogGroup",))
def log_retention(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """CloudWatch log groups expire logs; none keeps them (and their cost) forever.

    Fix: Set retentionInDays (observability.logRetentionDays).
    """
    if not props.get("retentionInDays"):
        yield "logs are kept forever"


@_rule("gpu-node-group-tainted", types=CAPACITY_TYPES)
def gpu_taint(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """GPU node groups and Karpenter GPU NodePools carry the nvidia.com/gpu NoSchedule taint, so only
    GPU workloads occupy GPU nodes.

    Fix: Add taints: [{key: nvidia.com/gpu, value: 'true', effect: NO_SCHEDULE}] (components.GpuNodePool
    does, for both provisioners).
    """
    found = capacity(props)
    if found is not None and found.gpu and not found.gpu_tainted:
        yield f"the GPU {found.kind} has no nvidia.com/gpu NoSchedule taint"


def _selector_matches(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    wanted = get(selector, "matchLabels", default={})
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


@_rule("pdb-for-multi-replica-prod", stack=True)
def pdb_prod(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """In prod every Deployment, and every live version of a Rollout, that runs two or more replicas has a PodDisruptionBudget, so a node drain never takes all of them down.

    Fix: Add a PodDisruptionBudget selecting the Deployment's pods (ModelEndpoint does when replicas.min >= 2).
    """
    if config["environment"] != "prod":
        return
    budgets = [r for r in resources if r.resource_type == "kubernetes:policy/v1:PodDisruptionBudget"]
    for pods in pod_sets(resources):
        replicas = pods.replicas[0]
        if replicas < 2:
            continue
        labels = get(pods.template, "metadata", "labels", default={})
        covered = any(
            get(b.props, "metadata", "namespace") == pods.namespace
            and _selector_matches(get(b.props, "spec", "selector", default={}), labels)
            for b in budgets
        )
        if not covered:
            kind = pods.resource.resource_type.rsplit(":", 1)[1]
            yield (
                pods.resource.urn,
                f"{kind} {pods.namespace}/{pods.name} runs {replicas} replicas without a PodDisruptionBudget",
            )


@_rule("stateful-resources-protected-prod", severity=Severity.CRITICAL, stack=True)
def protected(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """In prod every stateful resource (bucket, database, registry, key, secret) is protected from deletion.

    Fix: Create it with components.environment.stateful_options (protect in prod).
    """
    if config["environment"] != "prod":
        return
    for resource in resources:
        if resource.resource_type in STATEFUL_TYPES and not resource.opts.protect:
            yield (
                resource.urn,
                f"{resource.resource_type.rsplit(':', 1)[-1]} {resource.name} is not protected",
            )


@_rule("model-endpoint-slo-alerts", stack=True)
def endpoint_slo(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """Every ModelEndpoint has SLO burn-rate alert rules.

    Fix: Give the model an slo (availabilityTarget, latencyP95Ms).
    """
    for endpoint in (r for r in resources if r.resource_type == "mlops:model_endpoint:ModelEndpoint"):
        if not any(
            d.resource_type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
            for d in descendants(resources, endpoint)
        ):
            yield endpoint.urn, f"ModelEndpoint {endpoint.name} has no SLO alert rules"
