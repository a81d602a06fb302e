"""Kubernetes conventions shared by every component: labels, kubeconfig, pod hardening."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

PART_OF = "mlops-platform"
LABEL_DOMAIN = "mlops-platform.io"
SYSTEM_NODE_SELECTOR = {f"{LABEL_DOMAIN}/node-role": "system"}
"""Platform add-ons run on the on-demand system node group, never on GPU nodes."""

GPU_TAINT_KEY = "nvidia.com/gpu"
GPU_TOLERATION = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
GPU_PRESENT_LABEL = "nvidia.com/gpu.present"
GPU_POOL_LABEL = f"{LABEL_DOMAIN}/gpu-pool"
DEVICE_PLUGIN_LABEL = f"{LABEL_DOMAIN}/nvidia-device-plugin"
MODEL_LABEL = f"{LABEL_DOMAIN}/model"
"""Names the model on every object a ModelEndpoint renders."""
TEAM_LABEL = f"{LABEL_DOMAIN}/team"
"""Names the owning team: on team namespaces and on every object a ModelEndpoint renders."""
PLATFORM_TEAM = "platform"
"""The team of everything no model owns: its ``team`` tag, label and cost owner."""
VERSION_LABEL = "app.kubernetes.io/version"
"""Names the model version on its Deployment, pods, Service and autoscaler."""
GPU_RESOURCE = "nvidia.com/gpu"
LINEAGE_PREFIX = "lineage.mlops-platform.io/"
"""Annotations on a model version's Deployment and pods: what it is made of (registered model and
version, image digest, artifact URI, training run, dataset, commit)."""
GPU_SHARING_LABEL = "nvidia.com/device-plugin.config"
"""On GPU nodes: the NVIDIA device plugin config they use; ``time-sliced-<N>`` offers each GPU as N."""


def sharing_config(replicas: int) -> str:
    """The device plugin config name of N-way time slicing."""
    return f"time-sliced-{replicas}"


def sharing_replicas(labels: Mapping[str, Any]) -> int:
    """How many replicas a node with these labels offers per physical GPU (1: no sharing)."""
    value = str(labels.get(GPU_SHARING_LABEL, ""))
    prefix = sharing_config(0)[:-1]
    return (
        int(value.removeprefix(prefix)) if value.startswith(prefix) and value[len(prefix) :].isdigit() else 1
    )


THROUGHPUT_ANNOTATION = f"{LABEL_DOMAIN}/throughput-per-replica"
"""On a model version's Deployment: requests per second one replica sustains (the cost model's unit)."""
TIER_ANNOTATION = f"{LABEL_DOMAIN}/tier"
"""On a model's Rollout: its business tier, 1 to 3 (the monitoring coverage figure and policy)."""
MONITORING_ANNOTATION = f"{LABEL_DOMAIN}/monitoring"
"""On a model's Rollout: what watches it, comma-separated: capture, drift, quality (may be empty)."""
TRAFFIC_PERCENT_ANNOTATION = f"{LABEL_DOMAIN}/traffic-percent"
"""On a model version's Deployment: the percentage of its model's requests routed to it."""
TRAFFIC_LABEL = f"{LABEL_DOMAIN}/traffic"
"""On a model's pods: ``live`` (stable and canary: the Rollout, the SLO) or ``shadow`` (mirrored copies)."""
ROLLOUT_VERSIONS_ANNOTATION = f"{LABEL_DOMAIN}/versions"
"""On a model's Rollout: its live versions as JSON, ``{"<version>": {"traffic": <percent of the
requests>, "replicas": <percent of the Rollout's replicas>}}``, stable first. The cost model and the
capacity policies read the replicas each version runs from it and the Rollout's autoscaler."""


