"""MlflowTracking: hardened database, auth on, secrets through ESO, scoped artifact access."""

from __future__ import annotations

import json

import pytest
from mlops_platform.components.data.mlflow import MlflowDatabaseArgs, MlflowTracking, MlflowTrackingArgs
from mlops_platform.components.data.platform_secrets import PlatformSecrets, PlatformSecretsArgs
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs

from tests.harness import TAGS, only, run

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mlflow-server:3.16.0"
PROD_DB = MlflowDatabaseArgs(
    multi_az=True, backup_retention_days=14, deletion_protection=True, final_snapshot=True
)


def mlflow_args(secrets, environment=Environment.DEV, **overrides):
    values = {
        "environment": environment,
        "tags": TAGS,
        "name_prefix": "mlops-platform-test",
        "cluster_name": "c1",
        "vpc_id": "vpc-1",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "cluster_security_group_id": "sg-cluster",
        "artifact_bucket_name": "artifacts-bucket-1",
        "artifact_bucket_arn": "arn:aws:s3:::artifacts-bucket-1",
        "artifact_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/artifacts",
        "secrets": secrets,
        "image": IMAGE,
        **overrides,
    }
    return MlflowTrackingArgs(**values)


def mlflow(environment=Environment.DEV, **overrides):
    holder = {}

    def program():
        secrets = PlatformSecrets(
            "secrets",
            PlatformSecretsArgs(
                environment=environment, tags=TAGS, cluster_name="c1", path_prefix="mlops-platform/test"
            ),
        )
        holder["mlflow"] = MlflowTracking("mlflow", mlflow_args(secrets, environment, **overrides))
        import pulumi

        pulumi.export("url", holder["mlflow"].tracking_url)
        pulumi.export("endpoint", holder["mlflow"].database_endpoint)

    return run(program)


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
    assert env["MLFLOW_BACKEND_STORE_URI"]["valueFrom"] == {
        "secretKeyRef": {"name": "mlflow-database", "key": "uri"}
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
        {"secretKey": "uri", "remoteRef": {"key": "mlops-platform/test/mlflow/database", "property": "uri"}}
    ]
    template = syncs["mlflow-auth"]["target"]["template"]["data"]["basic_auth.ini"]
    assert "admin_password = {{ .admin_password }}" in template
    names = {s.inputs["name"] for s in graph.of_type("aws:secretsmanager/secret:Secret")}
    assert names == {"mlops-platform/test/mlflow/database", "mlops-platform/test/mlflow/admin"}


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
        (Environment.DEV, {"replicas": 0}, "replicas: must be >= 1 (got 0)"),
        (Environment.PROD, {"database": PROD_DB, "replicas": 1}, "replicas: must be >= 2 in prod (got 1)"),
        (
            Environment.PROD,
            {
                "replicas": 2,
                "database": MlflowDatabaseArgs(
                    backup_retention_days=14, deletion_protection=True, final_snapshot=True
                ),
            },
            "database.multi_az: must be true in prod",
        ),
        (
            Environment.PROD,
            {
                "replicas": 2,
                "database": MlflowDatabaseArgs(multi_az=True, deletion_protection=True, final_snapshot=True),
            },
            "database.backup_retention_days: must be >= 14 in prod (got 7)",
        ),
        (
            Environment.STAGE,
            {"database": MlflowDatabaseArgs(final_snapshot=True)},
            "database.deletion_protection: must be true in stage",
        ),
        (
            Environment.DEV,
            {"database": MlflowDatabaseArgs(instance_class="large")},
            "database.instance_class: must be an RDS instance class",
        ),
        (
            Environment.DEV,
            {"database": MlflowDatabaseArgs(allocated_storage_gib=50, max_allocated_storage_gib=40)},
            "database.max_allocated_storage_gib: must be >= allocated_storage_gib (got 40 < 50)",
        ),
        (Environment.DEV, {"certificate_arn": "cert"}, "certificate_arn: must be an ACM certificate ARN"),
        (Environment.DEV, {"hostname": "Not A Host"}, "hostname: must be a DNS name"),
        (Environment.DEV, {"namespace": "ML_flow"}, "namespace: must be a DNS-1123 label"),
    ],
)
def test_rejects_bad_args(environment, overrides, message):
    def program():
        secrets = PlatformSecrets(
            "s", PlatformSecretsArgs(environment=environment, tags=TAGS, cluster_name="c", path_prefix="p/e")
        )
        MlflowTracking("m", mlflow_args(secrets, environment, **overrides))

    with pytest.raises(Exception) as caught:
        run(program)
    assert message in str(caught.value)
    assert isinstance(caught.value.__cause__, InvalidArgs)
