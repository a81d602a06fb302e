"""Traces: an OpenTelemetry collector that receives OTLP and exports to AWS X-Ray."""

from __future__ import annotations

import pulumi

from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.support import helm, iam, kube
from mlops_platform.components.support.context import StackContext

TRACING_NAMESPACE = "tracing"
SERVICE_ACCOUNT = "otel-collector"


def trace_collector(
    name: str,
    *,
    context: StackContext,
    cluster_name: pulumi.Input[str],
    region: str,
    opts: pulumi.ResourceOptions,
) -> None:
    role = PodIdentityRole(
        f"{name}-otel",
        PodIdentitySpec(namespace=TRACING_NAMESPACE, service_account=SERVICE_ACCOUNT),
        cluster_name=cluster_name,
        tags=context.tags,
        policy=iam.document(
            [
                # X-Ray has no resource-level permissions: these are documented exceptions in the policy pack.
                iam.statement(
                    "SendTraces",
                    [
                        "xray:GetSamplingRules",
                        "xray:GetSamplingTargets",
                        "xray:PutTelemetryRecords",
                        "xray:PutTraceSegments",
                    ],
                    "*",
                )
            ]
        ),
        opts=opts,
    )
    resources = {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
    helm.release(
        f"{name}-otel-collector",
        "opentelemetry-collector",
        namespace=TRACING_NAMESPACE,
        create_namespace=True,
        values={
            "mode": "deployment",
            "image": {"repository": "otel/opentelemetry-collector-contrib"},
            "serviceAccount": {"create": True, "name": SERVICE_ACCOUNT},
            "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
            "config": {
                "receivers": {
                    "otlp": {
                        "protocols": {
                            "grpc": {"endpoint": "0.0.0.0:4317"},
                            "http": {"endpoint": "0.0.0.0:4318"},
                        }
                    }
                },
                "processors": {"batch": {}},
                "exporters": {"awsxray": {"region": region}},
                "service": {
                    "pipelines": {
                        "traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["awsxray"]}
                    }
                },
            },
            "resources": resources,
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[role])),
        footprint=helm.Footprint(system_pods=((1, resources),)),
    )
