"""The pull-request comment of the offline preview: every stack's ``blueprint diff`` report folded
into a ``<details>`` block, the whole kept under ``LIMIT`` characters.

GitHub refuses comments over 65,536 characters. When the reports do not fit, each stack keeps an
equal share of the room (a stack that needs less gives the rest to the others), cut at a line, and
says so with a link to the workflow artifact that holds every report in full.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mlops_platform.components.support import files

LIMIT = 60_000
MARKER = "<!-- mlops-platform:pr-preview -->"
_HEADLINE = re.compile(r"^## `[^`]+`: (?P<counts>.*)$", re.M)


@dataclass(frozen=True, kw_only=True)
class StackReport:
    stack: str
    """The stack's name: the block's title."""
    markdown: str
    """The stack's ``blueprint diff`` report (may be empty when the diff failed early)."""
    exit_code: int = 0
    """The diff's exit code (diff-<stack>.rc): non-zero opens the block and shows the errors."""
    errors: str = ""
    """The diff's standard error, shown when it failed."""

    def summary(self) -> str:
        found = _HEADLINE.search(self.markdown)
        counts = found["counts"] if found else "no report"
        failed = f" — **`blueprint diff` exited {self.exit_code}**" if self.exit_code else ""
        return f"<b>{self.stack}</b>: {counts}{failed}"

    def needs_attention(self) -> bool:
        replaced = re.search(r"(\d+) to replace", self.markdown)
        return bool(self.exit_code) or (replaced is not None and replaced[1] != "0")

    def body(self) -> str:
        """The report without its headline (the summary shows it), then the errors if it failed."""
        text = _HEADLINE.sub("", self.markdown, count=1).strip("\n")
        if self.exit_code:
            tail = "\n".join(self.errors.strip().splitlines()[-40:])
            text += f"\n\n**`blueprint diff {self.stack}` exited {self.exit_code}:**\n\n```\n{tail}\n```"
        return text


def _cut(text: str, room: int, artifact_url: str | None) -> str:
    if len(text) <= room:
        return text
    where = f"[the workflow artifact]({artifact_url})" if artifact_url else "the workflow artifact"
    note = f"\n\n> Truncated to fit a PR comment: the full report is in {where}."
    keep = text[: max(0, room - len(note))]
    keep = keep[: keep.rfind("\n")] if "\n" in keep else keep
    if keep.count("```") % 2:  # never leave a code block open
        keep += "\n```"
    return keep + note


def compose(reports: Sequence[StackReport], artifact_url: str | None = None, limit: int = LIMIT) -> str:
    head = [MARKER, "# Offline preview of this pull request", ""]
    if artifact_url:
        head += [f"Full reports: [workflow artifact]({artifact_url}).", ""]

    def block(report: StackReport, body: str) -> str:
        opened = " open" if report.needs_attention() else ""
        return f"<details{opened}>\n<summary>{report.summary()}</summary>\n\n{body}\n\n</details>\n"

    # Each cut may close a code block (4 characters); the frame is everything but the bodies.
    frame = len("\n".join(head)) + 1 + sum(len(block(r, "")) + 4 for r in reports)
    room = limit - frame
    bodies = [r.body() for r in reports]
    # Fair shares: the smallest bodies are kept whole and leave their unused room to the rest.
    budget: dict[int, int] = {}
    pending = sorted(range(len(reports)), key=lambda i: len(bodies[i]))
    while pending:
        share = max(0, room // len(pending))
        index = pending.pop(0)
        budget[index] = min(len(bodies[index]), share)
        room -= budget[index]
    blocks = [block(r, _cut(bodies[i], budget[i], artifact_url)) for i, r in enumerate(reports)]
    return "\n".join(head) + "\n" + "".join(blocks)


def _optional(path: Path, what: str) -> str:
    return files.read_text(path, what) if path.exists() else ""


def load(directory: str, stacks: Sequence[str]) -> list[StackReport]:
    """The reports the workflow wrote: ``diff-<stack>.md``, ``.err`` and ``.rc`` (its exit code)."""
    reports = []
    for stack in stacks:
        base = Path(directory) / f"diff-{stack}"
        code = _optional(base.with_suffix(".rc"), f"exit code of the {stack} diff").strip() or "0"
        if not code.isdigit():
            raise files.FileInputError(f"{base}.rc must hold an exit code (got {code[:20]!r})")
        markdown = _optional(base.with_suffix(".md"), f"{stack} report")
        errors = _optional(base.with_suffix(".err"), f"{stack} errors")
        reports.append(StackReport(stack=stack, markdown=markdown, exit_code=int(code), errors=errors))
    return reports
