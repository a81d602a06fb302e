"""``CostRecorder``: a stack transformation that sees every resource the program constructs, in
``pulumi up`` and in offline synthesis alike, and keeps the few plain inputs that cost money."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi import _types as pulumi_types

from mlops_platform.components.support import helm
from mlops_platform.components.support.validation import to_camel

# --- what the program registers -------------------------------------------------------------------

UNKNOWN = object()
"""Stands for an input only known at deploy time (an Output)."""

PRICED_TYPES = frozenset(
    {
        "aws:eks/cluster:Cluster",
        "aws:eks/nodeGroup:NodeGroup",
        "aws:ec2/launchTemplate:LaunchTemplate",
        "aws:ec2/natGateway:NatGateway",
        "aws:rds/instance:Instance",
        "aws:kms/key:Key",
        "aws:secretsmanager/secret:Secret",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:ecr/repository:Repository",
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:core/v1:Service",
        "kubernetes:apps/v1:Deployment",
        "kubernetes:argoproj.io/v1alpha1:Rollout",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:keda.sh/v1alpha1:ScaledObject",
        "kubernetes:karpenter.sh/v1:NodePool",
        "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
        "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate",
    }
)
"""Types whose inputs the recorder keeps; everything else only counts for attribution."""
RELEASE = "kubernetes:helm.sh/v3:Release"
EKS_ADDON = "aws:eks/addon:Addon"
DECLARING_TYPES = frozenset({RELEASE, EKS_ADDON})
"""Types whose pods the program declares as a ``helm.Footprint`` where it makes them."""


def _plain(value: Any) -> Any:
    """Inputs as plain data: Outputs and other deploy-time values become UNKNOWN."""
    if isinstance(value, pulumi.Output | pulumi.Resource) or hasattr(value, "__await__"):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if pulumi_types.is_input_type(type(value)):  # typed args classes (NodeGroupScalingConfigArgs...)
        return _plain(pulumi_types.input_type_to_dict(value))
    if hasattr(value, "value") and type(value).__module__.startswith("pulumi_"):  # provider enums
        return value.value
    return value


def _get(props: Any, *path: str | int, default: Any = None) -> Any:
    """Nested lookup by snake_case names that also finds camelCase keys (typed args translate)."""
    value = props
    for key in path:
        if isinstance(key, int):
            if not isinstance(value, list) or len(value) <= key:
                return default
            value = value[key]
            continue
        if not isinstance(value, Mapping):
            return default
        if key in value:
            value = value[key]
        elif to_camel(key) in value:
            value = value[to_camel(key)]
        else:
            return default
    return default if value is None else value


@dataclass
class Observed:
    key: int
    type: str
    name: str
    parent: int | None
    props: dict[str, Any]
    region: str | None = None


class CostRecorder:
    """Sees every resource the program constructs, through a stack transformation.

    The legacy in-process transformation API is used on purpose: it runs inside the program in both
    ``pulumi up`` and the mock runtime, without the engine callbacks newer transforms need."""

    def __init__(self) -> None:
        self.observed: dict[int, Observed] = {}

    def start(self) -> CostRecorder:
        pulumi.runtime.register_stack_transformation(self._observe)
        return self

    def _observe(self, args: pulumi.ResourceTransformationArgs) -> None:
        parent = args.opts.parent if args.opts is not None else None
        props = _plain(dict(args.props)) if args.type_ in PRICED_TYPES else {}
        if args.type_ in DECLARING_TYPES:
            # What the pods request, declared where the release or add-on is made (helm.Footprint).
            footprint = helm.current_footprint()
            props = {"footprint": footprint.to_props()} if footprint is not None else {}
        region = props.get("region") if isinstance(props.get("region"), str) else None
        self.observed[id(args.resource)] = Observed(
            id(args.resource),
            args.type_,
            args.name,
            id(parent) if parent is not None else None,
            props,
            region,
        )
        return None

    def estimate(self, region: str, assumptions: Any, prices_dir: Path | None = None) -> dict[str, Any]:
        """The ``costEstimate`` document of everything seen so far (``estimate.estimate``)."""
        from mlops_platform.infra.cost.estimate import estimate

        return estimate(list(self.observed.values()), region, assumptions, prices_dir)
