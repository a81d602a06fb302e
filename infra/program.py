"""The platform program: builds every component of one stack from its validated config.

Runs unchanged under ``pulumi up`` and under offline synthesis (``blueprint synth``).
"""

from __future__ import annotations

from dataclasses import replace

import pulumi
import pulumi_aws as aws

from components.cluster import EksCluster
from components.cluster_addons import ClusterAddons, ClusterAddonsArgs
from components.environment import Environment
from components.gpu_node_pool import GpuNodePool
from components.network import Network
from infra import config


def main() -> None:
    cfg = config.load()  # raises ConfigError before any resource exists
    aws_provider = aws.Provider(
        "aws",
        region=cfg.region,
        profile=cfg.aws_profile,
        allowed_account_ids=cfg.allowed_account_ids,
        # Belt and braces: components tag every resource explicitly; these catch anything added later.
        default_tags={"tags": cfg.tags},
    )
    aws_only = pulumi.ResourceOptions(providers=[aws_provider])

    network = Network("network", cfg.network_args(), aws_only)
    cluster = EksCluster(
        "cluster", replace(cfg.cluster_args(), subnet_ids=network.private_subnet_ids), aws_only
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
