"""The platform program: builds every component of one stack from its validated config.

Runs unchanged under ``pulumi up`` and under offline synthesis (``blueprint synth``). Each component
gets its spec straight from the stack config and its wiring from the components built before it.
"""

from __future__ import annotations

from dataclasses import replace

import pulumi
import pulumi_aws as aws

from mlops_platform.components.data.artifact_store import ArtifactStore
from mlops_platform.components.data.audit_trail import AuditTrail
from mlops_platform.components.data.container_registry import ContainerRegistry
from mlops_platform.components.data.image_signing import ImageSigningKey
from mlops_platform.components.data.mlflow import REPOSITORY as MLFLOW_REPOSITORY
from mlops_platform.components.data.mlflow import MlflowTracking
from mlops_platform.components.data.platform_secrets import PlatformSecrets
from mlops_platform.components.data.postgres import PostgresSpec, max_connections
from mlops_platform.components.foundation.cluster import EksCluster
from mlops_platform.components.foundation.cluster_addons import ClusterAddons, ClusterAddonsSpec
from mlops_platform.components.foundation.gpu_node_pool import GpuNodePool, Provisioner
from mlops_platform.components.foundation.karpenter import Karpenter, KarpenterSpec
from mlops_platform.components.foundation.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerSpec,
)
from mlops_platform.components.foundation.logs import logs_key
from mlops_platform.components.foundation.network import Network
from mlops_platform.components.lifecycle.batch_scoring import BatchScoring
from mlops_platform.components.lifecycle.capture import PredictionCapture
from mlops_platform.components.lifecycle.model_monitor import REPOSITORY as MONITOR_REPOSITORY
from mlops_platform.components.lifecycle.pipelines import EXECUTOR_REPOSITORY, Pipelines
from mlops_platform.components.lifecycle.training_pipeline import TrainingPipeline
from mlops_platform.components.observability.alarms import CloudWatchAlarms, WatchedDatabase
from mlops_platform.components.observability.costs import cost_dashboard
from mlops_platform.components.observability.pushgateway import pushgateway_url
from mlops_platform.components.observability.stack import Observability
from mlops_platform.components.refs import MonitoringRef, PlatformDependencies, PlatformRef
from mlops_platform.components.serving.autoscaling import KedaAutoscaling
from mlops_platform.components.serving.gateway import ModelGateway
from mlops_platform.components.serving.kyverno import Kyverno
from mlops_platform.components.serving.model_endpoint import ModelEndpoint
from mlops_platform.components.serving.rollouts import ArgoRollouts
from mlops_platform.components.serving.team_namespace import TeamNamespace
from mlops_platform.components.support import kube, pins
from mlops_platform.components.support.environment import Environment
from mlops_platform.infra import config
from mlops_platform.infra.cost.recorder import CostRecorder


def watched(identifier: pulumi.Input[str], database: PostgresSpec) -> WatchedDatabase:
    """What the CloudWatch alarms watch of a database: its storage and its class's connection limit."""
    return WatchedDatabase(
        identifier, database.allocated_storage_gib, max_connections(database.instance_class)
    )


