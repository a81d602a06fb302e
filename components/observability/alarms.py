"""AWS-side signals: the encrypted alert topic, and ``CloudWatchAlarms`` on the RDS instances and NAT
gateways the platform runs.

The topic belongs to ``Observability``; the alarms are a component of their own, built once the
database and the network exist, so ``Observability`` registers all of its children before its
outputs.

Example::

    CloudWatchAlarms("observability-alarms", context, topic_arn=observability.alert_topic_arn,
                     runbook_base_url=spec.runbook_base_url,
                     databases=[WatchedDatabase(mlflow.database_identifier, allocated_storage_gib=50, max_connections=450)],
                     nat_gateway_ids=network.nat_gateway_ids, nat_gateway_count=network.nat_gateway_count)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from mlops_platform.components.foundation import kms
from mlops_platform.components.support import iam
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.validation import Problem


def alert_topic(
    name: str, *, context: StackContext, account_id: str, emails: Sequence[str], opts: pulumi.ResourceOptions
) -> aws.sns.Topic:
    """An SNS topic encrypted with a key that CloudWatch alarms and Budgets may use, with its emails."""
    tags = dict(context.tags)
    key = kms.key_for_services(
        f"{name}-alerts-key",
        context,
        description="Encrypts the platform's alert topic",
        account_id=account_id,
        services={
            "AllowCloudWatchAlarms": "cloudwatch.amazonaws.com",
            "AllowBudgets": "budgets.amazonaws.com",
        },
        opts=opts,
    )
    topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=key.arn, tags=tags, opts=opts)
    aws.sns.TopicPolicy(
        f"{name}-alerts-policy",
        arn=topic.arn,
        policy=topic.arn.apply(lambda arn: iam.sns_alert_topic_policy(arn, account_id)),
        opts=opts,
    )
    for i, email in enumerate(emails):
        aws.sns.TopicSubscription(
            f"{name}-alerts-email-{i}", topic=topic.arn, protocol="email", endpoint=email, opts=opts
        )
    return topic


@dataclass(frozen=True)
class WatchedDatabase:
    """An RDS instance to alarm on."""

    identifier: pulumi.Input[str]
    allocated_storage_gib: int
    max_connections: int
    """Its connection limit (``postgres.max_connections`` of its instance class)."""


@dataclass(frozen=True)
class _Alarm:
    role: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    periods: int
    what: str
    runbook: str


def _database_alarms(db: WatchedDatabase) -> list[_Alarm]:
    storage_floor = int(db.allocated_storage_gib * 1024**3 * 0.1)
    return [
        _Alarm(
            "cpu",
            "CPUUtilization",
            "Average",
            "GreaterThanThreshold",
            80,
            3,
            "CPU above 80% for 15 minutes",
            "rds-cpu",
        ),
        _Alarm(
            "free-storage",
            "FreeStorageSpace",
            "Minimum",
            "LessThanThreshold",
            storage_floor,
            1,
            "under 10% storage free",
            "rds-storage",
        ),
        _Alarm(
            "connections",
            "DatabaseConnections",
            "Maximum",
            "GreaterThanThreshold",
            int(db.max_connections * 0.8),
            3,
            "connections above 80% of the limit",
            "rds-connections",
        ),
    ]


NAT_ALARMS = (
    _Alarm(
        "port-allocation",
        "ErrorPortAllocation",
        "Sum",
        "GreaterThanThreshold",
        0,
        1,
        "could not allocate source ports",
        "nat-gateway-errors",
    ),
    _Alarm(
        "dropped-packets",
        "PacketsDropCount",
        "Sum",
        "GreaterThanThreshold",
        100,
        3,
        "dropping packets",
        "nat-gateway-errors",
    ),
)


class CloudWatchAlarms(PlatformComponent):
    """CloudWatch alarms that notify the alert topic, each with a runbook link."""

    def __init__(
        self,
        name: str,
        context: StackContext,
        *,
        topic_arn: pulumi.Input[str],
        runbook_base_url: str,
        databases: Sequence[WatchedDatabase] = (),
        nat_gateway_ids: pulumi.Input[Sequence[str]] | None = None,
        nat_gateway_count: int = 0,
        moved_from: pulumi.Resource | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``moved_from``: the component these alarms were children of before (``Observability``, named
        ``<it>-<prefix>-<role>``), so that existing alarms are adopted, not replaced."""
        problems = context.problems()
        for i, db in enumerate(databases):
            if db.allocated_storage_gib < 1:
                problems.append(Problem(f"databases[{i}].allocated_storage_gib", "must be >= 1"))
        super().__init__("mlops:alarms:CloudWatchAlarms", name, "CloudWatchAlarms", problems, opts)
        self._name = name
        self._context = context
        self._topic_arn = topic_arn
        self._runbooks = runbook_base_url.rstrip("/")
        self._moved_from = moved_from
        for i, db in enumerate(databases):
            prefix = "rds" if i == 0 else f"rds-{i}"
            self._alarms(prefix, "AWS/RDS", {"DBInstanceIdentifier": db.identifier}, _database_alarms(db))
        ids = pulumi.Output.from_input(nat_gateway_ids or [])
        for i in range(nat_gateway_count):
            gateway = ids.apply(lambda values, i=i: values[i])
            self._alarms(f"nat-{i}", "AWS/NATGateway", {"NatGatewayId": gateway}, list(NAT_ALARMS))
        self.register_outputs({})

    def _alarms(
        self, prefix: str, namespace: str, dimensions: Mapping[str, pulumi.Input[str]], alarms: list[_Alarm]
    ) -> None:
        for alarm in alarms:
            aliases = (
                [
                    pulumi.Alias(
                        name=f"{self._moved_from.pulumi_resource_name}-{prefix}-{alarm.role}",
                        parent=self._moved_from,
                    )
                ]
                if self._moved_from is not None
                else []
            )
            aws.cloudwatch.MetricAlarm(
                f"{self._name}-{prefix}-{alarm.role}",
                namespace=namespace,
                metric_name=alarm.metric,
                dimensions=dict(dimensions),
                statistic=alarm.statistic,
                period=300,
                evaluation_periods=alarm.periods,
                comparison_operator=alarm.comparison,
                threshold=alarm.threshold,
                treat_missing_data="notBreaching",
                alarm_description=f"{namespace} {alarm.metric}: {alarm.what}. Runbook: {self._runbooks}/{alarm.runbook}.md",
                alarm_actions=[self._topic_arn],
                ok_actions=[self._topic_arn],
                tags=dict(self._context.tags),
                opts=pulumi.ResourceOptions(parent=self, aliases=aliases),
            )
