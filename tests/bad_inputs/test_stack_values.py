"""Stack values of the wrong type, out of range, past an AWS limit, or in conflict with each other.
Each message names the key as the user wrote it (camelCase, with list indexes)."""

from __future__ import annotations

import pytest

from tests.bad_inputs.conftest import VALID_STACK, Project, assert_refused

POOL = VALID_STACK["config"]["mlops-platform:gpuNodePools"][0]
MODEL = VALID_STACK["config"]["mlops-platform:models"][0]


def pool(**changes):
    return [{**POOL, **changes}]


def model(**changes):
    return [{**MODEL, **changes}]


BATCH = {"inputPrefix": "datasets/growth/in/", "outputPrefix": "scores/growth/churn/", "command": ["score"]}


def pipeline(**changes):
    return {
        "name": "churn-train",
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/growth/trainer:1.0.0",
        "registeredModel": "churn",
        "dataPrefixes": ["datasets/growth/"],
        "train": {"command": ["python", "train.py"]},
        "evaluate": {"metric": "auc", "threshold": 0.8},
        "mlflowSecret": "hf-token",
        **changes,
    }


CASES = {
    # types
    "owner-is-a-list": ({"owner": ["a", "b"]}, ["mlops-platform:owner"]),
    "environment-unknown": ({"environment": "production"}, ["mlops-platform:environment"]),
    "models-is-a-mapping": ({"models": {"churn": {}}}, ["mlops-platform:models"]),
    "pool-max-size-is-text": (
        {"gpuNodePools": pool(maxSize="four")},
        ["mlops-platform:gpuNodePools[0].maxSize"],
    ),
    "pool-without-name": (
        {"gpuNodePools": [{k: v for k, v in POOL.items() if k != "name"}]},
        ["mlops-platform:gpuNodePools[0].name"],
    ),
    "unknown-top-level-key": ({"clustr": {}}, ["mlops-platform:clustr: unknown key"]),
    "unknown-nested-key": ({"cluster": {"versoin": "1.35"}}, ["mlops-platform:cluster.versoin"]),
    "unknown-aws-key": ({"aws_regoin": "us-east-1"}, ["aws:regoin: unknown key"]),
    "replicas-is-a-number": ({"models": model(replicas=3)}, ["mlops-platform:models[0].replicas"]),
    "port-is-a-float": ({"models": model(port=8080.5)}, ["mlops-platform:models[0].port"]),
    "boolean-is-a-number": (
        {"artifacts": {"forceDestroy": 1}},
        ["mlops-platform:artifacts.forceDestroy: must be true or false (got 1)"],
    ),
    "image-tag-unquoted-number": (
        {"models": model(stable={"name": "v1", "imageTag": 1.0})},
        ["mlops-platform:models[0].stable.imageTag: must be a string (got 1.0)"],
    ),
    # ranges
    "log-retention-not-cloudwatch": (
        {
            "cluster": {
                "adminPrincipalArns": ["arn:aws:iam::123456789012:role/a"],
                "controlPlaneLogRetentionDays": 4,
            }
        },
        ["mlops-platform:cluster.controlPlaneLogRetentionDays"],
    ),
    "pool-min-above-max": ({"gpuNodePools": pool(minSize=3, maxSize=2)}, ["mlops-platform:gpuNodePools[0]"]),
    "pool-negative-min": ({"gpuNodePools": pool(minSize=-1)}, ["mlops-platform:gpuNodePools[0].minSize"]),
    "replicas-min-above-max": (
        {"models": model(replicas={"min": 3, "max": 2})},
        ["mlops-platform:models[0].replicas"],
    ),
    "availability-100": (
        {"models": model(slo={"availabilityTarget": 100, "latencyP95Ms": 250})},
        ["mlops-platform:models[0].slo.availabilityTarget"],
    ),
    "latency-zero": (
        {"models": model(slo={"availabilityTarget": 99, "latencyP95Ms": 0})},
        ["mlops-platform:models[0].slo.latencyP95Ms"],
    ),
    "privileged-port": ({"models": model(port=80)}, ["mlops-platform:models[0].port"]),
    "backup-retention-too-long": (
        {"mlflow": {"database": {"backupRetentionDays": 40}}},
        ["mlops-platform:mlflow.database.backupRetentionDays"],
    ),
    "canary-weights-not-100": (
        {
            "models": model(
                stable={"name": "v1", "imageTag": "1", "weight": 70},
                canary={"name": "v2", "imageTag": "2", "weight": 20},
            )
        },
        ["mlops-platform:models[0].canary.weight", "sum to 100"],
    ),
    "latency-buckets-unsorted": (
        {"models": model(latencyBuckets=[0.5, 0.25])},
        ["mlops-platform:models[0].latencyBuckets"],
    ),
    "budget-negative": (
        {"observability": {"budget": {"monthlyLimitUsd": -5}}},
        ["mlops-platform:observability.budget.monthlyLimitUsd"],
    ),
    # sizes and AWS limits
    "owner-10-mb": ({"owner": "x" * 10_000_000}, ["mlops-platform:owner", "256 characters"]),
    "cost-center-300": ({"costCenter": "c" * 300}, ["mlops-platform:costCenter", "256"]),
    "owner-illegal-tag-characters": ({"owner": "ml#platform"}, ["mlops-platform:owner"]),
    "secret-description-too-long": (
        {"secrets": {"entries": [{"name": "hf-token", "description": "d" * 3000}]}},
        ["mlops-platform:secrets.entries[0].description"],
    ),
    "secret-name-illegal": (
        {"secrets": {"entries": [{"name": "hf token!", "description": "x"}]}},
        ["mlops-platform:secrets.entries[0].name"],
    ),
    "model-name-too-long": ({"models": model(name="m" * 50)}, ["mlops-platform:models[0].name"]),
    "team-not-a-dns-label": ({"models": model(team="Growth_Team")}, ["mlops-platform:models[0].team"]),
    "repository-name-uppercase": (
        {"registry": {"repositories": ["mlflow-server", "Bad/Repo"]}},
        ["mlops-platform:registry.repositories"],
    ),
    "hostname-too-long": (
        {"mlflow": {"hostname": ("a" * 60 + ".") * 5 + "com"}},
        ["mlops-platform:mlflow.hostname"],
    ),
    "certificate-not-an-arn": (
        {"mlflow": {"certificateArn": "my-cert"}},
        ["mlops-platform:mlflow.certificateArn"],
    ),
    "admin-not-an-arn": (
        {"cluster": {"adminPrincipalArns": ["admin"]}},
        ["mlops-platform:cluster.adminPrincipalArns"],
    ),
    "cidr-invalid": ({"network": {"vpcCidr": "10.0.0.0/33"}}, ["mlops-platform:network.vpcCidr"]),
    "region-invalid": ({"aws_region": "moon-1"}, ["aws:region"]),
    "region-without-prices": ({"aws_region": "ap-south-2"}, ["aws:region", "price table"]),
    "alert-email-invalid": (
        {"observability": {"alertEmails": ["not-an-email"]}},
        ["mlops-platform:observability.alertEmails"],
    ),
    "instance-type-unknown": (
        {"gpuNodePools": pool(instanceTypes=["g99.huge"])},
        ["mlops-platform:gpuNodePools[0].instanceTypes"],
    ),
    "image-tag-latest": (
        {"models": model(stable={"name": "v1", "imageTag": "latest"})},
        ["mlops-platform:models[0].stable.imageTag"],
    ),
    "env-reserved": (
        {"models": model(env={"MODEL_URI": "s3://x"})},
        ["mlops-platform:models[0].env.MODEL_URI"],
    ),
    "allowed-accounts-short": ({"aws_allowedAccountIds": ["1234"]}, ["aws:allowedAccountIds"]),
    # conflicts between sections
    "unknown-gpu-pool": (
        {"models": model(resources={"gpus": 1, "gpuPool": "gpu-large"})},
        ["mlops-platform:models[0].resources.gpuPool", "known pools: gpu-spot"],
    ),
    "duplicate-model": (
        {"models": [MODEL, MODEL]},
        ["mlops-platform:models[1].name", "duplicate model name"],
    ),
    "duplicate-pool": ({"gpuNodePools": [POOL, POOL]}, ["mlops-platform:gpuNodePools[1].name"]),
    "secret-not-declared": (
        {"models": model(secrets=[{"env": "HF_TOKEN", "secret": "other"}])},
        ["mlops-platform:models[0].secrets[0].secret"],
    ),
    "slo-not-a-bucket": (
        {"models": model(slo={"availabilityTarget": 99, "latencyP95Ms": 300})},
        ["mlops-platform:models[0].slo.latencyP95Ms", "add 0.3 to latencyBuckets"],
    ),
    "more-gpus-than-a-node": (
        {"models": model(resources={"gpus": 2, "gpuPool": "gpu-spot"})},
        ["mlops-platform:models[0].resources.gpus"],
    ),
    "traffic-for-unknown-model": (
        {"costAssumptions": {"requestsPerSecond": {"nope": 1}}},
        ["mlops-platform:costAssumptions.requestsPerSecond.nope"],
    ),
    "mlflow-image-repository-removed": (
        {"registry": {"repositories": ["other"]}},
        ["mlops-platform:registry.repositories", "mlflow-server"],
    ),
    # progressive delivery: each message on the key as written
    "canary-steps-decrease": (
        {"models": model(canary={"name": "v2", "imageTag": "2.0.0", "steps": [50, 25]})},
        [
            "mlops-platform:models[0].canary.steps: must increase strictly, e.g. [5, 25, 50, 100] (got [50, 25])"
        ],
    ),
    "canary-steps-past-100": (
        {"models": model(canary={"name": "v2", "imageTag": "2.0.0", "steps": [50, 150]})},
        ["mlops-platform:models[0].canary.steps: each step must be a percentage in 1..100 (got [50, 150])"],
    ),
    "canary-analysis-unknown-key": (
        {"models": model(canary={"name": "v2", "imageTag": "2.0.0", "analysis": {"maxErrors": 0.1}})},
        ["mlops-platform:models[0].canary.analysis.maxErrors"],
    ),
    "shadow-percent-past-100": (
        {
            "models": model(
                shadow={"version": {"name": "v2", "imageTag": "2"}, "percent": 120, "paths": ["/p"]}
            )
        },
        ["mlops-platform:models[0].shadow.percent: must be a percentage in 0..100 (got 120)"],
    ),
    "shadow-is-the-stable": (
        {"models": model(shadow={"version": {"name": "v1", "imageTag": "1.0.0"}, "paths": ["/predict"]})},
        ["mlops-platform:models[0].shadow.version.name: must differ from stable.name (both 'v1')"],
    ),
    "ab-test-to-unknown-version": (
        {"models": model(abTests=[{"header": "x-cohort", "value": "b", "version": "v9"}])},
        ["mlops-platform:models[0].abTests[0].version: unknown version 'v9'; this model serves v1"],
    ),
    "scale-to-zero-cold-start-under-node-start": (
        {
            "models": model(
                resources={"gpus": 1, "gpuPool": "gpu-spot"}, scaleToZero={"coldStartSeconds": 120}
            )
        },
        [
            "mlops-platform:models[0].scaleToZero.coldStartSeconds: 120 s is shorter than GPU pool "
            "'gpu-spot' takes to start a node (300 s, its nodeStartSeconds)"
        ],
    ),
    # pipelines: each message on the key as written
    "team-gpu-quota-over-the-pools": (
        {"teams": [{"name": "growth", "quota": {"gpus": 3}}]},
        [
            "mlops-platform:teams[0].quota.gpus: is 3 but the GPU pools can hold at most 2 (gpu-spot: 2); "
            "lower it or raise a pool's maxSize"
        ],
    ),
    "pipelines-sso-half-configured": (
        {"pipelines": {"ui": "sso", "ssoIssuer": "http://login.example.com", "ssoSecret": "nope"}},
        [
            "mlops-platform:pipelines.ssoIssuer: must be an https:// OIDC issuer with ui: sso "
            "(got 'http://login.example.com')",
            "mlops-platform:pipelines.ssoSecret: must name an entry of secrets.entries (got 'nope')",
            "mlops-platform:pipelines.hostname: is required with ui: sso",
            "mlops-platform:pipelines.certificateArn: is required with ui: sso",
        ],
    ),
    "batch-shards-below-one": (
        {"models": model(batch={**BATCH, "shards": 0})},
        ["mlops-platform:models[0].batch.shards: must be at least 1 (got 0)"],
    ),
    "batch-input-outside-the-artifact-store": (
        {"models": model(batch={**BATCH, "inputPrefix": "s3://elsewhere/in/"})},
        [
            "mlops-platform:models[0].batch.inputPrefix: must be a key prefix inside the artifact store, such "
            "as datasets/risk/transactions/; a URI or a path outside it cannot be granted (got 's3://elsewhere/in/')"
        ],
    ),
    "batch-schedule-not-cron": (
        {"models": model(batch={**BATCH, "schedule": "every night"})},
        [
            "mlops-platform:models[0].batch.schedule: must be a cron expression of 5 fields, e.g. '0 3 * * *' "
            "for 03:00 every day, or @daily (got 'every night')"
        ],
    ),
    "batch-unknown-version": (
        {"models": model(batch={**BATCH, "version": "v9"})},
        ["mlops-platform:models[0].batch.version: unknown version 'v9'; this model serves v1"],
    ),
    "pipeline-unknown-pool": (
        {
            "teams": [
                {
                    "name": "growth",
                    "quota": {"gpus": 1},
                    "pipelines": [pipeline(train={"command": ["t"], "pool": "gpu-h100"})],
                }
            ]
        },
        ["mlops-platform:teams[0].pipelines[0].train.pool: unknown GPU pool 'gpu-h100'; pools: gpu-spot"],
    ),
    "pipeline-schedule-not-cron": (
        {"teams": [{"name": "growth", "quota": {"gpus": 1}, "pipelines": [pipeline(schedule="0 3 * * 8")]}]},
        [
            "mlops-platform:teams[0].pipelines[0].schedule: is not valid cron: day of week '8' (allowed 0-7); "
            "e.g. '0 3 * * *' for 03:00 every day, or @daily (got '0 3 * * 8')"
        ],
    ),
    "pipeline-data-outside-the-artifact-store": (
        {
            "teams": [
                {"name": "growth", "quota": {"gpus": 1}, "pipelines": [pipeline(dataPrefixes=["/mnt/data/"])]}
            ]
        },
        [
            "mlops-platform:teams[0].pipelines[0].dataPrefixes[0]: must be a key prefix inside the artifact store"
        ],
    ),
    "pipeline-mlflow-secret-undeclared": (
        {
            "teams": [
                {"name": "growth", "quota": {"gpus": 1}, "pipelines": [pipeline(mlflowSecret="mlflow-x")]}
            ]
        },
        [
            "mlops-platform:teams[0].pipelines[0].mlflowSecret: must name an entry of secrets.entries (got 'mlflow-x')"
        ],
    ),
    "pipelines-ui-unknown": (
        {"pipelines": {"ui": "open"}},
        ["mlops-platform:pipelines.ui: must be one of none or sso"],
    ),
    "gateway-waf-not-an-arn": (
        {"gateway": {"wafAclArn": "my-acl"}},
        ["mlops-platform:gateway.wafAclArn: must be a WAFv2 web ACL ARN"],
    ),
}


