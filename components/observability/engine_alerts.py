"""The alerts of the platform's engines (the model gateway, Argo Rollouts, KEDA's HTTP add-on, Argo
Workflows), each with its runbook under docs/runbooks/, and the one way an engine's component
registers them."""

from __future__ import annotations

import pulumi

from mlops_platform.components.observability.alerting import Alert, Severity, prometheus_rule, rule_labels
from mlops_platform.components.observability.stack import NAMESPACE as MONITORING

_ROUTE = "{{ $labels.envoy_cluster_name }}"
_5XX_RATIO = (
    'sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_xx{envoy_response_code_class="5"}[5m]))'
    " / sum by (envoy_cluster_name) (rate(envoy_cluster_upstream_rq_total[5m]))"
)

# (name, expression, for, summary, description, runbook); every one a warning: the engines act first.
ALERTS: dict[str, list[tuple[str, str, str, str, str, str]]] = {
    "model-gateway": [
        (
            "ModelGateway5xx",
            f"{_5XX_RATIO} > 0.05",
            "10m",
            f"Gateway route {_ROUTE}: over 5% of requests end in 5xx",
            "Envoy sees 5xx answers (from the model, the interceptor, or its own timeouts and circuit "
            "breaker) on more than 5% of this route's requests for 10 minutes.",
            "gateway-5xx",
        )
    ],
    "model-rollouts": [
        (
            "ModelRolloutAborted",
            'max by (namespace, name) (rollout_phase{phase="Abort"}) == 1',
            "1m",
            "Canary of {{ $labels.namespace }}/{{ $labels.name }} aborted: all traffic is back on stable",
            "Its analysis failed (error ratio, p95 latency or burn rate over the threshold) and Argo Rollouts "
            "sent 100% of traffic back to the stable version. Make the revert permanent in the stack file.",
            "rollout-aborted",
        ),
        (
            "ModelAnalysisErroring",
            'max by (namespace, name, metric) (analysis_run_metric_phase{phase="Error"}) == 1',
            "5m",
            "Analysis {{ $labels.namespace }}/{{ $labels.name }} cannot measure {{ $labels.metric }}",
            "The canary's analysis gets errors from Prometheus instead of measurements; after its error "
            "limit the rollout aborts, so a canary is never promoted unmeasured.",
            "analysis-erroring",
        ),
    ],
    "model-autoscaling": [
        (
            "InterceptorQueueFull",
            "sum by (envoy_cluster_name) (increase(envoy_cluster_upstream_rq_pending_overflow[5m])) > 0",
            "1m",
            f"Route {_ROUTE}: requests refused, its wait queue is full",
            "More requests waited for the model (usually through a cold start at the KEDA interceptor) "
            "than scaleToZero.maxPendingRequests allows; the surplus got 503 at once.",
            "interceptor-queue-full",
        )
    ],
    "pipelines": [
        (
            "WorkflowsFailing",
            'sum by (namespace) (increase(argo_workflows_total_count{phase=~"Failed|Error"}[15m])) > 0',
            "1m",
            "Workflows in {{ $labels.namespace }} failed in the last 15 minutes",
            "Argo Workflows moved workflows of this team into Failed or Error: a step exited non-zero after "
            "its retries, a training run missed its evaluation threshold, or a pod was lost.",
            "workflows-failing",
        ),
        (
            "WorkflowControllerErrors",
            "sum by (cause) (increase(argo_workflows_error_count[15m])) > 0",
            "5m",
            "The workflow controller reports {{ $labels.cause }} errors",
            "The controller panicked, or a CronWorkflow could not be submitted or has an invalid spec: "
            "scheduled retraining and batch runs may not start.",
            "workflow-controller-errors",
        ),
        (
            "WorkflowPodsStuckPending",
            '(sum(argo_workflows_pods_gauge{phase="Pending"}) - (sum(kueue_pending_workloads) or vector(0))) > 0',
            "30m",
            "Workflow pods admitted by Kueue have not started for 30 minutes",
            "More workflow pods are Pending than Kueue holds back for quota: admitted pods find no node "
            "(a GPU pool at maxSize, no spot capacity) or cannot pull their image.",
            "workflow-pods-stuck",
        ),
        (
            "PipelineQueueInadmissible",
            'sum by (cluster_queue) (kueue_pending_workloads{status="inadmissible"}) > 0',
            "30m",
            "Queue {{ $labels.cluster_queue }} holds workloads that its quota can never admit",
            "Kueue found workflow pods that ask for more than the team's queue and the whole cohort can "
            "lend (or a flavor they cannot use): they wait forever unless the request or the quota changes.",
            "pipeline-queue-inadmissible",
        ),
    ],
}
"""Engine -> its alerts."""


def engine_alerts(name: str, engine: str, runbook_base_url: str, opts: pulumi.ResourceOptions) -> None:
    """The PrometheusRule ``<engine>`` in the monitoring namespace with the engine's alerts."""
    rules = [
        Alert(alert, expr, duration, Severity.WARNING, summary, description, runbook).rule(runbook_base_url)
        for alert, expr, duration, summary, description, runbook in ALERTS[engine]
    ]
    prometheus_rule(
        f"{name}-alerts",
        namespace=MONITORING,
        groups=[{"name": engine, "rules": rules}],
        labels=rule_labels(engine),
        object_name=engine,
        opts=opts,
    )
