"""Where Argo Workflows keeps finished workflows beyond their TTL (``pipelines.archive``).

``none``; ``mlflowDatabase``: Argo's own ``argo_*`` tables in the MLflow database, with MLflow's
credentials; or ``ownDatabase``: a small PostgreSQL of its own, hardened like every platform database
(``data/postgres.py``), with its credentials in the platform secret ``pipelines/archive-database``.
The controller reads the username and password from the Kubernetes Secret ``ARCHIVE_SECRET``, which
External Secrets keeps in sync with whichever secret holds them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pulumi

from mlops_platform.components.data.platform_secrets import PlatformSecrets
from mlops_platform.components.data.postgres import PORT, PostgresSpec, database_uri, postgres_instance
from mlops_platform.components.refs import ClusterRef, NetworkRef
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.spec import spec

ARCHIVE_SECRET = "argo-archive-database"
"""The Kubernetes Secret in ``argo`` with the archive's username and password."""
OWN_DATABASE_SECRET = "pipelines/archive-database"
"""The platform secret of the archive's own database (``archive: ownDatabase``)."""
OWN_DATABASE = "argo"
"""Database name and user of the archive's own database."""


class ArchiveLocation(StrEnum):
    NONE = "none"
    """Finished workflows disappear with their TTL (their logs and artifacts stay in S3)."""
    MLFLOW_DATABASE = "mlflowDatabase"
    """Argo's own ``argo_*`` tables in the MLflow database, with MLflow's database user: no new
    instance, but Argo can read MLflow's tables."""
    OWN_DATABASE = "ownDatabase"
    """A small PostgreSQL of its own (``archiveDatabase``), hardened like MLflow's, with its own
    user and credentials."""


@spec
class ArchiveDatabaseSpec(PostgresSpec):
    """The workflow archive's own PostgreSQL (``archive: ownDatabase``)."""

    AZ_OUTAGE = "the workflow archive must survive an AZ outage"
    DELETE = "archived workflows must survive a delete"

    instance_class: str = "db.t4g.micro"
    """RDS instance class. Default: db.t4g.micro."""
    max_allocated_storage_gib: int = 50
    """Storage autoscaling ceiling. Default: 50."""


@dataclass(frozen=True)
class ArchiveConnection:
    """Where the controller archives: a PostgreSQL server and database, and the Secrets Manager secret
    with its ``username`` and ``password``."""

    host: pulumi.Input[str]
    database: str
    secret_path: str
    database_identifier: pulumi.Output[str] | None = None
    """RDS identifier of a database made for the archive (for alarms); None for MLflow's."""


def own_database(
    name: str,
    db: ArchiveDatabaseSpec,
    context: StackContext,
    where: tuple[NetworkRef, ClusterRef, PlatformSecrets],
    opts: pulumi.ResourceOptions,
) -> ArchiveConnection:
    """The archive's own PostgreSQL, in ``where``'s network and reachable from its cluster, and its
    ``pipelines/archive-database`` secret."""
    network, cluster, secrets = where
    label = "Argo workflow archive"
    created = postgres_instance(
        f"{name}-archive",
        db,
        label=label,
        database=OWN_DATABASE,
        context=context,
        placement=(network, cluster),
        opts=opts,
    )
    instance = created.instance

    def document(password: str, host: str, port: int) -> str:
        connection = {"username": OWN_DATABASE, "password": password, "host": host, "port": port}
        uri = database_uri(**connection, database=OWN_DATABASE)
        return json.dumps({**connection, "dbname": OWN_DATABASE, "uri": uri}, sort_keys=True)

    secrets.secret(
        f"{name}-archive-credentials",
        OWN_DATABASE_SECRET,
        description="Argo Workflows archive: PostgreSQL credentials",
        value=pulumi.Output.all(created.password, instance.address, instance.port).apply(
            lambda a: document(*a)
        ),
        opts=opts,
    )
    return ArchiveConnection(
        instance.address, OWN_DATABASE, secrets.path(OWN_DATABASE_SECRET), instance.identifier
    )


def persistence_values(archive: ArchiveConnection, keep_days: int) -> dict[str, Any]:
    """The chart's ``controller.persistence``: archive to ``archive`` over TLS for ``keep_days``."""
    return {
        "archive": True,
        "archiveTTL": f"{keep_days}d",
        "postgresql": {
            "host": archive.host,
            "port": PORT,
            "database": archive.database,
            "tableName": "argo_workflows",
            "userNameSecret": {"name": ARCHIVE_SECRET, "key": "username"},
            "passwordSecret": {"name": ARCHIVE_SECRET, "key": "password"},
            "ssl": True,
            "sslMode": "require",
        },
    }
