"""ModelEndpoint: least privilege, canary weights, GPU scheduling, resilience objects, bad input."""

from __future__ import annotations

import json

import pulumi
import pytest

from mlops_platform.components.refs import GpuPoolInfo
from mlops_platform.components.serving.model_endpoint import (
    Autoscaling,
    ComputeResources,
    ModelEndpoint,
    ModelEndpointSpec,
    ModelVersion,
    Replicas,
    ScalingMetric,
    SecretEnv,
    ServiceLevel,
)
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import only, platform, run

POOLS = {
    "gpu-a10g": GpuPoolInfo(
        node_labels={"mlops-platform.io/gpu-pool": "gpu-a10g", "nvidia.com/gpu.present": "true"},
        gpus_per_node=1,
    )
}


def spec(**overrides):
    values = {"team": "risk", "stable": ModelVersion(name="v3", image_tag="3.2.0", weight=100), **overrides}
    return ModelEndpointSpec(**values)


def endpoint(name="scorer", environment=Environment.DEV, namespace=None, **overrides):
    def program():
        e = ModelEndpoint(
            name, spec(**overrides), platform(environment, gpu_pools=POOLS), namespace=namespace
        )
        pulumi.export("url", e.url)
        pulumi.export("roleArn", e.role_arn)
        pulumi.export("repositoryUrl", e.repository_url)

    return run(program).graph


def rejected(name="scorer", environment=Environment.DEV, **overrides) -> InvalidArgs:
    with pytest.raises(InvalidArgs) as caught:
        ModelEndpoint(name, spec(**overrides), platform(environment, gpu_pools=POOLS))
    return caught.value


def deployments(graph):
    """What runs each version's pods, by ``<model>-<version>``: the Rollout (its template is the newest
    live version's) and the shadow's Deployment."""
    found = {d.inputs["metadata"]["name"]: d.inputs for d in graph.of_type("kubernetes:apps/v1:Deployment")}
    for rollout in graph.of_type("kubernetes:argoproj.io/v1alpha1:Rollout"):
        found[rollout.inputs["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"]] = (
            rollout.inputs
        )
    return found


