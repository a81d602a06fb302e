"""``TeamNamespace``: a team's namespace, with a quota, default limits and default-deny ingress.

Every model endpoint of a team lives here. The quota caps what the team can claim (GPUs included);
the LimitRange gives containers that forget requests sane ones; the default-deny NetworkPolicy means
a pod receives traffic only where its endpoint's own policy allows it.

Example::

    TeamNamespace("team-fraud", TeamSpec(name="fraud", quota=NamespaceQuota(gpus=4)),
                  opts=pulumi.ResourceOptions(provider=cluster.provider))
"""

from __future__ import annotations

import re
from dataclasses import field

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.support import kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import (
    Problem,
    dns_label_problem,
    range_problems,
)

_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$")


@spec
class NamespaceQuota:
    """What the team's workloads may request in total."""

    cpu: str = "32"
    """Total CPU requests. Default: 32."""
    memory: str = "128Gi"
    """Total memory requests. Default: 128Gi."""
    gpus: int = 4
    """Total ``nvidia.com/gpu`` requests. Default: 4."""
    pods: int = 100
    """Pods. Default: 100."""

    def problems(self) -> list[Problem]:
        found = []
        for name in ("cpu", "memory"):
            if not _QUANTITY.match(getattr(self, name)):
                found.append(
                    Problem(
                        name,
                        f"must be a Kubernetes quantity such as 32 or 128Gi (got {getattr(self, name)!r})",
                    )
                )
        found += range_problems("gpus", self.gpus, 0, 10000)
        found += range_problems("pods", self.pods, 1, 100000)
        return found


@spec
class TeamSpec:
    """A team: its namespace and what it may use."""

    name: str
    """Team name; its namespace."""
    quota: NamespaceQuota = field(default_factory=NamespaceQuota)
    """ResourceQuota of the namespace. Default: 32 CPU, 128Gi, 4 GPUs, 100 pods."""

    def problems(self) -> list[Problem]:
        found = [p for p in [dns_label_problem("name", self.name)] if p]
        found += [p.nested("quota") for p in self.quota.problems()]
        return found


class TeamNamespace(PlatformComponent):
    """Namespace (Pod Security ``restricted``), ResourceQuota, LimitRange and a default-deny NetworkPolicy."""

    name: str
    """The namespace name."""
    namespace: k8s.core.v1.Namespace
    """The Namespace object; namespaced resources depend on it."""

    def __init__(self, name: str, spec: TeamSpec, opts: pulumi.ResourceOptions | None = None):
        super().__init__("mlops:team_namespace:TeamNamespace", name, "TeamSpec", spec.problems(), opts)
        self.name = spec.name
        labels = {**kube.labels(spec.name, "team-namespace"), kube.TEAM_LABEL: spec.name}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": spec.name,
                "labels": {
                    **labels,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        inside = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        quota = spec.quota
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata={"name": "team-quota", "namespace": spec.name, "labels": labels},
            spec={
                "hard": {
                    "requests.cpu": quota.cpu,
                    "requests.memory": quota.memory,
                    "requests.nvidia.com/gpu": str(quota.gpus),
                    "pods": str(quota.pods),
                }
            },
            opts=inside,
        )
        k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata={"name": "container-defaults", "namespace": spec.name, "labels": labels},
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {"cpu": "250m", "memory": "512Mi"},
                        "default": {"cpu": "1", "memory": "1Gi"},
                    }
                ]
            },
            opts=inside,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata={"name": "default-deny-ingress", "namespace": spec.name, "labels": labels},
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
            opts=inside,
        )
        self.register_outputs({"name": self.name})
