"""Progressive delivery and elastic serving, as the stacks render them: the Rollout and its analysis,
the HTTPRoute's A/B rules, weighted split and mirror, the shadow, scale to zero through KEDA, the
engines' releases, and bad input refused with its message."""

from __future__ import annotations

import json
import re

import pytest

from mlops_platform.components.refs import GpuPoolInfo
from mlops_platform.components.serving.model_endpoint import (
    AbTest,
    CanaryAnalysis,
    CanaryVersion,
    ComputeResources,
    ModelEndpoint,
    ModelEndpointSpec,
    ModelVersion,
    ScaleToZero,
    ServiceLevel,
    Shadow,
)
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.exporters import metric_names
from mlops_platform.components.support.validation import InvalidArgs
from mlops_platform.policies.graph import Graph, Resource
from tests.harness import only, platform, run, stack

ROLLOUT = "kubernetes:argoproj.io/v1alpha1:Rollout"
ANALYSIS = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"
ROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
SCALED_OBJECT = "kubernetes:keda.sh/v1alpha1:ScaledObject"
RELEASE = "kubernetes:helm.sh/v3:Release"
POOLS = {
    "gpu-a10g": GpuPoolInfo(
        node_labels={"mlops-platform.io/gpu-pool": "gpu-a10g", "nvidia.com/gpu.present": "true"},
        gpus_per_node=1,
        max_nodes=8,
        node_start_seconds=300,
    )
}


def named(graph: Graph, resource_type: str, name: str) -> Resource:
    (found,) = [r for r in graph.of_type(resource_type) if r.name == name]
    return found


def records(graph: Graph) -> set[str]:
    return {
        rule["record"]
        for rule_set in graph.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        for group in rule_set.inputs["spec"]["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def test_prod_fraud_scorer_walks_its_steps_analysed_at_each_and_in_the_background():
    graph = stack("prod").graph
    rollout = named(graph, ROLLOUT, "fraud-scorer-rollout").inputs["spec"]
    canary = rollout["strategy"]["canary"]
    step_analysis = {
        "analysis": {
            "templates": [{"templateName": "fraud-scorer"}],
            "args": [{"name": "version", "value": "v4"}, {"name": "measurements", "value": "3"}],
        }
    }
    expected = []
    for weight in (10, 25, 50):
        expected += [
            {"setCanaryScale": {"weight": weight}},
            {"setWeight": weight},
            {"pause": {"duration": "10m"}},
            step_analysis,
        ]
    # At 100 the canary runs at the stable's size, then Argo promotes it.
    expected += [{"setCanaryScale": {"matchTrafficWeight": True}}, {"setWeight": 100}]
    assert canary["steps"] == expected
    assert canary["analysis"] == {
        "templates": [{"templateName": "fraud-scorer"}],
        "args": [{"name": "version", "value": "v4"}, {"name": "measurements", "value": "0"}],
        "startingStep": 2,  # from the first pause on, every minute
    }
    assert canary["trafficRouting"] == {
        "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "fraud-scorer", "namespace": "risk"}}
    }
    assert (canary["stableService"], canary["canaryService"]) == (
        "fraud-scorer-stable",
        "fraud-scorer-canary",
    )
    # The template is the canary's; Argo keeps v3's pods from the revision before.
    assert rollout["template"]["metadata"]["labels"]["app.kubernetes.io/version"] == "v4"
    assert "@sha256:" in rollout["template"]["spec"]["containers"][0]["image"]
    assert rollout["progressDeadlineAbort"] is True
    # Argo owns the selector hash of the Services it steers; Pulumi leaves it alone.
    for role in ("stable", "canary"):
        assert named(
            graph, "kubernetes:core/v1:Service", f"fraud-scorer-rollout-{role}-service"
        ).ignore_changes == ["spec.selector"]


def test_the_analysis_judges_the_canary_on_the_slo_through_recording_rules_of_the_stack():
    graph = stack("prod").graph
    template = named(graph, ANALYSIS, "fraud-scorer-analysis").inputs["spec"]
    metrics = {m["name"]: m for m in template["metrics"]}
    assert set(metrics) == {"error-ratio", "latency-p95", "burn-rate"}
    # Thresholds from the SLO (99.95%, 250 ms) and the fast-burn page rate.
    assert metrics["error-ratio"]["successCondition"].endswith("result[0] <= 0.0005")
    assert metrics["latency-p95"]["failureCondition"].endswith("result[0] > 0.25")
    assert metrics["burn-rate"]["successCondition"].endswith("result[0] <= 14.4")
    for metric in metrics.values():
        provider = metric["provider"]["prometheus"]
        assert provider["address"] == "http://kube-prometheus-stack-prometheus.monitoring.svc:9090"
        # Every series the analysis reads is a recording rule this stack writes.
        assert metric_names(provider["query"]) <= records(graph), provider["query"]
        assert metric["count"] == "{{args.measurements}}" and metric["failureLimit"] == 1
    assert 'version="{{args.version}}"' in metrics["error-ratio"]["provider"]["prometheus"]["query"]
    assert 'slo_service="risk-fraud-scorer"' in metrics["burn-rate"]["provider"]["prometheus"]["query"]


def test_weights_mirror_and_header_rules_reach_the_httproute():
    graph = stack("prod").graph
    route = named(graph, ROUTE, "fraud-scorer-route")
    ab, mirrored, default = route.inputs["spec"]["rules"]
    header = [{"type": "Exact", "name": "x-cohort", "value": "chargeback-review"}]
    # The A/B rule comes first and also covers the mirrored path, so its header always wins.
    assert ab["matches"] == [
        {"path": {"type": "PathPrefix", "value": "/risk/fraud-scorer"}, "headers": header},
        {"path": {"type": "PathPrefix", "value": "/risk/fraud-scorer/predict"}, "headers": header},
    ]
    assert ab["backendRefs"] == [{"group": "", "kind": "Service", "name": "fraud-scorer-v3", "port": 80}]
    assert mirrored["matches"] == [{"path": {"type": "PathPrefix", "value": "/risk/fraud-scorer/predict"}}]
    assert mirrored["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {"group": "", "kind": "Service", "name": "fraud-scorer-v6", "port": 80},
                "percent": 20,
            },
        }
    ]
    for rule in (mirrored, default):
        assert [(b["name"], b["weight"]) for b in rule["backendRefs"]] == [
            ("fraud-scorer-stable", 100),
            ("fraud-scorer-canary", 0),
        ]
    # The plugin moves these weights during a canary: Pulumi ignores them after creation.
    assert route.ignore_changes == [
        f"spec.rules[{rule}].backendRefs[{ref}].weight" for rule in (1, 2) for ref in (0, 1)
    ]
    assert default["timeouts"] == {"request": "60s"}


