import os
import shutil

import pytest

from tests.harness import ROOT

# Tests never reach AWS: make any accidental boto3 call fail fast instead of hanging on credentials.
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture
def project_copy(tmp_path):
    """This project's program and stacks in a scratch directory, for tests that break them on purpose."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copytree(ROOT / "stacks", tmp_path / "stacks")
    (tmp_path / "infra").mkdir()
    shutil.copy(ROOT / "infra" / "__main__.py", tmp_path / "infra" / "__main__.py")
    return tmp_path


@pytest.fixture(scope="module")
def s3_endpoint():
    """moto's S3 as a server, for programs run as subprocesses (they reach it via AWS_ENDPOINT_URL)."""
    from moto.server import ThreadedMotoServer

    from tests.mlflow_server import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
