"""GPU telemetry: the NVIDIA DCGM exporter on GPU nodes only, scraped through a Service and a
ServiceMonitor rendered here, so their selectors provably match the exporter's pod labels."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.observability.monitors import monitor
from mlops_platform.components.support import helm, kube

DCGM_PORT = 9400
DCGM_POD_LABELS = {
    "app.kubernetes.io/name": "dcgm-exporter",
    "app.kubernetes.io/component": "gpu-telemetry",
    "app.kubernetes.io/part-of": kube.PART_OF,
}
"""Labels the DCGM exporter's pods get (Helm ``podLabels``); the Service selects on exactly these."""


DCGM_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}


def gpu_telemetry(name: str, *, namespace: str, opts: pulumi.ResourceOptions) -> pulumi.Resource:
    """The exporter's release, its Service and ServiceMonitor; returns the release."""
    release = helm.release(
        f"{name}-dcgm-exporter",
        "dcgm-exporter",
        namespace=namespace,
        values={
            "fullnameOverride": "dcgm-exporter",
            "podLabels": DCGM_POD_LABELS,
            "nodeSelector": {kube.GPU_PRESENT_LABEL: "true"},
            "tolerations": [kube.GPU_TOLERATION],
            # This component renders the Service and ServiceMonitor, so their selectors are checked.
            "serviceMonitor": {"enabled": False},
            "service": {"enable": False},
            "resources": DCGM_RESOURCES,
        },
        opts=opts,
        footprint=helm.Footprint(gpu_nodes=DCGM_RESOURCES),
    )
    service_labels = kube.labels("dcgm-exporter", "gpu-telemetry")
    after = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[release]))
    k8s.core.v1.Service(
        f"{name}-dcgm-service",
        metadata={"name": "dcgm-exporter", "namespace": namespace, "labels": service_labels},
        spec={
            "selector": dict(DCGM_POD_LABELS),
            "ports": [{"name": "metrics", "port": DCGM_PORT, "targetPort": DCGM_PORT, "protocol": "TCP"}],
        },
        opts=after,
    )
    monitor(
        f"{name}-dcgm-service-monitor",
        "ServiceMonitor",
        namespace=namespace,
        labels=service_labels,
        selector=kube.selector_labels(service_labels),
        endpoints=[{"port": "metrics", "interval": "30s", "path": "/metrics"}],
        object_name="dcgm-exporter",
        namespaces=[namespace],
        opts=after,
    )
    return release
