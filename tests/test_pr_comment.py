"""The PR comment: each stack folded into <details>, under GitHub's size limit, full reports linked."""

from __future__ import annotations

import subprocess
import sys

from mlops_platform.infra.pr_comment import LIMIT, MARKER, StackReport, compose


def report(stack: str, replace: int = 0, body_lines: int = 5) -> str:
    lines = [f"- `aws:s3/bucketVersioning:BucketVersioning` **bucket-{i}**" for i in range(body_lines)]
    return (
        f"## `{stack}`: 1 to add, {body_lines} to change, {replace} to replace, 0 to delete\n\n"
        + "\n".join(lines)
        + "\n"
    )


def test_each_stack_is_folded_with_its_counts_as_the_summary():
    text = compose(
        [
            StackReport(stack="dev", markdown=report("dev")),
            StackReport(stack="prod", markdown=report("prod", replace=1)),
        ]
    )
    assert text.startswith(MARKER)
    assert (
        "<details>\n<summary><b>dev</b>: 1 to add, 5 to change, 0 to replace, 0 to delete</summary>" in text
    )
    # Replacements (and failures) open their block.
    assert "<details open>\n<summary><b>prod</b>: 1 to add, 5 to change, 1 to replace" in text
    assert text.count("</details>") == 2 and "bucket-4" in text
    assert "Truncated" not in text


def test_a_huge_report_is_cut_to_fit_and_links_the_artifact_while_small_ones_stay_whole():
    huge = report("dev", body_lines=5000)  # a tag change on every resource, about 300 KB
    assert len(huge) > 5 * LIMIT
    text = compose(
        [
            StackReport(stack="dev", markdown=huge),
            StackReport(stack="stage", markdown=report("stage")),
            StackReport(stack="prod", markdown=report("prod")),
        ],
        artifact_url="https://github.com/acme/p/actions/runs/1/artifacts/2",
    )
    assert len(text) < LIMIT
    assert (
        "> Truncated to fit a PR comment: the full report is in [the workflow artifact](https://github.com/acme/p/actions/runs/1/artifacts/2)."
        in text
    )
    stage = text.split("<b>stage</b>")[1].split("</details>")[0]
    assert "bucket-4" in stage and "Truncated" not in stage
    assert text.count("<details") == 3


def test_three_huge_reports_share_the_room_and_code_blocks_stay_closed():
    failing = StackReport(
        stack="prod", markdown="", exit_code=2, errors="an error\n" + "```\n" + "x" * 200_000
    )
    reports = [StackReport(stack=s, markdown=report(s, body_lines=4000)) for s in ("dev", "stage")] + [
        failing
    ]
    text = compose(reports)
    assert len(text) < LIMIT
    assert text.count("```") % 2 == 0
    assert "<summary><b>prod</b>: no report — **`blueprint diff` exited 2**</summary>" in text
    for stack in ("dev", "stage"):
        assert len(text.split(f"<b>{stack}</b>")[1].split("</details>")[0]) > LIMIT // 5


def test_the_cli_reads_the_workflow_files(tmp_path):
    (tmp_path / "diff-dev.md").write_text(report("dev"))
    (tmp_path / "diff-dev.rc").write_text("0\n")
    (tmp_path / "diff-prod.err").write_text(
        "blueprint diff: stateful aws:rds/instance:Instance db would be replaced\n"
    )
    (tmp_path / "diff-prod.rc").write_text("1\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops_platform.infra.cli",
            "pr-comment",
            "--reports",
            str(tmp_path),
            "--stack",
            "dev",
            "--stack",
            "prod",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "<b>prod</b>: no report — **`blueprint diff` exited 1**" in done.stdout
    assert "stateful aws:rds/instance:Instance db would be replaced" in done.stdout
    (tmp_path / "diff-dev.rc").write_text("zero")
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlops_platform.infra.cli",
            "pr-comment",
            "--reports",
            str(tmp_path),
            "--stack",
            "dev",
        ],
        capture_output=True,
        text=True,
    )
    assert (
        bad.returncode == 2
        and "diff-dev.rc must hold an exit code" in bad.stderr
        and "Traceback" not in bad.stderr
    )
