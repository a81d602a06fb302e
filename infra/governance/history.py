"""What git knows of a promotion: since when a stack file serves a digest, the promotion commits, and
the branch a promotion is committed on. Every promotion commit carries a ``Promotion-Record:`` trailer
(one line of JSON: model, version, digest, stacks, gates, force reason) that the evidence pack reads."""

from __future__ import annotations

import datetime
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRAILER = "Promotion-Record: "


class GitError(Exception):
    """git refused: exit 2, with what it said."""


def _git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    if check and done.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


def repository_root(path: Path) -> Path | None:
    done = _git(path, "rev-parse", "--show-toplevel", check=False)
    return Path(done.stdout.strip()) if done.returncode == 0 else None


def committed_text(root: Path, file: Path) -> str | None:
    """The file as HEAD has it, or None when HEAD does not track it."""
    done = _git(root, "show", f"HEAD:{file.relative_to(root).as_posix()}", check=False)
    return done.stdout if done.returncode == 0 else None


def serving_since(root: Path, file: Path, digest: str) -> datetime.datetime | None:
    """When the commit that last put ``digest`` into ``file`` was made; None if HEAD's file lacks it."""
    text = committed_text(root, file)
    if text is None or digest not in text:
        return None
    log = _git(root, "log", "--format=%ct", f"-S{digest}", "--", file.relative_to(root).as_posix()).stdout
    # Newest first: HEAD's file holds the digest, so the newest change to its count added it.
    first = log.split()
    return datetime.datetime.fromtimestamp(int(first[0]), datetime.UTC) if first else None


@dataclass(frozen=True)
class PromotionCommit:
    commit: str
    date: str
    author: str
    record: dict[str, Any]


def promotion_commits(root: Path, file: Path, model: str) -> list[PromotionCommit]:
    """Promotion commits of ``model`` into ``file``, newest first."""
    log = _git(
        root, "log", "--format=%H%x1f%cI%x1f%an <%ae>%x1f%B%x1e", "--", file.relative_to(root).as_posix()
    ).stdout
    found = []
    for entry in filter(None, (e.strip("\n") for e in log.split("\x1e"))):
        commit, date, author, body = entry.split("\x1f", 3)
        for line in body.splitlines():
            if line.startswith(TRAILER):
                try:
                    record = json.loads(line[len(TRAILER) :])
                except json.JSONDecodeError:
                    continue
                if isinstance(record, dict) and record.get("model") == model:
                    found.append(PromotionCommit(commit, date, author, record))
    return found


def branch_exists(root: Path, branch: str) -> bool:
    return _git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}", check=False).returncode == 0


def check_branch_name(root: Path, branch: str) -> None:
    if _git(root, "check-ref-format", "--branch", branch, check=False).returncode != 0:
        raise GitError(f"{branch!r} is not a valid branch name")


def commit_on_branch(root: Path, file: Path, branch: str, message: str) -> str:
    """Create ``branch`` here, commit only ``file`` on it with ``message``; returns the commit."""
    _git(root, "switch", "--quiet", "-c", branch)
    _git(root, "commit", "--quiet", "-m", message, "--", file.relative_to(root).as_posix())
    return _git(root, "rev-parse", "HEAD").stdout.strip()
