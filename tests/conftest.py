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
