"""``blueprint promote``: serve in the target stack the version the source stack serves, as a reviewed
change, once five gates pass (docs/promotion.md).

The target keeps its own traffic settings: a target with a canary gets the version as its canary, with
the canary's steps (or held weight) and analysis; a target without one gets it as stable. Only the
version's identity moves (name, tag, digest, registry version, lineage).
"""

from __future__ import annotations

import datetime
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mlops_platform.infra.governance import alerts, history, registry, stack_file
from mlops_platform.infra.offline.runner import Project, SynthError, load_project

GATES = ("registry-approval", "soak-time", "slo-alerts-quiet", "policy-check", "cost-within-budget")


class PromotionError(Exception):
    """Bad input, or a state promotion must not write over: exit 2, the file untouched."""


@dataclass(frozen=True)
class Gate:
    name: str
    passed: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"gate": self.name, "result": "pass" if self.passed else "fail", "detail": self.detail}


@dataclass
class Sources:
    """Where the gates read the registry and the alert history (each optional: a gate without its
    source fails, and says which option gives it one)."""

    tracking_uri: str | None = None
    registry_export: str | None = None
    alerts_export: str | None = None
    prometheus_url: str | None = None


@dataclass
class Plan:
    model: str
    source: str
    target: str
    version: dict[str, Any]
    role: str
    target_file: Path
    old_text: str
    new_text: str
    gates: list[Gate] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return self.old_text != self.new_text

    @property
    def failed(self) -> list[Gate]:
        return [g for g in self.gates if not g.passed]

    def diff(self, root: Path) -> str:
        name = self.target_file.relative_to(root).as_posix()
        return "".join(
            difflib.unified_diff(
                self.old_text.splitlines(keepends=True),
                self.new_text.splitlines(keepends=True),
                f"a/{name}",
                f"b/{name}",
            )
        )

    def record(self, forced: str | None) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version["name"],
            "digest": self.version.get("imageDigest"),
            "registeredModel": self.version.get("registeredModel"),
            "registryVersion": self.version.get("registryVersion"),
            "from": self.source,
            "to": self.target,
            "role": self.role,
            "gates": [g.to_json() for g in self.gates],
            "forced": forced,
        }

    def commit_message(self, forced: str | None) -> str:
        lines = [
            f"Promote {self.model} {self.version['name']} from {self.source} to {self.target}",
            "",
            f"{self.target} serves {self.version.get('imageDigest')} as its {self.role}"
            f" (registry {self.version.get('registeredModel')} version {self.version.get('registryVersion')}).",
            "",
            "Gates:",
            *(f"  {'pass' if g.passed else 'FAIL'}  {g.name}: {g.detail}" for g in self.gates),
        ]
        if forced:
            lines += ["", f"Forced past {len(self.failed)} failed gate(s): {forced}"]
        return (
            "\n".join([*lines, "", history.TRAILER + json.dumps(self.record(forced), sort_keys=True)]) + "\n"
        )


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise PromotionError(f"cannot read {path}: {exc.strerror}") from exc


def _stack(project: Project, name: str) -> tuple[Path, str, Any]:
    path = project.stack_file(name)
    if not path.exists():
        known = ", ".join(project.stacks()) or "none"
        raise PromotionError(f"unknown stack {name!r}: {path} does not exist (known stacks: {known})")
    text = _read(path)
    try:
        return path, text, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PromotionError(f"{path} is not valid YAML: {exc}") from exc


def _source_version(entry: dict[str, Any], source: str, wanted: str | None) -> dict[str, Any]:
    served = {role: entry[role] for role in ("stable", "canary") if isinstance(entry.get(role), dict)}
    if wanted is None:
        version = served.get("stable")
    else:
        version = next((v for v in served.values() if v.get("name") == wanted), None)
    if version is None:
        names = ", ".join(str(v.get("name")) for v in served.values()) or "nothing"
        raise PromotionError(
            f"version {wanted or 'stable'!r} of {entry['name']} is not served in {source} (it serves {names})"
        )
    if not version.get("imageDigest"):
        raise PromotionError(
            f"{source} serves {entry['name']} {version.get('name')} by tag only; promotion copies the digest "
            f"that ran: set imageDigest in {source}'s stack file"
        )
    return version