def test_the_shadow_runs_its_own_deployment_outside_the_rollout_and_the_slo():
    graph = stack("prod").graph
    shadow = named(graph, "kubernetes:apps/v1:Deployment", "fraud-scorer-v6-deployment").inputs
    labels = shadow["spec"]["template"]["metadata"]["labels"]
    assert labels["mlops-platform.io/traffic"] == "shadow"
    assert "replicas" not in shadow["spec"]  # its own HPA scales it
    env = {e["name"]: e["value"] for e in shadow["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MODEL_TRAFFIC"] == "shadow" and env["REQUEST_ID_HEADER"] == "x-request-id"
    hpa = named(graph, HPA, "fraud-scorer-v6-autoscaler").inputs["spec"]
    assert hpa["scaleTargetRef"]["kind"] == "Deployment" and (hpa["minReplicas"], hpa["maxReplicas"]) == (
        1,
        1,
    )
    rollout = named(graph, ROLLOUT, "fraud-scorer-rollout").inputs["spec"]
    assert rollout["selector"]["matchLabels"]["mlops-platform.io/traffic"] == "live"
    slo = named(graph, "kubernetes:monitoring.coreos.com/v1:PrometheusRule", "fraud-scorer-slo")
    assert all(
        'traffic="live"' in r["expr"]
        for g in slo.inputs["spec"]["groups"]
        for r in g["rules"]
        if "record" in r
    )
    service = named(graph, "kubernetes:core/v1:Service", "fraud-scorer-v6-service").inputs
    assert service["metadata"]["labels"]["mlops-platform.io/service-role"] == "shadow"


def test_keda_replaces_the_hpa_where_scale_to_zero_is_on_and_only_there():
    graph = stack("dev").graph
    assert not [h for h in graph.of_type(HPA) if h.name.startswith("fraud-scorer")]
    scaled = named(graph, SCALED_OBJECT, "fraud-scorer-scaled-object").inputs["spec"]
    assert scaled["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "fraud-scorer",
    }
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"], scaled["cooldownPeriod"]) == (0, 1, 900)
    assert scaled["triggers"] == [
        {
            "type": "external-push",
            "metadata": {
                "scalerAddress": "keda-add-ons-http-external-scaler.keda:9090",
                "interceptorRoute": "fraud-scorer",
            },
        }
    ]
    # churn-classifier keeps its HPA on its Rollout and gets no KEDA object.
    assert (
        named(graph, HPA, "churn-classifier-autoscaler").inputs["spec"]["scaleTargetRef"]["kind"] == "Rollout"
    )
    assert [s.name for s in graph.of_type(SCALED_OBJECT) if "churn" in s.name] == []
    # The interceptor holds the first request: every timeout on the path covers the cold start.
    interceptor_route = named(
        graph, "kubernetes:http.keda.sh/v1beta1:InterceptorRoute", "fraud-scorer-interceptor-route"
    ).inputs["spec"]
    assert interceptor_route["timeouts"] == {"readiness": "600s", "responseHeader": "600s"}
    assert interceptor_route["target"] == {"service": "fraud-scorer", "port": 80}
    route = named(graph, ROUTE, "fraud-scorer-route")
    [default] = route.inputs["spec"]["rules"]
    assert default["timeouts"] == {"request": "660s"}
    assert default["backendRefs"] == [
        {
            "group": "",
            "kind": "Service",
            "name": "keda-add-ons-http-interceptor-proxy",
            "namespace": "keda",
            "port": 8080,
        }
    ]
    assert route.ignore_changes == []  # no weights: the canary's share follows its replicas here
    rollout = named(graph, ROLLOUT, "fraud-scorer-rollout").inputs["spec"]["strategy"]["canary"]
    assert "trafficRouting" not in rollout and rollout["steps"] == [{"setWeight": 20}, {"pause": {}}]
    queue = named(
        graph,
        "kubernetes:gateway.envoyproxy.io/v1alpha1:BackendTrafficPolicy",
        "fraud-scorer-cold-start-queue",
    )
    assert queue.inputs["spec"]["circuitBreaker"] == {"maxPendingRequests": 100, "maxParallelRequests": 100}
    add_on = next(r for r in graph.of_type(RELEASE) if r.inputs["name"] == "keda-add-ons-http").inputs[
        "values"
    ]
    assert (
        add_on["interceptor"]["readinessTimeout"] == add_on["interceptor"]["responseHeaderTimeout"] == "900s"
    )
    assert add_on["interceptor"]["resources"]["limits"]["memory"] == "512Mi"
    # dev's models share the platform's ALB, on their own port; it keeps connections past a cold start.
    ingress = named(graph, "kubernetes:networking.k8s.io/v1:Ingress", "model-gateway-ingress").inputs
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/group.name"] == "mlops-platform-internal"
    assert annotations["alb.ingress.kubernetes.io/listen-ports"] == '[{"HTTP": 8080}]'
    idle = annotations["alb.ingress.kubernetes.io/load-balancer-attributes"]
    assert int(idle.split("=")[1]) > 900
    front = named(stack("prod").graph, "kubernetes:core/v1:Service", "model-gateway-load-balancer")
    idle = front.inputs["metadata"]["annotations"][
        "service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-80"
    ]
    assert int(idle.split("=")[1]) > 900


def test_the_engines_are_installed_from_their_vendored_charts_with_least_privilege():
    graph = stack("prod").graph
    releases = {r.inputs["name"]: r.inputs for r in graph.of_type(RELEASE)}
    for chart in ("gateway-helm", "argo-rollouts", "keda", "keda-add-ons-http"):
        assert releases[chart]["chart"].startswith("../charts/") and releases[chart]["chart"].endswith(".tgz")
    rollouts = releases["argo-rollouts"]["values"]
    [copy] = rollouts["controller"]["initContainers"]
    assert copy["image"].startswith("ghcr.io/argoproj-labs/rollouts-plugin-trafficrouter-gatewayapi:v")
    assert rollouts["controller"]["trafficRouterPlugins"] == [
        {
            "name": "argoproj-labs/gatewayAPI",
            "location": "file:///plugins/rollouts-plugin-trafficrouter-gatewayapi",
        }
    ]
    providers = rollouts["providerRBAC"]["providers"]
    assert [p for p, on in providers.items() if on] == ["gatewayAPI"]
    assert releases["keda"]["values"]["rbac"]["scaledRefKinds"] == [
        {"apiGroup": "argoproj.io", "kind": "Rollout"}
    ]
    gateway = only(graph, "kubernetes:gateway.networking.k8s.io/v1:Gateway").inputs["spec"]
    [listener] = gateway["listeners"]
    assert listener["allowedRoutes"]["namespaces"]["selector"] == {
        "matchExpressions": [{"key": "mlops-platform.io/team", "operator": "Exists"}]
    }
    grant = only(graph, "kubernetes:gateway.networking.k8s.io/v1beta1:ReferenceGrant").inputs["spec"]
    assert {f["namespace"] for f in grant["from"]} == {"growth", "risk"}
    assert grant["to"] == [{"group": "", "kind": "Service", "name": "keda-add-ons-http-interceptor-proxy"}]
    policy = only(graph, "kubernetes:gateway.envoyproxy.io/v1alpha1:ClientTrafficPolicy").inputs["spec"]
    assert policy["headers"] == {"requestID": "PreserveOrGenerate"}
    alerts = {
        rule["alert"]: rule
        for rule_set in graph.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        for group in rule_set.inputs["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    for alert, runbook in (
        ("ModelRolloutAborted", "rollout-aborted"),
        ("ModelAnalysisErroring", "analysis-erroring"),
        ("ModelGateway5xx", "gateway-5xx"),
        ("InterceptorQueueFull", "interceptor-queue-full"),
    ):
        assert alerts[alert]["annotations"]["runbook_url"].endswith(f"/{runbook}.md")


def test_dev_models_leave_the_shared_alb_for_their_own_nlb_when_told(project_copy):
    from mlops_platform.infra.offline.runner import synthesize

    stack_file = project_copy / "stacks" / "Pulumi.dev.yaml"
    stack_file.write_text(
        stack_file.read_text() + "  mlops-platform:gateway:\n    sharedLoadBalancer: false\n"
    )
    graph = synthesize("dev", project_copy).graph
    front = named(graph, "kubernetes:core/v1:Service", "model-gateway-load-balancer").inputs
    assert front["spec"]["loadBalancerClass"] == "service.k8s.aws/nlb"
    assert not [
        i
        for i in graph.of_type("kubernetes:networking.k8s.io/v1:Ingress")
        if i.name == "model-gateway-ingress"
    ]
    assert not graph.outputs["gatewayUrl"].endswith(":8080")
    assert stack("dev").graph.outputs["gatewayUrl"].endswith(":8080")


def test_a_waf_or_a_certificate_puts_the_gateway_behind_its_own_alb(project_copy):
    from mlops_platform.infra.offline.runner import synthesize

    stack_file = project_copy / "stacks" / "Pulumi.dev.yaml"
    acl = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/models/0000"
    stack_file.write_text(stack_file.read_text() + f"  mlops-platform:gateway:\n    wafAclArn: {acl}\n")
    graph = synthesize("dev", project_copy).graph
    ingress = named(graph, "kubernetes:networking.k8s.io/v1:Ingress", "model-gateway-ingress").inputs
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/wafv2-acl-arn"] == acl
    assert annotations["alb.ingress.kubernetes.io/group.name"] == "mlops-platform-models"
    assert (
        annotations["alb.ingress.kubernetes.io/load-balancer-attributes"]
        == "idle_timeout.timeout_seconds=960"
    )
    assert not [
        s
        for s in graph.of_type("kubernetes:core/v1:Service")
        if s.inputs["spec"].get("type") == "LoadBalancer"
    ]


def test_the_delivery_dashboard_shows_split_step_and_analysis():
    graph = stack("prod").graph
    board = json.loads(
        next(
            iter(
                named(graph, "kubernetes:core/v1:ConfigMap", "fraud-scorer-dashboard").inputs["data"].values()
            )
        )
    )
    titles = [p["title"] for p in board["panels"]]
    assert "Traffic split (share of live requests)" in titles
    assert "Canary step: updated replicas of desired" in titles
    assert "Analysis results (1 = current phase)" in titles
    queries = " ".join(t["expr"] for p in board["panels"] for t in p["targets"])
    assert 'rollout_info_replicas_updated{namespace="risk",name="fraud-scorer"}' in queries
    assert "analysis_run_metric_phase" in queries


# --- bad input, through the component: each message names the field ---------------------------------


def spec(**overrides) -> ModelEndpointSpec:
    values = {
        "team": "risk",
        "stable": ModelVersion(name="v3", image_tag="3.2.0"),
        "slo": ServiceLevel(availability_target=99.9, latency_p95_ms=250),
        **overrides,
    }
    return ModelEndpointSpec(**values)


def refused(environment: Environment = Environment.DEV, **overrides) -> list[str]:
    with pytest.raises(InvalidArgs) as caught:
        ModelEndpoint("scorer", spec(**overrides), platform(environment, gpu_pools=POOLS))
    return [p.render() for p in caught.value.problems]


CANARY = {"name": "v4", "image_tag": "4.0.0"}
SHADOW = ModelVersion(name="v5", image_tag="5.0.0")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"canary": CanaryVersion(**CANARY, steps=[25, 5])},
            "canary.steps: must increase strictly, e.g. [5, 25, 50, 100] (got [25, 5])",
        ),
        (
            {"canary": CanaryVersion(**CANARY, steps=[0, 50])},
            "canary.steps: each step must be a percentage in 1..100 (got [0, 50])",
        ),
        (
            {"canary": CanaryVersion(**CANARY, steps=[])},
            "canary.steps: must list at least one percentage, e.g. [5, 25, 50, 100]",
        ),
        (
            {"canary": CanaryVersion(**CANARY, steps=[10, 100], weight=10)},
            "canary.steps: set steps or weight, not both (weight is the legacy fixed split)",
        ),
        (
            {"canary": CanaryVersion(**CANARY, analysis=CanaryAnalysis(max_error_ratio=2))},
            "canary.analysis.max_error_ratio: must be a fraction in (0, 1), e.g. 0.01 (got 2)",
        ),
        (
            {"shadow": Shadow(version=SHADOW, percent=101, paths=["/predict"])},
            "shadow.percent: must be a percentage in 0..100 (got 101)",
        ),
        (
            {"shadow": Shadow(version=ModelVersion(name="v3", image_tag="3.2.1"), paths=["/predict"])},
            "shadow.version.name: must differ from stable.name (both 'v3')",
        ),
        (
            {"shadow": Shadow(version=SHADOW)},
            "shadow.paths: list the idempotent paths to mirror, e.g. [/predict]: mirrored requests run twice",
        ),
        (
            {"shadow": Shadow(version=SHADOW, paths=["predict"])},
            "shadow.paths[0]: must be a path under the model such as /predict (got 'predict')",
        ),
        (
            {"ab_tests": [AbTest(header="x-cohort", value="b", version="v9")]},
            "ab_tests[0].version: unknown version 'v9'; this model serves v3",
        ),
        (
            {"ab_tests": [AbTest(header="x cohort", value="b", version="v3")]},
            "ab_tests[0].header: must be an HTTP header name such as x-cohort (got 'x cohort')",
        ),
        (
            {"canary": CanaryVersion(name="stable", image_tag="4")},
            "canary.name: 'stable' names a Service of the Rollout; pick another such as v5",
        ),
        (
            {
                "resources": ComputeResources(gpus=1, gpu_pool="gpu-a10g"),
                "scale_to_zero": ScaleToZero(cold_start_seconds=120),
            },
            "scale_to_zero.cold_start_seconds: 120 s is shorter than GPU pool 'gpu-a10g' takes to start a node "
            "(300 s, its nodeStartSeconds), before any pull or load: raise it",
        ),
        (
            {"scale_to_zero": ScaleToZero(cold_start_seconds=2000)},
            "scale_to_zero.cold_start_seconds: must be between 30 and 900 (got 2000)",
        ),
        (
            {
                "scale_to_zero": ScaleToZero(),
                "ab_tests": [AbTest(header="x-cohort", value="b", version="v3")],
            },
            "scale_to_zero: cannot combine with abTests: requests to a model at zero pass the KEDA interceptor, "
            "which routes by path to one Service; drop the A/B rules or scaleToZero",
        ),
    ],
)
def test_rejects_bad_delivery_settings_with_their_message(overrides, message):
    assert message in refused(**overrides)


