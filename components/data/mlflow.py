"""``MlflowTracking``: an MLflow 3 tracking server and model registry, hardened by default.

- PostgreSQL on RDS (``mlflow_database``): its own key, private subnets, TLS, backups per environment.
- The server reads its backend URI from a Kubernetes Secret that External Secrets syncs from Secrets
  Manager; the password never appears in config, Helm values, outputs or logs.
- Authentication is on: the MLflow basic-auth app, with its own database and admin credentials
  generated into Secrets Manager.
- Artifacts are proxied by the server (``--serve-artifacts``) to ``s3://<bucket>/mlflow`` with a
  Pod Identity role limited to that prefix, so clients need no AWS credentials.

Example::

    MlflowTracking("mlflow", MlflowSpec(replicas=2, database=MlflowDatabaseSpec(multi_az=True,
        backup_retention_days=14, deletion_protection=True, final_snapshot=True)),
        context, network.ref, cluster.ref, artifacts.ref, secrets,
        image_repository=registry.repository_urls["mlflow-server"])
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.data.mlflow_database import (
    CREATE_AUTH_DATABASE,
    RUN_AS_USER,
    MlflowDatabaseSpec,
    mlflow_database,
)
from mlops_platform.components.data.platform_secrets import PlatformSecrets, SecretRef, external_secret
from mlops_platform.components.foundation.load_balancer_controller import (
    internal_ingress,
    load_balancer_hostname,
)
from mlops_platform.components.foundation.pod_identity import PodIdentityRole, PodIdentitySpec
from mlops_platform.components.refs import ArtifactsRef, ClusterRef, NetworkRef, PlatformDependencies
from mlops_platform.components.support import iam, kube, pins
from mlops_platform.components.support.aws import certificate_problem
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import (
    Problem,
    dns_label_problem,
    image_problems,
    quantity_problems,
    range_problems,
)

PORT = 5000


def vpc_host_patterns(cidr: str) -> list[str]:
    """Host-header patterns (fnmatch, as MLflow matches them) covering every address of ``cidr`` with
    or without a port: 10.0.0.0/16 -> ["10.0.*"]; a /20 -> one pattern per third octet; past /24
    (VPCs go down to /28) each address, bare and with a port."""
    network = ipaddress.ip_network(cidr, strict=False)
    if network.prefixlen > 24:
        return [p for address in network for p in (str(address), f"{address}:*")]
    whole = network.prefixlen // 8 * 8  # the widest octet boundary inside the network
    blocks = [network] if whole == network.prefixlen else network.subnets(new_prefix=whole + 8)
    return [".".join([*str(b.network_address).split(".")[: b.prefixlen // 8], "*"]) for b in blocks]


SERVICE_ACCOUNT = "mlflow"
ARTIFACT_PREFIX = "mlflow/"
REPOSITORY = "mlflow-server"
"""Platform repository the default MLflow image is pushed to (infra/images/mlflow)."""
AUTH_CONFIG_TEMPLATE = """[mlflow]
default_permission = READ
database_uri = {{ .auth_uri }}
admin_username = {{ .admin_username }}
admin_password = {{ .admin_password }}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
"""
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")


@spec
class MlflowSpec:
    """The MLflow tracking server and its database."""

    image: str | None = None
    """Server image with the PostgreSQL driver, pinned by tag or digest (``latest`` is refused).
    Default: ``<registry>/mlflow-server:<pinned MLflow>``, built from infra/images/mlflow."""
    replicas: int = 1
    """Server replicas; two or more add a PodDisruptionBudget (prod: 2 or more). Default: 1."""
    server_cpu: str = "500m"
    """CPU each server replica requests (memory: 1Gi; it may burst to 2 cores). Default: 500m; dev: 250m."""
    hostname: str | None = None
    """DNS name clients use (point it at the ALB). Default: the ALB's own DNS name."""
    certificate_arn: str | None = None
    """ACM certificate to serve HTTPS on the ALB. Default: none (HTTP inside the VPC)."""
    database: MlflowDatabaseSpec = field(default_factory=MlflowDatabaseSpec)
    """The PostgreSQL backend store. Default: a single-AZ db.t4g.medium with 7 days of backups."""
    namespace: str = "mlflow"
    """Namespace of the server. Default: mlflow."""
    allowed_hosts: Sequence[str] = ()
    """Extra Host headers the server accepts (its DNS-rebinding guard, shell-style patterns). Always
    accepted: ``hostname``, the ALB's DNS names (``*.elb.amazonaws.com``), ``localhost`` and
    ``127.0.0.1`` with any port (port-forwards) and the VPC's addresses with any port, which the load balancer's health checks
    and Prometheus send (``10.0.3.7:5000``). Default: none extra."""
    service_monitor: bool = True
    """Render a ServiceMonitor for the Prometheus operator. Default: on."""

    def problems(self, environment: Environment) -> list[Problem]:
        found = image_problems("image", self.image) if self.image is not None else []
        found += [p.nested("database") for p in self.database.problems(environment)]
        found += range_problems("replicas", self.replicas, 1, 20)
        found += quantity_problems("server_cpu", self.server_cpu)
        if environment is Environment.PROD and self.replicas < 2:
            found.append(Problem("replicas", f"must be >= 2 in prod (got {self.replicas})"))
        found += [p for p in [dns_label_problem("namespace", self.namespace)] if p]
        found += [p for p in [certificate_problem("certificate_arn", self.certificate_arn)] if p]
        if self.hostname is not None and (len(self.hostname) > 253 or not _HOSTNAME.match(self.hostname)):
            found.append(
                Problem("hostname", f"must be a DNS name such as mlflow.example.com (got {self.hostname!r})")
            )
        return found


