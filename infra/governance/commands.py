"""The governance commands of ``blueprint``: promote, registry-export and evidence."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path
from typing import Any

from mlops_platform.components.support import files
from mlops_platform.infra.governance import alerts, history, promotion, registry


class GovernanceInputError(Exception):
    """Printed by the CLI without a traceback, exit 2."""


_INPUT_ERRORS = (
    promotion.PromotionError,
    registry.RegistryUnavailable,
    alerts.AlertHistoryError,
    history.GitError,
)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _check_branch(root: Path, plan: promotion.Plan, branch: str) -> tuple[Path, str]:
    top = history.repository_root(root)
    if top is None:
        raise GovernanceInputError(f"--branch needs a git repository; {root} is not in one")
    name = branch or f"promote/{plan.model}-{plan.version['name']}-to-{plan.target}"
    history.check_branch_name(top, name)
    if history.branch_exists(top, name):
        raise GovernanceInputError(f"branch {name} already exists; name another with --branch NAME")
    if history.committed_text(top, plan.target_file.resolve()) != plan.old_text:
        raise GovernanceInputError(
            f"{plan.target_file.relative_to(root)} has uncommitted changes; commit or stash them, "
            "so that the promotion commit holds the promotion only"
        )
    return top, name


def cmd_promote(args: argparse.Namespace) -> int:
    root = Path.cwd()
    if args.force is not None and not args.force.strip():
        raise GovernanceInputError("--force needs a reason (it is recorded in the commit)")
    sources = promotion.Sources(
        tracking_uri=args.tracking_uri
        or (None if args.registry_export else os.environ.get("MLFLOW_TRACKING_URI")),
        registry_export=args.registry_export,
        alerts_export=args.alerts,
        prometheus_url=args.prometheus_url,
    )
    try:
        plan = promotion.prepare(root, args.model, args.source, args.target, args.version)
        if not plan.changes:
            print(
                f"{plan.target} already serves {plan.model} {plan.version['name']} "
                f"({plan.version['imageDigest']}) as its {plan.role}; nothing to promote"
                + (
                    ""
                    if plan.role == "stable"
                    else " (once its Rollout is promoted, make it the stable in the stack file and drop the canary)"
                )
            )
            return 0
        branch = _check_branch(root, plan, args.branch) if args.branch is not None else None
        promotion.run_gates(plan, root, sources, _now())
    except _INPUT_ERRORS as exc:
        raise GovernanceInputError(str(exc)) from exc
    print(
        f"Promote {plan.model} {plan.version['name']} ({plan.version['imageDigest']}) "
        f"from {plan.source} to {plan.target}, as its {plan.role}"
    )
    print("\nGates:")
    for gate in plan.gates:
        print(f"  {'pass' if gate.passed else 'FAIL'}  {gate.name:<19} {gate.detail}")
    print(f"\nDiff of {plan.target_file.relative_to(root)}:\n")
    sys.stdout.write(plan.diff(root))
    if plan.failed and args.force is None:
        print(
            f"\nNot written: {len(plan.failed)} of {len(plan.gates)} gates failed. Fix them, or pass "
            "--force REASON to promote anyway (the reason is recorded in the commit)."
        )
        return 1
    forced = args.force if plan.failed else None
    try:
        promotion.write(plan)
        message = plan.commit_message(forced)
        if branch is not None:
            top, name = branch
            commit = history.commit_on_branch(top, plan.target_file.resolve(), name, message)
            print(f"\nCommitted {commit[:12]} on branch {name}; push it and open a pull request.")
        else:
            print(
                f"\nWrote {plan.target_file.relative_to(root)}. Commit it with this message (it records the gates):\n"
            )
            sys.stdout.write(message)
    except _INPUT_ERRORS as exc:
        raise GovernanceInputError(str(exc)) from exc
    if forced:
        print(f"\nForced past {len(plan.failed)} failed gate(s): {forced}", file=sys.stderr)
    return 0


def cmd_registry_export(args: argparse.Namespace) -> int:
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not uri:
        raise GovernanceInputError("pass --tracking-uri URI or set MLFLOW_TRACKING_URI")
    try:
        reading = registry.read_mlflow(uri, args.model)
    except registry.RegistryUnavailable as exc:
        raise GovernanceInputError(str(exc)) from exc
    missing = sorted(set(args.model) - set(reading.models))
    text = json.dumps(registry.export_document(reading, _now()), indent=2, sort_keys=True) + "\n"
    if args.output in (None, "-"):
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
        print(f"wrote {len(reading.models)} registered model(s) from {uri} to {args.output}", file=sys.stderr)
    for name in missing:
        print(f"blueprint registry-export: {name} is not registered in {uri}", file=sys.stderr)
    return 1 if missing else 0


def cmd_evidence(args: argparse.Namespace) -> int:
    from mlops_platform.infra import config as platform_config
    from mlops_platform.infra.governance import evidence
    from mlops_platform.infra.offline.runner import load_project, synthesize
    from mlops_platform.policies import offline
    from mlops_platform.policies import registry as policy_registry

    root = Path.cwd()
    try:
        parsed = platform_config.load_stack(root, args.stack)
    except platform_config.ConfigError as exc:
        raise GovernanceInputError(str(exc)) from exc
    spec = next((m for m in parsed.spec.models if m.name == args.model), None)
    if spec is None:
        served = ", ".join(m.name for m in parsed.spec.models) or "none"
        raise GovernanceInputError(f"unknown model {args.model!r}: stack {args.stack} serves {served}")
    try:
        scans = dict(
            evidence.scan_summary(files.read_json(path, "scan findings"), path)
            for path in args.scan_findings or []
        )
    except ValueError as exc:
        raise GovernanceInputError(str(exc)) from exc
    graph = synthesize(args.stack, root).graph
    outputs: dict[str, Any] = dict(graph.outputs)
    source = "the outputs the program exports (offline: placeholders where AWS assigns values)"
    if args.outputs:
        deployed = files.read_json(args.outputs, "stack outputs")
        if args.model not in (deployed.get("models") or {}):
            raise GovernanceInputError(
                f"{args.outputs} has no models.{args.model}: is it stack {args.stack}'s outputs?"
            )
        outputs.update(deployed)
        source = f"the deployed stack's outputs ({Path(args.outputs).name})"
    environment = parsed.spec.environment.value
    top = history.repository_root(root)
    promotions = (
        history.promotion_commits(top, load_project(root).stack_file(args.stack).resolve(), args.model)
        if top
        else []
    )
    objective = spec.slo and {
        "availabilityTarget": spec.slo.availability_target,
        "latencyP95Ms": spec.slo.latency_p95_ms,
    }
    doc = evidence.build(
        evidence.Inputs(
            model=args.model,
            stack=args.stack,
            traffic=spec.traffic_roles(),
            environment=environment,
            graph=graph,
            violations=offline.evaluate(graph, policy_registry.policy_config(environment)),
            outputs=outputs,
            outputs_source=source,
            rules_run=len(policy_registry.RULES),
            slo=objective,
            promotions=promotions,
            scans=scans,
        )
    )
    directory = Path(args.output)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        stem = directory / f"evidence-{args.model}-{args.stack}"
        stem.with_suffix(".md").write_text(evidence.markdown(doc))
        stem.with_suffix(".json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    except OSError as exc:
        raise GovernanceInputError(f"cannot write to {directory}: {exc.strerror}") from exc
    print(f"wrote {stem}.md and {stem}.json", file=sys.stderr)
    return 0


SCAN_FINDINGS_HELP = "`aws ecr describe-image-scan-findings --output json` of an image (repeatable)"


def _command(commands: Any, name: str, func: Any, help: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(name, help=help)
    parser.set_defaults(func=func)
    return parser


def add_commands(commands: Any) -> None:
    p = _command(
        commands,
        "promote",
        cmd_promote,
        "serve in one stack the version another serves, after five gates (docs/promotion.md)",
    )
    p.add_argument("model", help="model name, as in the stack files")
    p.add_argument(
        "--from", dest="source", required=True, metavar="STACK", help="stack that serves the version"
    )
    p.add_argument("--to", dest="target", required=True, metavar="STACK", help="stack to serve it in")
    p.add_argument("--version", help="version name in the source (default: the source's stable)")
    registry_source = p.add_mutually_exclusive_group()
    registry_source.add_argument(
        "--tracking-uri", help="MLflow registry to ask (default: $MLFLOW_TRACKING_URI)"
    )
    registry_source.add_argument(
        "--registry-export", metavar="FILE", help="a `blueprint registry-export` file instead of MLflow"
    )
    history_source = p.add_mutually_exclusive_group()
    history_source.add_argument(
        "--alerts", metavar="FILE", help="the source's ALERTS as /api/v1/query_range JSON (docs/promotion.md)"
    )
    history_source.add_argument("--prometheus-url", help="the source's Prometheus, to query ALERTS directly")
    p.add_argument(
        "--branch",
        nargs="?",
        const="",
        metavar="NAME",
        help="commit on a new branch (default name: promote/<model>-<version>-to-<stack>)",
    )
    p.add_argument(
        "--force", metavar="REASON", help="write even if gates fail; the reason goes in the commit"
    )

    p = _command(
        commands,
        "registry-export",
        cmd_registry_export,
        "write registered models' versions and aliases from MLflow to a JSON file",
    )
    p.add_argument("model", nargs="+", help="registered model names")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI)")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")

    p = _command(
        commands,
        "evidence",
        cmd_evidence,
        "write a model's evidence pack (Markdown and JSON) for a change board or an auditor",
    )
    p.add_argument("model", help="model name")
    p.add_argument("--stack", required=True, help="stack name: a stacks/Pulumi.<stack>.yaml file")
    p.add_argument("--outputs", metavar="FILE", help="`pulumi stack output --json` of the deployed stack")
    p.add_argument("--scan-findings", metavar="FILE", action="append", help=SCAN_FINDINGS_HELP)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="folder to write the report into")