def prepare(root: Path, model: str, source: str, target: str, version: str | None) -> Plan:
    """The rewritten target file (no gate run yet); PromotionError on bad input."""
    if source == target:
        raise PromotionError(f"--from and --to are both {source!r}; promote between two stacks")
    try:
        project = load_project(root)
    except SynthError as exc:
        raise PromotionError(str(exc)) from exc
    _, _, source_doc = _stack(project, source)
    target_file, old_text, target_doc = _stack(project, target)
    entry = stack_file.model_entry(source_doc, model)
    if entry is None:
        known = ", ".join(str(m.get("name")) for m in stack_file.models(source_doc)) or "none"
        raise PromotionError(
            f"unknown model {model!r}: stack {source} serves no such model (it serves: {known})"
        )
    chosen = _source_version(entry, source, version)
    target_entry = stack_file.model_entry(target_doc, model)
    if target_entry is None:
        raise PromotionError(
            f"stack {target} has no model {model!r}: add its entry (team, resources, slo) first, then promote"
        )
    role = "canary" if isinstance(target_entry.get("canary"), dict) else "stable"
    for served in ("stable", "canary"):
        if (target_entry.get(served) or {}).get("imageDigest") == chosen["imageDigest"]:
            # Already there: the plan changes nothing (finishing a canary is a weight change).
            return Plan(model, source, target, dict(chosen), served, target_file, old_text, old_text)
    if role == "canary" and (target_entry.get("stable") or {}).get("name") == chosen.get("name"):
        raise PromotionError(
            f"{target}'s stable is also named {chosen.get('name')!r}, with another digest; rename one version"
        )
    identity = {k: None if chosen.get(k) is None else str(chosen[k]) for k in stack_file.IDENTITY}
    try:
        new_text = stack_file.replace_version(old_text, model, role, identity)
    except stack_file.StackFileError as exc:
        raise PromotionError(f"{target_file}: {exc}") from exc
    return Plan(model, source, target, dict(chosen), role, target_file, old_text, new_text)


def run_gates(plan: Plan, root: Path, sources: Sources, now: datetime.datetime) -> None:
    """Judge every gate (in GATES order) into ``plan.gates``."""
    from mlops_platform.infra import config as platform_config

    promoted = {stack_file.MODELS_KEY: stack_file.models(yaml.safe_load(plan.new_text))}
    try:
        parsed = platform_config.load_stack(root, plan.target, promoted)
    except platform_config.ConfigError as exc:
        raise PromotionError(f"the promoted {plan.target} config is invalid:\n{exc}") from exc
    environment = parsed.spec.environment
    promotion = parsed.spec.promotion
    source_file = load_project(root).stack_file(plan.source)
    team = next(m.team for m in parsed.spec.models if m.name == plan.model)
    since = _since(root, source_file, str(plan.version["imageDigest"]))
    soak = promotion.soak_hours_in(environment)
    plan.gates = [
        _registry_gate(plan, sources, promotion.alias_in(environment)),
        _soak_gate(plan, since, soak, now),
        _alerts_gate(f"{team}-{plan.model}", sources, since or now - datetime.timedelta(hours=soak), now),
        *_synth_gates(plan, root, promoted, parsed),
    ]


def _since(root: Path, source_file: Path, digest: str) -> datetime.datetime | None:
    top = history.repository_root(root)
    return None if top is None else history.serving_since(top, source_file.resolve(), digest)


def _registry_gate(plan: Plan, sources: Sources, alias: str) -> Gate:
    name, number = plan.version.get("registeredModel"), plan.version.get("registryVersion")
    if not name or not number:
        return Gate(GATES[0], False, f"{plan.source}'s version names no registeredModel and registryVersion")
    if sources.tracking_uri:
        reading = registry.read_mlflow(sources.tracking_uri, [str(name)])
    elif sources.registry_export:
        reading = registry.read_export(sources.registry_export)
    else:
        return Gate(
            GATES[0],
            False,
            "no registry to ask: pass --tracking-uri (or set MLFLOW_TRACKING_URI) or --registry-export FILE",
        )
    found = reading.version(str(name), str(number))
    if found is None:
        return Gate(GATES[0], False, f"{name} version {number} is not in the registry ({reading.where})")
    run = plan.version.get("trainingRunId")
    if run and found.run_id and run != found.run_id:
        return Gate(
            GATES[0],
            False,
            f"{name} version {found.version} was trained by run {found.run_id}, the stack file says {run}",
        )
    if alias not in found.aliases:
        shown = ", ".join(found.aliases) or "none"
        return Gate(
            GATES[0],
            False,
            f"{name} version {found.version} lacks alias {alias!r} (it has: {shown}; {reading.where})",
        )
    return Gate(GATES[0], True, f"{name} version {found.version} carries alias {alias!r} ({reading.where})")


