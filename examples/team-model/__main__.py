"""Example: a team's own Pulumi project that serves one model on the shared ML platform.

Copy this folder into your repository, set the values in Pulumi.<stack>.yaml, and run
``pulumi up``. Everything the endpoint needs from the platform (cluster, registry key, artifact
bucket, GPU pools) comes in one typed handle, a ``PlatformRef`` read from the platform stack's
outputs; the endpoint itself (namespace objects, role, repository, Deployment, autoscaler, SLO
alerts, Ingress) belongs to this project and this team.
"""

from __future__ import annotations

import pulumi

from mlops_platform.components import (
    ComputeResources,
    Environment,
    ModelEndpoint,
    ModelEndpointSpec,
    ModelVersion,
    PlatformRef,
    Replicas,
    ServiceLevel,
)

config = pulumi.Config()


async def main() -> pulumi.Inputs:
    # Plain values (the environment, the GPU pools) are awaited, so the spec is checked against the
    # real platform (an unknown GPU pool, a missing SLO in prod) before anything is registered.
    platform = await PlatformRef.from_stack_reference(
        pulumi.StackReference(config.require("platformStack")),
        owner=config.require("owner"),
        cost_center=config.require("costCenter"),
    )
    gpu_pool = config.get("gpuPool") or None
    endpoint = ModelEndpoint(
        config.get("model") or "sentiment",
        ModelEndpointSpec(
            team=config.require("team"),
            stable=ModelVersion(name="v1", image_tag=config.require("imageTag")),
            resources=ComputeResources(cpu="2", memory="8Gi", gpus=1 if gpu_pool else 0, gpu_pool=gpu_pool),
            replicas={
                Environment.DEV: Replicas(min=1, max=2),
                Environment.STAGE: Replicas(min=1, max=3),
                Environment.PROD: Replicas(min=2, max=6),
            }[platform.environment],
            slo=ServiceLevel(availability_target=99.5, latency_p95_ms=400),
            # The server's histogram bounds (it reads them from LATENCY_BUCKETS); 0.4 is the SLO's.
            latency_buckets=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2),
        ),
        platform,
        opts=pulumi.ResourceOptions(provider=platform.provider()),
    )
    return {"url": endpoint.url, "repositoryUrl": endpoint.repository_url, "roleArn": endpoint.role_arn}


pulumi.run(main)