def test_rejects_scale_to_zero_in_prod_without_a_reason_and_accepts_it_with_one():
    digest = {"image_digest": "sha256:" + "b" * 64}
    prod = {"stable": ModelVersion(name="v3", **digest)}
    [message] = [
        m for m in refused(Environment.PROD, scale_to_zero=ScaleToZero(), **prod) if "scale_to_zero" in m
    ]
    assert message.startswith("scale_to_zero.reason: is required in prod")
    graph = run(
        lambda: ModelEndpoint(
            "scorer",
            spec(scale_to_zero=ScaleToZero(reason="scored twice a day by a batch caller"), **prod),
            platform(Environment.PROD, gpu_pools=POOLS),
        )
    ).graph
    assert only(graph, SCALED_OBJECT).inputs["spec"]["minReplicaCount"] == 0
    assert graph.of_type(HPA) == []


def test_a_refused_spec_registers_nothing():
    from mlops_platform.infra.offline.runner import SynthError

    with pytest.raises(SynthError) as caught:
        run(
            lambda: ModelEndpoint(
                "scorer",
                spec(canary=CanaryVersion(**CANARY, steps=[50, 10])),
                platform(gpu_pools=POOLS),
            )
        )
    assert re.search(r"canary\.steps: must increase strictly", str(caught.value))
    assert caught.value.registered == []