def main() -> None:
    cfg = config.load()  # raises ConfigError before any resource exists
    costs = CostRecorder().start()  # sees every resource from here on, in `pulumi up` and offline
    spec, context = cfg.spec, cfg.context
    aws_provider = aws.Provider(
        "aws",
        region=cfg.region,
        profile=cfg.aws_profile,
        allowed_account_ids=cfg.allowed_account_ids,
        # Belt and braces: components tag every resource explicitly; these catch anything added later.
        # ``team`` too: a model's resources name their team explicitly (ModelEndpoint), everything
        # else is the platform's, as the cost model attributes it.
        default_tags={"tags": {**cfg.tags, "team": kube.PLATFORM_TEAM}},
    )
    aws_only = pulumi.ResourceOptions(providers=[aws_provider])
    account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=aws_provider)).account_id
    # One key for every log group of the stack: flow logs, control plane, containers.
    logs = logs_key(
        "logs-key",
        context,
        description=f"Encrypts the CloudWatch log groups of {cfg.cluster_name}",
        account_id=account_id,
        region=cfg.region,
        opts=aws_only,
    )

    network = Network("network", spec.network, context, log_kms_key_arn=logs.arn, opts=aws_only)
    cluster = EksCluster(
        "cluster",
        spec.cluster,
        context,
        network.ref,
        system_nodes=spec.system_nodes,
        log_kms_key_arn=logs.arn,
        opts=aws_only,
    )
    on_cluster = pulumi.ResourceOptions(providers=[aws_provider, cluster.provider])
    karpenter = None
    if any(p.provisioner_in(spec.environment) is Provisioner.KARPENTER for p in spec.gpu_node_pools):
        # A standby controller in prod only: its pods refuse to share a node.
        replicas = 2 if spec.environment is Environment.PROD else 1
        karpenter = Karpenter("karpenter", KarpenterSpec(replicas=replicas), context, cluster.ref, on_cluster)
    pools = [
        GpuNodePool(p.name, p, context, cluster.ref, network.ref, on_cluster, karpenter=karpenter)
        for p in spec.gpu_node_pools
    ]
    sharing = sorted({p.time_slicing_replicas for p in spec.gpu_node_pools} - {1})
    ClusterAddons(
        "cluster-addons", ClusterAddonsSpec(gpu_sharing_replicas=sharing), context, cluster.ref, on_cluster
    )

    # --- data plane -------------------------------------------------------------------------
    secrets = PlatformSecrets("secrets", spec.secrets, context, cluster.ref, on_cluster)
    artifacts = ArtifactStore("artifacts", spec.artifacts, context, aws_only)
    audit = AuditTrail("audit", spec.audit, context, artifacts=artifacts.ref, opts=aws_only)
    registry = ContainerRegistry(
        "registry", spec.registry, context, pull_principal_arns=[cluster.node_role_arn], opts=aws_only
    )
    signing = ImageSigningKey(
        "image-signing",
        context,
        signer_role_arns=[*spec.registry.push_role_arns, *spec.image_admission.signer_role_arns],
        account_id=account_id,
        opts=aws_only,
    )
    # Teams with a model here, and teams whose own projects deploy into this cluster.
    team_names = sorted({t.name for t in spec.teams} | set(cfg.teams()))
    admission = Kyverno(
        "image-admission",
        spec.image_admission,
        context,
        cluster.ref,
        on_cluster,
        signing_key_arn=signing.key_arn,
        team_names=team_names,
    )
    load_balancers = LoadBalancerController(
        "load-balancer-controller",
        # Leader election keeps one controller active; dev saves the standby's requests.
        LoadBalancerControllerSpec(replicas=1 if spec.environment is Environment.DEV else 2),
        context,
        cluster.ref,
        network.ref,
        on_cluster,
    )
    capture = (
        PredictionCapture("capture", spec.monitoring, context, artifacts=artifacts.ref, opts=aws_only)
        if spec.monitoring.enabled
        else None
    )
    observability = Observability(
        "observability",
        spec.observability,
        context,
        cluster.ref,
        secrets,
        log_kms_key_arn=logs.arn,
        capture_stream=capture.ref.stream_name if capture else None,
        dependencies=PlatformDependencies(load_balancer_controller=[load_balancers.release]),
        opts=on_cluster,
    )
    # --- model delivery: the gateway, canaries, scale to zero -------------------------------------
    runbooks = spec.observability.runbook_base_url
    monitored = PlatformDependencies(
        load_balancer_controller=[load_balancers.release],
        prometheus_operator=[observability.prometheus_operator],
    )
    gateway = ModelGateway(
        "model-gateway",
        spec.gateway,
        context,
        on_cluster,
        runbook_base_url=runbooks,
        dependencies=monitored,
        model_certificate_arns=[m.certificate_arn for m in spec.models if m.certificate_arn],
    )
    rollouts = ArgoRollouts(
        "rollouts", context, on_cluster, runbook_base_url=runbooks, dependencies=monitored
    )
    autoscaling = KedaAutoscaling(
        "autoscaling",
        context,
        on_cluster,
        team_names=team_names,
        runbook_base_url=runbooks,
        dependencies=PlatformDependencies(
            prometheus_operator=[observability.prometheus_operator], gateway=[gateway.release]
        ),
    )
    dependencies = PlatformDependencies(
        load_balancer_controller=[load_balancers.release],
        prometheus_operator=[observability.prometheus_operator],
        external_secrets=secrets.ready,
        gateway=[gateway.release, gateway.gateway],
        rollouts=[rollouts.release],
        autoscaling=autoscaling.releases,
    )
    mlflow = MlflowTracking(
        "mlflow",
        spec.mlflow,
        context,
        network.ref,
        cluster.ref,
        artifacts.ref,
        secrets,
        image_repository=registry.repository_urls.get(MLFLOW_REPOSITORY),
        dependencies=dependencies,
        opts=on_cluster,
    )
    # --- teams and their pipelines -----------------------------------------------------------------
    teams = {
        team: TeamNamespace(f"team-{team}", team_spec, on_cluster) for team, team_spec in cfg.teams().items()
    }
    pipeline_engines: list[pulumi.Resource] = []
    databases = [watched(mlflow.database_identifier, spec.mlflow.database)]
    if spec.pipelines.enabled:
        engines = Pipelines(
            "pipelines",
            spec.pipelines,
            context,
            on_cluster,
            artifacts=artifacts.ref,
            teams={team: team_spec.quota for team, team_spec in cfg.teams().items()},
            gpu_pools=cfg.gpu_pools(),
            runbook_base_url=runbooks,
            dependencies=dependencies,
            secrets_path_prefix=context.secrets_path_prefix,
            team_namespaces=[t.namespace for t in teams.values()],
            # The endpoint is host:port; Argo takes the two apart.
            mlflow_database_host=mlflow.database_endpoint.apply(lambda endpoint: endpoint.rsplit(":", 1)[0]),
            database=(network.ref, cluster.ref, secrets),
            executor_repository=registry.repository_urls.get(EXECUTOR_REPOSITORY),
        )
        pipeline_engines = engines.releases
        if engines.archive_database_identifier is not None:
            databases.append(watched(engines.archive_database_identifier, spec.pipelines.archive_database))

    CloudWatchAlarms(
        "observability-alarms",
        context,
        topic_arn=observability.alert_topic_arn,
        runbook_base_url=spec.observability.runbook_base_url,
        databases=databases,
        nat_gateway_ids=network.nat_gateway_ids,
        nat_gateway_count=network.nat_gateway_count,
        moved_from=observability,
        opts=aws_only,
    )

    # --- models ---------------------------------------------------------------------------------
    platform = PlatformRef(
        context=context,
        region=cfg.region,
        cluster_name=cluster.cluster_name,
        node_role_arn=cluster.node_role_arn,
        artifact_bucket_name=artifacts.bucket_name,
        artifact_kms_key_arn=artifacts.kms_key_arn,
        registry_kms_key_arn=registry.kms_key_arn,
        gpu_pools=cfg.gpu_pools(),
        vpc_cidr=spec.network.cidr,
        secrets_path_prefix=context.secrets_path_prefix,
        runbook_base_url=spec.observability.runbook_base_url,
        gateway_url=gateway.url,
        mlflow_url=mlflow.tracking_url,
        monitoring=MonitoringRef(
            capture_database=capture.ref.database_name,
            pushgateway_url=pushgateway_url(observability.namespace),
            monitor_image=pulumi.Output.concat(
                registry.repository_urls[MONITOR_REPOSITORY], ":", pins.MODEL_MONITOR_VERSION
            ),
        )
        if capture is not None and MONITOR_REPOSITORY in registry.repository_urls
        else None,
        kubeconfig=cluster.kubeconfig,
        dependencies=replace(dependencies, pipelines=pipeline_engines),
    )
    training = {
        f"{team.name}/{pipeline.name}": TrainingPipeline(
            f"{team.name}-{pipeline.name}",
            pipeline,
            platform,
            team=team.name,
            namespace_ready=[teams[team.name].namespace],
            opts=on_cluster,
        )
        for team in spec.teams
        for pipeline in team.pipelines
    }
    endpoints = {
        model.name: ModelEndpoint(model.name, model, platform, namespace=teams[model.team], opts=on_cluster)
        for model in spec.models
    }

    batch = {
        model.name: BatchScoring(
            f"{model.name}-batch",
            model.batch,
            platform,
            model=model.name,
            model_spec=model,
            repository_url=endpoints[model.name].repository_url,
            namespace_ready=[teams[model.team].namespace],
            opts=on_cluster,
        )
        for model in spec.models
        if model.batch is not None
    }

    # Everything a team's own project reads back into a PlatformRef (examples/team-model); the GPU
    # pools in full, for people too.
    shared = platform.to_outputs()
    shared["gpuNodePools"] = {
        pool.pool_name: {
            "instanceTypes": list(pool_spec.instance_types),
            "capacityType": pool_spec.capacity_type.value,
            "minSize": pool_spec.min_size,
            "maxSize": pool_spec.max_size,
            "gpusPerNode": pool.gpus_per_node,
            "nodeStartSeconds": pool_spec.node_start_seconds,
            "provisioner": pool.provisioner.value,
            "nodeLabels": pool.labels,
        }
        for pool, pool_spec in zip(pools, spec.gpu_node_pools, strict=True)
    }
    stack_outputs = {
        **shared,
        "vpcId": network.vpc_id,
        "privateSubnetIds": network.private_subnet_ids,
        "registryUrls": registry.repository_urls,
        "auditTrailArn": audit.trail_arn,
        "auditBucketName": audit.bucket_name,
        # What CI signs with (`cosign sign --key <cosignKey>`) and how admission treats unsigned images.
        "imageSigning": {
            "cosignKey": signing.cosign_key,
            "keyAlias": signing.alias_name,
            "admission": admission.mode.value,
        },
        "mlflowDatabaseIdentifier": mlflow.database_identifier,
        "secretsKmsKeyArn": secrets.kms_key_arn,
        "models": {
            name: {
                "team": endpoint.namespace,
                "url": endpoint.url,
                "roleArn": endpoint.role_arn,
                "repositoryUrl": endpoint.repository_url,
            }
            for name, endpoint in endpoints.items()
        },
        "lineage": {name: endpoint.lineage for name, endpoint in endpoints.items()},
        # What a team submits (docs/pipelines.md): the WorkflowTemplates and the roles they run as.
        "batchScoring": {
            name: {
                "workflowTemplate": job.template_name,
                "namespace": job.namespace,
                "version": job.version,
                "roleArn": job.role_arn,
            }
            for name, job in batch.items()
        },
        "pipelines": {
            name: {
                "workflowTemplate": p.template_name,
                "roleArn": p.role_arn,
                "artifactPrefix": p.artifact_prefix,
            }
            for name, p in training.items()
        },
        "grafanaUrl": observability.grafana_url,
        "alertTopicArn": observability.alert_topic_arn,
        "logGroupNames": [
            cluster.control_plane_log_group_name,
            *observability.log_group_names,
            *([network.flow_log_group_name] if network.flow_log_group_name is not None else []),
        ],
    }
    for output, value in stack_outputs.items():
        pulumi.export(output, value)
    # Last: every resource is constructed by now (none is created inside an apply).
    estimate = {
        "stack": pulumi.get_stack(),
        "environment": spec.environment.value,
        **costs.estimate(cfg.region, spec.cost_assumptions),
    }
    pulumi.export("costEstimate", estimate)
    # The estimate beside OpenCost's actuals in Grafana (created after it: nothing it adds is priced).
    cost_dashboard(
        "observability",
        estimate,
        namespace=observability.namespace,
        opts=pulumi.ResourceOptions(parent=observability, depends_on=[observability.prometheus_operator]),
    )
    # The unit cost KPI per model, beside the same traffic on SageMaker real-time endpoints.
    pulumi.export(
        "costPer1kInferences",
        {key: model["costPer1kInferences"] for key, model in estimate["byModel"].items()},
    )
