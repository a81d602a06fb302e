"""Example: a team's own Pulumi project that serves one model on the shared ML platform.

Copy this folder into your repository, set the values in Pulumi.<stack>.yaml, and run
``pulumi up``. Everything the endpoint needs from the platform (cluster, registry key, artifact
bucket, GPU pools) comes in one typed handle, a ``PlatformRef`` read from the platform stack's
outputs; the endpoint itself (namespace objects, role, repository, Rollout, autoscaler, SLO alerts,
its route on the platform's model gateway) belongs to this project and this team.

The image is the team's build of ``server/`` (a model server that honours the platform's serving and
prediction-capture contracts); with the platform's model monitoring on, the endpoint captures a
tenth of its predictions and a nightly job checks them for drift (docs/monitoring.md).

Optional config: ``shadowTag`` runs a candidate as a shadow on a copy of the ``/predict`` requests;
``abHeader``/``abValue`` send the requests that carry that header value to the shadow's version
instead, ahead of the split (an A/B test); ``trainImage`` declares the team's training pipeline
(weekly retraining that registers a version when its evaluation passes, docs/pipelines.md), and
``mlflowSecret`` names the platform secret with the team's MLflow user.
"""

from __future__ import annotations

import pulumi

from mlops_platform.components import (
    AbTest,
    ComputeResources,
    Environment,
    EvaluateStep,
    ModelEndpoint,
    ModelEndpointSpec,
    ModelMonitorSpec,
    ModelVersion,
    PlatformRef,
    Replicas,
    ServiceLevel,
    Shadow,
    TrainingPipeline,
    TrainingPipelineSpec,
    TrainStep,
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
    shadow_tag, ab_header = config.get("shadowTag"), config.get("abHeader")
    shadow = (
        Shadow(version=ModelVersion(name="v2", image_tag=shadow_tag), percent=25, paths=["/predict"])
        if shadow_tag
        else None
    )
    ab_tests = [AbTest(header=ab_header, value=config.require("abValue"), version="v2")] if ab_header else []
    provider = platform.provider()
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
            shadow=shadow,
            ab_tests=ab_tests,
            # The server's histogram bounds (it reads them from LATENCY_BUCKETS); 0.4 is the SLO's.
            latency_buckets=(0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2),
            # One request in ten captured by the server (server/app.py) and compared every night
            # with the training set's features: drift, data quality, prediction drift.
            monitor=ModelMonitorSpec(
                features={"text_length": "numerical", "language": "categorical"},
                task="classification",
                reference=f"datasets/{config.require('team')}/sentiment/reference/",
                sampling_rate=0.1,
            )
            if platform.monitoring is not None
            else None,
        ),
        platform,
        opts=pulumi.ResourceOptions(provider=provider),
    )
    outputs = {"url": endpoint.url, "repositoryUrl": endpoint.repository_url, "roleArn": endpoint.role_arn}
    train_image = config.get("trainImage")
    if train_image:
        team = config.require("team")
        pipeline = TrainingPipeline(
            "sentiment-train",
            TrainingPipelineSpec(
                name="sentiment-train",
                image=train_image,
                registered_model=config.get("model") or "sentiment",
                data_prefixes=[f"datasets/{team}/sentiment/"],
                train=TrainStep(command=["python", "-m", "sentiment.train"], pool=gpu_pool),
                evaluate=EvaluateStep(metric="val_f1", threshold=0.85),
                mlflow_secret=config.require("mlflowSecret"),
                schedule="0 4 * * 1",
            ),
            platform,
            team=team,
            opts=pulumi.ResourceOptions(provider=provider),
        )
        outputs["pipelineRoleArn"] = pipeline.role_arn
    return outputs


pulumi.run(main)
