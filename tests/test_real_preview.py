"""The real path, through the Automation API: `pulumi preview` of dev with the policy pack.

Opt-in and skipped (with the reason shown by `pytest -ra`) unless the Pulumi CLI is installed, AWS
credentials for a sandbox account are present, and MLOPS_INTEGRATION=1. It previews only (no
`up`), in a throwaway stack on a local file backend unless PULUMI_BACKEND_URL names another.

    MLOPS_INTEGRATION=1 AWS_PROFILE=sandbox python -m pytest -m integration -ra
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from tests.harness import ROOT

pytestmark = pytest.mark.integration


def _why_not() -> str | None:
    if os.environ.get("MLOPS_INTEGRATION") != "1":
        return (
            "real-path test: set MLOPS_INTEGRATION=1 (with AWS credentials for a sandbox account) to run it"
        )
    if shutil.which("pulumi") is None:
        return "real-path test: the Pulumi CLI is not installed (curl -fsSL https://get.pulumi.com | sh)"
    import boto3

    if boto3.session.Session().get_credentials() is None:
        return "real-path test: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID)"
    return None


REASON = _why_not()


@pytest.mark.skipif(REASON is not None, reason=REASON or "")
def test_real_preview_of_dev_passes_the_policy_pack(tmp_path, monkeypatch):
    from pulumi import automation as auto

    monkeypatch.setenv(
        "PULUMI_CONFIG_PASSPHRASE", os.environ.get("PULUMI_CONFIG_PASSPHRASE", "integration-only")
    )
    backend = os.environ.get("PULUMI_BACKEND_URL", f"file://{tmp_path}")
    name = f"dev-it-{uuid.uuid4().hex[:8]}"
    # The throwaway stack reads dev's settings: stackConfigDir holds Pulumi.<stack>.yaml files.
    shutil.copy(ROOT / "stacks" / "Pulumi.dev.yaml", ROOT / "stacks" / f"Pulumi.{name}.yaml")
    workspace = auto.LocalWorkspace(
        work_dir=str(ROOT), env_vars={"PULUMI_BACKEND_URL": backend}, secrets_provider="passphrase"
    )
    stack = auto.Stack.create(name, workspace)
    try:
        result = stack.preview(
            policy_packs=[str(ROOT / "policies")],
            policy_pack_configs=[str(ROOT / "policies" / "config" / "dev.json")],
        )
        assert result.change_summary.get("create", 0) > 100
    finally:
        workspace.remove_stack(name)
        (ROOT / "stacks" / f"Pulumi.{name}.yaml").unlink(missing_ok=True)
