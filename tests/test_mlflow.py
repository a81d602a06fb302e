"""MlflowTracking: hardened database, auth on, secrets through ESO, scoped artifact access."""

from __future__ import annotations

import json

import pytest

from mlops_platform.components.data.mlflow import MlflowSpec, MlflowTracking
from mlops_platform.components.data.mlflow_database import MlflowDatabaseSpec
from mlops_platform.components.data.platform_secrets import PlatformSecrets, PlatformSecretsSpec
from mlops_platform.components.support import pins
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import ARTIFACTS, CLUSTER, NETWORK, context, only, run

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlflow-server:3.16.0"
PROD_DB = MlflowDatabaseSpec(
    multi_az=True, backup_retention_days=14, deletion_protection=True, final_snapshot=True
)


def tracking(environment, spec, image_repository=None):
    import pulumi

    ctx = context(environment)
    secrets = PlatformSecrets("secrets", PlatformSecretsSpec(), ctx, CLUSTER)
    server = MlflowTracking(
        "mlflow", spec, ctx, NETWORK, CLUSTER, ARTIFACTS, secrets, image_repository=image_repository
    )
    pulumi.export("url", server.tracking_url)
    pulumi.export("endpoint", server.database_endpoint)


def mlflow(environment=Environment.DEV, **overrides):
    spec = MlflowSpec(**{"image": IMAGE, **overrides})
    return run(lambda: tracking(environment, spec))


def deployment_spec(graph):
    return only(graph, "kubernetes:apps/v1:Deployment").inputs["spec"]["template"]["spec"]


def test_database_is_private_encrypted_and_tls_only():
    graph = mlflow(Environment.PROD, database=PROD_DB, replicas=2).graph
    db = only(graph, "aws:rds/instance:Instance")
    inputs = db.inputs
    assert inputs["engine"] == "postgres" and inputs["engineVersion"]
    assert inputs["storageEncrypted"] is True and inputs["kmsKeyId"].startswith("arn:aws:kms:")
    assert inputs["publiclyAccessible"] is False
    assert inputs["multiAz"] is True
    assert inputs["deletionProtection"] is True
    assert inputs["backupRetentionPeriod"] == 14
    assert (
        inputs["skipFinalSnapshot"] is False
        and inputs["finalSnapshotIdentifier"] == "mlops-platform-test-mlflow-final"
    )
    assert inputs["password"] == "[secret]"
    assert db.protect and db.retain_on_delete
    sg = only(graph, "aws:ec2/securityGroup:SecurityGroup")
    assert sg.inputs["ingress"] == [
        {
            "protocol": "tcp",
            "fromPort": 5432,
            "toPort": 5432,
            "securityGroups": ["sg-cluster"],
            "description": "PostgreSQL from the cluster",
        }
    ]
    assert "egress" not in sg.inputs
    parameters = only(graph, "aws:rds/parameterGroup:ParameterGroup")
    assert {"name": "rds.force_ssl", "value": "1"} in parameters.inputs["parameters"]


def test_dev_database_defaults_are_cheap_but_still_encrypted():
    db = only(mlflow().graph, "aws:rds/instance:Instance").inputs
    assert db["multiAz"] is False and db["skipFinalSnapshot"] is True and db["storageEncrypted"] is True
    assert db["backupRetentionPeriod"] == 7


def test_server_runs_with_auth_and_reads_its_database_uri_from_a_secret():
    spec = deployment_spec(mlflow().graph)
    (container,) = spec["containers"]
    assert "--app-name=basic-auth" in container["args"]
    assert "--serve-artifacts" in container["args"]
    assert "--artifacts-destination=s3://artifacts-bucket-1/mlflow" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    # SQLAlchemy's form (it names the image's driver); the init container connects with libpq's.
    assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"] == {
        "secretKeyRef": {"name": "mlflow-database", "key": "sqlalchemy_uri"}
    }
    (init,) = spec["initContainers"]
    assert init["env"] == [
        {
            "name": "MLFLOW_BACKEND_STORE_URI",
            "valueFrom": {"secretKeyRef": {"name": "mlflow-database", "key": "uri"}},
        }
    ]
    # The CSRF key is one Secret shared by every replica.
    assert env["MLFLOW_FLASK_SERVER_SECRET_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "mlflow-server", "key": "flask_secret_key"}
    }
    assert env["MLFLOW_AUTH_CONFIG_PATH"]["value"] == "/etc/mlflow-auth/basic_auth.ini"
    assert {"name": "auth-config", "secret": {"secretName": "mlflow-auth", "defaultMode": 0o440}} in spec[
        "volumes"
    ]


def test_server_is_hardened():
    spec = deployment_spec(mlflow().graph)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["automountServiceAccountToken"] is False
    for container in spec["containers"] + spec["initContainers"]:
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["requests"] and container["resources"]["limits"]
    (server,) = spec["containers"]
    assert server["readinessProbe"]["httpGet"]["path"] == "/health"
    assert server["livenessProbe"]["httpGet"]["path"] == "/health"


