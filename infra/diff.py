"""Offline diff of two synthesized graphs of one stack: what a pull request changes, for reviewers.

Resources are matched by URN. A changed input that is known to force replacement (a bucket name, a
subnet CIDR, a node group's instance types...) marks the resource as replaced; so does a changed
provider or a property the resource lists in ``replaceOnChanges``. The list is not exhaustive: the
real ``pulumi preview`` (which the PR workflow also runs when credentials exist) is authoritative.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops_platform.components.support import files
from mlops_platform.infra.cost.scenarios import SCENARIOS
from mlops_platform.policies.graph import Graph, Resource

REPLACE_ON: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "region", "objectLockEnabled"),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "availabilityZone", "vpcId"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "namePrefix", "vpcId", "description"),
    "aws:eks/cluster:Cluster": ("name", "roleArn", "kubernetesNetworkConfig"),
    "aws:eks/nodeGroup:NodeGroup": (
        "clusterName",
        "nodeGroupName",
        "nodeGroupNamePrefix",
        "nodeRoleArn",
        "instanceTypes",
        "capacityType",
        "amiType",
        "diskSize",
        "subnetIds",
    ),
    "aws:eks/addon:Addon": ("addonName", "clusterName"),
    "aws:eks/podIdentityAssociation:PodIdentityAssociation": ("clusterName", "namespace", "serviceAccount"),
    "aws:ec2/launchTemplate:LaunchTemplate": ("name", "namePrefix"),
    "aws:rds/instance:Instance": (
        "identifier",
        "identifierPrefix",
        "engine",
        "kmsKeyId",
        "storageEncrypted",
        "dbName",
        "username",
        "availabilityZone",
    ),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keySpec", "keyUsage", "multiRegion"),
    "aws:ecr/repository:Repository": ("name", "encryptionConfigurations"),
    "aws:secretsmanager/secret:Secret": ("name", "namePrefix"),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "aws:cloudwatch/logGroup:LogGroup": ("name", "namePrefix"),
    "aws:sns/topic:Topic": ("name", "namePrefix", "fifoTopic"),
}
"""Inputs whose change forces the provider to replace the resource (a known subset)."""

KUBERNETES_REPLACE_ON = ("metadata.name", "metadata.namespace")
MAX_DETAILS = 12
MAX_VALUE = 80
OPTIONS = ("protect", "retain_on_delete", "ignore_changes", "parent", "provider", "delete_before_replace")


@dataclass
class Change:
    kind: str
    """add, remove, update or replace."""
    resource: Resource
    details: list[tuple[str, str]] = field(default_factory=list)
    """Changed inputs and options, compact: (path, ``old → new``)."""
    replaced_by: list[str] = field(default_factory=list)
    """The changed inputs (or options) that force the replacement."""

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "urn": self.resource.urn,
            "type": self.resource.type,
            "name": self.resource.name,
            "details": [{"path": path, "change": change} for path, change in self.details],
            "replacedBy": self.replaced_by,
        }


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaves of nested inputs as (path, value): ``spec.containers[0].image``."""
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            yield from flatten(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{i}]")
    else:
        yield prefix, value


_ABSENT = object()
"""A path one side of a diff does not have."""


def _show(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False) if value is not _ABSENT else "(none)"
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def _forces_replacement(resource: Resource, path: str) -> bool:
    patterns = [*REPLACE_ON.get(resource.type, ()), *resource.replace_on_changes]
    if resource.type.startswith("kubernetes:"):
        patterns += list(KUBERNETES_REPLACE_ON)
    return any(path == p or path.startswith((f"{p}.", f"{p}[")) or p == "*" for p in patterns)


def value_changes(base: Any, head: Any) -> list[tuple[str, str]]:
    """(path, "old → new") for every leaf that differs between two nested values."""
    before, after = dict(flatten(base)), dict(flatten(head))
    return [
        (path, f"{_show(before.get(path, _ABSENT))} → {_show(after.get(path, _ABSENT))}")
        for path in sorted(set(before) | set(after))
        if before.get(path, _ABSENT) != after.get(path, _ABSENT)
    ]


def compare_resource(base: Resource, head: Resource) -> Change | None:
    details = value_changes(base.inputs, head.inputs)
    replaced_by = [path for path, _ in details if _forces_replacement(head, path)]
    for option in OPTIONS:
        old, new = getattr(base, option), getattr(head, option)
        if old != new:
            details.append((f"({option})", f"{_show(old)} → {_show(new)}"))
            if option in ("provider", "parent"):
                replaced_by.append(f"({option})")
    if not details:
        return None
    return Change("replace" if replaced_by else "update", head, details, replaced_by)


