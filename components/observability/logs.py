"""Container logs: Fluent Bit on every node (GPU nodes included) ships to a KMS-encrypted log group."""

from __future__ import annotations

import pulumi

from mlops_platform.components.foundation.logs import encrypted_log_group, write_policy
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.lifecycle.capture import capture_log_filters
from mlops_platform.components.support import helm, iam
from mlops_platform.components.support.context import StackContext

LOGGING_NAMESPACE = "logging"
FLUENT_BIT_SERVICE_ACCOUNT = "fluent-bit"


def container_logs(
    name: str,
    *,
    context: StackContext,
    cluster_name: pulumi.Input[str],
    retention_days: int,
    kms_key_arn: pulumi.Input[str] | None,
    location: tuple[str, str],
    opts: pulumi.ResourceOptions,
    capture_stream: str | None = None,
) -> pulumi.Output[str]:
    """The log group ``/aws/eks/<cluster>/containers``, Fluent Bit and its role; returns the group's
    name. With ``capture_stream``, capture records go to that Firehose stream instead of the group
    (``capture.capture_log_filters``). ``location``: the account and region."""
    account_id, region = location
    tags = dict(context.tags)
    group_name = pulumi.Output.concat("/aws/eks/", cluster_name, "/containers")
    group = encrypted_log_group(
        f"{name}-container-logs",
        context,
        name=group_name,
        retention_days=retention_days,
        kms_key_arn=kms_key_arn,
        key_name=f"{name}-logs-key",
        key_description="Encrypts the container log group",
        account_id=account_id,
        region=region,
        opts=opts,
    )
    capture_values: dict[str, object] = {"firehose": {"enabled": False}}
    capture_statements = []
    if capture_stream is not None:
        filters, output = capture_log_filters(capture_stream, region)
        capture_values = {"additionalFilters": filters, "firehose": {"enabled": True, **output}}
        stream_arn = f"arn:aws:firehose:{region}:{account_id}:deliverystream/{capture_stream}"
        capture_statements = [iam.statement("ShipCaptures", ["firehose:PutRecordBatch"], stream_arn)]
    role = PodIdentityRole(
        f"{name}-fluent-bit",
        PodIdentitySpec(namespace=LOGGING_NAMESPACE, service_account=FLUENT_BIT_SERVICE_ACCOUNT),
        cluster_name=cluster_name,
        tags=tags,
        policy=write_policy(group, "ShipContainerLogs", extra=capture_statements),
        opts=opts,
    )
    resources = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}
    helm.release(
        f"{name}-fluent-bit",
        "aws-for-fluent-bit",
        namespace=LOGGING_NAMESPACE,
        create_namespace=True,
        values={
            "serviceAccount": {"create": True, "name": FLUENT_BIT_SERVICE_ACCOUNT},
            "cloudWatchLogs": {
                "enabled": True,
                "region": region,
                "logGroupName": group_name,
                "logStreamPrefix": "container-",
                "autoCreateGroup": False,
                # Container logs only: capture records have their own stream.
                "match": "kube.*",
            },
            **capture_values,
            "kinesis": {"enabled": False},
            "elasticsearch": {"enabled": False},
            # Logs from every node, GPU nodes included.
            "tolerations": [{"operator": "Exists"}],
            "resources": resources,
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role, group])),
        footprint=helm.Footprint(every_node=resources),
    )
    return group.name
