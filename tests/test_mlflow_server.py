"""The MLflow server, run for real with the command, environment and files the dev and prod graphs
render (tests/mlflow_server.py), against a local PostgreSQL and moto's S3."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.request

import boto3
import pytest

from mlops_platform.components.support.exporters import MLFLOW_METRICS
from tests.harness import stack
from tests.mlflow_server import Server, mlflow_venv, postgres, run_server


def request(
    server: Server,
    path: str,
    *,
    auth: tuple[str, str] | None = None,
    host: str | None = None,
    method: str = "GET",
    body: dict | None = None,
) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    if host:
        headers["Host"] = host
    data = json.dumps(body).encode() if body is not None else None
    try:
        with urllib.request.urlopen(
            urllib.request.Request(server.url + path, data, headers, method=method), timeout=30
        ) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def artifact_bucket(graph) -> str:
    (arg,) = [
        a
        for r in graph.of_type("kubernetes:apps/v1:Deployment")
        for c in r.inputs["spec"]["template"]["spec"]["containers"]
        for a in c.get("args", [])
        if str(a).startswith("--artifacts-destination=s3://")
    ]
    return arg.split("s3://")[1].split("/")[0]


@pytest.fixture(scope="module")
def servers(s3_endpoint, tmp_path_factory):
    """dev's and prod's servers, started side by side (each takes ~10 s, mostly migrations), each on
    a PostgreSQL cluster of its own as each stack has its own RDS instance."""
    import contextlib
    from concurrent.futures import ThreadPoolExecutor

    graphs = {name: stack(name).graph for name in ("dev", "prod")}
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for graph in graphs.values():
        s3.create_bucket(Bucket=artifact_bucket(graph))
    with contextlib.ExitStack() as running:

        def start(name: str) -> Server:
            database = running.enter_context(postgres())
            work = tmp_path_factory.mktemp(f"mlflow-{name}")
            server = running.enter_context(run_server(graphs[name], database, s3_endpoint, work))
            # Warm both workers up here, side by side: their first authenticated requests load the
            # auth app (seconds each), which would otherwise land in the first test.
            for _ in range(4):
                request(
                    server,
                    "/api/2.0/mlflow/experiments/search",
                    auth=server.admin,
                    method="POST",
                    body={"max_results": 1},
                )
            return server

        with ThreadPoolExecutor(max_workers=2) as pool:
            started = dict(zip(graphs, pool.map(start, graphs), strict=True))
        yield {name: (started[name], s3) for name in graphs}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_rendered_mlflow_server_starts_and_serves(name, servers, tmp_path):
    server, s3 = servers[name]
    venv = mlflow_venv()
    # Health and the probes answer without credentials, with the Host header the kubelet sends.
    assert request(server, "/health")[0] == 200
    for probe in server.probes.values():
        get = probe["httpGet"]
        host = next((h["value"] for h in get.get("httpHeaders", []) if h["name"] == "Host"), None)
        assert request(server, get["path"], host=host)[0] == 200, probe

    # The API needs credentials.
    search, page = "/api/2.0/mlflow/experiments/search", {"max_results": 5}
    assert request(server, search, method="POST", body={"max_results": 5})[0] == 401
    assert request(server, search, auth=server.admin, method="POST", body={"max_results": 5})[0] == 200

    # The Host headers the load balancer and Prometheus send pass the DNS-rebinding guard,
    # a stranger's does not.
    for allowed in (
        "10.0.3.7:5000",  # Prometheus and the ALB's health checks: a pod IP and port
        "internal-k8s-mlflow-0123.us-east-1.elb.amazonaws.com",  # clients through the ALB
        f"localhost:{server.port}",  # kubectl port-forward
    ):
        status, _ = request(server, search, auth=server.admin, host=allowed, method="POST", body=page)
        assert status == 200, allowed
    status, _ = request(server, search, auth=server.admin, host="evil.example.com", method="POST", body=page)
    assert status == 403

    # A run logs a metric and an artifact; the artifact lands under the configured prefix.
    script = (
        "import mlflow, pathlib; mlflow.set_experiment('deploy-truth');\n"
        "with mlflow.start_run() as run:\n"
        "    mlflow.log_metric('auc', 0.91)\n"
        "    p = pathlib.Path('model-card.txt'); p.write_text('ok'); mlflow.log_artifact(str(p))\n"
        "    print('RUN_ID=' + run.info.run_id)\n"
    )
    client_env = {
        "MLFLOW_TRACKING_URI": server.url,
        "MLFLOW_TRACKING_USERNAME": server.admin[0],
        "MLFLOW_TRACKING_PASSWORD": server.admin[1],
        "PATH": server.env["PATH"],
        "HOME": str(tmp_path),
    }
    logged = subprocess.run(
        [str(venv / "bin" / "python"), "-c", script],
        env=client_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert logged.returncode == 0, logged.stderr[-3000:]
    run_id = next(line for line in logged.stdout.splitlines() if line.startswith("RUN_ID=")).split("=", 1)[1]
    status, body = request(server, f"/api/2.0/mlflow/runs/get?run_id={run_id}", auth=server.admin)
    assert status == 200 and json.loads(body)["run"]["data"]["metrics"][0]["value"] == 0.91
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=server.bucket).get("Contents", [])]
    assert any(k.startswith(f"{server.artifact_prefix}/") and k.endswith("/model-card.txt") for k in keys), (
        keys
    )
    assert all(k.startswith(f"{server.artifact_prefix}/") for k in keys), keys

    # Prometheus scrapes /metrics with the ServiceMonitor's credentials; the names the
    # platform's dashboards read (exporters.MLFLOW_METRICS) are there.
    assert request(server, "/metrics")[0] == 401
    status, metrics = request(server, "/metrics", auth=server.scraper, host="10.0.3.7:5000")
    assert status == 200
    served = {
        line.split("{")[0].split(" ")[0] for line in metrics.splitlines() if line and not line.startswith("#")
    }
    assert {"mlflow_http_request_total", "mlflow_http_request_duration_seconds_bucket"} <= served
    assert served & MLFLOW_METRICS
