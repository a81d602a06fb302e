"""The team example runs under mocks, reading the real dev platform's outputs through a StackReference."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import replace

import kubernetes_validate
import yaml

from mlops_platform.components.support import pins
from mlops_platform.infra.offline.runner import synthesize
from mlops_platform.infra.offline.values import unwrap
from tests.harness import ROOT, kubernetes_objects, stack
from tests.test_workflows import actionlint

EXAMPLE = ROOT / "examples" / "team-model"


def platform_outputs():
    return {"acme/mlops-platform/dev": unwrap(stack("dev").stack_outputs)}


def test_team_example_synthesizes_one_endpoint_from_platform_outputs():
    result = synthesize("dev", EXAMPLE, stack_outputs=platform_outputs())
    graph = result.graph
    (endpoint,) = graph.of_type("mlops:model_endpoint:ModelEndpoint")
    assert endpoint.name == "sentiment"
    kinds = {r.type.rsplit(":", 1)[1] for r in graph.descendants(endpoint.urn)}
    assert {
        "Namespace",
        "Role",
        "Repository",
        "Deployment",  # the shadow's
        "Rollout",
        "HorizontalPodAutoscaler",
        "NetworkPolicy",
        "HTTPRoute",
        "PrometheusRule",
    } <= kinds
    # The team declares a shadow and an A/B rule: both reach its HTTPRoute on the platform's gateway.
    route = graph.find("kubernetes:gateway.networking.k8s.io/v1:HTTPRoute", "sentiment-route").inputs["spec"]
    ab, mirrored, default = route["rules"]
    assert ab["matches"][0]["headers"] == [{"type": "Exact", "name": "x-cohort", "value": "beta"}]
    assert ab["backendRefs"][0]["name"] == "sentiment-v2"
    assert mirrored["filters"][0]["requestMirror"] == {
        "backendRef": {"group": "", "kind": "Service", "name": "sentiment-v2", "port": 80},
        "percent": 25,
    }
    assert mirrored["matches"] == [{"path": {"type": "PathPrefix", "value": "/nlp/sentiment/predict"}}]
    assert default["matches"] == [{"path": {"type": "PathPrefix", "value": "/nlp/sentiment"}}]
    assert route["parentRefs"][0] == {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "models",
        "namespace": "envoy-gateway-system",
        "sectionName": "http",
    }
    shadow = graph.find("kubernetes:apps/v1:Deployment", "sentiment-v2-deployment").inputs
    assert shadow["spec"]["template"]["metadata"]["labels"]["mlops-platform.io/traffic"] == "shadow"
    assert (
        graph.outputs["url"]
        == platform_outputs()["acme/mlops-platform/dev"]["gatewayUrl"] + "/nlp/sentiment/"
    )
    rollout = graph.find("kubernetes:argoproj.io/v1alpha1:Rollout", "sentiment-rollout").inputs
    pod = rollout["spec"]["template"]["spec"]
    assert pod["nodeSelector"]["mlops-platform.io/gpu-pool"] == "gpu-spot"
    assert pod["containers"][0]["image"].endswith("/nlp/sentiment:1.4.0")
    platform = stack("dev").graph.outputs
    assert f"s3://{platform['artifactBucket']}/models/nlp/sentiment/v1/" in str(pod["containers"][0]["env"])
    assert graph.outputs["repositoryUrl"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/nlp/sentiment"
    custom = []
    for resource in kubernetes_objects(graph):
        group = resource.inputs["apiVersion"].split("/")[0]
        if "." not in group or (group.endswith("k8s.io") and group != "gateway.networking.k8s.io"):
            kubernetes_validate.validate(resource.inputs, "1.35", strict=True)
        else:
            custom.append(resource)
    # The custom resources (HTTPRoute, Rollout...) against the CRDs the platform's releases install.
    from tests.helm_render import RELEASE, check_stack

    dev = stack("dev").graph
    charts = ("argo-rollouts", "gateway-helm", "argo-workflows", "external-secrets")
    engines = [r for r in dev.of_type(RELEASE) if r.inputs["name"] in charts]
    report = check_stack(replace(dev, resources=[*dev.of_type("aws:eks/cluster:Cluster"), *engines, *custom]))
    assert report.problems == [] and report.custom_resources >= len(custom) >= 5


def test_team_example_declares_its_training_pipeline():
    graph = synthesize("dev", EXAMPLE, stack_outputs=platform_outputs()).graph
    (pipeline,) = graph.of_type("mlops:pipelines:TrainingPipeline")
    kinds = {r.type.rsplit(":", 1)[1] for r in graph.descendants(pipeline.urn)}
    assert {"WorkflowTemplate", "CronWorkflow", "ServiceAccount", "Role", "PodIdentityAssociation"} <= kinds
    template = graph.find(
        "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", "sentiment-train-template"
    ).inputs
    assert template["metadata"]["namespace"] == "nlp"
    assert template["spec"]["podMetadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "pipelines"
    env = {
        e["name"]: e["value"]
        for t in template["spec"]["templates"]
        if "container" in t
        for e in t["container"]["env"]
    }
    assert env["MLFLOW_TRACKING_URI"] == platform_outputs()["acme/mlops-platform/dev"]["mlflowUrl"]
    assert graph.outputs["pipelineRoleArn"].startswith("arn:aws:iam::")


def test_team_example_monitors_its_model_on_the_platforms_capture_pipeline():
    graph = synthesize("dev", EXAMPLE, stack_outputs=platform_outputs()).graph
    monitoring = platform_outputs()["acme/mlops-platform/dev"]["modelMonitoring"]
    (monitor,) = graph.of_type("mlops:monitoring:ModelMonitor")
    kinds = {r.type.rsplit(":", 1)[1] for r in graph.descendants(monitor.urn)}
    assert {"CronJob", "ServiceAccount", "PodIdentityAssociation", "PrometheusRule", "CatalogTable"} <= kinds
    job = graph.find("kubernetes:batch/v1:CronJob", "sentiment-monitor-schedule").inputs
    (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["image"] == monitoring["monitorImage"]
    config = json.loads(next(e["value"] for e in container["env"] if e["name"] == "MONITOR_CONFIG"))
    assert config["pushgateway_url"] == monitoring["pushgatewayUrl"]
    assert config["features"] == {"text_length": "numerical", "language": "categorical"}
    table = graph.find("aws:glue/catalogTable:CatalogTable", "sentiment-monitor-captures-table").inputs
    assert table["databaseName"] == monitoring["captureDatabase"]
    (rollout,) = graph.of_type("kubernetes:argoproj.io/v1alpha1:Rollout")
    (server,) = rollout.inputs["spec"]["template"]["spec"]["containers"]
    assert {"name": "CAPTURE_SAMPLE_RATE", "value": "0.1"} in server["env"]


def test_team_example_refuses_an_unknown_gpu_pool(tmp_path):
    import shutil

    copy = tmp_path / "team-model"
    shutil.copytree(EXAMPLE, copy)
    stack_file = copy / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("gpuPool: gpu-spot", "gpuPool: gpu-h100"))
    try:
        synthesize("dev", copy, stack_outputs=platform_outputs())
    except Exception as exc:
        assert "resources.gpu_pool: unknown GPU pool 'gpu-h100'; known pools: gpu-spot" in str(exc)
        assert getattr(exc, "exit_code", None) == 2
    else:
        raise AssertionError("an unknown pool must be refused")


def test_platform_ref_reads_an_outputs_file_written_by_blueprint_outputs(tmp_path):
    from mlops_platform.components.refs import PlatformRef
    from mlops_platform.components.support.environment import Environment
    from mlops_platform.infra.cli import main

    path = tmp_path / "platform-outputs.json"
    assert main(["outputs", "dev", "-o", str(path)]) == 0
    ref = PlatformRef.from_outputs_file(
        path, owner="nlp-team", cost_center="cc-2203", project="team", stack="dev"
    )
    platform = stack("dev").graph.outputs
    assert ref.environment is Environment.DEV and ref.region == "us-east-1"
    assert ref.artifact_bucket_name == platform["artifactBucket"]
    assert ref.gpu_pools["gpu-spot"].gpus_per_node == 1
    assert ref.gpu_pools["gpu-spot"].node_labels["mlops-platform.io/gpu-pool"] == "gpu-spot"
    assert ref.context.tags["owner"] == "nlp-team" and ref.context.tags["environment"] == "dev"
    # The round trip: what the program exports is what a ref reads.
    assert {k: v for k, v in ref.to_outputs().items() if k != "gpuNodePools"} == {
        k: platform[k] for k in ref.to_outputs() if k != "gpuNodePools"
    }


def test_platform_ref_names_every_missing_output(tmp_path):
    import json

    import pytest

    from mlops_platform.components.refs import PlatformRef
    from mlops_platform.components.support.validation import InvalidArgs

    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"environment": "dev", "region": "us-east-1"}))
    with pytest.raises(InvalidArgs) as caught:
        PlatformRef.from_outputs_file(path, owner="o", cost_center="c", project="p", stack="s")
    message = str(caught.value)
    assert "gpuNodePools: missing from" in message and "clusterName: missing from" in message
    path.write_text("{not json")
    with pytest.raises(InvalidArgs, match=r"path: platform outputs file .*outputs.json is not valid JSON"):
        PlatformRef.from_outputs_file(path, owner="o", cost_center="c", project="p", stack="s")


def test_the_example_ci_workflow_signs_the_pushed_digest_with_the_platform_key():
    path = ROOT / "examples" / "team-model" / ".github" / "workflows" / "image.yml"
    linted = subprocess.run([actionlint(), "-no-color", str(path)], capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    workflow = yaml.safe_load(path.read_text())
    steps = workflow["jobs"]["image"]["steps"]
    installer = next(s for s in steps if str(s.get("uses", "")).startswith("sigstore/cosign-installer"))
    assert installer["with"]["cosign-release"] == pins.COSIGN_VERSION
    sign = next(s for s in steps if "cosign sign" in s.get("run", ""))
    # The digest the build step pushed, not a tag that could move.
    assert sign["env"]["IMAGE"].endswith("@${{ steps.build.outputs.digest }}")
    assert re.search(r'cosign sign --yes --tlog-upload=false --key "\$SIGNING_KEY" "\$IMAGE"', sign["run"])
    # The key it names is the one the prod platform exports and Kyverno verifies against.
    alias = stack("prod").graph.outputs["imageSigning"]["keyAlias"]
    assert workflow["env"]["SIGNING_KEY"] == f"awskms:///{alias}"
    assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
