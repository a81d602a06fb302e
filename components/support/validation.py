"""Argument validation shared by every component: collect every problem, raise once.

A problem names its field as a snake_case path (``versions[1].weight``) and may refer to other
fields as ``<<field_name>>``. Rendering turns both into the caller's vocabulary: Python argument names
for library users, camelCase stack-config keys for the platform program.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import pulumi

_FIELD_REF = re.compile(r"<<([a-z_][a-z0-9_]*)>>")
_SEGMENT = re.compile(r"(?<![A-Za-z0-9_])[a-z][a-z0-9]*(?:_[a-z0-9]+)+")


def to_camel(snake: str) -> str:
    """``max_size`` -> ``maxSize``; leaves index brackets and dots alone."""

    def one(match: re.Match[str]) -> str:
        head, *rest = match.group(0).split("_")
        return head + "".join(part[:1].upper() + part[1:] for part in rest)

    return _SEGMENT.sub(one, snake)


@dataclass(frozen=True)
class Problem:
    """One bad field: where it is and what to do about it."""

    field: str
    message: str

    def render(self, naming: Callable[[str], str] = lambda s: s, prefix: str = "") -> str:
        message = _FIELD_REF.sub(lambda m: naming(m.group(1)), self.message)
        path = naming(self.field) if self.field else ""
        joined = f"{prefix}.{path}" if prefix and path else (prefix or path)
        return f"{joined}: {message}"

    def nested(self, parent: str) -> Problem:
        """The same problem seen from the enclosing object (``parent`` may carry an index)."""
        field = f"{parent}.{self.field}" if self.field else parent
        return Problem(field, self.message)


class InvalidArgs(ValueError):
    """Raised by a component whose arguments are wrong; lists every problem at once."""

    def __init__(self, what: str, problems: Iterable[Problem]):
        self.what = what
        self.problems = list(problems)
        lines = "\n".join(f"  - {p.render()}" for p in self.problems)
        super().__init__(f"invalid {what}: {len(self.problems)} problem(s)\n{lines}")


def is_known(value: object) -> bool:
    """Checks only apply to plain values; an Output is resolved later by the engine."""
    return not isinstance(value, pulumi.Output)


def raise_if_any(what: str, problems: list[Problem]) -> None:
    if problems:
        raise InvalidArgs(what, problems)


def range_problems(field: str, value: float, low: float, high: float, unit: str = "") -> list[Problem]:
    """``low <= value <= high``, or a problem naming both bounds."""
    if low <= value <= high:
        return []
    return [Problem(field, f"must be between {low} and {high}{unit} (got {value})")]


def bounds_problems(spec: object, bounds: Mapping[str, tuple[float, float]]) -> list[Problem]:
    """``range_problems`` for each field of ``spec`` that ``bounds`` names: ``{field: (low, high)}``."""
    return [
        p
        for name, (low, high) in bounds.items()
        for p in range_problems(name, getattr(spec, name), low, high)
    ]


DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def dns_label_problem(field: str, value: str, max_length: int = 63) -> Problem | None:
    """Kubernetes object and namespace names: lowercase alphanumerics and '-', at most 63 characters."""
    if len(value) > max_length or not DNS_1123_LABEL.match(value):
        return Problem(
            field,
            f"must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending "
            f"with an alphanumeric, at most {max_length} characters (got {value!r})",
        )
    return None


def size_problems(
    min_size: int, desired_size: int | None, max_size: int, *, allow_zero_max: bool = False
) -> list[Problem]:
    """min <= desired <= max, all non-negative: shared by node pools and replica ranges."""
    problems = []
    if min_size < 0:
        problems.append(Problem("min_size", f"must be >= 0 (got {min_size})"))
    if max_size < (0 if allow_zero_max else 1):
        problems.append(Problem("max_size", f"must be >= {0 if allow_zero_max else 1} (got {max_size})"))
    if max_size < min_size:
        problems.append(Problem("max_size", f"must be >= <<min_size>> (got {max_size} < {min_size})"))
    if desired_size is not None and not (min_size <= desired_size <= max_size):
        problems.append(
            Problem(
                "desired_size",
                f"must be between <<min_size>> and <<max_size>> (got {desired_size}, "
                f"range {min_size}..{max_size})",
            )
        )
    return problems


_IMAGE = re.compile(
    r"^(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def image_problems(field: str, image: str) -> list[Problem]:
    """An image reference must pin an immutable tag or a digest; ``latest`` is refused."""
    match = _IMAGE.match(image)
    if not match:
        return [
            Problem(
                field,
                f"must be an image reference such as registry/repo:1.2.3 or repo@sha256:... (got {image!r})",
            )
        ]
    if match["tag"] is None and match["digest"] is None:
        return [
            Problem(field, f"must pin a tag or a digest; an untagged image means :latest (got {image!r})")
        ]
    if match["tag"] == "latest" and match["digest"] is None:
        return [
            Problem(
                field, f"must not use the mutable tag 'latest'; pin a version or a digest (got {image!r})"
            )
        ]
    return []


_QUANTITY = re.compile(r"^\d+(\.\d+)?(m|Ki|Mi|Gi|Ti)?$")


def quantity_problems(field: str, value: str) -> list[Problem]:
    """A Kubernetes resource quantity (CPU or memory)."""
    if _QUANTITY.match(value):
        return []
    return [Problem(field, f"must be a Kubernetes quantity such as 500m, 2 or 4Gi (got {value!r})")]


_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_CRON_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def _cron_value(text: str, low: int, names: Sequence[str]) -> int | None:
    if text.isdigit():
        return int(text)
    lowered = text.lower()
    # Month names count from 1 (jan), weekday names from 0 (sun).
    return names.index(lowered) + (low if names and low == 1 else 0) if lowered in names else None


def _cron_field_ok(text: str, low: int, high: int, names: Sequence[str]) -> bool:
    for part in text.split(","):
        body, _, step = part.partition("/")
        if step and not (step.isdigit() and int(step) >= 1):
            return False
        if body == "*":
            continue
        first, _, last = body.partition("-")
        values = [_cron_value(first, low, names), *([_cron_value(last, low, names)] if last else [])]
        if any(v is None or not low <= v <= high for v in values):
            return False
        if last and values[0] > values[1]:  # type: ignore[operator]
            return False
    return True


def cron_problems(field: str, schedule: str) -> list[Problem]:
    """A standard five-field cron expression (minute hour day-of-month month day-of-week, as Argo's
    CronWorkflow and Kubernetes read it) or a descriptor such as @daily."""
    text = schedule.strip()
    if text in _CRON_DESCRIPTORS:
        return []
    parts = text.split()
    example = "e.g. '0 3 * * *' for 03:00 every day, or @daily"
    if len(parts) != 5:
        return [Problem(field, f"must be a cron expression of 5 fields, {example} (got {schedule!r})")]
    bad = [
        f"{name} {part!r} (allowed {low}-{high})"
        for part, (name, low, high, names) in zip(parts, _CRON_FIELDS, strict=True)
        if not _cron_field_ok(part, low, high, names)
    ]
    if bad:
        return [Problem(field, f"is not valid cron: {', '.join(bad)}; {example} (got {schedule!r})")]
    return []
