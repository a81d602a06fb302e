"""What a model endpoint serves and how: the spec of ``ModelEndpoint``, which is also the
``models[]`` entry of a stack file."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from enum import StrEnum

from mlops_platform.components.lifecycle.monitor_spec import ModelMonitorSpec
from mlops_platform.components.observability.alerting import ServiceLevelObjective
from mlops_platform.components.refs import GpuPoolInfo
from mlops_platform.components.serving.model_endpoint.delivery import (
    AbTest,
    CanaryVersion,
    ScaleToZero,
    Shadow,
    delivery_problems,
)
from mlops_platform.components.serving.model_endpoint.version import ModelVersion
from mlops_platform.components.serving.team_namespace import NamespaceQuota
from mlops_platform.components.support import kube
from mlops_platform.components.support.aws import certificate_problem
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.exporters import DEFAULT_LATENCY_BUCKETS, bucket_label
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, dns_label_problem, range_problems

_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PATH = re.compile(r"^/[A-Za-z0-9_./-]*$")
_PREFIX = re.compile(r"^([a-z0-9][a-z0-9._-]*/)+$")
RESERVED_ENV = (
    "MODEL_NAME",
    "MODEL_VERSION",
    "MODEL_URI",
    "BASE_PATH",
    "PORT",
    "LATENCY_BUCKETS",
    "MODEL_TRAFFIC",
    "REQUEST_ID_HEADER",
    "CAPTURE_SAMPLE_RATE",
)
"""Environment variables the platform sets itself; user env may not override them."""


@spec
class ComputeResources:
    """What one replica requests (requests equal limits for GPUs; memory limit equals request)."""

    cpu: str = "1"
    """CPU request. Default: 1."""
    memory: str = "2Gi"
    """Memory request and limit. Default: 2Gi."""
    cpu_limit: str | None = None
    """CPU limit. Default: twice the request."""
    gpus: int = 0
    """``nvidia.com/gpu`` per replica. Default: 0."""
    gpu_pool: str | None = None
    """GPU pool to run on; required when ``gpus`` > 0."""
    shared_gpu: bool = False
    """Run on a time slice of a GPU (the pool's ``timeSlicingReplicas``), for models too small to
    fill one: no memory or fault isolation from the other slices; ``gpus`` must be 1. The cost model
    charges 1/N of the GPU. Default: off (whole GPUs)."""

    def problems(self) -> list[Problem]:
        found = []
        for name in ("cpu", "memory", "cpu_limit"):
            value = getattr(self, name)
            if value is not None and not _QUANTITY.match(value):
                found.append(
                    Problem(name, f"must be a Kubernetes quantity such as 500m, 2 or 4Gi (got {value!r})")
                )
        found += range_problems("gpus", self.gpus, 0, 16)
        if self.gpus > 0 and not self.gpu_pool:
            found.append(
                Problem("gpu_pool", f"must name a GPU pool when gpus > 0 (got gpus={self.gpus} and no pool)")
            )
        if self.gpu_pool and self.gpus == 0:
            found.append(Problem("gpus", f"must be >= 1 to run on GPU pool {self.gpu_pool!r} (got 0)"))
        if self.shared_gpu and self.gpus != 1:
            found.append(
                Problem("gpus", f"must be 1 with shared_gpu: a replica takes one slice (got {self.gpus})")
            )
        return found

    def cpu_limit_value(self) -> str:
        if self.cpu_limit:
            return self.cpu_limit
        if self.cpu.endswith("m"):
            return f"{int(float(self.cpu[:-1]) * 2)}m"
        return str(float(self.cpu) * 2).removesuffix(".0")


@spec
class Replicas:
    min: int = 1
    """Replicas kept at all times. Default: 1."""
    max: int = 3
    """Upper bound for the autoscaler. Default: 3."""

    def problems(self) -> list[Problem]:
        found = []
        found += range_problems("min", self.min, 1, 1000)
        if self.max < self.min:
            found.append(Problem("max", f"must be >= replicas.min (got {self.max} < {self.min})"))
        return found


class ScalingMetric(StrEnum):
    CPU = "cpu"
    """Average CPU utilisation of the pods."""
    CUSTOM = "custom"
    """A per-pod metric served by a metrics adapter (e.g. requests in flight)."""


@spec
class Autoscaling:
    metric: ScalingMetric = ScalingMetric.CPU
    """What the autoscaler follows. Default: CPU."""
    target_cpu_utilization: int = 70
    """Target average CPU utilisation, in percent. Default: 70."""
    custom_metric: str | None = None
    """Name of the per-pod metric, with ``metric: custom``."""
    target_value: str | None = None
    """Target average value of that metric per pod, e.g. ``10``."""

    def problems(self) -> list[Problem]:
        found = []
        if self.metric is ScalingMetric.CPU and not 10 <= self.target_cpu_utilization <= 95:
            found.append(
                Problem(
                    "target_cpu_utilization", f"must be between 10 and 95 (got {self.target_cpu_utilization})"
                )
            )
        if self.metric is ScalingMetric.CUSTOM:
            if not self.custom_metric:
                found.append(Problem("custom_metric", "must name the metric when metric is custom"))
            if not self.target_value or not _QUANTITY.match(self.target_value):
                found.append(
                    Problem(
                        "target_value", f"must be a quantity such as 10 or 500m (got {self.target_value!r})"
                    )
                )
        return found


@spec
class ServiceLevel:
    availability_target: float = 99.9
    """Percentage of requests that must not fail with 5xx over 30 days. Default: 99.9."""
    latency_p95_ms: int = 500
    """95% of requests must finish within this many milliseconds. Default: 500."""


@spec
class HealthChecks:
    liveness_path: str = "/healthz"
    """Liveness probe path. Default: /healthz."""
    readiness_path: str = "/ready"
    """Readiness probe path (also the load balancer's health check). Default: /ready."""
    startup_seconds: int = 600
    """Time a replica may take to load its model before liveness applies. Default: 600."""

    def problems(self) -> list[Problem]:
        found = [
            Problem(n, f"must be an absolute path (got {getattr(self, n)!r})")
            for n in ("liveness_path", "readiness_path")
            if not _PATH.match(getattr(self, n))
        ]
        found += range_problems("startup_seconds", self.startup_seconds, 10, 3600)
        return found


@spec
class SecretEnv:
    """An environment variable filled from a platform secret (through an ExternalSecret)."""

    env: str
    """Environment variable name."""
    secret: str
    """Secret path under the platform prefix (``<project>/<env>/<secret>``)."""
    property: str | None = None
    """JSON property of the secret. Default: the whole value."""


@spec
class ModelEndpointSpec:
    """One model served from its own image; the component's name is the model's name."""

    team: str
    """Owning team; its namespace."""
    stable: ModelVersion
    """The version serving most traffic."""
    canary: CanaryVersion | None = None
    """A new version Argo Rollouts moves traffic to by steps, judged by its analysis and rolled back
    on its own. Default: none."""
    shadow: Shadow | None = None
    """A version that gets a copy of the idempotent requests; its answers are discarded and never
    count in the SLO. Default: none."""
    ab_tests: Sequence[AbTest] = ()
    """Header rules that send matching requests to one version, ahead of the weighted split. Default: none."""
    scale_to_zero: ScaleToZero | None = None
    """Scale to no replica when idle (KEDA and its HTTP add-on hold the first request). Prod refuses
    it without a ``reason``. Default: off (``replicas.min`` replicas at all times)."""
    artifact_prefix: str | None = None
    """Prefix of the model's artifacts in the bucket. Default: ``models/<team>/<name>/``."""
    resources: ComputeResources = field(default_factory=ComputeResources)
    """Per-replica resources. Default: 1 CPU, 2Gi, no GPU."""
    replicas: Replicas = field(default_factory=Replicas)
    """Replica range. Default: 1-3."""
    autoscaling: Autoscaling = field(default_factory=Autoscaling)
    """Autoscaling target. Default: 70% CPU."""
    slo: ServiceLevel | None = None
    """Availability and latency objective; required in prod. Default: none (no SLO alerts)."""
    port: int = 8080
    """HTTP port the server listens on (serving and ``/metrics``). Default: 8080."""
    health: HealthChecks = field(default_factory=HealthChecks)
    """Probe paths. Default: /healthz and /ready."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables. Default: none."""
    secrets: Sequence[SecretEnv] = ()
    """Environment variables from platform secrets. Default: none."""
    namespace_quota: NamespaceQuota = field(default_factory=NamespaceQuota)
    """Quota when the endpoint creates its team's namespace itself. Default: 32 CPU, 128Gi, 4 GPUs."""
    hostname: str | None = None
    """Host for the Ingress rule. Default: none; the endpoint is served at ``/<team>/<name>/``."""
    certificate_arn: str | None = None
    """ACM certificate for HTTPS. Default: HTTP inside the VPC."""
    needs_service_account_token: bool = False
    """Mount a Kubernetes API token in the pods. Default: no; servers do not call the API."""
    latency_buckets: Sequence[float] = DEFAULT_LATENCY_BUCKETS
    """Upper bounds, in seconds, of the server's ``http_request_duration_seconds`` histogram; the
    server must export exactly these (it gets them in ``LATENCY_BUCKETS``), and the SLO's p95
    latency must be one of them, or its alert can never fire. Default: the Prometheus client
    libraries' defaults, 0.005 to 10."""
    throughput_per_replica: float = 10
    """Requests per second one replica serves within its SLO, from a load test. The cost model
    turns traffic into replicas and cost per 1,000 inferences with it. Default: 10."""
    tier: int = 2
    """Business criticality: 1 (critical), 2 or 3. Prod requires capture, drift and quality
    monitoring of every tier-1 model (policy ``model-monitoring-tier-1``). Default: 2."""
    monitor: ModelMonitorSpec | None = None
    """Prediction capture with a sampling rate, and the scheduled monitor job: drift, data quality,
    quality from late labels, shadow and batch agreement (docs/monitoring.md). Default: none."""

    def monitoring_kinds(self) -> list[str]:
        """What watches the model: ``capture``, ``drift``, ``quality`` (the coverage figure's terms)."""
        if self.monitor is None:
            return []
        return ["capture", "drift", *(["quality"] if self.monitor.labels else [])]

    def __post_init__(self) -> None:
        # A plain ModelVersion as canary (the API before steps): the legacy fixed split at its weight.
        if self.canary is not None and not isinstance(self.canary, CanaryVersion):
            legacy = {f.name: getattr(self.canary, f.name) for f in dataclasses.fields(ModelVersion)}
            object.__setattr__(self, "canary", CanaryVersion(**legacy))

    def versions(self) -> list[ModelVersion]:
        """The versions live traffic reaches: the stable and the canary (the Rollout's)."""
        return [self.stable, *([self.canary] if self.canary is not None else [])]

    def all_versions(self) -> list[ModelVersion]:
        """Every version the endpoint runs: the live ones and the shadow."""
        return [*self.versions(), *([self.shadow.version] if self.shadow is not None else [])]

    def traffic_roles(self) -> dict[str, str]:
        """Version name -> how it takes traffic, in words (the evidence pack, reviews)."""
        canary, shadow = self.canary, self.shadow
        roles = {self.stable.name: "stable: the live traffic the canary does not take"}
        if canary is not None:
            how = (
                f"held at {canary.weight}% until promoted"
                if canary.holds
                else f"steps {', '.join(f'{s}%' for s in canary.traffic_steps())}, {canary.pause_minutes} min each"
            )
            roles[canary.name] = f"canary: {how}; analysed and rolled back on its own by Argo Rollouts"
        if shadow is not None:
            roles[shadow.version.name] = (
                f"shadow: {shadow.percent}% of {', '.join(shadow.paths)} mirrored, answers discarded"
            )
        for test in self.ab_tests:
            roles[test.version] += f"; requests with {test.header}: {test.value}"
        return roles

    def share(self, version: ModelVersion) -> int:
        """Percentage of the model's requests a version serves as the stack file states it: the canary
        its first step (or held weight), the stable the rest, a shadow the share copied to it."""
        if self.shadow is not None and version is self.shadow.version:
            return self.shadow.percent
        canary = self.canary.share() if self.canary is not None else 0
        return canary if version is self.canary else 100 - canary

    def replica_percent(self, version: ModelVersion) -> int:
        """Percentage of the Rollout's replicas a live version runs: the stable all of them, a canary
        its largest step below 100 (Argo's ``setCanaryScale``: extra GPUs stay bounded)."""
        if self.canary is None or version is not self.canary:
            return 100
        return max([s for s in self.canary.traffic_steps() if s < 100] or [self.canary.share()])

    def replica_range(self, version: ModelVersion) -> tuple[int, int]:
        """(min, max) replicas of one version: the Rollout's live versions their percentage of
        ``replicas`` (min 0 when the model scales to zero); a shadow its mirrored share of
        ``replicas.max``, at least one."""
        if self.shadow is not None and version is self.shadow.version:
            return 1, max(1, math.ceil(self.replicas.max * self.shadow.percent / 100.0))
        low = 0 if self.scale_to_zero is not None else self.replicas.min
        return kube.scaled_replicas(low, self.replicas.max, self.replica_percent(version))

    def max_gpus(self) -> int:
        """GPUs the model may hold at once: every version at its maximum replicas."""
        return sum(self.replica_range(v)[1] for v in self.all_versions()) * self.resources.gpus

    def problems(
        self, name: str, environment: Environment, gpu_pools: Mapping[str, GpuPoolInfo] | None = None
    ) -> list[Problem]:
        """Every bad field; ``gpu_pools``, when known, must hold ``resources.gpu_pool``."""
        found = [
            p
            for p in [dns_label_problem("name", name, max_length=40), dns_label_problem("team", self.team)]
            if p
        ]
        found += [p.nested("stable") for p in self.stable.problems()]
        if environment in (Environment.STAGE, Environment.PROD):
            # A tag can be moved to another image; a digest cannot (what was approved is what runs).
            shadow = self.shadow.version if self.shadow is not None else None
            for role, version in (
                ("stable", self.stable),
                ("canary", self.canary),
                ("shadow.version", shadow),
            ):
                if version is not None and version.image_digest is None:
                    found.append(
                        Problem(
                            f"{role}.image_digest",
                            f"is required in {environment.value}: refer to the image by digest, not only "
                            f"by tag {version.image_tag!r}",
                        )
                    )
        if not 0 < self.throughput_per_replica <= 1_000_000:
            found.append(
                Problem(
                    "throughput_per_replica",
                    f"must be > 0 requests per second, from a load test (got {self.throughput_per_replica})",
                )
            )
        found += delivery_problems(self, environment, gpu_pools)
        if self.tier not in (1, 2, 3):
            found.append(Problem("tier", f"must be 1, 2 or 3 (got {self.tier})"))
        if self.monitor is not None:
            found += [p.nested("monitor") for p in self.monitor.problems()]
        found += [p.nested("resources") for p in self.resources.problems()]
        pool = self.resources.gpu_pool
        if pool and gpu_pools is not None:
            if pool not in gpu_pools:
                known = ", ".join(sorted(gpu_pools)) or "none"
                found.append(
                    Problem("resources.gpu_pool", f"unknown GPU pool {pool!r}; known pools: {known}")
                )
            elif (
                environment is Environment.PROD
                and (capacity := gpu_pools[pool].max_gpus()) is not None
                and self.max_gpus() > capacity
            ):
                found.append(
                    Problem(
                        "replicas.max",
                        f"at most {self.max_gpus()} GPUs ({' + '.join(f'{v.name}: {self.replica_range(v)[1]}' for v in self.all_versions())} "
                        f"replicas x {self.resources.gpus}) but pool {pool!r} holds at most {capacity} "
                        f"({gpu_pools[pool].max_nodes} nodes x {gpu_pools[pool].gpus_per_node}); "
                        "lower replicas.max or raise the pool's maxSize",
                    )
                )
            sharing = gpu_pools[pool].gpu_sharing if pool in gpu_pools else 1
            if sharing > 1 and not self.resources.shared_gpu:
                found.append(
                    Problem(
                        "resources.shared_gpu",
                        f"pool {pool!r} shares each GPU {sharing} ways (timeSlicingReplicas); set sharedGpu: true "
                        "to take a slice, or choose a pool of whole GPUs",
                    )
                )
            if sharing == 1 and self.resources.shared_gpu and pool in gpu_pools:
                found.append(
                    Problem(
                        "resources.shared_gpu",
                        f"pool {pool!r} offers whole GPUs only; set its timeSlicingReplicas, or choose a shared pool",
                    )
                )
            if pool in gpu_pools and self.resources.gpus > gpu_pools[pool].gpus_per_node:
                found.append(
                    Problem(
                        "resources.gpus",
                        f"pool {pool!r} has {gpu_pools[pool].gpus_per_node} GPU(s) per node; a replica cannot use {self.resources.gpus}",
                    )
                )
        found += [p.nested("replicas") for p in self.replicas.problems()]
        found += [p.nested("autoscaling") for p in self.autoscaling.problems()]
        found += [p.nested("health") for p in self.health.problems()]
        if self.slo is None and environment is Environment.PROD:
            found.append(Problem("slo", "is required in prod: set an availability target and a p95 latency"))
        if self.slo is not None:
            objective = ServiceLevelObjective(
                service=name,
                selector={},
                availability_target=self.slo.availability_target,
                latency_p95_ms=self.slo.latency_p95_ms,
            )
            found += [p.nested("slo") for p in objective.problems()]
            threshold = self.slo.latency_p95_ms / 1000
            if objective.problems() == [] and threshold not in self.latency_buckets:
                found.append(
                    Problem(
                        "slo.latency_p95_ms",
                        f"{self.slo.latency_p95_ms} ms is not a bucket of latencyBuckets "
                        f"({', '.join(map(bucket_label, self.latency_buckets))}), so its alert could never fire: "
                        f"add {bucket_label(threshold)} to latencyBuckets (and export it from the server) or pick a listed bound",
                    )
                )
        buckets = list(self.latency_buckets)
        if not buckets or any(not 0 < b <= 600 for b in buckets) or buckets != sorted(set(buckets)):
            found.append(
                Problem(
                    "latency_buckets",
                    f"must be ascending, distinct bounds in seconds between 0 and 600 (got {buckets})",
                )
            )
        if not 1024 <= self.port <= 65535:
            found.append(
                Problem("port", f"must be between 1024 and 65535: servers run as non-root (got {self.port})")
            )
        for key in self.env:
            if not _ENV_NAME.match(key):
                found.append(Problem(f"env.{key}", "must be a valid environment variable name"))
            elif key in RESERVED_ENV:
                found.append(
                    Problem(
                        f"env.{key}",
                        f"is set by the platform; choose another name (reserved: {', '.join(RESERVED_ENV)})",
                    )
                )
        for i, secret in enumerate(self.secrets):
            if not _ENV_NAME.match(secret.env):
                found.append(
                    Problem(
                        f"secrets[{i}].env", f"must be a valid environment variable name (got {secret.env!r})"
                    )
                )
        if self.artifact_prefix is not None and not _PREFIX.match(self.artifact_prefix):
            found.append(
                Problem(
                    "artifact_prefix",
                    f"must be a key prefix ending in '/', such as models/fraud/scorer/ (got {self.artifact_prefix!r})",
                )
            )
        found += [p.nested("namespace_quota") for p in self.namespace_quota.problems()]
        found += [p for p in [certificate_problem("certificate_arn", self.certificate_arn)] if p]
        if self.hostname is not None and not re.match(
            r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", self.hostname
        ):
            found.append(
                Problem("hostname", f"must be a DNS name such as scorer.example.com (got {self.hostname!r})")
            )
        return found
