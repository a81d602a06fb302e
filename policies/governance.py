"""Governance rules: the audit trail exists where it must and covers every bucket that holds models;
stage and prod run model images by digest."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, Severity

from mlops_platform.components.support import kube
from mlops_platform.components.support.tagging import MODELS_PURPOSE_TAG
from mlops_platform.policies.documents import dependents, of_type
from mlops_platform.policies.rule import Area, RuleSet, as_list, get, integer_setting

_rules = RuleSet(Area.GOVERNANCE, severity=Severity.HIGH, per_environment=True)
_rule = _rules.rule
RULES = _rules.rules

TRAIL = "aws:cloudtrail/trail:Trail"
BUCKET = "aws:s3/bucket:Bucket"
OBJECT_LOCK = "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration"
Pairs = Iterable[tuple[str, str]]


def _trail_bucket(resources: Sequence[PolicyResource], trail: PolicyResource) -> PolicyResource | None:
    return next(
        (b for b in of_type(resources, BUCKET) if trail in dependents(resources, b, TRAIL, "s3BucketName")),
        None,
    )


@_rule(
    "audit-trail-prod",
    stack=True,
    config={
        "minimumRetentionDays": integer_setting(365, "Days the audit bucket's Object Lock keeps each log.")
    },
)
def audit_trail_prod(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """Prod has a multi-region CloudTrail trail with log file validation and a KMS key, writing to a
    bucket with S3 Object Lock in compliance mode for at least the minimum retention.

    Fix: Keep the platform's AuditTrail (components.AuditTrail) in the stack, with audit.retentionDays
    of at least 365.
    """
    if config["environment"] != "prod":
        return
    trails = of_type(resources, TRAIL)
    if not trails:
        yield "", "prod has no CloudTrail trail: nothing records who changed the platform or its models"
        return
    for trail in trails:
        props = trail.props
        missing = [
            what
            for what, ok in (
                ("isMultiRegionTrail", props.get("isMultiRegionTrail") is True),
                ("enableLogFileValidation", props.get("enableLogFileValidation") is True),
                ("kmsKeyId", bool(props.get("kmsKeyId"))),
            )
            if not ok
        ]
        if missing:
            yield trail.urn, f"trail {trail.name} lacks {', '.join(missing)}"
        bucket = _trail_bucket(resources, trail)
        locks = dependents(resources, bucket, OBJECT_LOCK) if bucket is not None else []
        retention = [get(lock.props, "rule", "defaultRetention", default={}) for lock in locks]
        if (
            bucket is None
            or bucket.props.get("objectLockEnabled") is not True
            or not any(
                r.get("mode") == "COMPLIANCE" and (r.get("days") or 0) >= config["minimumRetentionDays"]
                for r in retention
            )
        ):
            yield (
                trail.urn,
                f"trail {trail.name} writes to a bucket without Object Lock in COMPLIANCE mode for "
                f"{config['minimumRetentionDays']} days or more: its logs could be deleted",
            )


@_rule("model-buckets-audited", stack=True)
def model_buckets_audited(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """Every bucket tagged as holding models (``mlops-platform.io/purpose: models``) has its object-level
    (data) events recorded by a trail, so a changed model artifact always has a name and a time.

    Fix: Record the bucket's prefixes in a trail's data-event selector (AuditTrail does for the
    artifact store's audit.modelPrefixes).
    """
    key, value = MODELS_PURPOSE_TAG
    covered = {
        bucket.urn
        for bucket in of_type(resources, BUCKET)
        for trail in dependents(resources, bucket, TRAIL, "advancedEventSelectors")
        if any(
            "AWS::S3::Object" in as_list(selector.get("equals"))
            for group in as_list(trail.props.get("advancedEventSelectors"))
            for selector in as_list(group.get("fieldSelectors"))
        )
    }
    for bucket in of_type(resources, BUCKET):
        if get(bucket.props, "tags", key) == value and bucket.urn not in covered:
            yield bucket.urn, f"bucket {bucket.name} holds models but no trail records its data events"


@_rule(
    "model-image-digest", types=("kubernetes:apps/v1:Deployment", "kubernetes:argoproj.io/v1alpha1:Rollout")
)
def model_image_digest(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """In stage and prod, a model server's image is referred to by digest: a tag can be moved to
    another image after review, a digest cannot.

    Fix: Set imageDigest on the model version (models[].stable/canary.imageDigest).
    """
    if config["environment"] not in ("stage", "prod"):
        return
    if get(props, "metadata", "labels", kube.MODEL_LABEL) is None:
        return
    for container in as_list(get(props, "spec", "template", "spec", "containers")):
        image = str(container.get("image", ""))
        if "@sha256:" not in image:
            yield f"model container {container.get('name')} runs {image!r}, not an image digest"


ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
MONITORING_KINDS = ("capture", "drift", "quality")


def monitored_models(resources: Sequence[PolicyResource]) -> list[tuple[str, int, set[str]]]:
    """(model, tier, what watches it) for every model the stack serves, from its Rollout's
    annotations (``ModelEndpoint`` writes them from ``tier`` and ``monitor``)."""
    found = []
    for rollout in of_type(resources, ROLLOUT):
        annotations = get(rollout.props, "metadata", "annotations", default={}) or {}
        tier = str(annotations.get(kube.TIER_ANNOTATION, "2"))
        kinds = {k for k in str(annotations.get(kube.MONITORING_ANNOTATION, "")).split(",") if k}
        name = get(rollout.props, "metadata", "name", default=rollout.name)
        found.append((str(name), int(tier) if tier.isdigit() else 2, kinds))
    return sorted(found)


def monitoring_coverage(models: Sequence[tuple[str, int, set[str]]]) -> dict[int, dict[str, Any]]:
    """Tier -> the number of models and, per kind of monitoring, how many have it."""
    coverage: dict[int, dict[str, Any]] = {}
    for _, tier, kinds in models:
        row = coverage.setdefault(tier, {"models": 0, **dict.fromkeys(MONITORING_KINDS, 0)})
        row["models"] += 1
        for kind in kinds & set(MONITORING_KINDS):
            row[kind] += 1
    return dict(sorted(coverage.items()))


def coverage_table(coverage: Mapping[int, Mapping[str, Any]]) -> str:
    """The coverage figure as ``blueprint check`` prints it."""
    if not coverage:
        return "Monitoring coverage: the stack serves no model.\n"
    lines = ["Monitoring coverage (models with each kind of monitoring, by tier):"]
    for tier, row in coverage.items():
        cells = [
            f"{kind} {row[kind]}/{row['models']} ({row[kind] / row['models']:.0%})"
            for kind in MONITORING_KINDS
        ]
        lines.append(f"  tier {tier}: {row['models']} model(s): " + ", ".join(cells))
    return "\n".join(lines) + "\n"


@_rule("model-monitoring-tier-1", stack=True)
def model_monitoring_tier_1(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """In prod, every tier-1 model has prediction capture, drift and quality monitoring.

    Fix: Give the model a monitor block with labels: true (models[].monitor; docs/monitoring.md), or
    lower its tier.
    """
    if config["environment"] != "prod":
        return
    urns = {get(r.props, "metadata", "name", default=r.name): r.urn for r in of_type(resources, ROLLOUT)}
    for name, tier, kinds in monitored_models(resources):
        missing = [k for k in MONITORING_KINDS if k not in kinds]
        if tier == 1 and missing:
            yield urns.get(name, ""), f"tier-1 model {name} lacks {', '.join(missing)} monitoring"
