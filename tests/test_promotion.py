"""`blueprint promote` on a copy of the repository's stage and prod stacks in a git repository of its
own: every gate both ways, --force recorded in the commit, and the target file untouched whenever
promotion refuses (exit 1 on failed gates, exit 2 on bad input)."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from mlops_platform.infra import cli
from mlops_platform.infra.governance import history
from tests.harness import ROOT

MODEL = "fraud-scorer"
STAGE_DIGEST = yaml.safe_load((ROOT / "stacks" / "Pulumi.stage.yaml").read_text())["config"][
    "mlops-platform:models"
][0]["stable"]["imageDigest"]
NOW = datetime.datetime.now(datetime.UTC)
HOUR = 3600


def git(root: Path, *args: str, when: float | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Release Bot",
        "GIT_AUTHOR_EMAIL": "release@example.com",
        "GIT_COMMITTER_NAME": "Release Bot",
        "GIT_COMMITTER_EMAIL": "release@example.com",
    }
    if when is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{int(when)} +0000"
    return subprocess.run(
        ["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env
    ).stdout


def project(tmp_path: Path, *, stage_age_hours: float = 48, prod_edit=None) -> Path:
    """The repository's Pulumi.yaml, program and stage/prod stack files, committed with the stage
    file's version committed ``stage_age_hours`` ago."""
    root = tmp_path / "platform"
    (root / "infra").mkdir(parents=True)
    (root / "stacks").mkdir()
    shutil.copy(ROOT / "Pulumi.yaml", root)
    shutil.copy(ROOT / "infra" / "__main__.py", root / "infra")
    prod = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text()
    (root / "stacks" / "Pulumi.prod.yaml").write_text(prod_edit(prod) if prod_edit else prod)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "platform", when=NOW.timestamp() - 30 * 24 * HOUR)
    shutil.copy(ROOT / "stacks" / "Pulumi.stage.yaml", root / "stacks")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "stage serves v5", when=NOW.timestamp() - stage_age_hours * HOUR)
    return root


def registry_export(path: Path, aliases: dict[str, str]) -> str:
    path.write_text(
        json.dumps(
            {
                "trackingUri": "https://mlflow.example.com",
                "models": {
                    MODEL: {
                        "aliases": aliases,
                        "versions": {
                            "4": {"runId": "0143e1192580c05497fc23e15d16e452", "stage": "None"},
                            "5": {"runId": "7d2e9a41c0b84f3e9a6d5c2b1f0e8d7c", "stage": "None"},
                        },
                    }
                },
            }
        )
    )
    return str(path)


def alert_history(path: Path, fired_hours_ago: float | None) -> str:
    values = [] if fired_hours_ago is None else [[NOW.timestamp() - fired_hours_ago * HOUR, "1"]]
    result = [
        {
            "metric": {
                "alertname": "SLOLatencyBudgetBurn",
                "alertstate": "firing",
                "severity": "critical",
                "slo_service": "risk-fraud-scorer",
            },
            "values": values,
        },
        # Another model's alert never counts against this one.
        {
            "metric": {
                "alertname": "SLOAvailabilityBudgetBurn",
                "alertstate": "firing",
                "slo_service": "growth-churn-classifier",
            },
            "values": [[NOW.timestamp() - HOUR, "1"]],
        },
    ]
    path.write_text(json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}))
    return str(path)


