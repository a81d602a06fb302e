"""Example: a team's own Pulumi project that serves one model on the shared ML platform.

Copy this folder into your repository, set the values in Pulumi.<stack>.yaml, and run
``pulumi up``. Everything the endpoint needs from the platform (cluster, registry key, artifact
bucket, GPU pools) comes from the platform stack's outputs through a StackReference; the
endpoint itself (namespace objects, role, repository, Deployment, autoscaler, SLO alerts, Ingress)
belongs to this project and this team.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from mlops_platform.components import (
    ComputeResources,
    Environment,
    GpuPoolInfo,
    ModelEndpoint,
    ModelEndpointArgs,
    ModelVersion,
    Replicas,
    ServiceLevel,
    platform_tags,
)

config = pulumi.Config()
platform = pulumi.StackReference(config.require("platformStack"))


async def main() -> pulumi.Inputs:
    async def value(name: str) -> Any:
        details = await platform.get_output_details(name)
        return details.value if details.value is not None else details.secret_value

    # Plain values, so the endpoint checks its arguments (an unknown GPU pool, a missing SLO in prod)
    # before anything is registered.
    environment = Environment(await value("environment"))
    pools = {
        name: GpuPoolInfo(node_labels=pool["nodeLabels"], gpus_per_node=pool["gpusPerNode"])
        for name, pool in (await value("gpuNodePools")).items()
    }
    gpu_pool = config.get("gpuPool") or None
    team = config.require("team")
    cluster = k8s.Provider("platform-cluster", kubeconfig=platform.require_output("kubeconfig"))

    endpoint = ModelEndpoint(
        config.get("model") or "sentiment",
        ModelEndpointArgs(
            environment=environment,
            tags=platform_tags(
                environment=environment.value,
                project=pulumi.get_project(),
                owner=config.require("owner"),
                cost_center=config.require("costCenter"),
            ),
            team=team,
            cluster_name=platform.require_output("clusterName"),
            region=await value("region"),
            artifact_bucket_name=platform.require_output("artifactBucket"),
            artifact_kms_key_arn=platform.require_output("artifactKmsKeyArn"),
            registry_kms_key_arn=platform.require_output("registryKmsKeyArn"),
            node_role_arn=platform.require_output("nodeRoleArn"),
            gpu_pools=pools,
            stable=ModelVersion(name="v1", image_tag=config.require("imageTag")),
            resources=ComputeResources(cpu="2", memory="8Gi", gpus=1 if gpu_pool else 0, gpu_pool=gpu_pool),
            replicas={
                Environment.DEV: Replicas(min=1, max=2),
                Environment.STAGE: Replicas(min=1, max=3),
                Environment.PROD: Replicas(min=2, max=6),
            },
            slo=ServiceLevel(availability_target=99.5, latency_p95_ms=400),
            load_balancer_source_cidrs=[await value("vpcCidr")],
            runbook_base_url=await value("runbookBaseUrl"),
        ),
        opts=pulumi.ResourceOptions(providers=[cluster]),
    )
    return {"url": endpoint.url, "repositoryUrl": endpoint.repository_url, "roleArn": endpoint.role_arn}


pulumi.run(main)
