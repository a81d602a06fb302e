"""How a model's versions reach traffic: the canary's steps and analysis, the shadow, A/B rules and
scale to zero. These are parts of ``ModelEndpointSpec`` (``canary``, ``shadow``, ``abTests``,
``scaleToZero``); the engines that carry them out are Argo Rollouts, Envoy Gateway and KEDA
(docs/adr/0002-progressive-delivery.md)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import TYPE_CHECKING

from mlops_platform.components.refs import GpuPoolInfo
from mlops_platform.components.serving.autoscaling import COLD_START_LIMIT_SECONDS
from mlops_platform.components.serving.model_endpoint.version import ModelVersion
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, range_problems

if TYPE_CHECKING:
    from mlops_platform.components.serving.model_endpoint.spec import ModelEndpointSpec

DEFAULT_STEPS = (5, 25, 50, 100)
"""Traffic percentages a canary walks through when its steps are not set."""
DEFAULT_MAX_ERROR_RATIO = 0.01
"""A canary's error ratio limit when its model has no SLO to take one from."""
DEFAULT_BURN_RATE = 14.4
"""The fast-burn page threshold of the SLO alerts (1h window): a canary that burns this fast aborts."""
RESERVED_VERSION_NAMES = ("stable", "canary")
"""Names of the Services Argo Rollouts points at the stable and canary pods (``<model>-stable``)."""


@spec
class CanaryAnalysis:
    """What the canary must show at every step and in the background, or it is rolled back."""

    max_error_ratio: float | None = None
    """Highest share of the canary's requests that may fail with 5xx over 5 minutes. Default: the
    SLO's error budget (1 - availabilityTarget/100, e.g. 0.001 for 99.9); 0.01 without an SLO."""
    max_latency_p95_ms: int | None = None
    """Highest p95 latency of the canary over 5 minutes. Default: the SLO's latencyP95Ms; not checked
    without an SLO."""
    max_burn_rate: float = DEFAULT_BURN_RATE
    """Highest 5-minute burn rate of the model's availability budget while the canary serves. Default:
    14.4, the SLO's page threshold. Needs an SLO."""
    interval_seconds: int = 60
    """Seconds between two measurements. Default: 60."""
    failure_limit: int = 1
    """Failed measurements tolerated before the canary is aborted. Default: 1 (one noisy minute)."""

    def problems(self) -> list[Problem]:
        found = []
        if self.max_error_ratio is not None and not 0 < self.max_error_ratio < 1:
            found.append(
                Problem(
                    "max_error_ratio", f"must be a fraction in (0, 1), e.g. 0.01 (got {self.max_error_ratio})"
                )
            )
        if self.max_latency_p95_ms is not None:
            found += range_problems("max_latency_p95_ms", self.max_latency_p95_ms, 1, 600_000)
        if not 0 < self.max_burn_rate <= 1000:
            found.append(Problem("max_burn_rate", f"must be > 0, e.g. 14.4 (got {self.max_burn_rate})"))
        found += range_problems("interval_seconds", self.interval_seconds, 10, 3600)
        found += range_problems("failure_limit", self.failure_limit, 0, 10)
        return found