def rollout_versions(annotations: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """The versions a Rollout declares (``ROLLOUT_VERSIONS_ANNOTATION``); none when absent or malformed."""
    try:
        found = json.loads(str(annotations.get(ROLLOUT_VERSIONS_ANNOTATION, "{}")))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def scaled_replicas(low: int, high: int, percent: int) -> tuple[int, int]:
    """(min, max) replicas of a version that runs ``percent`` of a Rollout scaled between low and high:
    Argo Rollouts rounds a canary's share up, and a canary that runs at all runs one."""
    if percent >= 100:
        return low, high
    return -(-low * percent // 100), max(1, -(-high * percent // 100))


LATENCY_BUCKETS_ANNOTATION = f"{LABEL_DOMAIN}/latency-buckets"
"""On a model's pod template: the ``le`` bounds its server exports (the SLO alert needs its threshold)."""
"""``daemonset`` on AMIs that need the NVIDIA device plugin DaemonSet; Bottlerocket ships its own."""


def labels(
    name: str, component: str, *, instance: str | None = None, version: str | None = None
) -> dict[str, str]:
    """The recommended ``app.kubernetes.io/*`` labels."""
    result = {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance or name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }
    if version:
        result["app.kubernetes.io/version"] = version
    return result


def selector_labels(all_labels: Mapping[str, str]) -> dict[str, str]:
    """The immutable subset used in Deployment selectors (version and component may change)."""
    keys = ("app.kubernetes.io/name", "app.kubernetes.io/instance")
    return {k: all_labels[k] for k in keys if k in all_labels}


def exec_kubeconfig(*, cluster_name: str, endpoint: str, certificate_authority: str, region: str) -> str:
    """A kubeconfig that fetches a token at use time with ``aws eks get-token``.

    It embeds no token, so its text is the same on every run; a changing kubeconfig would make
    Pulumi replace the Kubernetes provider and, with it, every Kubernetes object.
    """
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": cluster_name,
                "cluster": {"server": endpoint, "certificate-authority-data": certificate_authority},
            }
        ],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "users": [
            {
                "name": cluster_name,
                "user": {
                    "exec": {
                        "apiVersion": "client.authentication.k8s.io/v1beta1",
                        "command": "aws",
                        "args": [
                            "--region",
                            region,
                            "eks",
                            "get-token",
                            "--cluster-name",
                            cluster_name,
                            "--output",
                            "json",
                        ],
                        "interactiveMode": "Never",
                    }
                },
            }
        ],
    }
    return json.dumps(config, sort_keys=True, indent=2)


def container_resources(cpu: str, memory: str, memory_limit: str) -> dict[str, Any]:
    """Requests, and a memory limit (no CPU limit: throttling hurts more than sharing)."""
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": memory_limit}}


def restricted_pod_security(run_as_user: int = 65532) -> dict[str, Any]:
    """Pod-level security context meeting the Kubernetes "restricted" Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": run_as_user,
        "runAsGroup": run_as_user,
        "fsGroup": run_as_user,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def restricted_container_security(*, read_only_root: bool = True) -> dict[str, Any]:
    """Container-level security context: no privilege escalation, every capability dropped."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": read_only_root,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


_UNITS = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(1000), "M": Decimal(10**6), "G": Decimal(10**9)}
_BINARY = {"Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40)}
_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|k|M|G|Ki|Mi|Gi|Ti)?$")


def quantity(value: str | int | float) -> Decimal:
    """A Kubernetes quantity (``500m``, ``2``, ``8Gi``) as a plain number: cores, or bytes."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {value!r}")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    return number * (_BINARY.get(suffix) or _UNITS[suffix])


Body = Mapping[str, Any]


def custom_resource(
    name: str, kind: str, metadata: Body, spec: Body, opts: pulumi.ResourceOptions
) -> k8s.apiextensions.CustomResource:
    """An instance of an engine's CRD, ``kind`` as ``<group>/<version>/<Kind>``
    (``argoproj.io/v1alpha1/Rollout``): one resource the engine, the mocks and the policies all see,
    validated against its CRD by tests/test_helm_render.py."""
    api_version, _, kind_name = kind.rpartition("/")
    return k8s.apiextensions.CustomResource(
        name, api_version=api_version, kind=kind_name, metadata=dict(metadata), spec=dict(spec), opts=opts
    )
