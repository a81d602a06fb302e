"""``TeamNamespace``: a team's namespace, with a quota, default limits and default-deny ingress.

Every model endpoint of a team lives here. The quota caps what the team can claim (GPUs included);
the LimitRange gives containers that forget requests sane ones; the default-deny NetworkPolicy means
a pod receives traffic only where its endpoint's own policy allows it.

Example::

    TeamNamespace("fraud", TeamNamespaceArgs(team="fraud", quota=NamespaceQuota(gpus=4)),
                  opts=pulumi.ResourceOptions(provider=cluster.provider))
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from mlops_platform.components.support import kube
from mlops_platform.components.support.validation import Problem, dns_label_problem, raise_if_any

TEAM_LABEL = f"{kube.LABEL_DOMAIN}/team"
_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$")


@dataclass(frozen=True, kw_only=True)
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
        if self.gpus < 0:
            found.append(Problem("gpus", f"must be >= 0 (got {self.gpus})"))
        if self.pods < 1:
            found.append(Problem("pods", f"must be >= 1 (got {self.pods})"))
        return found


@dataclass(frozen=True, kw_only=True)
class TeamNamespaceArgs:
    team: str
    """Team name; also the namespace name."""
    quota: NamespaceQuota = field(default_factory=NamespaceQuota)
    """ResourceQuota of the namespace. Default: 32 CPU, 128Gi, 4 GPUs, 100 pods."""

    def problems(self) -> list[Problem]:
        found = [p for p in [dns_label_problem("team", self.team)] if p]
        found += [p.nested("quota") for p in self.quota.problems()]
        return found


class TeamNamespace(pulumi.ComponentResource):
    """Namespace (Pod Security ``restricted``), ResourceQuota, LimitRange and a default-deny NetworkPolicy."""

    name: str
    """The namespace name."""
    namespace: k8s.core.v1.Namespace
    """The Namespace object; namespaced resources depend on it."""

    def __init__(self, name: str, args: TeamNamespaceArgs, opts: pulumi.ResourceOptions | None = None):
        raise_if_any(f"TeamNamespaceArgs for {name!r}", args.problems())
        super().__init__("mlops:team_namespace:TeamNamespace", name, None, opts)
        self.name = args.team
        labels = {**kube.labels(args.team, "team-namespace"), TEAM_LABEL: args.team}
        self.namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": args.team,
                "labels": {
                    **labels,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/audit": "restricted",
                },
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        inside = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        quota = args.quota
        k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata={"name": "team-quota", "namespace": args.team, "labels": labels},
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
            metadata={"name": "container-defaults", "namespace": args.team, "labels": labels},
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
            metadata={"name": "default-deny-ingress", "namespace": args.team, "labels": labels},
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
            opts=inside,
        )
        self.register_outputs({"name": self.name})
