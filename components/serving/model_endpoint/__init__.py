"""``ModelEndpoint`` and its spec: ``spec`` (what is served and how), ``workloads`` (one version's
Deployment, Service and autoscaler), ``component`` (the endpoint itself)."""

from mlops_platform.components.serving.model_endpoint.component import ModelEndpoint as ModelEndpoint
from mlops_platform.components.serving.model_endpoint.spec import Autoscaling as Autoscaling
from mlops_platform.components.serving.model_endpoint.spec import ComputeResources as ComputeResources
from mlops_platform.components.serving.model_endpoint.spec import HealthChecks as HealthChecks
from mlops_platform.components.serving.model_endpoint.spec import ModelEndpointSpec as ModelEndpointSpec
from mlops_platform.components.serving.model_endpoint.spec import ModelVersion as ModelVersion
from mlops_platform.components.serving.model_endpoint.spec import Replicas as Replicas
from mlops_platform.components.serving.model_endpoint.spec import ScalingMetric as ScalingMetric
from mlops_platform.components.serving.model_endpoint.spec import SecretEnv as SecretEnv
from mlops_platform.components.serving.model_endpoint.spec import ServiceLevel as ServiceLevel
