"""``ClusterAddons``: cluster-autoscaler, the NVIDIA device plugin and metrics-server.

Example::

    ClusterAddons("cluster-addons", ClusterAddonsSpec(), context, cluster.ref,
                  opts=pulumi.ResourceOptions(providers=[aws_provider, cluster.provider]))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi

from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.refs import ClusterRef
from mlops_platform.components.support import helm, iam, kube, pins
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem

AUTOSCALER_SERVICE_ACCOUNT = "cluster-autoscaler"


AUTOSCALER_RESOURCES = {"requests": {"cpu": "100m", "memory": "300Mi"}, "limits": {"memory": "600Mi"}}
METRICS_SERVER_RESOURCES = {"requests": {"cpu": "100m", "memory": "200Mi"}, "limits": {"memory": "400Mi"}}


@spec
class ClusterAddonsSpec:
    """How the add-ons run."""

    high_availability: bool | None = None
    """Two replicas of metrics-server with a disruption budget. Default: on in prod only."""
    gpu_sharing_replicas: Sequence[int] = ()
    """Time-slicing replica counts GPU pools use; the device plugin gets one named config each, which
    nodes select by their ``nvidia.com/device-plugin.config`` label. Default: none."""


def device_plugin_config(replicas: Sequence[int]) -> dict[str, Any]:
    """The NVIDIA device plugin's config map: whole GPUs by default, N-way time slicing by name.
    A pod asking for more than one slice is refused: slices of one GPU add no compute."""
    if not replicas:
        return {}
    named = {"default": "version: v1\nflags:\n  migStrategy: none\n"}
    for n in replicas:
        named[kube.sharing_config(n)] = (
            "version: v1\nflags:\n  migStrategy: none\nsharing:\n  timeSlicing:\n"
            "    failRequestsGreaterThanOne: true\n    resources:\n"
            f"      - name: {kube.GPU_RESOURCE}\n        replicas: {n}\n"
        )
    return {"config": {"map": named, "default": "default"}}


def autoscaler_policy(*, region: str, account_id: str, cluster_name: str) -> str:
    """Describe calls have no resource-level permissions; scaling is limited to the groups this
    cluster owns (by ASG ARN and by the ownership tag EKS puts on managed node groups)."""
    return iam.document(
        [
            iam.statement(
                "DescribeScalingState",
                [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "*",
            ),
            iam.statement(
                "DescribeOwnNodegroups",
                ["eks:DescribeNodegroup"],
                f"arn:aws:eks:{region}:{account_id}:nodegroup/{cluster_name}/*/*",
            ),
            iam.statement(
                "ScaleOwnGroups",
                ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
                f"arn:aws:autoscaling:{region}:{account_id}:autoScalingGroup:*:autoScalingGroupName/*",
                conditions={
                    "StringEquals": {f"aws:ResourceTag/k8s.io/cluster-autoscaler/{cluster_name}": "owned"}
                },
            ),
        ]
    )


class ClusterAddons(PlatformComponent):
    """The add-ons GPU scheduling needs: scale-from-zero, GPU discovery and resource metrics."""

    autoscaler_role_arn: pulumi.Output[str]
    """Role the cluster-autoscaler assumes through Pod Identity."""

    def __init__(
        self,
        name: str,
        spec: ClusterAddonsSpec,
        context: StackContext,
        cluster: ClusterRef,
        opts: pulumi.ResourceOptions | None = None,
    ):
        problems = context.problems()
        if cluster.kubernetes_version not in pins.CLUSTER_AUTOSCALER_IMAGE_TAGS:
            problems.append(
                Problem(
                    "cluster.kubernetes_version",
                    f"no pinned cluster-autoscaler for {cluster.kubernetes_version!r}",
                )
            )
        super().__init__("mlops:cluster_addons:ClusterAddons", name, "ClusterAddonsSpec", problems, opts)
        child = self.child
        account_id, region = self.account_id, self.region
        high_availability = context.highly_available(spec.high_availability)

        role = PodIdentityRole(
            f"{name}-autoscaler",
            PodIdentitySpec(namespace="kube-system", service_account=AUTOSCALER_SERVICE_ACCOUNT),
            cluster_name=cluster.name,
            tags=context.tags,
            policy=pulumi.Output.from_input(cluster.name).apply(
                lambda cluster_name: autoscaler_policy(
                    region=region, account_id=account_id, cluster_name=cluster_name
                )
            ),
            opts=child,
        )
        helm.release(
            f"{name}-cluster-autoscaler",
            "cluster-autoscaler",
            namespace="kube-system",
            values={
                "autoDiscovery": {"clusterName": cluster.name},
                "awsRegion": region,
                "cloudProvider": "aws",
                "image": {"tag": pins.CLUSTER_AUTOSCALER_IMAGE_TAGS[cluster.kubernetes_version]},
                "rbac": {"serviceAccount": {"create": True, "name": AUTOSCALER_SERVICE_ACCOUNT}},
                "extraArgs": {
                    "balance-similar-node-groups": True,
                    "skip-nodes-with-system-pods": False,
                    "expander": "least-waste",
                    "scale-down-unneeded-time": "10m",
                },
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "priorityClassName": "system-cluster-critical",
                "resources": AUTOSCALER_RESOURCES,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role]),
            footprint=helm.Footprint(system_pods=((1, AUTOSCALER_RESOURCES),)),
        )
        helm.release(
            f"{name}-nvidia-device-plugin",
            "nvidia-device-plugin",
            namespace="kube-system",
            values={
                # Only GPU nodes whose AMI lacks a built-in plugin (Bottlerocket ships one).
                "nodeSelector": {kube.DEVICE_PLUGIN_LABEL: "daemonset"},
                "tolerations": [kube.GPU_TOLERATION, {"key": "CriticalAddonsOnly", "operator": "Exists"}],
                "priorityClassName": "system-node-critical",
                **device_plugin_config(spec.gpu_sharing_replicas),
            },
            opts=child,
            footprint=helm.Footprint(gpu_nodes=helm.NO_REQUESTS),  # the chart sets no requests
        )
        replicas = 2 if high_availability else 1
        helm.release(
            f"{name}-metrics-server",
            "metrics-server",
            namespace="kube-system",
            values={
                "replicas": replicas,
                "podDisruptionBudget": {"enabled": high_availability, "minAvailable": 1},
                "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                "resources": METRICS_SERVER_RESOURCES,
            },
            opts=child,
            footprint=helm.Footprint(system_pods=((replicas, METRICS_SERVER_RESOURCES),)),
        )
        self.autoscaler_role_arn = role.arn
        self.register_outputs({"autoscalerRoleArn": self.autoscaler_role_arn})
