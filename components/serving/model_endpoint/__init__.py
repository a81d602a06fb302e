"""``ModelEndpoint`` and its spec: ``spec`` (what is served and how), ``version`` (one version),
``delivery`` (canary, shadow, A/B rules, scale to zero), ``workloads`` (one version's Deployment and
Service), ``rollout`` (the Rollout and its analysis), ``routing`` (the HTTPRoute and KEDA's objects),
``dashboard`` (its Grafana dashboard), ``component`` (the endpoint itself)."""

from mlops_platform.components.serving.model_endpoint.component import ModelEndpoint as ModelEndpoint
from mlops_platform.components.serving.model_endpoint.delivery import AbTest as AbTest
from mlops_platform.components.serving.model_endpoint.delivery import CanaryAnalysis as CanaryAnalysis
from mlops_platform.components.serving.model_endpoint.delivery import CanaryVersion as CanaryVersion
from mlops_platform.components.serving.model_endpoint.delivery import ScaleToZero as ScaleToZero
from mlops_platform.components.serving.model_endpoint.delivery import Shadow as Shadow
from mlops_platform.components.serving.model_endpoint.spec import Autoscaling as Autoscaling
from mlops_platform.components.serving.model_endpoint.spec import ComputeResources as ComputeResources
from mlops_platform.components.serving.model_endpoint.spec import HealthChecks as HealthChecks
from mlops_platform.components.serving.model_endpoint.spec import ModelEndpointSpec as ModelEndpointSpec
from mlops_platform.components.serving.model_endpoint.spec import ModelVersion as ModelVersion
from mlops_platform.components.serving.model_endpoint.spec import Replicas as Replicas
from mlops_platform.components.serving.model_endpoint.spec import ScalingMetric as ScalingMetric
from mlops_platform.components.serving.model_endpoint.spec import SecretEnv as SecretEnv
from mlops_platform.components.serving.model_endpoint.spec import ServiceLevel as ServiceLevel
