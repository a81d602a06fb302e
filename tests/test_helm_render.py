"""Every Helm release of every stack, rendered by the real Helm engine from its vendored archive with
the exact values the program passes, and everything rendered validated (tests/helm_render.py)."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from mlops_platform.policies.graph import Graph, Resource
from tests.harness import STACKS, stack
from tests.helm_render import RELEASE, check_stack

ANALYSIS = "kubernetes:argoproj.io/v1alpha1:AnalysisTemplate"


@pytest.mark.parametrize("name", STACKS)
def test_every_release_renders_and_every_object_validates(name):
    graph = stack(name).graph
    report = check_stack(graph)
    assert report.problems == []
    rendered_by = {source.split(":")[0] for source, _ in report.objects}
    assert {r.name for r in graph.of_type(RELEASE)} <= rendered_by, "a release rendered nothing"
    assert len(report.objects) > 200
    # The platform's own custom resources and the charts' (ServiceMonitors, stores, rules) were checked.
    assert report.custom_resources > 50
    kinds = {manifest.get("kind") for _, manifest in report.objects}
    delivery = {
        "Gateway",
        "GatewayClass",
        "HTTPRoute",
        "Rollout",
        "EnvoyProxy",
        "ReferenceGrant",
    }
    assert delivery <= kinds
    # dev and prod run a canary: its AnalysisTemplate is checked too (stage has none)
    assert (name == "stage") or ("AnalysisTemplate" in kinds and graph.of_type(ANALYSIS))
    if name == "dev":  # fraud-scorer scales to zero there
        assert {"ScaledObject", "InterceptorRoute", "BackendTrafficPolicy"} <= kinds
    # Pipelines: the queues everywhere; dev and prod declare a pipeline (prod's on a schedule) and a
    # batch job.
    assert {"ClusterQueue", "LocalQueue", "ResourceFlavor", "Cohort"} <= kinds
    if name != "stage":
        assert "WorkflowTemplate" in kinds
    if name == "prod":
        assert "CronWorkflow" in kinds


def _with(resource_type: str, name: str, change) -> Graph:
    """The dev cluster and one of dev's resources, changed (a copy: the session's graph is shared)."""
    graph = stack("dev").graph
    (resource,) = [r for r in graph.of_type(resource_type) if r.inputs.get("name") == name or r.name == name]
    inputs = copy.deepcopy(resource.inputs)
    change(inputs)
    kept = [*graph.of_type("aws:eks/cluster:Cluster"), replace(resource, inputs=inputs)]
    return Graph(project=graph.project, stack=graph.stack, resources=kept, outputs={})


def _release_values(chart: str, change) -> Graph:
    return _with(RELEASE, chart, lambda inputs: change(inputs["values"]))


def test_a_values_key_the_chart_neither_declares_nor_reads_fails():
    def typo(values):
        values["replicaz"] = 2
        values["podDisruptionBudget"]["minAvailabel"] = 1

    problems = check_stack(_release_values("metrics-server", typo)).problems
    assert any(
        "values key replicaz is neither declared nor read by metrics-server 3.13.0" in p for p in problems
    )
    assert any("values key podDisruptionBudget.minAvailabel is neither declared" in p for p in problems)


def test_a_misplaced_subchart_key_fails():
    problems = check_stack(
        _release_values("kube-prometheus-stack", lambda v: v["grafana"].update(adminPasswrd="x"))
    ).problems
    assert any("values key grafana.adminPasswrd is neither declared nor read" in p for p in problems), (
        problems
    )


def test_values_the_charts_schema_rejects_fail():
    problems = check_stack(
        _release_values("external-secrets", lambda v: v.update(replicaCount="two"))
    ).problems
    assert any(
        "values.schema.json of external-secrets rejects the values" in p and "replicaCount" in p
        for p in problems
    )


def test_a_rendered_object_that_fails_the_kubernetes_schema_fails():
    problems = check_stack(
        _release_values("metrics-server", lambda v: v.update(nodeSelector={"zone": 5}))
    ).problems
    assert any(
        "metrics-server" in p and "Deployment" in p and "spec.template.spec.nodeSelector.zone" in p
        for p in problems
    ), problems


def test_a_custom_resource_with_a_field_its_crd_lacks_fails():
    rule = next(r for r in stack("dev").graph.resources if r.type.endswith("PrometheusRule"))

    def extra_field(inputs):
        inputs["spec"]["groups"][0]["rules"][0]["severity"] = "critical"

    problems = check_stack(_with(rule.type, rule.name, extra_field)).problems
    assert any(
        "PrometheusRule" in p and "spec.groups.0.rules.0" in p and "'severity' was unexpected" in p
        for p in problems
    ), problems


@pytest.mark.parametrize(
    ("kind", "name", "change", "where"),
    [
        (
            "kubernetes:argoproj.io/v1alpha1:Rollout",
            "fraud-scorer-rollout",
            lambda spec: spec["strategy"]["canary"].update(stepz=[]),
            "spec.strategy.canary",
        ),
        (
            "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute",
            "fraud-scorer-route",
            lambda spec: spec["rules"][0]["backendRefs"][0].update(weight="half"),
            "spec.rules.0.backendRefs.0.weight",
        ),
        (
            "kubernetes:keda.sh/v1alpha1:ScaledObject",
            "fraud-scorer-scaled-object",
            lambda spec: spec.update(minReplicaCount="zero"),
            "spec.minReplicaCount",
        ),
        (
            "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate",
            "risk-fraud-train-template",
            lambda spec: spec["templates"][0]["dag"]["tasks"][1].update(dependecies=["start-run"]),
            "spec.templates.0.dag.tasks.1",
        ),
        (
            "kubernetes:kueue.x-k8s.io/v1beta2:ClusterQueue",
            "pipelines-queue-risk",
            lambda spec: spec.update(cohort="mlops-teams"),
            "spec",
        ),
    ],
)
def test_a_delivery_object_its_crd_rejects_fails(kind, name, change, where):
    """The CRDs come from the releases (Argo's and KEDA's render theirs; Envoy Gateway ships the
    Gateway API's), so the dev releases render alongside."""
    graph = stack("dev").graph
    broken = copy.deepcopy(graph.find(kind, name))
    change(broken.inputs["spec"])
    engines = [
        r
        for r in graph.of_type(RELEASE)
        if r.inputs["name"] in ("argo-rollouts", "gateway-helm", "keda", "argo-workflows", "kueue")
    ]
    subset = Graph(
        project=graph.project,
        stack=graph.stack,
        resources=[*graph.of_type("aws:eks/cluster:Cluster"), *engines, broken],
        outputs=graph.outputs,
    )
    problems = [p for p in check_stack(subset).problems if p.startswith(name)]
    assert problems and all(where in p for p in problems), problems


def test_a_custom_resource_without_a_vendored_crd_and_a_removed_api_fail():
    graph = stack("dev").graph

    def extra(urn: str, inputs: dict) -> Resource:
        return Resource(
            urn=urn,
            type=f"kubernetes:{inputs['apiVersion']}:{inputs['kind']}",
            name=urn,
            parent=None,
            custom=True,
            inputs=inputs,
        )

    widget = extra("widget", {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}})
    old = extra(
        "old-pdb", {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "p"}}
    )
    problems = check_stack(
        replace(graph, resources=[*graph.of_type("aws:eks/cluster:Cluster"), widget, old])
    ).problems
    assert "widget: no vendored chart defines the CRD of example.com/v1 Widget" in problems
    assert any(
        p.startswith("old-pdb: Kubernetes 1.") and "policy/v1beta1 PodDisruptionBudget" in p for p in problems
    )


def test_a_footprint_that_differs_from_the_render_fails_and_a_missing_one_is_named():
    graph = stack("dev").graph
    estimate = copy.deepcopy(graph.outputs["costEstimate"])
    (release,) = [r for r in graph.of_type(RELEASE) if r.inputs.get("name") == "metrics-server"]
    declared = estimate["addOns"][release.name]
    assert declared["systemPods"] == [[1, "100m", "200Mi"]]  # as the program passes it
    declared["systemPods"] = [[1, "200m", "200Mi"]]
    kept = [*graph.of_type("aws:eks/cluster:Cluster"), release]
    lied = Graph(project=graph.project, stack=graph.stack, resources=kept, outputs={"costEstimate": estimate})
    assert (
        f"{release.name}: footprint system declares (1, 0.2, 209715200) but the chart renders (1, 0.1, 209715200)"
        in check_stack(lied).problems
    )
    silent = Graph(project=graph.project, stack=graph.stack, resources=kept, outputs={})
    assert any("declares no footprint" in p for p in check_stack(silent).problems)
