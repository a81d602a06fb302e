"""Lineage on every deployed version: what it is made of reaches its Deployment, its pods and the
``lineage`` output; stage and prod refuse images without a digest; bad lineage values are refused."""

from __future__ import annotations

import pulumi
import pytest

from mlops_platform.components.serving.model_endpoint import ModelEndpoint, ModelVersion, ServiceLevel
from mlops_platform.components.support import kube
from mlops_platform.components.support.environment import Environment
from tests.harness import only, run, stack
from tests.test_model_endpoint import POOLS, deployments, platform, rejected, spec

DIGEST = "sha256:" + "ab" * 32
VERSION = ModelVersion(
    name="v3",
    image_tag="3.2.0",
    image_digest=DIGEST,
    registered_model="fraud-scorer",
    registry_version="3",
    training_run_id="0123456789abcdef0123456789abcdef",
    dataset_uri="s3://datasets/fraud/2026-10-01/",
    code_commit="4f9c2d1",
)


def test_lineage_reaches_the_rollout_the_pods_and_the_output():
    def program():
        endpoint = ModelEndpoint(
            "scorer",
            spec(stable=VERSION, slo=ServiceLevel(availability_target=99.9, latency_p95_ms=250)),
            platform(Environment.PROD, gpu_pools=POOLS),
        )
        pulumi.export("lineage", endpoint.lineage)

    result = run(program)
    deployment = deployments(result.graph)["scorer-v3"]
    expected = {
        "registered-model": "fraud-scorer",
        "registry-version": "3",
        "image-digest": DIGEST,
        "image-tag": "3.2.0",
        "training-run": "0123456789abcdef0123456789abcdef",
        "dataset-uri": "s3://datasets/fraud/2026-10-01/",
        "code-commit": "4f9c2d1",
    }
    for where in (
        deployment["metadata"]["annotations"],
        deployment["spec"]["template"]["metadata"]["annotations"],
    ):
        lineage = {
            k.removeprefix(kube.LINEAGE_PREFIX): v
            for k, v in where.items()
            if k.startswith(kube.LINEAGE_PREFIX)
        }
        assert lineage.pop("artifact-uri").endswith("/models/risk/scorer/v3/")
        assert lineage == expected
    # The same facts as tags on the model's AWS resources (role, repository).
    for resource_type in ("aws:iam/role:Role", "aws:ecr/repository:Repository"):
        tags = only(result.graph, resource_type).inputs["tags"]
        assert {
            k.removeprefix("mlops-platform.io/lineage/v3/"): v
            for k, v in tags.items()
            if k.startswith("mlops-platform.io/lineage/")
        } == expected
    output = result.graph.outputs["lineage"]["v3"]
    assert output["artifact-uri"].startswith("s3://") and output["image-digest"] == DIGEST
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(f"@{DIGEST}")


@pytest.mark.parametrize(
    ("environment", "version", "message"),
    [
        (
            Environment.PROD,
            ModelVersion(name="v3", image_tag="3.2.0"),
            "stable.image_digest: is required in prod: refer to the image by digest, not only by tag '3.2.0'",
        ),
        (
            Environment.STAGE,
            ModelVersion(name="v3", image_tag="3.2.0"),
            "stable.image_digest: is required in stage",
        ),
        (
            Environment.DEV,
            ModelVersion(name="v3", image_tag="1", registered_model="fraud-scorer"),
            "stable.registry_version: set registered_model and registry_version together",
        ),
        (
            Environment.DEV,
            ModelVersion(name="v3", image_tag="1", training_run_id="run-7"),
            "stable.training_run_id: must be an MLflow run ID, 32 hex characters (got 'run-7')",
        ),
        (
            Environment.DEV,
            ModelVersion(name="v3", image_tag="1", code_commit="main"),
            "stable.code_commit: must be a git commit, 7 to 40 hex characters (got 'main')",
        ),
        (
            Environment.DEV,
            ModelVersion(name="v3", image_tag="1", dataset_uri="fraud data"),
            "stable.dataset_uri: must be a URI such as s3://bucket/path (got 'fraud data')",
        ),
        (
            Environment.DEV,
            ModelVersion(name="v3", image_tag="1", dataset_uri="s3://data/fraud?version=3"),
            "stable.dataset_uri: may only hold letters, digits, spaces and _ . : / = + - @: it becomes an AWS tag",
        ),
    ],
)
def test_bad_lineage_is_refused_on_its_key(environment, version, message):
    assert message in str(rejected(environment=environment, stable=version))


def test_a_dev_tag_without_lineage_is_still_accepted():
    graph = run(lambda: ModelEndpoint("scorer", spec(), platform(Environment.DEV, gpu_pools=POOLS))).graph
    annotations = deployments(graph)["scorer-v3"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations[f"{kube.LINEAGE_PREFIX}image-tag"] == "3.2.0"


def test_every_stage_and_prod_model_pod_names_its_digest_and_registry_version():
    for name in ("stage", "prod"):
        graph = stack(name).graph
        models = [
            d
            for kind in ("kubernetes:apps/v1:Deployment", "kubernetes:argoproj.io/v1alpha1:Rollout")
            for d in graph.of_type(kind)
            if kube.MODEL_LABEL in d.inputs["metadata"]["labels"]
        ]
        assert models, name
        for deployment in models:
            annotations = deployment.inputs["spec"]["template"]["metadata"]["annotations"]
            assert annotations[f"{kube.LINEAGE_PREFIX}image-digest"].startswith("sha256:"), deployment.name
            assert f"{kube.LINEAGE_PREFIX}registry-version" in annotations, deployment.name
        assert set(graph.outputs["lineage"]) == {
            d.inputs["metadata"]["labels"][kube.MODEL_LABEL] for d in models
        }