@pytest.mark.parametrize("config, names", CASES.values(), ids=CASES.keys())
def test_a_bad_value_is_refused_on_the_users_key(project: Project, config, names):
    project.write_stack(project.stack_with(**config))
    assert_refused(project.run("synth", "t", output=True), *names)


def test_prod_refuses_a_model_that_outgrows_its_pool(project: Project):
    document = project.stack_with(
        environment="prod",
        models=model(
            resources={"gpus": 1, "gpuPool": "gpu-spot", "cpu": "2", "memory": "8Gi"},
            replicas={"min": 2, "max": 4},
        ),
    )
    project.write_stack(document)
    assert_refused(
        project.run("synth", "t", output=True),
        "mlops-platform:models[0].replicas.max",
        "pool 'gpu-spot' holds at most 2",
    )


def test_prod_refuses_scale_to_zero_without_a_reason(project: Project):
    document = project.stack_with(environment="prod", models=model(scaleToZero={"idleMinutes": 30}))
    project.write_stack(document)
    assert_refused(
        project.run("synth", "t", output=True),
        "mlops-platform:models[0].scaleToZero.reason: is required in prod",
    )
    document = project.stack_with(
        environment="prod",
        models=model(
            stable={"name": "v1", "imageTag": "1.0.0", "imageDigest": "sha256:" + "a" * 64},
            scaleToZero={"idleMinutes": 30, "reason": "batch-only model, scored once a night"},
        ),
    )
    project.write_stack(document)
    outcome = project.run("synth", "t", output=True)
    assert outcome.code == 0 and outcome.written, outcome.err  # with a reason, prod may


def test_a_refused_config_registers_no_resource(project: Project):
    from mlops_platform.infra.offline.runner import SynthError, synthesize

    project.write_stack(project.stack_with(owner="x" * 300, models=model(port=80)))
    with pytest.raises(SynthError) as refused:
        synthesize("t", project.root)
    assert refused.value.exit_code == 2
    assert refused.value.registered == []  # not even the stack's root resource's children