def promote(root: Path, monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code = cli.main(["promote", MODEL, "--from", "stage", "--to", "prod", *args])
    out, err = capsys.readouterr()
    return code, out, err


def promote_with_evidence(
    root: Path, monkeypatch, capsys, aliases: dict[str, str], fired_hours_ago: float | None, *args: str
) -> tuple[int, str, str]:
    """Promote with a registry export holding ``aliases`` and an alert history (a firing SLO alert
    ``fired_hours_ago``, or none)."""
    return promote(
        root,
        monkeypatch,
        capsys,
        "--registry-export",
        registry_export(root.parent / "registry.json", aliases),
        "--alerts",
        alert_history(root.parent / "alerts.json", fired_hours_ago=fired_hours_ago),
        *args,
    )


def gates(out: str) -> dict[str, str]:
    """The gate table the command prints first (the commit message repeats it further down)."""
    found = {}
    for line in out.split("\nDiff of")[0].splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("pass", "FAIL"):
            found[parts[1]] = parts[0]
    return found


def test_every_gate_passes_and_the_target_serves_the_sources_digest_as_its_canary(
    tmp_path, monkeypatch, capsys
):
    root = project(tmp_path)
    code, out, err = promote_with_evidence(root, monkeypatch, capsys, {"prod": "5", "stage": "5"}, None)
    assert code == 0, err
    assert gates(out) == dict.fromkeys(
        ("registry-approval", "soak-time", "slo-alerts-quiet", "policy-check", "cost-within-budget"), "pass"
    )
    assert "fraud-scorer version 5 carries alias 'prod'" in out
    assert "\n-        name: v4\n" in out and "\n+        name: v5\n" in out
    canary = yaml.safe_load((root / "stacks" / "Pulumi.prod.yaml").read_text())["config"][
        "mlops-platform:models"
    ][1]["canary"]
    assert canary["imageDigest"] == STAGE_DIGEST
    # The target's canary settings stay: its steps and pause.
    assert (canary["registryVersion"], canary["steps"], canary["pauseMinutes"]) == (
        "5",
        [10, 25, 50, 100],
        10,
    )
    # Nothing but the version's lines changed; comments stay.
    before = (ROOT / "stacks" / "Pulumi.prod.yaml").read_text().splitlines()
    after = (root / "stacks" / "Pulumi.prod.yaml").read_text().splitlines()
    assert len(before) == len(after)
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 7  # the identity, not registeredModel
    assert history.TRAILER in out  # the commit message to use, with its record


def over_budget_and_public(text: str) -> str:
    """prod with a budget its current cost already exceeds, and a public API endpoint, which prod's
    policy refuses (mandatory)."""
    text = text.replace("monthlyLimitUsd: 40000", "monthlyLimitUsd: 3000")
    return text.replace(
        "  mlops-platform:cluster:\n",
        "  mlops-platform:cluster:\n    endpoint: {publicAccess: true, publicAccessCidrs: [203.0.113.0/24]}\n",
        1,
    )


def test_every_gate_fails_when_its_evidence_says_so_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    root = project(tmp_path, stage_age_hours=3, prod_edit=over_budget_and_public)
    target = root / "stacks" / "Pulumi.prod.yaml"
    before = target.read_bytes()
    code, out, _ = promote_with_evidence(root, monkeypatch, capsys, {"stage": "5", "prod": "3"}, 1)
    assert code == 1
    assert gates(out) == dict.fromkeys(
        ("registry-approval", "soak-time", "slo-alerts-quiet", "policy-check", "cost-within-budget"), "FAIL"
    )
    assert "lacks alias 'prod' (it has: stage" in out
    assert re.search(r"served in stage for 3\.\d h since .* \(needs 24 h\)", out)
    assert "fired SLOLatencyBudgetBurn (critical)" in out
    assert "eks-private-endpoint-prod" in out
    assert "under the 3,000 budget" in out
    assert "Not written: 5 of 5 gates failed" in out
    assert target.read_bytes() == before


def test_force_writes_and_the_commit_on_a_new_branch_records_the_reason_and_the_gates(
    tmp_path, monkeypatch, capsys
):
    root = project(tmp_path, stage_age_hours=1)
    code, out, err = promote_with_evidence(
        root,
        monkeypatch,
        capsys,
        {"prod": "5"},
        None,
        "--branch",
        "--force",
        "CVE-2026-1234 fix must reach prod today (CAB-881)",
    )
    assert code == 0, err
    assert "Committed" in out and "promote/fraud-scorer-v5-to-prod" in out
    assert git(root, "rev-parse", "--abbrev-ref", "HEAD").strip() == "promote/fraud-scorer-v5-to-prod"
    message = git(root, "log", "-1", "--format=%B")
    assert "Forced past 1 failed gate(s): CVE-2026-1234 fix must reach prod today (CAB-881)" in message
    assert "FAIL  soak-time" in message
    assert git(root, "show", "--name-only", "--format=").split() == ["stacks/Pulumi.prod.yaml"]
    [record] = history.promotion_commits(root, root / "stacks" / "Pulumi.prod.yaml", MODEL)
    assert record.record["forced"] == "CVE-2026-1234 fix must reach prod today (CAB-881)"
    assert {g["gate"]: g["result"] for g in record.record["gates"]}["soak-time"] == "fail"
    assert record.record["digest"] == STAGE_DIGEST
    # Promoting again finds the version served: nothing to do, and no second branch.
    code, out, _ = promote(root, monkeypatch, capsys)
    assert code == 0 and "already serves fraud-scorer v5" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["promote", "fraud-detector", "--from", "stage", "--to", "prod"],
            "unknown model 'fraud-detector': stack stage serves no such model (it serves: fraud-scorer)",
        ),
        (["promote", MODEL, "--from", "qa", "--to", "prod"], "unknown stack 'qa'"),
        (["promote", MODEL, "--from", "stage", "--to", "stage"], "--from and --to are both 'stage'"),
        (
            ["promote", MODEL, "--from", "stage", "--to", "prod", "--version", "v9"],
            "version 'v9' of fraud-scorer is not served in stage (it serves v5)",
        ),
        (["promote", MODEL, "--from", "stage", "--to", "prod", "--force", " "], "--force needs a reason"),
        (
            ["promote", MODEL, "--from", "stage", "--to", "prod", "--registry-export", "missing.json"],
            "missing.json",
        ),
        (
            ["promote", MODEL, "--from", "stage", "--to", "prod", "--tracking-uri", "http://127.0.0.1:9"],
            "MLflow registry at http://127.0.0.1:9 cannot be read",
        ),
    ],
    ids=[
        "unknown-model",
        "unknown-stack",
        "same-stack",
        "missing-version",
        "empty-reason",
        "no-export",
        "unreachable-registry",
    ],
)
def test_bad_input_exits_2_with_the_reason_and_leaves_the_file_untouched(
    tmp_path, monkeypatch, capsys, args, message
):
    root = project(tmp_path)
    target = root / "stacks" / "Pulumi.prod.yaml"
    before = target.read_bytes()
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert target.read_bytes() == before


def test_a_target_file_changed_while_the_gates_ran_is_not_overwritten(tmp_path, monkeypatch, capsys):
    from mlops_platform.infra.governance import promotion

    root = project(tmp_path)
    target = root / "stacks" / "Pulumi.prod.yaml"
    judge = promotion.run_gates

    def meanwhile_someone_edits(plan, *args, **kwargs):
        judge(plan, *args, **kwargs)
        target.write_text(target.read_text() + "# a colleague's edit\n")

    monkeypatch.setattr(promotion, "run_gates", meanwhile_someone_edits)
    code, _, err = promote(root, monkeypatch, capsys, "--force", "testing the race")
    assert code == 2
    assert "changed since it was read; run promote again" in err
    assert target.read_text().endswith("# a colleague's edit\n")


def test_branch_refuses_uncommitted_changes_to_the_target(tmp_path, monkeypatch, capsys):
    root = project(tmp_path)
    target = root / "stacks" / "Pulumi.prod.yaml"
    target.write_text(target.read_text() + "# work in progress\n")
    before = target.read_bytes()
    code, _, err = promote(root, monkeypatch, capsys, "--branch")
    assert code == 2 and "has uncommitted changes; commit or stash them" in err
    assert target.read_bytes() == before


def test_soak_time_counts_only_committed_versions(tmp_path, monkeypatch, capsys):
    root = project(tmp_path)
    stage = root / "stacks" / "Pulumi.stage.yaml"
    stage.write_text(stage.read_text().replace(STAGE_DIGEST, "sha256:" + "e" * 64))
    code, out, _ = promote(root, monkeypatch, capsys)
    assert code == 1
    assert "stage's committed stack file does not serve sha256:eeee" in out
    assert "no registry to ask: pass --tracking-uri" in out and "no alert history" in out


@pytest.fixture(scope="module")
def mlflow_registry(tmp_path_factory):
    """A real MLflow server (the pinned version, SQLite store) holding fraud-scorer versions 1-5, the
    fifth aliased `prod` and trained by the run the stage file names."""
    from mlflow import MlflowClient

    from tests.mlflow_server import sqlite_mlflow_server

    with sqlite_mlflow_server(tmp_path_factory.mktemp("mlflow")) as uri:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        client.create_registered_model(MODEL)
        runs = {5: "7d2e9a41c0b84f3e9a6d5c2b1f0e8d7c"}
        for number in range(1, 6):
            client.create_model_version(
                MODEL, source=f"s3://acme/models/risk/{MODEL}/v{number}", run_id=runs.get(number)
            )
        client.set_registered_model_alias(MODEL, "prod", "5")
        yield uri


def test_the_registry_gate_reads_mlflow_with_its_client_and_an_export_of_it_reads_the_same(
    tmp_path, monkeypatch, capsys, mlflow_registry
):
    root = project(tmp_path)
    monkeypatch.chdir(root)
    assert (
        cli.main(
            ["registry-export", MODEL, "--tracking-uri", mlflow_registry, "-o", str(tmp_path / "r.json")]
        )
        == 0
    )
    exported = json.loads((tmp_path / "r.json").read_text())["models"][MODEL]
    assert exported["aliases"] == {"prod": "5"}
    assert exported["versions"]["5"]["runId"] == "7d2e9a41c0b84f3e9a6d5c2b1f0e8d7c"
    capsys.readouterr()

    quiet = alert_history(tmp_path / "alerts.json", fired_hours_ago=None)
    code, out, _ = promote(root, monkeypatch, capsys, "--tracking-uri", mlflow_registry, "--alerts", quiet)
    assert code == 0
    assert f"fraud-scorer version 5 carries alias 'prod' ({mlflow_registry})" in out
    git(root, "checkout", "-q", "--", "stacks/Pulumi.prod.yaml")
    code, out, _ = promote(
        root, monkeypatch, capsys, "--registry-export", str(tmp_path / "r.json"), "--alerts", quiet
    )
    assert code == 0
    assert "fraud-scorer version 5 carries alias 'prod' (export" in out
