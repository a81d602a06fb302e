"""Files and flags handed to the CLI: outputs, graphs, bases, stack references, policy configs, report
folders. Each is missing, a directory, not UTF-8, not JSON, truncated or too large."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.bad_inputs.conftest import Project, assert_refused


def missing(path: Path) -> None:
    path.unlink(missing_ok=True)


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def not_utf8(path: Path) -> None:
    path.write_bytes(b'{"region": "\xe9t\xe9"}')


def not_json(path: Path) -> None:
    path.write_text("region: us-east-1\n")


def truncated(path: Path) -> None:
    path.write_text('{"region": "us-east-1", "clusterName": "mlops-')


def empty(path: Path) -> None:
    path.write_text("")


def huge(path: Path) -> None:
    with path.open("wb") as handle:
        handle.truncate(60 * 1024 * 1024)


BREAKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing": (missing, "does not exist"),
    "directory": (directory, "is a directory, not a file"),
    "not-utf8": (not_utf8, "is not UTF-8 (byte 12, line 1)"),
    "not-json": (not_json, "is not valid JSON: Expecting value at line 1, column 1"),
    "truncated": (truncated, "is not valid JSON: ends before the JSON does (truncated?)"),
    "empty": (empty, "is empty; expected JSON"),
    "too-large": (huge, "is 60 MiB; the limit is 50 MiB"),
}

COMMANDS: dict[str, tuple[list[str], str]] = {
    "verify-outputs": (["verify", "t", "--outputs", "{file}"], "stack outputs file"),
    "cost-from-outputs": (["cost", "--from-outputs", "{file}"], "stack outputs file"),
    "stack-reference": (["preview", "t", "--stack-reference", "acme/p/dev={file}"], "stack outputs file"),
    "check-graph": (["check", "--graph", "{file}"], "graph"),
    "check-policy-config": (["check", "t", "--policy-config", "{file}"], "policy config file"),
}


@pytest.mark.parametrize("command", COMMANDS, ids=COMMANDS.keys())
@pytest.mark.parametrize("broken", BREAKS, ids=BREAKS.keys())
def test_a_bad_file_argument_gets_one_line_and_exit_2(project: Project, command, broken):
    project.write_stack(project.stack_with())
    path = project.root / "input.json"
    path.write_text("{}")
    make, reason = BREAKS[broken]
    make(path)
    args, role = COMMANDS[command]
    outcome = project.run(*[a.replace("{file}", str(path)) for a in args])
    assert_refused(outcome, str(path), reason)
    assert role in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1, outcome.err


def test_a_diff_base_that_is_a_truncated_graph_is_refused(project: Project):
    project.write_stack(project.stack_with())
    base = project.root / "base.json"
    truncated(base)
    outcome = project.run("diff", "t", "--base", str(base))
    assert_refused(outcome, f"--base {base}", "truncated")


def test_outputs_that_are_not_an_object_are_refused(project: Project):
    path = project.root / "outputs.json"
    path.write_text(json.dumps(["region"]))
    assert_refused(project.run("cost", "--from-outputs", str(path)), str(path))


FLAG_CASES = {
    "stack-reference-without-file": (
        ["preview", "t", "--stack-reference", "acme/p/dev"],
        "--stack-reference must be NAME=FILE",
    ),
    "negative-cost-limit": (
        ["diff", "t", "--base", "HEAD", "--fail-on-cost-increase", "-5"],
        "--fail-on-cost-increase must be a percentage >= 0",
    ),
    "bootstrap-bad-region": (
        ["bootstrap", "--env", "dev", "--region", "mars"],
        "--region must be an AWS region",
    ),
    "cost-no-stack": (["cost", "--format", "csv"], "name one or more stacks, or pass --from-outputs FILE"),
    "cost-same-stack-twice": (["cost", "t", "t"], "each stack may be named once (got t, t)"),
    "cost-bad-format": (["cost", "dev", "--format", "xlsx"], "invalid choice: 'xlsx'"),
    "check-nothing": (["check"], "name a stack, or pass --graph FILE"),
    "pr-comment-not-a-folder": (
        ["pr-comment", "--reports", "nowhere", "--stack", "dev"],
        "--reports nowhere is not a directory",
    ),
    "unknown-format": (["cost", "t", "--format", "yaml"], "invalid choice: 'yaml'"),
    "unknown-command": (["deploy", "t"], "invalid choice: 'deploy'"),
}


@pytest.mark.parametrize("args, message", FLAG_CASES.values(), ids=FLAG_CASES.keys())
def test_a_bad_flag_is_refused(project: Project, args, message):
    project.write_stack(project.stack_with())
    assert_refused(project.run(*args), message)
