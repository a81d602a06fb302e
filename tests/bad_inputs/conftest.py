"""Hostile and careless input, tried as a new user would: every case must exit 2 with a one-line
reason that names the user's key or file, print no traceback, and register no resource."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_platform.infra import cli
from tests.harness import ROOT

VALID_STACK: dict[str, Any] = {
    "config": {
        "aws:region": "us-east-1",
        "mlops-platform:environment": "dev",
        "mlops-platform:owner": "ml-platform",
        "mlops-platform:costCenter": "cc-1",
        "mlops-platform:cluster": {
            "adminPrincipalArns": ["arn:aws:iam::123456789012:role/platform-admin"],
            "endpoint": {"publicAccess": False},
        },
        "mlops-platform:gpuNodePools": [
            {
                "name": "gpu-spot",
                "instanceTypes": ["g6.xlarge"],
                "capacityType": "SPOT",
                "minSize": 0,
                "maxSize": 2,
            }
        ],
        "mlops-platform:secrets": {
            "entries": [{"name": "hf-token", "description": "Hugging Face read token"}]
        },
        "mlops-platform:models": [
            {
                "name": "churn",
                "team": "growth",
                "stable": {"name": "v1", "imageTag": "1.0.0"},
                "slo": {"availabilityTarget": 99.0, "latencyP95Ms": 250},
            }
        ],
    }
}
"""A small dev stack that synthesizes (test_the_valid_fixture_synthesizes proves it)."""


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    written: bool
    """Whether the command wrote its output file (a failed synth must write nothing)."""


class Project:
    """A project folder of the test's own: Pulumi.yaml running this checkout's program, stacks/."""

    def __init__(self, root: Path):
        self.root = root
        project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
        project["main"] = str(ROOT / "infra")
        (root / "Pulumi.yaml").write_text(yaml.safe_dump(project))
        (root / "stacks").mkdir()

    def stack_file(self, name: str = "t") -> Path:
        return self.root / "stacks" / f"Pulumi.{name}.yaml"

    def write_stack(self, document: Any, name: str = "t") -> Path:
        path = self.stack_file(name)
        dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
        path.write_text(
            document if isinstance(document, str) else yaml.dump(document, Dumper=dumper, sort_keys=False)
        )
        return path

    def stack_with(self, **config: Any) -> dict[str, Any]:
        """The valid stack with ``mlops-platform:<key>`` (or ``aws:<key>`` as ``aws_<key>``) replaced."""
        document = copy.deepcopy(VALID_STACK)
        for key, value in config.items():
            full = f"aws:{key[4:]}" if key.startswith("aws_") else f"mlops-platform:{key}"
            if value is None:
                document["config"].pop(full, None)
            else:
                document["config"][full] = value
        return document

    def run(self, *args: str, output: bool = False) -> Outcome:
        return blueprint(self.root, *args, output=output)


def blueprint(cwd: Path, *args: str, output: bool = False) -> Outcome:
    """The CLI in-process (an uncaught exception fails the test, as a traceback would)."""
    import contextlib
    import io
    import os

    out, err = io.StringIO(), io.StringIO()
    target = cwd / "out.json"
    target.unlink(missing_ok=True)
    argv = [*args, *(["-o", str(target)] if output else [])]
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(argv)
            except SystemExit as exc:  # argparse's own usage errors
                code = int(exc.code or 0)
    finally:
        os.chdir(previous)
    return Outcome(code, out.getvalue(), err.getvalue(), target.exists())


def assert_refused(outcome: Outcome, *names: str) -> None:
    """Exit 2, no traceback, nothing written, and the message names every one of ``names``."""
    text = outcome.out + outcome.err
    assert outcome.code == 2, f"exit {outcome.code}: {text}"
    assert "Traceback" not in text
    assert not outcome.written
    for name in names:
        assert name in outcome.err, f"{name!r} not in: {outcome.err}"


@pytest.fixture
def project(tmp_path) -> Project:
    return Project(tmp_path)