def test_role_reads_only_its_prefix_and_pulls_only_its_repository():
    graph = endpoint()
    policy = json.loads(graph.find("aws:iam/rolePolicy:RolePolicy", "scorer-access").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ReadObjects"]["Resource"] == ["arn:aws:s3:::artifacts-bucket-1/models/risk/scorer/*"]
    assert statements["ListPrefix"]["Condition"] == {"StringLike": {"s3:prefix": ["models/risk/scorer/*"]}}
    assert statements["PullImages"]["Resource"] == [
        "arn:aws:ecr:us-east-1:123456789012:repository/risk/scorer"
    ]
    assert statements["DecryptObjects"]["Resource"] == ["arn:aws:kms:us-east-1:123456789012:key/artifacts"]
    assert not any(
        a.startswith(("s3:Put", "s3:Delete", "ecr:Put")) for s in policy["Statement"] for a in s["Action"]
    )
    association = only(graph, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("risk", "scorer")


def test_own_repository_is_immutable_and_admits_only_the_model_and_the_nodes():
    graph = endpoint()
    repo = only(graph, "aws:ecr/repository:Repository").inputs
    assert repo["name"] == "risk/scorer" and repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["encryptionConfigurations"][0]["kmsKey"].endswith("key/registry")
    statement = json.loads(only(graph, "aws:ecr/repositoryPolicy:RepositoryPolicy").inputs["policy"])[
        "Statement"
    ][0]
    principals = statement["Principal"]["AWS"]
    assert "arn:aws:iam::123456789012:role/node" in principals
    assert any(p.startswith("arn:aws:iam::123456789012:role/scorer-identity-role-") for p in principals)
    assert graph.outputs["repositoryUrl"] == "123456789012.dkr.ecr.us-east-1.amazonaws.com/risk/scorer"


def test_a_legacy_canary_weight_is_held_by_the_rollout_behind_the_gateway():
    graph = endpoint(
        stable=ModelVersion(name="v3", image_tag="3.2.0", weight=90),
        canary=ModelVersion(name="v4", image_digest="sha256:" + "a" * 64, weight=10),
    )
    rollout = only(graph, "kubernetes:argoproj.io/v1alpha1:Rollout").inputs
    # The weight the stack file sets is the step the canary holds until someone promotes it.
    assert rollout["spec"]["strategy"]["canary"]["steps"] == [
        {"setCanaryScale": {"weight": 10}},
        {"setWeight": 10},
        {"pause": {}},
    ]
    # The Rollout's template is the canary's: Argo keeps the stable's pods from its earlier revision.
    template = rollout["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/version"] == "v4"
    assert template["spec"]["containers"][0]["image"] == (
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/risk/scorer@sha256:" + "a" * 64
    )
    assert json.loads(rollout["metadata"]["annotations"]["mlops-platform.io/versions"]) == {
        "v3": {"traffic": 90, "replicas": 100},
        "v4": {"traffic": 10, "replicas": 10},
    }
    route = only(graph, "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute")
    [default] = route.inputs["spec"]["rules"]
    assert default["matches"] == [{"path": {"type": "PathPrefix", "value": "/risk/scorer"}}]
    assert [(b["name"], b["weight"]) for b in default["backendRefs"]] == [
        ("scorer-stable", 100),
        ("scorer-canary", 0),
    ]
    assert route.ignore_changes == [
        "spec.rules[0].backendRefs[0].weight",
        "spec.rules[0].backendRefs[1].weight",
    ]
    assert route.inputs["spec"]["parentRefs"][0]["name"] == "models"
    assert graph.of_type("kubernetes:networking.k8s.io/v1:Ingress") == []
    assert graph.of_type("kubernetes:apps/v1:Deployment") == []  # Argo runs the live versions
    services = {s.inputs["metadata"]["name"] for s in graph.of_type("kubernetes:core/v1:Service")}
    assert services == {"scorer", "scorer-v3", "scorer-v4", "scorer-stable", "scorer-canary"}
    assert graph.outputs["url"] == "http://models.internal.example.com/risk/scorer/"


def test_gpu_scheduling_fields_reach_the_pods():
    graph = endpoint(resources=ComputeResources(cpu="2", memory="8Gi", gpus=1, gpu_pool="gpu-a10g"))
    pod = deployments(graph)["scorer-v3"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert (
        container["resources"]["requests"]["nvidia.com/gpu"]
        == container["resources"]["limits"]["nvidia.com/gpu"]
        == "1"
    )
    assert pod["nodeSelector"] == {"mlops-platform.io/gpu-pool": "gpu-a10g", "nvidia.com/gpu.present": "true"}
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_cpu_models_get_no_gpu_scheduling():
    pod = deployments(endpoint())["scorer-v3"]["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "tolerations" not in pod
    assert "nvidia.com/gpu" not in pod["containers"][0]["resources"]["limits"]


def test_pods_are_hardened_and_probed():
    pod = deployments(endpoint())["scorer-v3"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {
        "type": "RuntimeDefault"
    }
    assert pod["automountServiceAccountToken"] is False
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["capabilities"] == {"drop": ["ALL"]}
    assert security["allowPrivilegeEscalation"] is False
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["port"] == "http"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MODEL_URI"] == "s3://artifacts-bucket-1/models/risk/scorer/v3/"
    assert env["BASE_PATH"] == "/risk/scorer"


def test_disruption_budget_only_when_two_replicas_must_stay():
    assert endpoint(replicas=Replicas(min=1, max=3)).of_type("kubernetes:policy/v1:PodDisruptionBudget") == []
    pdb = only(endpoint(replicas=Replicas(min=2, max=4)), "kubernetes:policy/v1:PodDisruptionBudget").inputs
    assert pdb["spec"] == {
        "maxUnavailable": 1,
        "selector": {
            "matchLabels": {"mlops-platform.io/model": "scorer", "mlops-platform.io/traffic": "live"}
        },
    }


def test_one_autoscaler_scales_the_rollout_and_the_canary_runs_its_share():
    graph = endpoint(
        stable=ModelVersion(name="v3", image_tag="3", weight=80),
        canary=ModelVersion(name="v4", image_tag="4", weight=20),
        replicas=Replicas(min=2, max=10),
    )
    hpa = only(graph, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").inputs["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "scorer",
    }
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 10)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    rollout = only(graph, "kubernetes:argoproj.io/v1alpha1:Rollout").inputs
    # Each version runs its share of the Rollout's replicas: the canary its 20% (setCanaryScale).
    assert json.loads(rollout["metadata"]["annotations"]["mlops-platform.io/versions"]) == {
        "v3": {"traffic": 80, "replicas": 100},
        "v4": {"traffic": 20, "replicas": 20},
    }
    assert "replicas" not in only(graph, "kubernetes:argoproj.io/v1alpha1:Rollout").inputs["spec"]


def test_custom_metric_autoscaling():
    graph = endpoint(
        autoscaling=Autoscaling(
            metric=ScalingMetric.CUSTOM, custom_metric="requests_in_flight", target_value="8"
        )
    )
    metric = graph.find("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "scorer-autoscaler").inputs[
        "spec"
    ]["metrics"][0]
    assert metric == {
        "type": "Pods",
        "pods": {
            "metric": {"name": "requests_in_flight"},
            "target": {"type": "AverageValue", "averageValue": "8"},
        },
    }


def test_network_policy_admits_only_the_gateway_the_interceptor_and_prometheus():
    graph = endpoint()
    policy = graph.find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "scorer-network-policy").inputs[
        "spec"
    ]
    assert policy["policyTypes"] == ["Ingress"]
    assert policy["podSelector"] == {"matchLabels": {"mlops-platform.io/model": "scorer"}}
    peers = [
        (
            rule["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
            rule["from"][0]["podSelector"],
        )
        for rule in policy["ingress"]
    ]
    assert peers == [
        (
            "envoy-gateway-system",
            {"matchLabels": {"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy"}},
        ),
        (
            "keda",
            {
                "matchLabels": {
                    "app.kubernetes.io/component": "interceptor",
                    "app.kubernetes.io/name": "http-add-on",
                }
            },
        ),
        ("monitoring", {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}),
    ]
    assert all(rule["ports"] == [{"protocol": "TCP", "port": 8080}] for rule in policy["ingress"])
    assert all("ipBlock" not in peer for rule in policy["ingress"] for peer in rule["from"])
    deny = graph.find("kubernetes:networking.k8s.io/v1:NetworkPolicy", "scorer-team-default-deny").inputs[
        "spec"
    ]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_namespace_has_quota_limits_and_restricted_pod_security():
    graph = endpoint()
    namespace = only(graph, "kubernetes:core/v1:Namespace").inputs["metadata"]
    assert (
        namespace["name"] == "risk"
        and namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    )
    quota = only(graph, "kubernetes:core/v1:ResourceQuota").inputs["spec"]["hard"]
    assert quota["requests.nvidia.com/gpu"] == "4"
    assert only(graph, "kubernetes:core/v1:LimitRange")


def test_existing_namespace_is_used_as_is():
    graph = endpoint(namespace="shared-models")
    assert graph.of_type("kubernetes:core/v1:Namespace") == []
    assert {d["metadata"]["namespace"] for d in deployments(graph).values()} == {"shared-models"}


def test_service_monitor_and_slo_alerts():
    graph = endpoint(slo=ServiceLevel(availability_target=99.9, latency_p95_ms=250))
    monitor = only(graph, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor").inputs["spec"]
    assert monitor["selector"] == {
        "matchLabels": {"mlops-platform.io/model": "scorer"},
        "matchExpressions": [
            {"key": "mlops-platform.io/service-role", "operator": "In", "values": ["version", "shadow"]}
        ],
    }
    # Each pod is behind exactly one selected Service: its version's.
    selected = [
        s.inputs
        for s in graph.of_type("kubernetes:core/v1:Service")
        if s.inputs["metadata"]["labels"]["mlops-platform.io/service-role"] in ("version", "shadow")
    ]
    assert [s["metadata"]["name"] for s in selected] == ["scorer-v3"]
    relabeled = {r["targetLabel"]: r for r in monitor["endpoints"][0]["relabelings"]}
    assert relabeled["version"]["sourceLabels"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_version"]
    assert relabeled["traffic"]["sourceLabels"] == ["__meta_kubernetes_pod_label_mlops_platform_io_traffic"]
    rules = graph.find("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "scorer-slo").inputs["spec"][
        "groups"
    ]
    alerts = [r for g in rules for r in g["rules"] if "alert" in r]
    assert {a["alert"] for a in alerts} == {"SLOAvailabilityBudgetBurn", "SLOLatencyBudgetBurn"}
    assert all(a["labels"]["slo_service"] == "risk-scorer" for a in alerts)
    recording = next(
        r for g in rules for r in g["rules"] if r.get("record") == "slo:availability_errors:ratio_rate5m"
    )
    # The shadow's copies never count against the SLO.
    assert 'model="scorer",namespace="risk",traffic="live"' in recording["expr"]


def test_secrets_arrive_through_an_external_secret():
    graph = endpoint(secrets=[SecretEnv(env="HF_TOKEN", secret="huggingface-token")])
    sync = only(graph, "kubernetes:external-secrets.io/v1:ExternalSecret").inputs["spec"]
    assert sync["data"] == [
        {"secretKey": "HF_TOKEN", "remoteRef": {"key": "mlops-platform/dev/huggingface-token"}}
    ]
    container = deployments(graph)["scorer-v3"]["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"secretRef": {"name": "scorer-secrets"}}]


def test_prod_spreads_replicas_across_zones():
    graph = endpoint(
        environment=Environment.PROD,
        stable=ModelVersion(name="v3", image_digest="sha256:" + "ab" * 32),
        slo=ServiceLevel(),
        replicas=Replicas(min=2, max=4),
    )
    pod = deployments(graph)["scorer-v3"]["spec"]["template"]["spec"]
    assert pod["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    assert only(graph, "kubernetes:policy/v1:PodDisruptionBudget")


BAD_INPUT = [
    (
        {
            "stable": ModelVersion(name="v1", image_tag="1", weight=70),
            "canary": ModelVersion(name="v2", image_tag="2", weight=20),
        },
        "canary.weight: stable and canary weights must sum to 100 (got 70 + 20 = 90)",
    ),
    (
        {"stable": ModelVersion(name="v1", image_tag="1", weight=90)},
        "stable.weight: must be 100 without a canary (got 90)",
    ),
    (
        {"resources": ComputeResources(gpus=1)},
        "resources.gpu_pool: must name a GPU pool when gpus > 0 (got gpus=1 and no pool)",
    ),
    (
        {"resources": ComputeResources(gpus=1, gpu_pool="gpu-h100")},
        "resources.gpu_pool: unknown GPU pool 'gpu-h100'; known pools: gpu-a10g",
    ),
    (
        {"resources": ComputeResources(gpus=2, gpu_pool="gpu-a10g")},
        "resources.gpus: pool 'gpu-a10g' has 1 GPU(s) per node; a replica cannot use 2",
    ),
    (
        {"stable": ModelVersion(name="v1", image_tag="latest")},
        "stable.image_tag: must not be 'latest': pin a version or a digest",
    ),
    (
        {"stable": ModelVersion(name="v1")},
        "stable.image_tag: set an immutable image tag or a digest (got neither)",
    ),
    ({"replicas": Replicas(min=4, max=2)}, "replicas.max: must be >= replicas.min (got 2 < 4)"),
    ({"team": "Risk Team"}, "team: must be a DNS-1123 label"),
    ({"port": 80}, "port: must be between 1024 and 65535: servers run as non-root (got 80)"),
    (
        {"slo": ServiceLevel(availability_target=100.0)},
        "slo.availability_target: must be a percentage in [90, 100)",
    ),
    (
        {"secrets": [SecretEnv(env="1TOKEN", secret="x")]},
        "secrets[0].env: must be a valid environment variable name",
    ),
    ({"hostname": "Not A Host"}, "hostname: must be a DNS name such as scorer.example.com"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_INPUT)
def test_rejects_bad_input_with_its_message(overrides, message):
    assert message in str(rejected(**overrides))


def test_rejects_no_slo_in_prod():
    problems = str(rejected(environment=Environment.PROD))
    assert "slo: is required in prod: set an availability target and a p95 latency" in problems


def test_rejects_a_name_that_is_not_dns_1123():
    assert "name: must be a DNS-1123 label" in str(rejected(name="Fraud_Scorer"))


def test_lists_every_problem_at_once():
    caught = rejected(
        stable=ModelVersion(name="v1", image_tag="latest", weight=50), replicas=Replicas(min=3, max=1)
    )
    assert len(caught.problems) == 3