def compare(base: Graph, head: Graph) -> list[Change]:
    """Every difference, sorted by kind then URN (stable for the same two graphs)."""
    before, after = base.by_urn(), head.by_urn()
    changes = [Change("add", after[urn]) for urn in after.keys() - before.keys()]
    changes += [Change("remove", before[urn]) for urn in before.keys() - after.keys()]
    for urn in before.keys() & after.keys():
        change = compare_resource(before[urn], after[urn])
        if change is not None:
            changes.append(change)
    order = {"replace": 0, "add": 1, "update": 2, "remove": 3}
    return sorted(changes, key=lambda c: (order[c.kind], c.resource.urn))


# --- the report -----------------------------------------------------------------------------------


@dataclass
class CostDelta:
    base: Mapping[str, float] | None
    head: Mapping[str, float] | None
    by_component: list[tuple[str, float, float]]
    """(component, base expected, head expected) for components whose expected cost moved."""
    per_1k: list[tuple[str, float | None, float | None, float | None]] = field(default_factory=list)
    """(team/model, base cost per 1,000 inferences, head's, head's SageMaker figure), every model."""

    def change(self, scenario: str) -> float | None:
        if self.base is None or self.head is None:
            return None
        return round(self.head[scenario] - self.base[scenario], 2)

    def percent(self, scenario: str) -> float | None:
        change = self.change(scenario)
        if change is None or self.base is None:
            return None
        if self.base[scenario] == 0:
            return 0.0 if change == 0 else float("inf")
        return round(100 * change / self.base[scenario], 1)

    def to_json(self) -> dict[str, Any]:
        return {
            "base": dict(self.base) if self.base else None,
            "head": dict(self.head) if self.head else None,
            "change": {s: self.change(s) for s in SCENARIOS},
            "percent": {s: _finite(self.percent(s)) for s in SCENARIOS},
            "byComponent": [{"component": c, "base": b, "head": h} for c, b, h in self.by_component],
            "costPer1kInferences": [
                {"model": m, "base": b, "head": h, "sagemaker": sm} for m, b, h, sm in self.per_1k
            ],
        }


def _finite(value: float | None) -> float | str | None:
    return "inf" if value == float("inf") else value


def cost_delta(base: Graph, head: Graph) -> CostDelta:
    def monthly(graph: Graph) -> tuple[Mapping[str, float] | None, Mapping[str, Any]]:
        doc = graph.outputs.get("costEstimate")
        if not isinstance(doc, Mapping) or not isinstance(doc.get("monthly"), Mapping):
            return None, {}
        return doc["monthly"], doc.get("byComponent") or {}

    base_monthly, base_components = monthly(base)
    head_monthly, head_components = monthly(head)
    moved: list[tuple[str, float, float]] = []
    per_1k = _per_1k(base, head)
    if base_monthly is None or head_monthly is None:
        return CostDelta(base_monthly, head_monthly, moved, per_1k)  # no per-component change against nothing
    for name in sorted(set(base_components) | set(head_components)):
        old = base_components.get(name, {}).get("expected", 0.0)
        new = head_components.get(name, {}).get("expected", 0.0)
        if round(new - old, 2) != 0:
            moved.append((name, old, new))
    return CostDelta(base_monthly, head_monthly, moved, per_1k)


def _per_1k(base: Graph, head: Graph) -> list[tuple[str, float | None, float | None, float | None]]:
    def models(graph: Graph) -> Mapping[str, Any]:
        doc = graph.outputs.get("costEstimate")
        return (doc.get("byModel") or {}) if isinstance(doc, Mapping) else {}

    before, after = models(base), models(head)
    rows = []
    for name in sorted(set(before) | set(after)):
        old = (before.get(name) or {}).get("costPer1kInferences") or {}
        new = (after.get(name) or {}).get("costPer1kInferences") or {}
        rows.append((name, old.get("platform"), new.get("platform"), new.get("sagemaker")))
    return rows


