"""`blueprint evidence`: the report for a fixed project (a frozen prod stack file, a promotion commit,
deployed outputs and an ECR scan) is compared, byte for byte, with the expected report in
tests/fixtures/evidence/expected/. When a change to the program changes the evidence on purpose,
regenerate it with MLOPS_UPDATE_FIXTURES=1 and review the diff like any other change."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mlops_platform.infra import cli
from tests.harness import ROOT

FIXTURES = Path(__file__).parent / "fixtures" / "evidence"
EXPECTED = FIXTURES / "expected"
FIXED_DATE = "2026-11-20T09:30:00+00:00"


def _git(root: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Release Bot",
        "GIT_AUTHOR_EMAIL": "release@example.com",
        "GIT_COMMITTER_NAME": "Release Bot",
        "GIT_COMMITTER_EMAIL": "release@example.com",
        "GIT_AUTHOR_DATE": FIXED_DATE,
        "GIT_COMMITTER_DATE": FIXED_DATE,
    }
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


@pytest.fixture
def fixture_project(tmp_path: Path) -> Path:
    root = tmp_path / "platform"
    shutil.copytree(FIXTURES / "project", root)
    (root / "infra").mkdir()
    shutil.copy(ROOT / "infra" / "__main__.py", root / "infra")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", ".")
    _git(root, "commit", "-q", "-F", str(FIXTURES / "promotion-message.txt"))
    return root


def evidence(root: Path, monkeypatch, *extra: str) -> int:
    monkeypatch.chdir(root)
    return cli.main(["evidence", "fraud-scorer", "--stack", "prod", "-o", str(root / "out"), *extra])


def test_the_evidence_pack_matches_the_expected_report(fixture_project, monkeypatch, capsys):
    code = evidence(
        fixture_project,
        monkeypatch,
        "--outputs",
        str(FIXTURES / "deployed-outputs.json"),
        "--scan-findings",
        str(FIXTURES / "scan-v4.json"),
    )
    assert code == 0, capsys.readouterr().err
    for name in ("evidence-fraud-scorer-prod.md", "evidence-fraud-scorer-prod.json"):
        written = (fixture_project / "out" / name).read_text()
        if os.environ.get("MLOPS_UPDATE_FIXTURES") == "1":
            (EXPECTED / name).write_text(written)
        assert written == (EXPECTED / name).read_text(), (
            f"{name} differs from tests/fixtures/evidence/expected"
        )


def test_the_report_says_what_an_auditor_asks(fixture_project, monkeypatch):
    """The fixture holds these facts; the report must carry each of them, whatever else changes."""
    assert evidence(fixture_project, monkeypatch, "--scan-findings", str(FIXTURES / "scan-v4.json")) == 0
    doc = json.loads((fixture_project / "out" / "evidence-fraud-scorer-prod.json").read_text())
    assert doc["lineage"]["v4"]["training-run"] == "0143e1192580c05497fc23e15d16e452"
    # The frozen stack still sets the legacy 90/10 split: the Rollout holds the canary there.
    assert doc["traffic"] == {
        "v3": "stable: the live traffic the canary does not take",
        "v4": "canary: held at 10% until promoted; analysed and rolled back on its own by Argo Rollouts",
    }
    [promotion] = doc["promotions"]
    assert promotion["forced"] == "fraud-rule update must ship before the sales weekend (CAB-1207)"
    assert {g["gate"]: g["result"] for g in promotion["gates"]}["soak-time"] == "fail"
    assert doc["policy"]["rulesEvaluated"] > 40 and doc["policy"]["modelViolations"] == []
    assert {a["alert"] for a in doc["alertRules"]} == {"SLOAvailabilityBudgetBurn", "SLOLatencyBudgetBurn"}
    words = " ".join(s["words"] for s in doc["permissions"]["statements"])
    assert "read objects" in words and "models/risk/fraud-scorer/" in words and "pull images" in words
    [route] = doc["network"]["routes"]
    assert route["gateway"] == "envoy-gateway-system/models" and route["paths"] == ["/risk/fraud-scorer"]
    assert route["backends"] == ["fraud-scorer-stable", "fraud-scorer-canary"]
    assert doc["cost"]["per1kInferencesUsd"]["platform"] > 0
    v4 = next(i for i in doc["images"] if i["version"] == "v4")
    assert v4["scan"] == {"status": "ACTIVE", "counts": {"HIGH": 1, "MEDIUM": 2}}
    assert v4["admission"] == "enforce" and v4["verify"].startswith("cosign verify --key awskms:///")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["evidence", "fraud-detector", "--stack", "prod", "-o", "out"],
            "unknown model 'fraud-detector': stack prod serves churn-classifier, fraud-scorer",
        ),
        (["evidence", "fraud-scorer", "--stack", "qa", "-o", "out"], "unknown stack 'qa'"),
        (
            [
                "evidence",
                "fraud-scorer",
                "--stack",
                "prod",
                "-o",
                "out",
                "--scan-findings",
                "deployed-outputs.json",
            ],
            "not the output of `aws ecr describe-image-scan-findings",
        ),
        (
            ["evidence", "fraud-scorer", "--stack", "prod", "-o", "out", "--outputs", "scan-v4.json"],
            "has no models.fraud-scorer",
        ),
    ],
    ids=["unknown-model", "unknown-stack", "not-a-scan", "not-outputs"],
)
def test_bad_input_exits_2_with_the_reason(fixture_project, monkeypatch, capsys, args, message):
    for name in ("deployed-outputs.json", "scan-v4.json"):
        shutil.copy(FIXTURES / name, fixture_project)
    monkeypatch.chdir(fixture_project)
    assert cli.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (fixture_project / "out").exists()
