"""The MLflow backend store: PostgreSQL on RDS with its credentials in Secrets Manager.

Hardened like every platform database (``postgres.postgres_instance``): its own key, private subnets,
5432 from the cluster alone, TLS enforced, Multi-AZ and deletion-protected where the environment asks
for it. The generated password lives only in Pulumi state (as a secret) and Secrets Manager, never in
config, Helm values, outputs or logs.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from mlops_platform.components.data.platform_secrets import PlatformSecrets, generated_value
from mlops_platform.components.data.postgres import PostgresSpec, database_uri, postgres_instance
from mlops_platform.components.refs import ClusterRef, NetworkRef
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.spec import spec

AUTH_DATABASE = "mlflow_auth"
RUN_AS_USER = 10001
"""The platform's MLflow image (infra/images/mlflow) runs as this non-root user."""

# Runs before the server: the basic-auth app keeps users in its own database, which RDS does not create.
CREATE_AUTH_DATABASE = f"""
import os, psycopg2
connection = psycopg2.connect(os.environ["MLFLOW_BACKEND_STORE_URI"])
connection.autocommit = True
cursor = connection.cursor()
cursor.execute("SELECT 1 FROM pg_database WHERE datname = '{AUTH_DATABASE}'")
if cursor.fetchone() is None:
    cursor.execute("CREATE DATABASE {AUTH_DATABASE}")
""".strip()


@spec
class MlflowDatabaseSpec(PostgresSpec):
    """The PostgreSQL backend store."""

    AZ_OUTAGE = "the tracking server must survive an AZ outage"
    DELETE = "the registry's history must survive a delete"


SQLALCHEMY_DRIVER = "postgresql+psycopg2"
"""What MLflow's SQLAlchemy URIs name: the image's driver. A bare ``postgresql://`` leaves SQLAlchemy to
pick its default driver, which is not the one the image installs."""


def credentials_document(*, password: str, host: str, port: int) -> dict[str, Any]:
    """The ``mlflow/database`` secret: what the server, the auth app and people connect with."""
    common = {"username": "mlflow", "password": password, "host": host, "port": port}
    return {
        **common,
        "dbname": "mlflow",
        # libpq's form, for psql and the init container's psycopg2.connect ...
        "uri": database_uri(**common, database="mlflow"),
        # ... and SQLAlchemy's, naming the driver, for the server and the auth app.
        "sqlalchemy_uri": database_uri(**common, database="mlflow", scheme=SQLALCHEMY_DRIVER),
        "auth_uri": database_uri(**common, database=AUTH_DATABASE, scheme=SQLALCHEMY_DRIVER),
    }


def mlflow_database(
    name: str,
    db: MlflowDatabaseSpec,
    *,
    context: StackContext,
    network: NetworkRef,
    cluster: ClusterRef,
    secrets: PlatformSecrets,
    opts: pulumi.ResourceOptions,
) -> aws.rds.Instance:
    """The database, its key, network and parameters, and the ``mlflow/database`` and ``mlflow/admin``
    secrets (credentials and URIs) the server reads through External Secrets."""
    child = opts
    placement = (network, cluster)
    created = postgres_instance(
        name, db, label="MLflow", database="mlflow", context=context, placement=placement, opts=child
    )
    instance = created.instance
    credentials = pulumi.Output.all(created.password, instance.address, instance.port).apply(
        lambda a: json.dumps(credentials_document(password=a[0], host=a[1], port=a[2]), sort_keys=True)
    )
    secrets.secret(
        f"{name}-database-credentials",
        "mlflow/database",
        description="MLflow backend store: PostgreSQL credentials and URIs",
        value=credentials,
        opts=child,
    )
    secrets.secret(
        f"{name}-server-key",
        "mlflow/server",
        description="MLflow server: the Flask secret key that signs CSRF tokens, the same on every replica",
        value=generated_value(f"{name}-flask-secret-key", opts=child, length=64).apply(
            lambda key: json.dumps({"flask_secret_key": key})
        ),
        opts=child,
    )
    admin = generated_value(f"{name}-admin-password", opts=child, username="admin")
    secrets.secret(
        f"{name}-admin-credentials",
        "mlflow/admin",
        description="MLflow basic-auth admin user",
        value=admin,
        opts=child,
    )
    return instance