def _unit(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _signed(value: float | None, percent: float | None = None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:+,.2f}"
    if percent is not None and value != 0:
        text += " (new)" if percent == float("inf") else f" ({percent:+.1f}%)"
    return text


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


@dataclass
class Report:
    stack: str
    base_label: str
    changes: list[Change]
    cost: CostDelta
    new_violations: list[Any]
    notes: list[str] = field(default_factory=list)
    outputs: list[OutputChange] = field(default_factory=list)
    """Changed stack outputs; costEstimate has its own section."""

    def counts(self) -> dict[str, int]:
        return {
            kind: sum(1 for c in self.changes if c.kind == kind)
            for kind in ("add", "update", "replace", "remove")
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "base": self.base_label,
            "counts": self.counts(),
            "changes": [c.to_json() for c in self.changes],
            "cost": self.cost.to_json(),
            "newViolations": [v.to_json() for v in self.new_violations],
            "outputs": [o.to_json() for o in self.outputs],
            "notes": self.notes,
        }

    def markdown(self) -> str:
        n = self.counts()
        out = [
            f"## `{self.stack}`: {n['add']} to add, {n['update']} to change, {n['replace']} to replace, "
            f"{n['remove']} to delete",
            "",
            f"Compared with {self.base_label}.",
            "",
        ]
        out += self._cost_section()
        out += self._section("⚠️ Replacements", "replace", with_details=True)
        out += self._section("Added", "add", with_details=False)
        out += self._section("Changed", "update", with_details=True)
        out += self._section("Deleted", "remove", with_details=False)
        out += self._violations_section()
        if self.outputs:
            out += [f"### Stack outputs ({len(self.outputs)})", ""]
            for output in self.outputs:
                out.append(f"- `{output.name}` {output.kind}")
                out += [f"  - `{path}`: {change}" for path, change in output.details[:MAX_DETAILS]]
                if len(output.details) > MAX_DETAILS:
                    out.append(f"  - … {len(output.details) - MAX_DETAILS} more")
            out.append("")
        out += [f"> {note}" for note in self.notes]
        out += [
            "",
            "_Offline diff of the resources the program asks for (secrets masked); not a diff against "
            "live state. Replacement flags cover known replace-on-change inputs only._",
        ]
        text = "\n".join(out)
        while "\n\n\n" in text:
            text = text.replace("\n\n\n", "\n\n")
        return text.rstrip("\n") + "\n"

    def _cost_section(self) -> list[str]:
        c = self.cost
        out = ["### Monthly cost estimate (USD)", ""]
        if c.base is None and c.head is None:
            return [*out, "No costEstimate output in either graph.", ""]
        out += ["| | idle | expected | peak |", "|---|---:|---:|---:|"]
        out.append("| base | " + " | ".join(_money(c.base[s] if c.base else None) for s in SCENARIOS) + " |")
        out.append("| head | " + " | ".join(_money(c.head[s] if c.head else None) for s in SCENARIOS) + " |")
        out.append(
            "| **change** | "
            + " | ".join(f"**{_signed(c.change(s), c.percent(s))}**" for s in SCENARIOS)
            + " |"
        )
        out.append("")
        if c.by_component:
            out += ["| component | expected before | expected after | change |", "|---|---:|---:|---:|"]
            out += [
                f"| {name} | {_money(old)} | {_money(new)} | {_signed(round(new - old, 2))} |"
                for name, old, new in c.by_component
            ]
            out.append("")
        if c.per_1k:
            out += [
                "| model | per 1k inferences before | after | SageMaker per 1k |",
                "|---|---:|---:|---:|",
            ]
            out += [f"| {m} | {_unit(b)} | {_unit(h)} | {_unit(sm)} |" for m, b, h, sm in c.per_1k]
            out.append("")
        return out

    def _section(self, title: str, kind: str, with_details: bool) -> list[str]:
        changes = [c for c in self.changes if c.kind == kind]
        if not changes:
            return []
        out = [f"### {title} ({len(changes)})", ""]
        for change in changes:
            r = change.resource
            reason = f" — forced by `{'`, `'.join(change.replaced_by)}`" if change.replaced_by else ""
            out.append(f"- `{r.type}` **{r.name}**{reason}")
            if with_details:
                shown = change.details[:MAX_DETAILS]
                out += [f"  - `{path}`: {change}" for path, change in shown]
                if len(change.details) > MAX_DETAILS:
                    out.append(f"  - … {len(change.details) - MAX_DETAILS} more")
        out.append("")
        return out

    def _violations_section(self) -> list[str]:
        if not self.new_violations:
            return []
        out = [f"### Policy violations introduced ({len(self.new_violations)})", ""]
        for v in self.new_violations:
            out.append(f"- **[{v.enforcement}] {v.rule}** on `{v.urn}`: {v.message}. Fix: {v.remediation}")
        out.append("")
        return out


@dataclass(frozen=True)
class OutputChange:
    name: str
    kind: str
    """added, removed or changed."""
    details: list[tuple[str, str]] = field(default_factory=list)
    """For a changed output: each leaf that changed inside it, ``path: old → new``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "change": self.kind,
            "details": [{"path": p, "change": c} for p, c in self.details],
        }


def output_changes(base: Graph, head: Graph) -> list[OutputChange]:
    changes = []
    for name in sorted((set(base.outputs) | set(head.outputs)) - {"costEstimate"}):
        if name not in base.outputs:
            changes.append(OutputChange(name, "added"))
        elif name not in head.outputs:
            changes.append(OutputChange(name, "removed"))
        elif base.outputs[name] != head.outputs[name]:
            inside = value_changes(base.outputs[name], head.outputs[name])
            changes.append(OutputChange(name, "changed", [(p or "(value)", c) for p, c in inside]))
    return changes


def dangerous_replacements(changes: Sequence[Change], base: Graph) -> list[tuple[Change, str]]:
    """Replacements of a protected resource (on either side) or of a stateful type, with which of the
    two it is: the ones that destroy data, or that Pulumi refuses in the middle of a deploy."""
    from mlops_platform.policies.reliability import STATEFUL_TYPES

    protected = {r.urn for r in base.resources if r.protect}
    found = []
    for change in changes:
        if change.kind != "replace":
            continue
        if change.resource.protect or change.resource.urn in protected:
            found.append((change, "protected"))
        elif change.resource.type in STATEFUL_TYPES:
            found.append((change, "stateful"))
    return found


def introduced(base_violations: Sequence[Any], head_violations: Sequence[Any]) -> list[Any]:
    """Violations of the head that the base did not have (same rule, resource and message)."""
    seen = {(v.rule, v.urn, v.message) for v in base_violations}
    return [v for v in head_violations if (v.rule, v.urn, v.message) not in seen]


# --- the base graph -------------------------------------------------------------------------------


class BaseError(Exception):
    """The base could not be synthesized; ``exit_code`` 2 for bad input, 1 for a failing base."""

    def __init__(self, message: str, exit_code: int = 2):
        super().__init__(message)
        self.exit_code = exit_code


def _git(project_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=project_dir, capture_output=True, text=True)


def base_graph(spec: str, stack: str, project_dir: Path) -> tuple[Graph, str, list[str]]:
    """The base graph, a label for the report, and notes: ``spec`` is a graph file or a git ref."""
    path = Path(spec)
    if path.is_file():
        try:
            graph = Graph.from_document(files.read_json(path, "base graph"))
        except ValueError as exc:  # FileInputError too
            raise BaseError(f"--base {spec}: {exc}") from exc
        notes = (
            [] if graph.stack == stack else [f"The base graph is of stack {graph.stack!r}, not {stack!r}."]
        )
        return graph, f"the graph in `{path.name}`", notes
    try:
        resolved = _git(project_dir, "rev-parse", "--verify", "--quiet", f"{spec}^{{commit}}")
    except FileNotFoundError as exc:
        raise BaseError(
            f"--base {spec} is not a file, and git is not installed to resolve it as a ref"
        ) from exc
    if resolved.returncode != 0:
        raise BaseError(f"--base {spec} is neither a graph file nor a git commit of {project_dir}")
    commit = resolved.stdout.strip()
    label = f"`{spec}` ({commit[:12]})"
    with tempfile.TemporaryDirectory(prefix="blueprint-diff-") as scratch:
        worktree = Path(scratch) / "base"
        added = _git(project_dir, "worktree", "add", "--detach", str(worktree), commit)
        if added.returncode != 0:
            raise BaseError(f"cannot check out {spec} into a worktree: {added.stderr.strip()}", 1)
        try:
            prefix = project_dir.resolve().relative_to(_toplevel(project_dir))
            base_dir = worktree / prefix
            if not (base_dir / "stacks" / f"Pulumi.{stack}.yaml").exists():
                empty = Graph(project="", stack=stack, resources=[], outputs={})
                return empty, label, [f"Stack {stack!r} does not exist at {spec}: everything is new."]
            output = Path(scratch) / "base.json"
            module, import_root = _base_code(base_dir, Path(scratch))
            env = {
                **os.environ,
                "PYTHONPATH": os.pathsep.join(filter(None, [str(import_root), os.environ.get("PYTHONPATH")])),
            }
            synth = subprocess.run(
                [sys.executable, "-m", module, "synth", stack, "-o", str(output)],
                cwd=base_dir,
                env=env,
                capture_output=True,
                text=True,
            )
            if synth.returncode != 0:
                raise BaseError(f"synthesizing {stack} at {spec} failed:\n{synth.stderr.strip()}", 1)
            return Graph.from_json(output.read_text()), label, []
        finally:
            _git(project_dir, "worktree", "remove", "--force", str(worktree))


def _base_code(base_dir: Path, scratch: Path) -> tuple[str, Path]:
    """The CLI module to run and the directory that must lead the import path so that the base's own
    code runs, not this checkout's (which the virtualenv's editable install points at).

    The base's folders are linked into an ``mlops_platform`` namespace of their own; a base from
    before the namespace existed imports its top-level ``infra`` package straight from its checkout.
    """
    if not (base_dir / "infra" / "cli.py").read_text().count("mlops_platform"):
        return "infra.cli", base_dir
    namespace = scratch / "import-root" / "mlops_platform"
    namespace.mkdir(parents=True)
    for folder in ("components", "infra", "policies"):
        (namespace / folder).symlink_to(base_dir / folder, target_is_directory=True)
    return "mlops_platform.infra.cli", namespace.parent


def _toplevel(project_dir: Path) -> Path:
    return Path(_git(project_dir, "rev-parse", "--show-toplevel").stdout.strip()).resolve()