class MlflowTracking(PlatformComponent):
    """RDS PostgreSQL, the secrets, and the MLflow server with auth behind an internal ALB."""

    tracking_url: pulumi.Output[str]
    """URL of the tracking server and UI."""
    artifact_bucket: pulumi.Output[str]
    """Bucket holding the artifacts (under ``mlflow/``)."""
    database_endpoint: pulumi.Output[str]
    """Endpoint of the PostgreSQL instance (host:port); the password is never an output."""
    database_identifier: pulumi.Output[str]
    """RDS instance identifier (for alarms and dashboards)."""
    role_arn: pulumi.Output[str]
    """Role the server assumes for S3."""

    def __init__(
        self,
        name: str,
        spec: MlflowSpec,
        context: StackContext,
        network: NetworkRef,
        cluster: ClusterRef,
        artifacts: ArtifactsRef,
        secrets: PlatformSecrets,
        *,
        image_repository: pulumi.Input[str] | None = None,
        dependencies: PlatformDependencies | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``secrets`` creates the database and admin secrets; ``image_repository`` is the repository of
        the platform's MLflow build, used when ``spec.image`` is unset; ``dependencies``: the load
        balancer controller and Prometheus operator the Ingress and ServiceMonitor wait for."""
        problems = [*spec.problems(context.environment), *context.problems()]
        if spec.image is None and image_repository is None:
            problems.append(Problem("image", "set an image, or pass image_repository (the platform's build)"))
        super().__init__("mlops:mlflow:MlflowTracking", name, "MlflowSpec", problems, opts)
        depends = dependencies or PlatformDependencies()
        child = self.child
        tags = dict(context.tags)
        region = self.region
        image = (
            pulumi.Output.from_input(spec.image)
            if spec.image is not None
            else pulumi.Output.concat(image_repository, ":", pins.MLFLOW_VERSION)
        )
        database = mlflow_database(
            name,
            spec.database,
            context=context,
            network=network,
            cluster=cluster,
            secrets=secrets,
            opts=child,
        )

        role = PodIdentityRole(
            f"{name}-server",
            PodIdentitySpec(namespace=spec.namespace, service_account=SERVICE_ACCOUNT),
            cluster_name=cluster.name,
            tags=tags,
            policy=pulumi.Output.all(artifacts.bucket_arn, artifacts.kms_key_arn).apply(
                lambda a: iam.document(
                    [
                        *iam.s3_read_statements(a[0], ARTIFACT_PREFIX, a[1]),
                        *iam.s3_write_statements(a[0], ARTIFACT_PREFIX, a[1]),
                    ]
                )
            ),
            opts=child,
        )
        labels = kube.labels("mlflow", "tracking-server", instance=name, version=pins.MLFLOW_VERSION)
        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": spec.namespace,
                "labels": {
                    **kube.labels(spec.namespace, "namespace"),
                    "pod-security.kubernetes.io/enforce": "restricted",
                },
            },
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        service_account = k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata={"name": SERVICE_ACCOUNT, "namespace": spec.namespace, "labels": labels},
            automount_service_account_token=False,
            opts=in_namespace,
        )
        secrets_ready = pulumi.ResourceOptions(parent=self, depends_on=[namespace, *depends.external_secrets])
        db, admin = secrets.path("mlflow/database"), secrets.path("mlflow/admin")
        server_key = secrets.path("mlflow/server")
        # role -> (Kubernetes Secret, its keys from Secrets Manager, a file rendered from them)
        synced = {
            "database": (
                "mlflow-database",
                {"uri": SecretRef(db, "uri"), "sqlalchemy_uri": SecretRef(db, "sqlalchemy_uri")},
                None,
            ),
            # One key for every replica: a CSRF token signed by one must verify on the others.
            "server": (
                "mlflow-server",
                {"flask_secret_key": SecretRef(server_key, "flask_secret_key")},
                None,
            ),
            "auth": (
                "mlflow-auth",
                {
                    "auth_uri": SecretRef(db, "auth_uri"),
                    "admin_username": SecretRef(admin, "username"),
                    "admin_password": SecretRef(admin, "password"),
                },
                {"basic_auth.ini": AUTH_CONFIG_TEMPLATE},
            ),
            # Prometheus scrapes /metrics with the admin login: the auth app protects every route.
            "metrics": (
                "mlflow-metrics-scraper",
                {"username": SecretRef(admin, "username"), "password": SecretRef(admin, "password")},
                None,
            ),
        }
        syncs = {
            role: external_secret(
                f"{name}-{role}-secret",
                namespace=spec.namespace,
                target=target,
                entries=entries,
                template=template,
                opts=secrets_ready,
            )
            for role, (target, entries, template) in synced.items()
        }
        hosts = [
            *([spec.hostname] if spec.hostname else []),
            "*.elb.amazonaws.com",
            # Port-forwards (kubectl port-forward svc/mlflow 5000:80) by name or loopback address.
            "localhost",
            "localhost:*",
            "127.0.0.1",
            "127.0.0.1:*",
            *vpc_host_patterns(network.cidr),
            *spec.allowed_hosts,
        ]
        deployment = self._deployment(
            name,
            spec,
            image,
            artifacts,
            labels,
            region,
            hosts,
            service_account,
            [syncs["database"], syncs["auth"], syncs["server"], database],
        )
        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata={"name": "mlflow", "namespace": spec.namespace, "labels": labels},
            spec={
                "type": "ClusterIP",
                "selector": kube.selector_labels(labels),
                "ports": [{"name": "http", "port": 80, "targetPort": PORT, "protocol": "TCP"}],
            },
            opts=in_namespace,
        )
        if spec.replicas >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata={"name": "mlflow", "namespace": spec.namespace, "labels": labels},
                spec={"minAvailable": 1, "selector": {"matchLabels": kube.selector_labels(labels)}},
                opts=in_namespace,
            )
        ingress = internal_ingress(
            f"{name}-ingress",
            object_name="mlflow",
            namespace=spec.namespace,
            labels=labels,
            path="/",
            backend={"service": {"name": "mlflow", "port": {"number": 80}}},
            health_check_path="/health",
            hostname=spec.hostname,
            certificate_arn=spec.certificate_arn,
            # Lowest precedence in the shared ALB: model paths match before MLflow's catch-all.
            order=1000,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[service, deployment, *depends.load_balancer_controller]
            ),
        )
        scheme = "https" if spec.certificate_arn else "http"
        host = pulumi.Output.from_input(spec.hostname) if spec.hostname else load_balancer_hostname(ingress)
        self.tracking_url = pulumi.Output.concat(scheme, "://", host)
        self.artifact_bucket = pulumi.Output.from_input(artifacts.bucket_name)
        self.database_endpoint = database.endpoint
        self.database_identifier = database.identifier
        if spec.service_monitor:
            self._service_monitor(name, spec, labels, [*depends.prometheus_operator, syncs["metrics"]])
        self.role_arn = role.arn
        self.register_outputs(
            {
                "trackingUrl": self.tracking_url,
                "artifactBucket": self.artifact_bucket,
                "databaseEndpoint": self.database_endpoint,
            }
        )

    def _deployment(
        self,
        name: str,
        spec: MlflowSpec,
        image: pulumi.Output[str],
        artifacts: ArtifactsRef,
        labels: dict[str, str],
        region: str,
        allowed_hosts: list[str],
        service_account: pulumi.Resource,
        depends_on: list[pulumi.Resource],
    ) -> k8s.apps.v1.Deployment:
        def from_secret(env: str, secret: str, key: str) -> dict[str, Any]:
            return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

        libpq_uri = from_secret("MLFLOW_BACKEND_STORE_URI", "mlflow-database", "uri")
        backend_uri = from_secret("MLFLOW_BACKEND_STORE_URI", "mlflow-database", "sqlalchemy_uri")
        small = {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}}
        spread = (
            [
                {
                    "maxSkew": 1,
                    "topologyKey": "topology.kubernetes.io/zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "labelSelector": {"matchLabels": kube.selector_labels(labels)},
                }
            ]
            if spec.replicas >= 2
            else []
        )
        probe = {
            "httpGet": {
                "path": "/health",
                "port": PORT,
                "httpHeaders": [{"name": "Host", "value": "localhost"}],
            },
            "periodSeconds": 10,
            "timeoutSeconds": 5,
        }
        return k8s.apps.v1.Deployment(
            f"{name}-deployment",
            metadata={"name": "mlflow", "namespace": spec.namespace, "labels": labels},
            spec={
                "replicas": spec.replicas,
                "selector": {"matchLabels": kube.selector_labels(labels)},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": SERVICE_ACCOUNT,
                        "automountServiceAccountToken": False,
                        "securityContext": kube.restricted_pod_security(RUN_AS_USER),
                        "nodeSelector": kube.SYSTEM_NODE_SELECTOR,
                        "topologySpreadConstraints": spread,
                        "initContainers": [
                            {
                                "name": "create-auth-database",
                                "image": image,
                                "command": ["python", "-c", CREATE_AUTH_DATABASE],
                                "env": [libpq_uri],
                                "resources": small,
                                "securityContext": kube.restricted_container_security(),
                            }
                        ],
                        "containers": [
                            {
                                "name": "mlflow",
                                "image": image,
                                "args": [
                                    "mlflow",
                                    "server",
                                    "--host=0.0.0.0",
                                    f"--port={PORT}",
                                    "--app-name=basic-auth",
                                    "--serve-artifacts",
                                    pulumi.Output.concat(
                                        "--artifacts-destination=s3://", artifacts.bucket_name, "/mlflow"
                                    ),
                                    "--workers=2",
                                    "--expose-prometheus=/tmp/prometheus",
                                ],
                                "env": [
                                    backend_uri,
                                    {
                                        "name": "MLFLOW_AUTH_CONFIG_PATH",
                                        "value": "/etc/mlflow-auth/basic_auth.ini",
                                    },
                                    {"name": "MLFLOW_SERVER_ALLOWED_HOSTS", "value": ",".join(allowed_hosts)},
                                    from_secret(
                                        "MLFLOW_FLASK_SERVER_SECRET_KEY", "mlflow-server", "flask_secret_key"
                                    ),
                                    {"name": "AWS_DEFAULT_REGION", "value": region},
                                    {"name": "HOME", "value": "/tmp"},
                                ],
                                "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                                "readinessProbe": {**probe, "initialDelaySeconds": 10},
                                "livenessProbe": {**probe, "initialDelaySeconds": 30, "failureThreshold": 6},
                                "resources": {
                                    "requests": {"cpu": spec.server_cpu, "memory": "1Gi"},
                                    "limits": {"cpu": "2", "memory": "2Gi"},
                                },
                                "securityContext": kube.restricted_container_security(),
                                "volumeMounts": [
                                    {"name": "tmp", "mountPath": "/tmp"},
                                    {
                                        "name": "auth-config",
                                        "mountPath": "/etc/mlflow-auth",
                                        "readOnly": True,
                                    },
                                ],
                            }
                        ],
                        "volumes": [
                            {"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}},
                            {
                                "name": "auth-config",
                                "secret": {"secretName": "mlflow-auth", "defaultMode": 0o440},
                            },
                        ],
                    },
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[service_account, *depends_on]),
        )

    def _service_monitor(
        self, name: str, spec: MlflowSpec, labels: dict[str, str], depends_on: list[pulumi.Resource]
    ) -> None:
        k8s.apiextensions.CustomResource(
            f"{name}-service-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata={"name": "mlflow", "namespace": spec.namespace, "labels": labels},
            spec={
                "selector": {"matchLabels": kube.selector_labels(labels)},
                "endpoints": [
                    {
                        "port": "http",
                        "path": "/metrics",
                        "interval": "30s",
                        "basicAuth": {
                            "username": {"name": "mlflow-metrics-scraper", "key": "username"},
                            "password": {"name": "mlflow-metrics-scraper", "key": "password"},
                        },
                    }
                ],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )
