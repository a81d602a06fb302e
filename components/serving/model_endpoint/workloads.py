"""The pods of one model version (``pod_template``: the Rollout carries the live versions', a
Deployment the shadow's), its Service, and autoscalers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.refs import PlatformRef
from mlops_platform.components.serving.model_endpoint.spec import (
    ModelEndpointSpec,
    ModelVersion,
    ScalingMetric,
)
from mlops_platform.components.support import kube
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.exporters import bucket_label

SERVICE_ROLE_LABEL = f"{kube.LABEL_DOMAIN}/service-role"
MODEL_LABEL = kube.MODEL_LABEL
REQUEST_ID_HEADER = "x-request-id"
"""The header Envoy keeps or sets on every request and copies to mirrored ones: servers log it with
each prediction so the shadow's answers join the stable's."""


def model_service(
    name: str, metadata: dict[str, Any], role: str, selector: dict[str, str], opts: pulumi.ResourceOptions
) -> k8s.core.v1.Service:
    """A Service on port 80 to the pods' ``http`` port; ``role`` is ``stable`` (every live pod: what the
    interceptor forwards to), ``rollout`` (Argo's stable or canary Service), ``version`` (one live
    version's, which the ServiceMonitor scrapes and A/B rules route to) or ``shadow``."""
    labels = {**metadata["labels"], SERVICE_ROLE_LABEL: role}
    return k8s.core.v1.Service(
        name,
        metadata={**metadata, "labels": labels},
        spec={
            "selector": selector,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
        opts=opts,
    )


def artifact_uri(platform: PlatformRef, prefix: str, version: ModelVersion) -> pulumi.Output[str]:
    """Where a version's model files are: ``s3://<bucket>/<prefix><model path>/``."""
    return pulumi.Output.concat(
        "s3://", platform.artifact_bucket_name, "/", prefix, version.model_path or version.name, "/"
    )


@dataclass(frozen=True)
class PodTemplate:
    """One version's pod template, as its Rollout or Deployment carries it."""

    labels: dict[str, str]
    """The version's labels (model, team, instance ``<model>-<version>``, version, traffic)."""
    selector: dict[str, str]
    """What selects this version's pods: model and instance."""
    lineage: dict[str, pulumi.Input[str]]
    """``lineage.mlops-platform.io/*`` annotations: what the version is made of."""
    template: dict[str, Any]
    """``spec.template``: metadata and pod spec."""


def pod_template(
    name: str,
    spec: ModelEndpointSpec,
    platform: PlatformRef,
    version: ModelVersion,
    *,
    labels: dict[str, str],
    model_uri: pulumi.Input[str],
    base_path: str,
    repository_url: pulumi.Input[str],
    secret_name: str | None,
) -> PodTemplate:
    """The pods of one version: hardened, probed, scheduled on its GPU pool, told who they are."""
    resource = f"{name}-{version.name}"
    traffic = "shadow" if spec.shadow is not None and version is spec.shadow.version else "live"
    version_labels = {
        **labels,
        "app.kubernetes.io/instance": resource,
        "app.kubernetes.io/version": version.name,
        kube.TRAFFIC_LABEL: traffic,
    }
    selector = {MODEL_LABEL: name, "app.kubernetes.io/instance": resource}
    res = spec.resources
    requests: dict[str, str] = {"cpu": res.cpu, "memory": res.memory}
    limits: dict[str, str] = {"cpu": res.cpu_limit_value(), "memory": res.memory}
    scheduling: dict[str, Any] = {}
    if res.gpus:
        # Extended resources must request what they limit; the scheduler counts whole GPUs.
        requests["nvidia.com/gpu"] = limits["nvidia.com/gpu"] = str(res.gpus)
        pool = (platform.gpu_pools or {}).get(res.gpu_pool or "")
        node_labels = (
            dict(pool.node_labels)
            if pool
            else {kube.GPU_POOL_LABEL: res.gpu_pool, kube.GPU_PRESENT_LABEL: "true"}
        )
        scheduling = {
            "nodeSelector": {
                k: node_labels[k] for k in (kube.GPU_POOL_LABEL, kube.GPU_PRESENT_LABEL) if k in node_labels
            },
            "tolerations": [kube.GPU_TOLERATION],
        }
    if platform.environment is Environment.PROD:
        scheduling["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                # GPU capacity is scarce in some zones: prefer spreading rather than refuse to schedule.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            }
        ]
    latency_buckets = ",".join(bucket_label(b) for b in spec.latency_buckets)
    env = [
        {"name": "MODEL_NAME", "value": name},
        {"name": "MODEL_VERSION", "value": version.name},
        {"name": "MODEL_URI", "value": model_uri},
        {"name": "BASE_PATH", "value": base_path},
        {"name": "PORT", "value": str(spec.port)},
        # The histogram bounds the SLO alert relies on (docs/serving-metrics.md).
        {"name": "LATENCY_BUCKETS", "value": latency_buckets},
        # Live or shadow, and the header that carries the request ID the gateway propagates.
        {"name": "MODEL_TRAFFIC", "value": traffic},
        {"name": "REQUEST_ID_HEADER", "value": REQUEST_ID_HEADER},
        # Share of predictions the server prints as capture records (0: none; docs/monitoring.md).
        {"name": "CAPTURE_SAMPLE_RATE", "value": f"{spec.monitor.sampling_rate:g}" if spec.monitor else "0"},
        {"name": "AWS_DEFAULT_REGION", "value": platform.region},
        {"name": "HOME", "value": "/tmp"},
        *({"name": k, "value": v} for k, v in sorted(spec.env.items())),
    ]

    def probe(path: str) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5}

    container: dict[str, Any] = {
        "name": "model",
        "image": pulumi.Output.concat(repository_url, version.reference()),
        "ports": [{"name": "http", "containerPort": spec.port, "protocol": "TCP"}],
        "env": env,
        "resources": {"requests": requests, "limits": limits},
        "startupProbe": {
            **probe(spec.health.readiness_path),
            "failureThreshold": max(1, spec.health.startup_seconds // 10),
        },
        "readinessProbe": {**probe(spec.health.readiness_path), "failureThreshold": 3},
        "livenessProbe": {**probe(spec.health.liveness_path), "failureThreshold": 3},
        "securityContext": kube.restricted_container_security(),
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if secret_name:
        container["envFrom"] = [{"secretRef": {"name": secret_name}}]
    lineage: dict[str, pulumi.Input[str]] = {
        f"{kube.LINEAGE_PREFIX}{k}": v for k, v in version.lineage().items()
    }
    lineage[f"{kube.LINEAGE_PREFIX}artifact-uri"] = model_uri
    template = {
        "metadata": {
            "labels": version_labels,
            "annotations": {kube.LATENCY_BUCKETS_ANNOTATION: latency_buckets, **lineage},
        },
        "spec": {
            "serviceAccountName": name,
            "automountServiceAccountToken": spec.needs_service_account_token,
            "securityContext": kube.restricted_pod_security(),
            "containers": [container],
            "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "4Gi"}}],
            "terminationGracePeriodSeconds": 60,
            **scheduling,
        },
    }
    return PodTemplate(version_labels, selector, lineage, template)


def version_service(
    name: str,
    version: ModelVersion,
    pods: PodTemplate,
    namespace: str,
    shadow: bool,
    opts: pulumi.ResourceOptions,
) -> None:
    """A version's own Service (A/B rules route to it, the ServiceMonitor scrapes through it)."""
    resource = f"{name}-{version.name}"
    metadata = {"name": resource, "namespace": namespace, "labels": pods.labels}
    model_service(f"{resource}-service", metadata, "shadow" if shadow else "version", pods.selector, opts)


def shadow_workload(
    name: str,
    spec: ModelEndpointSpec,
    pods: PodTemplate,
    *,
    namespace: str,
    opts: pulumi.ResourceOptions,
) -> None:
    """The shadow's own Deployment and autoscaler: outside the Rollout, sized to its mirrored share."""
    assert spec.shadow is not None
    version = spec.shadow.version
    resource = f"{name}-{version.name}"
    metadata = {"name": resource, "namespace": namespace, "labels": pods.labels}
    k8s.apps.v1.Deployment(
        f"{resource}-deployment",
        metadata={
            **metadata,
            "annotations": {
                kube.THROUGHPUT_ANNOTATION: f"{spec.throughput_per_replica:g}",
                kube.TRAFFIC_PERCENT_ANNOTATION: str(spec.share(version)),
                **pods.lineage,
            },
        },
        spec={
            # No replica count: the autoscaler owns it, and a count here would reset it on every update.
            "selector": {"matchLabels": pods.selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": pods.template,
        },
        opts=opts,
    )
    version_service(name, version, pods, namespace, True, opts)
    autoscaler(
        f"{resource}-autoscaler",
        spec,
        metadata,
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": resource},
        *spec.replica_range(version),
        opts,
    )


def autoscaler(
    name: str,
    spec: ModelEndpointSpec,
    metadata: dict[str, Any],
    target: dict[str, str],
    minimum: int,
    maximum: int,
    opts: pulumi.ResourceOptions,
) -> k8s.autoscaling.v2.HorizontalPodAutoscaler:
    """An HPA of ``target`` (a Rollout or a Deployment) on the model's scaling metric."""
    if spec.autoscaling.metric is ScalingMetric.CPU:
        metric = {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {
                    "type": "Utilization",
                    "averageUtilization": spec.autoscaling.target_cpu_utilization,
                },
            },
        }
    else:
        metric = {
            "type": "Pods",
            "pods": {
                "metric": {"name": spec.autoscaling.custom_metric},
                "target": {"type": "AverageValue", "averageValue": spec.autoscaling.target_value},
            },
        }
    return k8s.autoscaling.v2.HorizontalPodAutoscaler(
        name,
        metadata=metadata,
        spec={
            "scaleTargetRef": target,
            "minReplicas": minimum,
            "maxReplicas": maximum,
            "metrics": [metric],
            # Scale down slowly: GPU replicas take minutes to load a model.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
        opts=opts,
    )
