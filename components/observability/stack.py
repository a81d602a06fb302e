"""``Observability``: metrics, GPU telemetry, dashboards, alerts, logs, the alert topic and the budget.

It composes one module per subsystem: ``metrics`` (kube-prometheus-stack), ``gpu`` (DCGM exporter),
``grafana`` (dashboards, ingress), ``rules`` (the platform's alerts), ``logs`` (Fluent Bit),
``tracing`` (OpenTelemetry), ``alarms`` (the SNS topic; ``CloudWatchAlarms`` is its own component)
and ``budgets``.

Example::

    observability = Observability("observability", ObservabilitySpec(
        receivers=[AlertReceiver(name="oncall", kind=ReceiverKind.PAGERDUTY, secret="pagerduty-key")],
        budget=BudgetSpec(monthly_limit_usd=20000, subscriber_emails=["ml-platform@example.com"])),
        context, cluster.ref, secrets,
        opts=pulumi.ResourceOptions(providers=[aws_provider, cluster.provider]))
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.data.platform_secrets import (
    PlatformSecrets,
    SecretRef,
    external_secret,
    generated_value,
)
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.observability.alarms import alert_topic
from mlops_platform.components.observability.alerting import prometheus_rule
from mlops_platform.components.observability.budgets import monthly_budget
from mlops_platform.components.observability.costs import cost_telemetry
from mlops_platform.components.observability.gpu import gpu_telemetry
from mlops_platform.components.observability.grafana import dashboard_config_maps, grafana_ingress
from mlops_platform.components.observability.logs import container_logs
from mlops_platform.components.observability.metrics import (
    GRAFANA_SERVICE_ACCOUNT,
    RECEIVER_SECRET,
    STACK_RELEASE,
    stack_footprint,
    stack_values,
)
from mlops_platform.components.observability.pushgateway import metrics_push_gateway
from mlops_platform.components.observability.rules import PLATFORM_RULES, platform_alerts
from mlops_platform.components.observability.spec import AlertReceiver, ObservabilitySpec
from mlops_platform.components.observability.tracing import trace_collector
from mlops_platform.components.refs import ClusterRef, PlatformDependencies
from mlops_platform.components.support import helm, iam, kube
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext

NAMESPACE = "monitoring"


class Observability(PlatformComponent):
    """kube-prometheus-stack, DCGM exporter, OpenCost, dashboards, alert rules, Fluent Bit, the alert
    topic, budget."""

    grafana_url: pulumi.Output[str]
    """URL of Grafana."""
    alert_topic_arn: pulumi.Output[str]
    """SNS topic CloudWatch alarms and budgets notify."""
    log_group_names: list[pulumi.Output[str]]
    """Log groups this component created (container logs)."""
    prometheus_operator: pulumi.Resource
    """The kube-prometheus-stack release: ServiceMonitors and PrometheusRules elsewhere must depend on it."""
    namespace: str = NAMESPACE
    """Namespace of Prometheus, Grafana and the alert rules."""

    def __init__(
        self,
        name: str,
        spec: ObservabilitySpec,
        context: StackContext,
        cluster: ClusterRef,
        secrets: PlatformSecrets,
        *,
        log_kms_key_arn: pulumi.Input[str] | None = None,
        capture_stream: str | None = None,
        dependencies: PlatformDependencies | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``secrets`` creates the Grafana admin secret and holds the receivers' secrets;
        ``log_kms_key_arn`` encrypts the container log group (default: a dedicated key);
        ``capture_stream``: with model monitoring, the Firehose stream Fluent Bit ships capture
        records to, and a Pushgateway for the monitor jobs;
        ``dependencies.load_balancer_controller`` is what the Grafana Ingress waits for."""
        super().__init__(
            "mlops:observability:Observability",
            name,
            "ObservabilitySpec",
            [*spec.problems(list(secrets.paths)), *context.problems()],
            opts,
        )
        depends = dependencies or PlatformDependencies()
        child = self.child
        account_id, region = self.account_id, self.region
        high_availability = context.highly_available(spec.high_availability)

        topic = alert_topic(
            name, context=context, account_id=account_id, emails=spec.alert_emails, opts=child
        )
        self.alert_topic_arn = topic.arn
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={"name": NAMESPACE, "labels": kube.labels(NAMESPACE, "namespace")},
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace, *secrets.ready])
        synced = self._secrets(name, spec.receivers, secrets, in_namespace)
        grafana_role = PodIdentityRole(
            f"{name}-grafana",
            PodIdentitySpec(namespace=NAMESPACE, service_account=GRAFANA_SERVICE_ACCOUNT),
            cluster_name=cluster.name,
            tags=context.tags,
            policy=iam.document(
                [
                    iam.statement(
                        "ReadCloudWatchMetrics",
                        [
                            "cloudwatch:DescribeAlarms",
                            "cloudwatch:GetMetricData",
                            "cloudwatch:GetMetricStatistics",
                            "cloudwatch:ListMetrics",
                            "ec2:DescribeRegions",
                            "tag:GetResources",
                        ],
                        "*",
                    )
                ]
            ),
            opts=child,
        )
        replicas = 2 if high_availability else 1
        self.prometheus_operator = helm.release(
            f"{name}-kube-prometheus-stack",
            STACK_RELEASE,
            namespace=NAMESPACE,
            values=stack_values(spec, region=region, replicas=replicas),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, grafana_role, *synced]),
            footprint=stack_footprint(spec, replicas),
        )
        after_operator = pulumi.ResourceOptions(parent=self, depends_on=[self.prometheus_operator])
        gpu_telemetry(name, namespace=NAMESPACE, opts=after_operator)
        cost_telemetry(
            name, namespace=NAMESPACE, cluster_name=cluster.name, region=region, opts=after_operator
        )
        dashboard_config_maps(name, namespace=NAMESPACE, opts=in_namespace)
        prometheus_rule(
            f"{name}-{PLATFORM_RULES}",
            object_name=PLATFORM_RULES,
            namespace=NAMESPACE,
            groups=[
                {"name": f"platform-{group}", "rules": [a.rule(spec.runbook_base_url) for a in alerts]}
                for group, alerts in platform_alerts(spec.gpu_idle_hours)
            ],
            labels=kube.labels(PLATFORM_RULES, "alert-rules"),
            # Before the child's name carried its component's (a naming rule): the same resource.
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.prometheus_operator],
                aliases=[pulumi.Alias(name=PLATFORM_RULES)],
            ),
        )
        self.grafana_url = grafana_ingress(
            name,
            namespace=NAMESPACE,
            hostname=spec.grafana_hostname,
            certificate_arn=spec.certificate_arn,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.prometheus_operator, *depends.load_balancer_controller]
            ),
        )
        logs = container_logs(
            name,
            context=context,
            cluster_name=cluster.name,
            retention_days=spec.log_retention_days,
            kms_key_arn=log_kms_key_arn,
            location=(account_id, region),
            opts=child,
            capture_stream=capture_stream,
        )
        self.log_group_names = [logs]
        if capture_stream is not None:
            metrics_push_gateway(
                name, namespace=NAMESPACE, storage_class=spec.storage_class, opts=after_operator
            )
        if spec.tracing:
            trace_collector(name, context=context, cluster_name=cluster.name, region=region, opts=child)
        if spec.budget is not None:
            monthly_budget(name, spec.budget, context=context, topic_arn=topic.arn, opts=child)
        self.register_outputs({"grafanaUrl": self.grafana_url, "alertTopicArn": self.alert_topic_arn})

    def _secrets(
        self,
        name: str,
        receivers: Sequence[AlertReceiver],
        secrets: PlatformSecrets,
        opts: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """The Grafana admin login, generated into Secrets Manager, and the receivers' keys, both
        synced into the namespace by External Secrets."""
        grafana_admin = generated_value(
            f"{name}-grafana-admin-password", opts=pulumi.ResourceOptions(parent=self), username="admin"
        )
        secrets.secret(
            f"{name}-grafana-admin",
            "grafana/admin",
            description="Grafana admin login",
            value=grafana_admin,
            opts=pulumi.ResourceOptions(parent=self),
        )
        synced = [
            external_secret(
                f"{name}-grafana-admin-secret",
                namespace=NAMESPACE,
                target="grafana-admin",
                entries={
                    "admin-user": SecretRef(secrets.path("grafana/admin"), "username"),
                    "admin-password": SecretRef(secrets.path("grafana/admin"), "password"),
                },
                opts=opts,
            )
        ]
        if receivers:
            synced.append(
                external_secret(
                    f"{name}-receivers-secret",
                    namespace=NAMESPACE,
                    target=RECEIVER_SECRET,
                    entries={r.name: SecretRef(secrets.path(r.secret)) for r in receivers},
                    opts=opts,
                )
            )
        return synced