@spec
class CanaryVersion(ModelVersion):
    """A new version that Argo Rollouts moves to by steps, judged by its analysis, rolled back on its own."""

    weight: int | None = None  # type: ignore[assignment]
    """Legacy fixed split: hold the canary at this percentage (stable takes the rest) until someone
    promotes it; analysis still rolls it back. Set ``weight`` or ``steps``, not both. Default: none."""
    steps: Sequence[int] | None = None
    """Traffic percentages the canary walks through, increasing, each in 1..100; ending at 100 promotes
    it. Default: 5, 25, 50, 100 (unless ``weight`` is set)."""
    pause_minutes: int = 10
    """Minutes each step holds its weight before the step's analysis decides. Default: 10."""
    analysis: CanaryAnalysis = field(default_factory=CanaryAnalysis)
    """Thresholds of the analysis. Default: from the SLO."""

    def traffic_steps(self) -> tuple[int, ...]:
        """The percentages the Rollout sets, in order."""
        if self.steps is not None:
            return tuple(self.steps)
        return (self.weight,) if self.weight is not None else DEFAULT_STEPS

    @property
    def holds(self) -> bool:
        """True for the legacy fixed split: the last step pauses until someone promotes."""
        return self.steps is None and self.weight is not None

    def share(self) -> int:
        """Traffic percentage the stack file states for this version (its first step)."""
        return self.traffic_steps()[0]

    def problems(self) -> list[Problem]:
        found = [p for p in super().problems() if p.field != "weight"]
        if self.weight is not None:
            found += range_problems("weight", self.weight, 1, 99)
            if self.steps is not None:
                found.append(
                    Problem("steps", "set steps or weight, not both (weight is the legacy fixed split)")
                )
        if self.steps is not None:
            steps = list(self.steps)
            if not steps:
                found.append(Problem("steps", "must list at least one percentage, e.g. [5, 25, 50, 100]"))
            elif any(not 1 <= s <= 100 for s in steps):
                found.append(Problem("steps", f"each step must be a percentage in 1..100 (got {steps})"))
            elif any(b <= a for a, b in itertools.pairwise(steps)):
                found.append(Problem("steps", f"must increase strictly, e.g. [5, 25, 50, 100] (got {steps})"))
        found += range_problems("pause_minutes", self.pause_minutes, 1, 1440)
        found += [p.nested("analysis") for p in self.analysis.problems()]
        return found


@spec
class Shadow:
    """A version that receives a copy of live requests; Envoy discards its answers."""

    version: ModelVersion
    """The shadowed version: its name and image (a ``weight`` here is ignored)."""
    percent: int = 100
    """Percentage of the mirrored paths' requests copied to it, in 0..100. Default: 100."""
    paths: Sequence[str] = ()
    """Idempotent paths under the model's base path that may be mirrored, e.g. ``/predict``; a
    request is sent twice, so only paths without side effects belong here. Required."""

    def problems(self) -> list[Problem]:
        found = [p.nested("version") for p in self.version.problems() if p.field != "weight"]
        if not 0 <= self.percent <= 100:
            found.append(Problem("percent", f"must be a percentage in 0..100 (got {self.percent})"))
        twice = "list the idempotent paths to mirror, e.g. [/predict]: mirrored requests run twice"
        found += [] if self.paths else [Problem("paths", twice)]
        for i, path in enumerate(self.paths):
            if not path.startswith("/") or path != path.strip() or "*" in path:
                found.append(
                    Problem(f"paths[{i}]", f"must be a path under the model such as /predict (got {path!r})")
                )
        return found


@spec
class AbTest:
    """Requests carrying a header value go to one version, ahead of the weighted split."""

    header: str
    """Request header to match, e.g. ``x-cohort``."""
    value: str
    """Exact value of that header, e.g. ``b``."""
    version: str
    """Name of the version those requests go to: the stable, the canary or the shadow's."""

    def problems(self) -> list[Problem]:
        found = []
        if not self.header or not all(c.isalnum() or c in "-_" for c in self.header):
            found.append(
                Problem("header", f"must be an HTTP header name such as x-cohort (got {self.header!r})")
            )
        if not self.value or len(self.value) > 4096:
            found.append(Problem("value", "must be a non-empty header value"))
        return found


@spec
class ScaleToZero:
    """No replica while idle: KEDA's HTTP add-on holds the first request until one is ready."""

    idle_minutes: int = 15
    """Minutes without a request before the last replica goes. Default: 15."""
    cold_start_seconds: int = 600
    """Budget for the first request after idle: a node (GPU pools: launch, boot, driver), the image
    pull and the model load. Every timeout on the path is raised to it. Default: 600."""
    max_pending_requests: int = 100
    """Requests the gateway lets wait at the interceptor during a cold start; beyond it, 503 at once.
    Default: 100."""
    reason: str | None = None
    """Why a prod model may scale to zero (prod refuses it without one). Default: none."""

    def problems(self) -> list[Problem]:
        found = range_problems("idle_minutes", self.idle_minutes, 1, 1440)
        found += range_problems("cold_start_seconds", self.cold_start_seconds, 30, COLD_START_LIMIT_SECONDS)
        found += range_problems("max_pending_requests", self.max_pending_requests, 1, 100_000)
        if self.reason is not None and not self.reason.strip():
            found.append(Problem("reason", "must say why, or be left out"))
        return found


