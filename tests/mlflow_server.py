"""Run the MLflow server exactly as a stack renders it: the Deployment's command, environment and
mounted Secrets, with a local PostgreSQL (Debian's package) standing in for RDS and moto's S3 server
for the bucket. External Secrets is emulated: every ExternalSecret of the graph is resolved against
"Secrets Manager" documents built by the program's own functions.

Only three things differ from the cluster, each for a reason: the port (a free one, as tests run
side by side), file paths (mounts are relocated under a temporary folder) and AWS credentials and
endpoint (moto's, where the pod gets Pod Identity's and S3's)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops_platform.components.data.mlflow_database import credentials_document
from mlops_platform.components.support import pins
from mlops_platform.policies.graph import Graph, Resource
from tests.prometheus_tools import TOOLS_REQUIRED


def _require(message: str) -> None:
    if TOOLS_REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


def mlflow_venv() -> Path:
    """The virtualenv with pins.MLFLOW_IMAGE_REQUIREMENTS, which .ci/run builds (installing needs the
    network, so tests never do it): $MLOPS_MLFLOW_VENV, or the cache path keyed by the list."""
    listed = "\n".join(pins.MLFLOW_IMAGE_REQUIREMENTS) + "\n"
    digest = hashlib.sha256(listed.encode()).hexdigest()[:12]
    default = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mlops-platform" / f"mlflow-{digest}"
    )
    venv = Path(os.environ.get("MLOPS_MLFLOW_VENV") or default)
    if not (venv / "bin" / "mlflow").exists():
        _require(
            f"no MLflow virtualenv at {venv}: python3 -m venv {venv} && "
            f"{venv}/bin/pip install $(blueprint mlflow-image --requirements)  (.ci/run does this)"
        )
    return venv


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Postgres:
    host: str
    port: int
    superuser: str
    socket_dir: Path
    as_postgres: list[str]
    bin: Path

    def sql(self, statement: str, database: str = "postgres") -> None:
        done = subprocess.run(
            [
                *self.as_postgres,
                str(self.bin / "psql"),
                "-h",
                str(self.socket_dir),
                "-p",
                str(self.port),
                "-U",
                self.superuser,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl) with TLS on, as RDS forces (rds.force_ssl)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        _require("PostgreSQL is not installed: apt-get install postgresql (.ci/run installs it)")
    bin_dir = found[-1].parent
    # initdb refuses root; the Debian package's postgres user owns the cluster then.
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="mlflow-pg-", dir="/tmp"))
    data = root / "data"
    try:
        root.chmod(0o755)
        if as_postgres:
            shutil.chown(root, "postgres", "postgres")
        subprocess.run(
            [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                "openssl",
                "req",
                "-new",
                "-x509",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
                "-keyout",
                str(data / "server.key"),
                "-out",
                str(data / "server.crt"),
            ],
            check=True,
            capture_output=True,
        )
        (data / "server.key").chmod(0o600)
        if as_postgres:
            for name in ("server.key", "server.crt"):
                shutil.chown(data / name, "postgres", "postgres")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("ssl = on\nlisten_addresses = '127.0.0.1'\n")
        # TCP only over TLS with a password, like RDS; the local socket stays trusted for setup.
        (data / "pg_hba.conf").write_text("local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256\n")
        if as_postgres:
            shutil.chown(data / "pg_hba.conf", "postgres", "postgres")
        port = free_port()
        subprocess.run(
            [
                *as_postgres,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(root / "log"),
                "-o",
                f"-p {port} -k {root}",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        try:
            yield Postgres("127.0.0.1", port, "postgres", root, as_postgres, bin_dir)
        finally:
            subprocess.run(
                [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                capture_output=True,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _deployment(graph: Graph) -> Resource:
    (found,) = [
        r
        for r in graph.of_type("kubernetes:apps/v1:Deployment")
        if r.inputs["metadata"]["labels"].get("app.kubernetes.io/name") == "mlflow"
    ]
    return found


def secrets_manager(graph: Graph, database: Postgres, password: str) -> dict[str, dict[str, Any]]:
    """The documents the program writes to Secrets Manager, with this database's address."""
    secret_names = {s.inputs["name"] for s in graph.of_type("aws:secretsmanager/secret:Secret")}
    prefix = next(n for n in secret_names if n.endswith("/mlflow/database")).removesuffix("/mlflow/database")
    return {
        f"{prefix}/mlflow/database": credentials_document(
            password=password, host=database.host, port=database.port
        ),
        f"{prefix}/mlflow/admin": {"username": "admin", "password": secrets.token_hex(16)},
        f"{prefix}/mlflow/server": {"flask_secret_key": secrets.token_hex(32)},
    }