def _hours(delta: datetime.timedelta) -> str:
    return f"{delta.total_seconds() / 3600:.1f} h"


def _soak_gate(plan: Plan, since: datetime.datetime | None, hours: float, now: datetime.datetime) -> Gate:
    if since is None:
        return Gate(
            GATES[1],
            False,
            f"{plan.source}'s committed stack file does not serve {plan.version['imageDigest']}: commit it first",
        )
    served = now - since
    verdict = served >= datetime.timedelta(hours=hours)
    return Gate(
        GATES[1],
        verdict,
        f"served in {plan.source} for {_hours(served)} since {since.isoformat(timespec='minutes')} (needs {hours:g} h)",
    )


def _alerts_gate(service: str, sources: Sources, start: datetime.datetime, end: datetime.datetime) -> Gate:
    if sources.alerts_export:
        series = alerts.read_export(sources.alerts_export)
        where = sources.alerts_export
    elif sources.prometheus_url:
        series = alerts.read_prometheus(sources.prometheus_url, service, start, end)
        where = sources.prometheus_url
    else:
        return Gate(
            GATES[2],
            False,
            "no alert history: pass --alerts FILE (a query_range export) or --prometheus-url URL",
        )
    fired = alerts.firing(series, service, start, end)
    window = f"{start.isoformat(timespec='minutes')} to {end.isoformat(timespec='minutes')}"
    if fired:
        shown = "; ".join(
            f"{f.alert} ({f.severity}) at {f.first.isoformat(timespec='minutes')}" for f in fired
        )
        return Gate(GATES[2], False, f"{service} fired {shown} ({where})")
    return Gate(GATES[2], True, f"no SLO alert of {service} fired from {window} ({where})")


def _synth_gates(plan: Plan, root: Path, promoted: dict[str, Any], parsed: Any) -> list[Gate]:
    from mlops_platform.infra.offline.runner import synthesize
    from mlops_platform.policies import offline
    from mlops_platform.policies import registry as policy_registry

    environment = parsed.spec.environment.value
    try:
        baseline = synthesize(plan.target, root).graph
        after = synthesize(plan.target, root, config_overrides=promoted).graph
    except SynthError as exc:
        failed = f"{plan.target} does not synthesize with the promoted version: {exc}"
        return [Gate(GATES[3], False, failed), Gate(GATES[4], False, failed)]
    blocking = offline.blocking(offline.evaluate(after, policy_registry.policy_config(environment)))
    policy = (
        Gate(GATES[3], True, f"{plan.target} passes the policy pack ({environment} config)")
        if not blocking
        else Gate(GATES[3], False, "; ".join(f"{v.rule}: {v.message}" for v in blocking[:5]))
    )
    before_cost = baseline.outputs["costEstimate"]["monthly"]["expected"]
    after_cost = after.outputs["costEstimate"]["monthly"]["expected"]
    delta = after_cost - before_cost
    budget = parsed.spec.observability.budget
    if budget is None:
        cost = Gate(
            GATES[4], False, f"{plan.target} has no budget (observability.budget) to hold the change against"
        )
    else:
        headroom = budget.monthly_limit_usd - before_cost
        cost = Gate(
            GATES[4],
            delta <= headroom,
            f"expected cost {before_cost:,.2f} -> {after_cost:,.2f} USD/month ({delta:+,.2f}); "
            f"headroom {headroom:,.2f} under the {budget.monthly_limit_usd:,.0f} budget",
        )
    return [policy, cost]


def write(plan: Plan) -> None:
    """Write the target file, unless it changed since it was read."""
    if _read(plan.target_file) != plan.old_text:
        raise PromotionError(f"{plan.target_file} changed since it was read; run promote again")
    plan.target_file.write_text(plan.new_text)