def version_name_problems(names: dict[str, str]) -> list[Problem]:
    """``names``: field -> version name; every name must be distinct and none a reserved Service role."""
    found = []
    for field_name, version in names.items():
        if version in RESERVED_VERSION_NAMES:
            found.append(
                Problem(
                    f"{field_name}.name",
                    f"{version!r} names a Service of the Rollout; pick another such as v5",
                )
            )
    seen: dict[str, str] = {}
    for field_name, version in names.items():
        if version in seen:
            found.append(
                Problem(f"{field_name}.name", f"must differ from {seen[version]}.name (both {version!r})")
            )
        else:
            seen[version] = field_name
    return found


def delivery_problems(
    spec: ModelEndpointSpec, environment: Environment, gpu_pools: Mapping[str, GpuPoolInfo] | None
) -> list[Problem]:
    """What the canary, shadow, A/B rules and scale to zero of one endpoint get wrong, together."""
    canary, shadow, stable = spec.canary, spec.shadow, spec.stable
    names = {"stable": stable.name}
    if canary is not None:
        names["canary"] = canary.name
    if shadow is not None:
        names["shadow.version"] = shadow.version.name
    found = version_name_problems(names)
    if canary is not None:
        found += [p.nested("canary") for p in canary.problems()]
        if canary.weight is not None and stable.weight + canary.weight != 100:
            found.append(
                Problem(
                    "canary.weight",
                    f"stable and canary weights must sum to 100 (got {stable.weight} + {canary.weight} = "
                    f"{stable.weight + canary.weight})",
                )
            )
        if canary.weight is None and stable.weight != 100:
            found.append(
                Problem("stable.weight", f"must be 100 when the canary moves by steps (got {stable.weight})")
            )
    elif stable.weight != 100:
        found.append(Problem("stable.weight", f"must be 100 without a canary (got {stable.weight})"))
    if shadow is not None:
        found += [p.nested("shadow") for p in shadow.problems()]
    for i, rule in enumerate(spec.ab_tests):
        found += [p.nested(f"ab_tests[{i}]") for p in rule.problems()]
        if rule.version not in names.values():
            known = ", ".join(names.values())
            found.append(
                Problem(
                    f"ab_tests[{i}].version", f"unknown version {rule.version!r}; this model serves {known}"
                )
            )
    pairs = [(rule.header.lower(), rule.value) for rule in spec.ab_tests]
    found += [
        Problem(f"ab_tests[{i}]", f"repeats the rule {pair[0]}: {pair[1]}")
        for i, pair in enumerate(pairs)
        if pairs.index(pair) != i
    ]
    found += _scale_to_zero_problems(spec, environment, gpu_pools)
    return found


def _scale_to_zero_problems(
    spec: ModelEndpointSpec, environment: Environment, gpu_pools: Mapping[str, GpuPoolInfo] | None
) -> list[Problem]:
    elastic = spec.scale_to_zero
    if elastic is None:
        return []
    found = [p.nested("scale_to_zero") for p in elastic.problems()]
    if environment is Environment.PROD and elastic.reason is None:
        found.append(
            Problem(
                "scale_to_zero.reason",
                "is required in prod: the first request after idle waits for a node, a pull and a load; "
                "say why this model may (or drop scaleToZero and keep replicas.min >= 1)",
            )
        )
    if spec.ab_tests:
        found.append(
            Problem(
                "scale_to_zero",
                "cannot combine with abTests: requests to a model at zero pass the KEDA interceptor, which "
                "routes by path to one Service; drop the A/B rules or scaleToZero",
            )
        )
    pool = (gpu_pools or {}).get(spec.resources.gpu_pool or "")
    start = pool.node_start_seconds if pool is not None else None
    if start is not None and elastic.cold_start_seconds < start:
        found.append(
            Problem(
                "scale_to_zero.cold_start_seconds",
                f"{elastic.cold_start_seconds} s is shorter than GPU pool {spec.resources.gpu_pool!r} takes to "
                f"start a node ({start} s, its nodeStartSeconds), before any pull or load: raise it",
            )
        )
    return found