def _render(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{\{ \.(\w+) \}\}", lambda m: values[m[1]], template)


def kubernetes_secrets(
    graph: Graph, namespace: str, store: dict[str, dict[str, Any]]
) -> dict[str, dict[str, str]]:
    """What External Secrets makes of every ExternalSecret in ``namespace``: data entries, or the
    template rendered from them (ESO's ``{{ .key }}``)."""
    made = {}
    for external in graph.of_type("kubernetes:external-secrets.io/v1:ExternalSecret"):
        if external.inputs["metadata"]["namespace"] != namespace:
            continue
        spec = external.inputs["spec"]
        values = {
            entry["secretKey"]: str(store[entry["remoteRef"]["key"]][entry["remoteRef"]["property"]])
            for entry in spec["data"]
        }
        template = (spec["target"].get("template") or {}).get("data")
        if template:
            values = {key: _render(text, values) for key, text in template.items()}
        made[spec["target"]["name"]] = values
    return made


@dataclass
class Server:
    url: str
    port: int
    admin: tuple[str, str]
    scraper: tuple[str, str]
    bucket: str
    artifact_prefix: str
    process: subprocess.Popen[bytes]
    probes: dict[str, dict[str, Any]]
    env: dict[str, str]
    log: Path


@contextlib.contextmanager
def run_server(graph: Graph, database: Postgres, s3_endpoint: str, work: Path) -> Iterator[Server]:
    venv = mlflow_venv()
    deployment = _deployment(graph)
    namespace = deployment.inputs["metadata"]["namespace"]
    pod = deployment.inputs["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    password = secrets.token_hex(16)
    database.sql(f"CREATE ROLE mlflow LOGIN PASSWORD '{password}'")
    database.sql("CREATE DATABASE mlflow OWNER mlflow")
    database.sql(
        "ALTER ROLE mlflow CREATEDB"
    )  # as RDS's master user: the init container creates the auth database
    store = secrets_manager(graph, database, password)
    k8s_secrets = kubernetes_secrets(graph, namespace, store)

    # Mounts, relocated under ``work``: secrets as files, emptyDirs as folders.
    volumes = {v["name"]: v for v in pod["volumes"]}
    relocated: dict[str, Path] = {}
    for mount in container["volumeMounts"]:
        target = work / "mounts" / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True, exist_ok=True)
        volume = volumes[mount["name"]]
        if "secret" in volume:
            for key, text in k8s_secrets[volume["secret"]["secretName"]].items():
                (target / key).write_text(text)
        relocated[mount["mountPath"]] = target

    # One pass, longest mount first, so a relocated path is never relocated again.
    mounts = re.compile(
        r"(?<![\w/])("
        + "|".join(re.escape(m) for m in sorted(relocated, key=len, reverse=True))
        + r")(?=/|$)"
    )

    def host_path(text: str) -> str:
        return mounts.sub(lambda m: str(relocated[m[1]]), text)

    def env_of(entries: list[dict[str, Any]]) -> dict[str, str]:
        resolved = {}
        for entry in entries:
            if "value" in entry:
                resolved[entry["name"]] = host_path(str(entry["value"]))
            else:
                ref = entry["valueFrom"]["secretKeyRef"]
                resolved[entry["name"]] = k8s_secrets[ref["name"]][ref["key"]]
        return resolved

    aws = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "MLFLOW_S3_ENDPOINT_URL": s3_endpoint,
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
    }
    for init in pod["initContainers"]:
        command = [str(venv / "bin" / init["command"][0]), *init["command"][1:]]
        done = subprocess.run(
            command, env={**env_of(init["env"]), **aws}, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"init container {init['name']} failed:\n{done.stderr}"

    # The rendered command is MLflow's tracking server; run exactly it.
    assert container["args"][:2] == ["mlflow", "server"], container["args"]
    port = free_port()
    args = [host_path(a) if not a.startswith("--port=") else f"--port={port}" for a in container["args"]]
    args[0] = str(venv / "bin" / args[0])
    env = {**env_of(container["env"]), **aws}
    bucket, _, prefix = (
        next(a for a in args if a.startswith("--artifacts-destination=")).split("s3://")[1].partition("/")
    )
    monitor = next(
        r
        for r in graph.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
        if r.inputs["metadata"]["namespace"] == namespace
    )
    basic = monitor.inputs["spec"]["endpoints"][0]["basicAuth"]
    scraper = (
        k8s_secrets[basic["username"]["name"]][basic["username"]["key"]],
        k8s_secrets[basic["password"]["name"]][basic["password"]["key"]],
    )
    admin_secret = store[next(k for k in store if k.endswith("/mlflow/admin"))]
    log = work / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(args, env=env, stdout=output, stderr=subprocess.STDOUT, cwd=work)
    server = Server(
        url=f"http://127.0.0.1:{port}",
        port=port,
        admin=(admin_secret["username"], admin_secret["password"]),
        scraper=scraper,
        bucket=bucket,
        artifact_prefix=prefix,
        process=process,
        probes={"readiness": container["readinessProbe"], "liveness": container["livenessProbe"]},
        env=env,
        log=log,
    )
    try:
        deadline = time.monotonic() + 90
        import urllib.request

        while True:
            if process.poll() is not None:
                raise AssertionError(
                    f"the MLflow server exited {process.returncode}:\n{log.read_text()[-4000:]}"
                )
            try:
                with urllib.request.urlopen(f"{server.url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the MLflow server did not answer /health:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextlib.contextmanager
def sqlite_mlflow_server(folder: Path) -> Iterator[str]:
    """The pinned MLflow (its test virtualenv) serving a SQLite store and file artifacts from
    ``folder``, on a free port; yields its URL once it answers /health."""
    from tests.harness import wait_until_answers

    port = free_port()
    command = [
        str(mlflow_venv() / "bin" / "mlflow"),
        "server",
        *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
        *("--backend-store-uri", f"sqlite:///{folder}/db.sqlite"),
        *("--default-artifact-root", f"file://{folder}/artifacts"),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{url}/health", server, 90)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