def test_secrets_are_synced_by_external_secrets():
    graph = mlflow().graph
    syncs = {
        r.inputs["metadata"]["name"]: r.inputs["spec"]
        for r in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret")
    }
    assert syncs["mlflow-database"]["data"] == [
        {"secretKey": key, "remoteRef": {"key": "mlops-platform/dev/mlflow/database", "property": key}}
        for key in ("uri", "sqlalchemy_uri")
    ]
    assert syncs["mlflow-server"]["data"] == [
        {
            "secretKey": "flask_secret_key",
            "remoteRef": {"key": "mlops-platform/dev/mlflow/server", "property": "flask_secret_key"},
        }
    ]
    template = syncs["mlflow-auth"]["target"]["template"]["data"]["basic_auth.ini"]
    assert "admin_password = {{ .admin_password }}" in template
    names = {s.inputs["name"] for s in graph.of_type("aws:secretsmanager/secret:Secret")}
    assert names == {
        "mlops-platform/dev/mlflow/database",
        "mlops-platform/dev/mlflow/admin",
        "mlops-platform/dev/mlflow/server",
    }


def test_artifact_role_is_limited_to_the_mlflow_prefix():
    graph = mlflow().graph
    policy = json.loads(graph.find("aws:iam/rolePolicy:RolePolicy", "mlflow-server-policy").inputs["policy"])
    objects = [
        r
        for s in policy["Statement"]
        for r in s["Resource"]
        if r.startswith("arn:aws:s3:::artifacts-bucket-1/")
    ]
    assert objects and all(r == "arn:aws:s3:::artifacts-bucket-1/mlflow/*" for r in objects)


def test_prod_runs_two_replicas_with_a_disruption_budget_behind_an_internal_https_alb():
    result = mlflow(
        Environment.PROD,
        database=PROD_DB,
        replicas=2,
        hostname="mlflow.example.com",
        certificate_arn="arn:aws:acm:us-east-1:123456789012:certificate/abc",
    )
    graph = result.graph
    assert only(graph, "kubernetes:apps/v1:Deployment").inputs["spec"]["replicas"] == 2
    pdb = only(graph, "kubernetes:policy/v1:PodDisruptionBudget")
    assert pdb.inputs["spec"]["minAvailable"] == 1
    ingress = only(graph, "kubernetes:networking.k8s.io/v1:Ingress").inputs
    annotations = ingress["metadata"]["annotations"]
    assert annotations["alb.ingress.kubernetes.io/scheme"] == "internal"
    assert annotations["alb.ingress.kubernetes.io/certificate-arn"].startswith("arn:aws:acm:")
    assert ingress["spec"]["ingressClassName"] == "alb"
    assert ingress["spec"]["rules"][0]["host"] == "mlflow.example.com"
    assert graph.outputs["url"] == "https://mlflow.example.com"
    assert graph.outputs["endpoint"].endswith(".rds.amazonaws.com:5432")


def test_single_replica_has_no_disruption_budget():
    graph = mlflow().graph
    assert graph.of_type("kubernetes:policy/v1:PodDisruptionBudget") == []
    assert graph.outputs["url"].startswith("http://internal-k8s-")


@pytest.mark.parametrize(
    ("environment", "overrides", "message"),
    [
        (Environment.DEV, {"image": "mlflow-server:latest"}, "image: must not use the mutable tag 'latest'"),
        (Environment.DEV, {"image": "mlflow-server"}, "image: must pin a tag or a digest"),
        (Environment.DEV, {"replicas": 0}, "replicas: must be between 1 and 20 (got 0)"),
        (Environment.PROD, {"database": PROD_DB, "replicas": 1}, "replicas: must be >= 2 in prod (got 1)"),
        (
            Environment.PROD,
            {
                "replicas": 2,
                "database": MlflowDatabaseSpec(
                    backup_retention_days=14, deletion_protection=True, final_snapshot=True
                ),
            },
            "database.multi_az: must be true in prod",
        ),
        (
            Environment.PROD,
            {
                "replicas": 2,
                "database": MlflowDatabaseSpec(multi_az=True, deletion_protection=True, final_snapshot=True),
            },
            "database.backup_retention_days: must be >= 14 in prod (got 7)",
        ),
        (
            Environment.STAGE,
            {"database": MlflowDatabaseSpec(final_snapshot=True)},
            "database.deletion_protection: must be true in stage",
        ),
        (
            Environment.DEV,
            {"database": MlflowDatabaseSpec(instance_class="large")},
            "database.instance_class: must be an RDS instance class",
        ),
        (
            Environment.DEV,
            {"database": MlflowDatabaseSpec(allocated_storage_gib=50, max_allocated_storage_gib=40)},
            "database.max_allocated_storage_gib: must be >= allocated_storage_gib (got 40 < 50)",
        ),
        (Environment.DEV, {"certificate_arn": "cert"}, "certificate_arn: must be an ACM certificate ARN"),
        (Environment.DEV, {"hostname": "Not A Host"}, "hostname: must be a DNS name"),
        (Environment.DEV, {"namespace": "ML_flow"}, "namespace: must be a DNS-1123 label"),
    ],
)
def test_rejects_bad_spec(environment, overrides, message):
    spec = MlflowSpec(**{"image": IMAGE, **overrides})
    with pytest.raises(Exception) as caught:
        run(lambda: tracking(environment, spec))
    assert message in str(caught.value)
    assert isinstance(caught.value.__cause__, InvalidArgs)


def test_default_image_is_the_platform_build_in_its_registry():
    repository = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlflow-server"
    graph = run(lambda: tracking(Environment.DEV, MlflowSpec(), image_repository=repository)).graph
    (server,) = deployment_spec(graph)["containers"]
    assert server["image"] == f"{repository}:{pins.MLFLOW_VERSION}"


def test_rejects_no_image_and_no_registry():
    with pytest.raises(Exception, match="image: set an image, or pass image_repository"):
        run(lambda: tracking(Environment.DEV, MlflowSpec()))
