"""The Pushgateway: batch jobs (the model monitor) push their figures here, Prometheus scrapes them.

From its vendored chart, on the system nodes, with a ServiceMonitor that keeps the pushed ``job``
and ``model`` labels (``honorLabels``), and a small encrypted volume so that what the last runs
pushed survives a restart (the monitor alerts read it until the next run)."""

from __future__ import annotations

import pulumi

from mlops_platform.components.support import helm, kube

PUSHGATEWAY_RELEASE = "prometheus-pushgateway"
PORT = 9091
DATA_FILE = "/data/pushgateway.data"
RESOURCES = kube.container_resources("20m", "64Mi", "256Mi")


def pushgateway_url(namespace: str) -> str:
    """Where jobs push, inside the cluster."""
    return f"http://{PUSHGATEWAY_RELEASE}.{namespace}.svc:{PORT}"


def pushgateway_values(namespace: str, storage_class: str) -> dict[str, object]:
    """The chart's values: system nodes, restricted, scraped with the pushed labels, on a volume."""
    return {
        "fullnameOverride": PUSHGATEWAY_RELEASE,
        "resources": RESOURCES,
        "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
        "containerSecurityContext": kube.restricted_container_security(),
        "serviceMonitor": {"enabled": True, "namespace": namespace, "honorLabels": True},
        "persistentVolume": {"enabled": True, "size": "2Gi", "storageClass": storage_class},
        # The chart mounts the volume; only this flag makes the Pushgateway write to it.
        "extraArgs": [f"--persistence.file={DATA_FILE}"],
    }


def metrics_push_gateway(
    name: str, *, namespace: str, storage_class: str, opts: pulumi.ResourceOptions
) -> pulumi.Resource:
    values = pushgateway_values(namespace, storage_class)
    footprint = helm.Footprint(system_pods=((1, RESOURCES),))
    return helm.release(
        f"{name}-pushgateway",
        PUSHGATEWAY_RELEASE,
        namespace=namespace,
        values=values,
        opts=opts,
        footprint=footprint,
    )
