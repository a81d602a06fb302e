"""The platform program: builds every component of one stack from its validated config.

Runs unchanged under ``pulumi up`` and under offline synthesis (``blueprint synth``).
"""

from __future__ import annotations

from dataclasses import replace

import pulumi
import pulumi_aws as aws
from mlops_platform.components.data.artifact_store import ArtifactStore
from mlops_platform.components.data.container_registry import ContainerRegistry
from mlops_platform.components.data.mlflow import MlflowTracking, MlflowTrackingArgs
from mlops_platform.components.data.platform_secrets import PlatformSecrets, PlatformSecretsArgs
from mlops_platform.components.foundation import kms
from mlops_platform.components.foundation.cluster import EksCluster
from mlops_platform.components.foundation.cluster_addons import ClusterAddons, ClusterAddonsArgs
from mlops_platform.components.foundation.gpu_node_pool import GpuNodePool
from mlops_platform.components.foundation.load_balancer_controller import (
    LoadBalancerController,
    LoadBalancerControllerArgs,
)
from mlops_platform.components.foundation.network import Network
from mlops_platform.components.observability.stack import Observability
from mlops_platform.components.serving.model_endpoint import ModelEndpoint
from mlops_platform.components.serving.team_namespace import TeamNamespace
from mlops_platform.components.support.environment import Environment
from mlops_platform.infra import config
from mlops_platform.infra.cost.model import CostRecorder


