"""``ModelEndpoint`` and its spec: ``spec`` (what is served and how), ``workloads`` (one version's
Deployment, Service and autoscaler), ``component`` (the endpoint itself)."""

from mlops_platform.components.serving.model_endpoint.component import ModelEndpoint
from mlops_platform.components.serving.model_endpoint.spec import (
    Autoscaling,
    ComputeResources,
    HealthChecks,
    ModelEndpointSpec,
    ModelVersion,
    Replicas,
    ScalingMetric,
    SecretEnv,
    ServiceLevel,
)

__all__ = [
    "Autoscaling",
    "ComputeResources",
    "HealthChecks",
    "ModelEndpoint",
    "ModelEndpointSpec",
    "ModelVersion",
    "Replicas",
    "ScalingMetric",
    "SecretEnv",
    "ServiceLevel",
]
