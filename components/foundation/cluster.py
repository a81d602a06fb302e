"""``EksCluster``: a hardened EKS control plane, its system node group and a Kubernetes provider.

Example::

    cluster = EksCluster("cluster", ClusterSpec(
        admin_principal_arns=["arn:aws:iam::123456789012:role/platform-admin"]),
        context, network.ref, system_nodes=SystemNodesSpec(instance_types=["m6i.xlarge"]))
    # Kubernetes objects for this cluster:
    opts = pulumi.ResourceOptions(provider=cluster.provider)
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import field
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from mlops_platform.components.foundation import kms
from mlops_platform.components.foundation.logs import encrypted_log_group
from mlops_platform.components.foundation.nodes import CapacityType, managed_node_group
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.refs import ClusterRef, NetworkRef
from mlops_platform.components.support import helm, iam, kube, pins
from mlops_platform.components.support.aws import CONTROL_PLANE_LOG_TYPES, PRINCIPAL_ARN, retention_problems
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.instance_catalog import spec as instance_spec
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import with_tags
from mlops_platform.components.support.validation import Problem, range_problems, size_problems

CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
_MANAGED = "arn:aws:iam::aws:policy/"


def _requests(cpu: str, memory: str = "0") -> helm.Resources:
    return {"requests": {"cpu": cpu, "memory": memory}}


EKS_ADDON_FOOTPRINTS: dict[str, helm.Footprint] = {
    # What each EKS-managed add-on requests as EKS renders it (its upstream chart's defaults), so
    # the cost model places it on the nodes like any release: the scheduler counts these too.
    "eks-pod-identity-agent": helm.Footprint(),  # renders no requests
    "vpc-cni": helm.Footprint(every_node=_requests("50m")),  # aws-node and its policy agent, 25m each
    "kube-proxy": helm.Footprint(every_node=_requests("100m")),
    "coredns": helm.Footprint(system_pods=((2, _requests("100m", "70Mi")),)),
    # Five containers of 10m/40Mi per controller pod (plugin, provisioner, attacher, resizer,
    # liveness probe), three per node pod (plugin, registrar, liveness probe).
    "aws-ebs-csi-driver": helm.Footprint(
        system_pods=((2, _requests("50m", "200Mi")),), every_node=_requests("30m", "120Mi")
    ),
}


@spec
class SystemNodesSpec:
    """The on-demand node group that runs platform add-ons (never GPU work)."""

    instance_types: Sequence[str] = ("m6i.large",)
    """Instance types, cheapest first. Default: m6i.large."""
    capacity_type: CapacityType = CapacityType.ON_DEMAND
    """``ON_DEMAND``, or ``SPOT`` (not in prod): every add-on, MLflow and Prometheus run here, and a
    reclaimed node restarts them on its replacement. List several types of the same size so spot
    capacity can be found. Default: ON_DEMAND; dev: SPOT."""
    min_size: int = 2
    """Nodes kept at all times. Default: 2 (add-ons keep a replica through a node drain)."""
    desired_size: int = 2
    """Nodes at creation; the cluster-autoscaler owns it afterwards. Default: 2."""
    max_size: int = 4
    """Upper bound for the cluster-autoscaler. Default: 4."""
    disk_size_gib: int = 50
    """Root volume size (gp3, encrypted). Default: 50."""

    def problems(self, environment: Environment) -> list[Problem]:
        found = size_problems(self.min_size, self.desired_size, self.max_size)
        if environment is Environment.PROD and self.capacity_type is CapacityType.SPOT:
            found.append(
                Problem(
                    "capacity_type", "must be ON_DEMAND in prod: the platform's add-ons run on these nodes"
                )
            )
        if not self.instance_types:
            found.append(Problem("instance_types", "must list at least one instance type"))
        for i, t in enumerate(self.instance_types):
            if instance_spec(t) is None:
                found.append(Problem(f"instance_types[{i}]", f"unknown instance type {t!r}"))
        found += range_problems("disk_size_gib", self.disk_size_gib, 20, 16384)
        return found


@spec
class ClusterEndpoint:
    """Who can reach the Kubernetes API."""

    public_access: bool = False
    """Expose the API endpoint publicly, restricted to ``public_access_cidrs``. Default: private only."""
    public_access_cidrs: Sequence[str] = ()
    """CIDRs allowed to reach a public endpoint. Required when the endpoint is public; 0.0.0.0/0 is
    refused. Default: none."""


@spec
class ClusterSpec:
    """EKS control plane."""

    admin_principal_arns: Sequence[str] = ()
    """IAM roles or users given cluster-admin through access entries. At least one is required, and
    the identity that runs ``pulumi up`` must be listed: the cluster creator gets no implicit access."""
    kubernetes_version: str = pins.KUBERNETES_VERSION
    """Kubernetes minor version. Default: ``pins.KUBERNETES_VERSION`` (components/support/pins.py)."""
    endpoint: ClusterEndpoint = field(default_factory=ClusterEndpoint)
    """API endpoint access. Default: private only."""
    control_plane_log_retention_days: int = 90
    """Retention of ``/aws/eks/<cluster>/cluster``, in days. Default: 90."""

    def problems(self) -> list[Problem]:
        found = []
        if self.kubernetes_version not in pins.SUPPORTED_KUBERNETES_VERSIONS:
            found.append(
                Problem(
                    "kubernetes_version",
                    f"must be one of {', '.join(pins.SUPPORTED_KUBERNETES_VERSIONS)} (got {self.kubernetes_version!r})",
                )
            )
        if not self.admin_principal_arns:
            found.append(
                Problem(
                    "admin_principal_arns",
                    "must list at least one IAM role, including the one that runs pulumi up",
                )
            )
        for i, arn in enumerate(self.admin_principal_arns):
            if not PRINCIPAL_ARN.match(arn):
                found.append(
                    Problem(f"admin_principal_arns[{i}]", f"must be an IAM role or user ARN (got {arn!r})")
                )
        endpoint = self.endpoint
        if endpoint.public_access and not endpoint.public_access_cidrs:
            found.append(
                Problem(
                    "endpoint.public_access_cidrs", "must list the CIDRs allowed to reach the public endpoint"
                )
            )
        for i, cidr in enumerate(endpoint.public_access_cidrs):
            where = f"endpoint.public_access_cidrs[{i}]"
            try:
                net = ipaddress.ip_network(cidr)
            except ValueError:
                found.append(Problem(where, f"must be a CIDR such as 203.0.113.0/24 (got {cidr!r})"))
                continue
            if net.prefixlen == 0:
                found.append(Problem(where, "must not open the endpoint to the whole internet (0.0.0.0/0)"))
        found += retention_problems("control_plane_log_retention_days", self.control_plane_log_retention_days)
        return found


def cluster_name_problems(name: str) -> list[Problem]:
    """EKS names: 1-100 letters, digits, '-' or '_', starting with a letter or digit."""
    if not re.match(r"^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$", name):
        return [Problem("cluster_name", f"must be 1-100 letters, digits, '-' or '_' (got {name!r})")]
    return []


class EksCluster(PlatformComponent):
    """EKS with API authentication, envelope encryption, every log type, managed add-ons,
    a hardened system node group, a default encrypted gp3 StorageClass and a Kubernetes provider."""

    cluster_name: pulumi.Output[str]
    """Name of the cluster."""
    cluster_arn: pulumi.Output[str]
    """ARN of the cluster."""
    endpoint: pulumi.Output[str]
    """API server endpoint."""
    kubeconfig: pulumi.Output[str]
    """Exec-based kubeconfig (secret): ``aws eks get-token`` supplies the credentials."""
    oidc_issuer: pulumi.Output[str]
    """OIDC issuer URL (for IRSA-based tools; the platform itself uses Pod Identity)."""
    cluster_security_group_id: pulumi.Output[str]
    """The security group EKS attaches to the control plane and managed nodes."""
    node_role_arn: pulumi.Output[str]
    """Role shared by every managed node group."""
    ebs_kms_key_arn: pulumi.Output[str]
    """Key that encrypts node volumes and persistent volumes."""
    control_plane_log_group_name: pulumi.Output[str]
    """The control-plane log group, ``/aws/eks/<cluster>/cluster``."""
    provider: k8s.Provider
    """Kubernetes provider for this cluster; pass it to components that render Kubernetes objects."""
    kubernetes_version: str
    """Kubernetes minor version of the control plane."""
    storage_class_name: str = "encrypted-gp3"
    """The default StorageClass: gp3, encrypted with ``ebs_kms_key_arn``."""
    system_node_group: aws.eks.NodeGroup
    """The on-demand node group for platform add-ons."""

    ref: ClusterRef
    """What node pools, add-ons and workloads build on."""

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        context: StackContext,
        network: NetworkRef,
        *,
        system_nodes: SystemNodesSpec | None = None,
        log_kms_key_arn: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """The cluster is named ``<project>-<stack>`` (``context.name_prefix``), which also names its
        control-plane log group, encrypted with ``log_kms_key_arn`` (default: a dedicated key)."""
        system = system_nodes or SystemNodesSpec()
        cluster_name = context.name_prefix
        super().__init__(
            "mlops:cluster:EksCluster",
            name,
            "ClusterSpec",
            [
                *spec.problems(),
                *[p.nested("system_nodes") for p in system.problems(context.environment)],
                *cluster_name_problems(cluster_name),
                *context.problems(),
            ],
            opts,
        )
        child = self.child
        account_id, region = self.account_id, self.region
        self.kubernetes_version = spec.kubernetes_version
        environment = context.environment
        tags = dict(context.tags)

        secrets_key = kms.customer_managed_key(
            f"{name}-secrets-key",
            context,
            description=f"Envelope encryption of Kubernetes secrets in {cluster_name}",
            opts=child,
        )
        ebs_key = kms.customer_managed_key(
            f"{name}-ebs-key",
            context,
            description=f"Encrypts node and persistent volumes of {cluster_name}",
            policy=iam.document(
                [iam.kms_root_statement(account_id), *iam.kms_autoscaling_statements(account_id)]
            ),
            opts=child,
        )
        # EKS would create this group itself, unencrypted and kept forever; creating it first sets both.
        log_group = encrypted_log_group(
            f"{name}-control-plane-logs",
            context,
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_days=spec.control_plane_log_retention_days,
            kms_key_arn=log_kms_key_arn,
            key_name=f"{name}-logs-key",
            key_description=f"Encrypts the control-plane logs of {cluster_name}",
            account_id=account_id,
            region=region,
            opts=child,
        )

        cluster_role = aws.iam.Role(
            f"{name}-cluster-role",
            assume_role_policy=iam.service_trust_policy("eks.amazonaws.com", tag_session=True),
            tags=tags,
            opts=child,
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster-policy",
            role=cluster_role.name,
            policy_arn=_MANAGED + "AmazonEKSClusterPolicy",
            opts=child,
        )
        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=cluster_name,
            role_arn=cluster_role.arn,
            version=spec.kubernetes_version,
            vpc_config={
                "subnet_ids": network.private_subnet_ids,
                "endpoint_private_access": True,
                "endpoint_public_access": spec.endpoint.public_access,
                **(
                    {"public_access_cidrs": list(spec.endpoint.public_access_cidrs)}
                    if spec.endpoint.public_access
                    else {}
                ),
            },
            access_config={
                "authentication_mode": "API",
                # Nobody gets silent cluster-admin; admins are the access entries below.
                "bootstrap_cluster_creator_admin_permissions": False,
            },
            encryption_config={"provider": {"key_arn": secrets_key.arn}, "resources": ["secrets"]},
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            # Managed add-ons below replace the unmanaged defaults, so versions stay pinned.
            bootstrap_self_managed_addons=False,
            upgrade_policy={"support_type": "STANDARD"},
            # EKS refuses to delete a prod cluster until this is turned off: a second lock beside protect.
            deletion_protection=environment is Environment.PROD,
            tags=tags,
            # Protected in prod; not retained elsewhere, since an orphaned cluster keeps costing money.
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=environment is Environment.PROD,
                depends_on=[log_group, cluster_policy],
            ),
        )

        for i, principal in enumerate(spec.admin_principal_arns):
            entry = aws.eks.AccessEntry(
                f"{name}-admin-{i}",
                cluster_name=cluster.name,
                principal_arn=principal,
                type="STANDARD",
                tags=tags,
                opts=child,
            )
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{i}-policy",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=CLUSTER_ADMIN_POLICY,
                access_scope={"type": "cluster"},
                opts=child,
            )

        node_role = aws.iam.Role(
            f"{name}-node-role",
            assume_role_policy=iam.service_trust_policy("ec2.amazonaws.com"),
            tags=tags,
            opts=child,
        )
        node_policies = [
            aws.iam.RolePolicyAttachment(
                f"{name}-node-{policy}", role=node_role.name, policy_arn=_MANAGED + policy, opts=child
            )
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly")
        ]

        versions = pins.EKS_ADDON_VERSIONS[spec.kubernetes_version]

        # The add-ons own their Pod Identity associations (EKS allows one per service account), so
        # these roles come without one.
        def addon_role(
            role: str, service_account: str, policy_arn: str, policy: Any = None
        ) -> PodIdentityRole:
            spec = PodIdentitySpec(
                namespace="kube-system",
                service_account=service_account,
                managed_policy_arns=[policy_arn],
                associate=False,
            )
            return PodIdentityRole(
                f"{name}-{role}", spec, cluster_name=cluster.name, tags=tags, policy=policy, opts=child
            )

        cni_role = addon_role("vpc-cni", "aws-node", _MANAGED + "AmazonEKS_CNI_Policy")

        def addon(
            addon_name: str, depends_on: Sequence[pulumi.Resource] = (), associations=None, configuration=None
        ) -> aws.eks.Addon:
            with helm.declaring(EKS_ADDON_FOOTPRINTS[addon_name]):
                return aws.eks.Addon(
                    f"{name}-{addon_name}",
                    cluster_name=cluster.name,
                    addon_name=addon_name,
                    addon_version=versions[addon_name],
                    configuration_values=json.dumps(configuration, sort_keys=True) if configuration else None,
                    resolve_conflicts_on_create="OVERWRITE",
                    resolve_conflicts_on_update="OVERWRITE",
                    pod_identity_associations=associations,
                    tags=tags,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
                )

        # Nodes need the network and identity add-ons to become Ready, so these come first.
        pod_identity_agent = addon("eks-pod-identity-agent")
        vpc_cni = addon(
            "vpc-cni",
            depends_on=[pod_identity_agent],
            associations=[{"role_arn": cni_role.arn, "service_account": "aws-node"}],
            # NetworkPolicies (model endpoints rely on them) are only enforced when the CNI agent runs.
            configuration={"enableNetworkPolicy": "true"},
        )
        kube_proxy = addon("kube-proxy")

        self.system_node_group, _ = managed_node_group(
            f"{name}-system",
            system,
            capacity_type=system.capacity_type.value,
            ami_type="AL2023_x86_64_STANDARD",
            cluster_name=cluster.name,
            node_role_arn=node_role.arn,
            subnet_ids=network.private_subnet_ids,
            kms_key_arn=ebs_key.arn,
            labels=kube.SYSTEM_NODE_SELECTOR,
            taints=[],
            tags=with_tags(tags, Name=f"{cluster_name}-system"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*node_policies, vpc_cni, kube_proxy]),
        )

        # CoreDNS and the CSI controller are Deployments: they need nodes to schedule on.
        addon("coredns", depends_on=[self.system_node_group])
        ebs_csi_role = addon_role(
            "ebs-csi",
            "ebs-csi-controller-sa",
            _MANAGED + "service-role/AmazonEBSCSIDriverPolicy",
            ebs_key.arn.apply(lambda arn: iam.document(_ebs_kms_statements(arn))),
        )
        ebs_csi = addon(
            "aws-ebs-csi-driver",
            depends_on=[self.system_node_group],
            associations=[{"role_arn": ebs_csi_role.arn, "service_account": "ebs-csi-controller-sa"}],
        )

        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.data).apply(
                lambda parts: kube.exec_kubeconfig(
                    cluster_name=parts[0], endpoint=parts[1], certificate_authority=parts[2], region=region
                )
            )
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.system_node_group]),
        )
        k8s.storage.v1.StorageClass(
            f"{name}-gp3",
            metadata={
                "name": self.storage_class_name,
                "labels": kube.labels("encrypted-gp3", "storage"),
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            provisioner="ebs.csi.aws.com",
            parameters={"type": "gp3", "encrypted": "true", "kmsKeyId": ebs_key.arn},
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            # In prod a deleted claim keeps its volume: data outlives mistakes.
            reclaim_policy="Retain" if environment is Environment.PROD else "Delete",
            opts=pulumi.ResourceOptions(parent=self, provider=self.provider, depends_on=[ebs_csi]),
        )

        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.endpoint = cluster.endpoint
        self.oidc_issuer = cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        self.cluster_security_group_id = cluster.vpc_config.cluster_security_group_id
        self.node_role_arn = node_role.arn
        self.ebs_kms_key_arn = ebs_key.arn
        self.control_plane_log_group_name = log_group.name
        self.ref = ClusterRef(
            name=self.cluster_name,
            kubernetes_version=spec.kubernetes_version,
            node_role_arn=self.node_role_arn,
            security_group_id=self.cluster_security_group_id,
            ebs_kms_key_arn=self.ebs_kms_key_arn,
        )
        self.register_outputs(
            {
                "clusterName": self.cluster_name,
                "endpoint": self.endpoint,
                "kubeconfig": self.kubeconfig,
                "oidcIssuer": self.oidc_issuer,
                "clusterSecurityGroupId": self.cluster_security_group_id,
            }
        )


def _ebs_kms_statements(key_arn: str) -> list[iam.Statement]:
    """The CSI driver creates volumes encrypted with the platform key and needs grants for them."""
    return [
        iam.statement(
            "UseVolumeKey",
            [
                "kms:Decrypt",
                "kms:DescribeKey",
                "kms:Encrypt",
                "kms:GenerateDataKeyWithoutPlaintext",
                "kms:ReEncryptFrom",
                "kms:ReEncryptTo",
            ],
            key_arn,
        ),
        iam.statement(
            "GrantVolumeKey",
            ["kms:CreateGrant"],
            key_arn,
            conditions={"Bool": {"kms:GrantIsForAWSResource": True}},
        ),
    ]