def main() -> None:
    cfg = config.load()  # raises ConfigError before any resource exists
    costs = CostRecorder().start()  # sees every resource from here on, in `pulumi up` and offline
    aws_provider = aws.Provider(
        "aws",
        region=cfg.region,
        profile=cfg.aws_profile,
        allowed_account_ids=cfg.allowed_account_ids,
        # Belt and braces: components tag every resource explicitly; these catch anything added later.
        default_tags={"tags": cfg.tags},
    )
    aws_only = pulumi.ResourceOptions(providers=[aws_provider])
    account_id = aws.get_caller_identity(opts=pulumi.InvokeOptions(provider=aws_provider)).account_id
    # One key for every log group of the stack: flow logs, control plane, containers.
    logs_key = kms.customer_managed_key(
        "logs-key",
        description=f"Encrypts the CloudWatch log groups of {cfg.cluster_name}",
        environment=cfg.environment,
        tags=cfg.tags,
        policy=kms.key_policy(
            [kms.root_statement(account_id), kms.logs_service_statement(account_id, cfg.region)]
        ),
        opts=aws_only,
    )

    network = Network("network", replace(cfg.network_args(), log_kms_key_arn=logs_key.arn), aws_only)
    cluster = EksCluster(
        "cluster",
        replace(cfg.cluster_args(), subnet_ids=network.private_subnet_ids, log_kms_key_arn=logs_key.arn),
        aws_only,
    )
    pools = [
        GpuNodePool(
            args.pool_name,
            replace(
                args,
                cluster_name=cluster.cluster_name,
                node_role_arn=cluster.node_role_arn,
                subnet_ids=network.private_subnet_ids,
                ebs_kms_key_arn=cluster.ebs_kms_key_arn,
            ),
            aws_only,
        )
        for args in cfg.gpu_pool_args()
    ]
    on_cluster = pulumi.ResourceOptions(providers=[aws_provider, cluster.provider])
    ClusterAddons(
        "cluster-addons",
        ClusterAddonsArgs(
            cluster_name=cluster.cluster_name,
            kubernetes_version=cluster.kubernetes_version,
            tags=cfg.tags,
            high_availability=cfg.environment is Environment.PROD,
        ),
        on_cluster,
    )

    # --- data plane -------------------------------------------------------------------------
    secrets = PlatformSecrets(
        "secrets",
        PlatformSecretsArgs(
            environment=cfg.environment,
            tags=cfg.tags,
            cluster_name=cluster.cluster_name,
            path_prefix=cfg.secrets_path_prefix,
            secrets=cfg.secret_specs(),
            recovery_window_days=cfg.values.secrets.recovery_window_days,
        ),
        on_cluster,
    )
    artifacts = ArtifactStore("artifacts", cfg.artifact_args(), aws_only)
    registry = ContainerRegistry(
        "registry", replace(cfg.registry_args(), pull_principal_arns=[cluster.node_role_arn]), aws_only
    )
    for role_arn in cfg.values.registry.push_role_arns:
        registry.grant_push(role_arn)
    for grant in cfg.values.artifacts.grants:
        if grant.access in ("read", "readwrite"):
            artifacts.grant_read(grant.role_arn, grant.prefix)
        if grant.access in ("write", "readwrite"):
            artifacts.grant_write(grant.role_arn, grant.prefix)
    load_balancers = LoadBalancerController(
        "load-balancer-controller",
        LoadBalancerControllerArgs(cluster_name=cluster.cluster_name, vpc_id=network.vpc_id, tags=cfg.tags),
        on_cluster,
    )
    observability = Observability(
        "observability",
        cfg.observability_args(cluster.cluster_name, secrets, logs_key.arn, [load_balancers.release]),
        on_cluster,
    )
    mlflow_cfg = cfg.values.mlflow
    mlflow = MlflowTracking(
        "mlflow",
        MlflowTrackingArgs(
            environment=cfg.environment,
            tags=cfg.tags,
            name_prefix=cfg.cluster_name,
            cluster_name=cluster.cluster_name,
            vpc_id=network.vpc_id,
            subnet_ids=network.private_subnet_ids,
            cluster_security_group_id=cluster.cluster_security_group_id,
            artifact_bucket_name=artifacts.bucket_name,
            artifact_bucket_arn=artifacts.bucket_arn,
            artifact_kms_key_arn=artifacts.kms_key_arn,
            secrets=secrets,
            image=cfg.mlflow_image(account_id),
            database=mlflow_cfg.database.to_args(),
            replicas=mlflow_cfg.replicas,
            hostname=mlflow_cfg.hostname,
            certificate_arn=mlflow_cfg.certificate_arn,
            load_balancer_controller=[load_balancers.release],
            prometheus_operator=[observability.prometheus_operator],
        ),
        on_cluster,
    )
    observability.watch_database(
        mlflow.database_identifier, allocated_storage_gib=mlflow_cfg.database.allocated_storage_gib
    )
    observability.watch_nat_gateways(network.nat_gateway_ids, network.nat_gateway_count)

    # --- models ---------------------------------------------------------------------------------
    teams = {team: TeamNamespace(f"team-{team}", args, on_cluster) for team, args in cfg.team_args().items()}
    endpoints = {
        name: ModelEndpoint(
            name,
            replace(
                args,
                cluster_name=cluster.cluster_name,
                region=cfg.region,
                artifact_bucket_name=artifacts.bucket_name,
                artifact_kms_key_arn=artifacts.kms_key_arn,
                registry_kms_key_arn=registry.kms_key_arn,
                node_role_arn=cluster.node_role_arn,
                secret_path_prefix=cfg.secrets_path_prefix if args.secrets else None,
                namespace=teams[args.team],
                load_balancer_source_cidrs=[cfg.values.network.cidr],
                runbook_base_url=cfg.values.observability.runbook_base_url,
                load_balancer_controller=[load_balancers.release],
                prometheus_operator=[observability.prometheus_operator],
                external_secrets=secrets.ready,
            ),
            on_cluster,
        )
        for name, args in cfg.model_args()
    }

    pulumi.export("clusterName", cluster.cluster_name)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("vpcId", network.vpc_id)
    pulumi.export("privateSubnetIds", network.private_subnet_ids)
    pulumi.export(
        "gpuNodePools",
        {
            pool.pool_name: {
                "instanceTypes": list(args.instance_types),
                "capacityType": args.capacity_type.value,
                "minSize": args.min_size,
                "maxSize": args.max_size,
                "gpusPerNode": pool.gpus_per_node,
                "nodeLabels": pool.labels,
            }
            for pool, args in zip(pools, cfg.gpu_pool_args(), strict=True)
        },
    )
    pulumi.export("artifactBucket", artifacts.bucket_name)
    pulumi.export("artifactKmsKeyArn", artifacts.kms_key_arn)
    pulumi.export("registryUrls", registry.repository_urls)
    pulumi.export("registryKmsKeyArn", registry.kms_key_arn)
    pulumi.export("mlflowUrl", mlflow.tracking_url)
    pulumi.export("mlflowDatabaseIdentifier", mlflow.database_identifier)
    pulumi.export("secretsKmsKeyArn", secrets.kms_key_arn)
    pulumi.export(
        "models",
        {
            name: {
                "team": endpoint.namespace,
                "url": endpoint.url,
                "roleArn": endpoint.role_arn,
                "repositoryUrl": endpoint.repository_url,
            }
            for name, endpoint in endpoints.items()
        },
    )
    # What a team's own project reads through a StackReference (examples/team-model).
    pulumi.export("environment", cfg.environment.value)
    pulumi.export("region", cfg.region)
    pulumi.export("nodeRoleArn", cluster.node_role_arn)
    pulumi.export("vpcCidr", cfg.values.network.cidr)
    pulumi.export("secretsPathPrefix", cfg.secrets_path_prefix)
    pulumi.export("runbookBaseUrl", cfg.values.observability.runbook_base_url)
    pulumi.export("grafanaUrl", observability.grafana_url)
    pulumi.export("alertTopicArn", observability.alert_topic_arn)
    pulumi.export(
        "logGroupNames",
        [
            cluster.control_plane_log_group_name,
            *observability.log_group_names,
            *([network.flow_log_group_name] if network.flow_log_group_name is not None else []),
        ],
    )
    # Last: every resource is constructed by now (none is created inside an apply).
    pulumi.export("costEstimate", costs.estimate(cfg.region, cfg.values.cost_assumptions.to_assumptions()))
