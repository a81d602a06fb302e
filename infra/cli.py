"""``blueprint``: offline preview, synthesis, policy checks, cost and PR diffs, and AWS operations.

Exit codes: 0 success; 1 a check failed (policy violation, drift, cost threshold, program error);
2 bad input (unknown stack, missing file, bad config or arguments).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_platform.components.support import files
from mlops_platform.infra.governance import commands as governance
from mlops_platform.infra.offline import preview
from mlops_platform.infra.offline.runner import SynthError, synthesize
from mlops_platform.infra.ops import batch
from mlops_platform.policies.graph import Graph


class UsageError(Exception):
    """Bad command-line input: printed without a traceback, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors exit 2, like ours
        self.print_usage(sys.stderr)
        print(f"blueprint: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _write(text: str, output: str | None) -> None:
    if output in (None, "-"):
        sys.stdout.write(text)
        return
    try:
        Path(output).write_text(text)
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from exc


def stack_references(specs: Sequence[str] | None) -> dict[str, Any]:
    """``NAME=FILE`` pairs: the outputs (``pulumi stack output --json``) a StackReference to NAME sees."""
    references = {}
    for spec in specs or ():
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise UsageError(f"--stack-reference must be NAME=FILE (got {spec!r})")
        references[name] = read_json(path, "stack outputs")
    return references


def read_json(path: str, what: str) -> Any:
    try:
        return files.read_json(path, what)
    except files.FileInputError as exc:
        raise UsageError(str(exc)) from exc


def load_graph(path: str) -> Graph:
    """A graph file written by `blueprint synth`."""
    try:
        return Graph.from_document(files.read_json(path, "graph"))
    except files.FileInputError as exc:
        raise UsageError(str(exc)) from exc
    except ValueError as exc:  # also JSON syntax errors
        raise UsageError(f"graph file {path}: {exc}") from exc


def cmd_preview(args: argparse.Namespace) -> int:
    result = synthesize(args.stack, stack_outputs=stack_references(args.stack_reference))
    sys.stdout.write(preview.render(result.graph))
    for severity, message in result.diagnostics:
        print(f"{severity}: {message}", file=sys.stderr)
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    result = synthesize(args.stack, stack_outputs=stack_references(args.stack_reference))
    _write(result.graph.to_json(), args.output)
    if args.output not in (None, "-"):
        print(
            f"wrote {len(result.graph.resources)} resources of stack {args.stack} to {args.output}",
            file=sys.stderr,
        )
    return 0


def cmd_outputs(args: argparse.Namespace) -> int:
    result = synthesize(args.stack, stack_outputs=stack_references(args.stack_reference))
    _write(json.dumps(result.graph.outputs, indent=2, sort_keys=True) + "\n", args.output)
    if args.output not in (None, "-"):
        print(
            f"wrote the {len(result.graph.outputs)} outputs of stack {args.stack} to {args.output} "
            "(secrets masked, as `pulumi stack output --json` shows them)",
            file=sys.stderr,
        )
    return 0


def stack_environment(outputs: dict[str, Any], stack: str) -> str | None:
    """The environment whose policy config applies: the stack's `environment` output, or its name."""
    from mlops_platform.infra.config import ENVIRONMENTS

    environment = outputs.get("environment") or stack
    return str(environment) if environment in ENVIRONMENTS else None


def _environment(args: argparse.Namespace, graph_outputs: dict[str, Any], stack: str) -> str:
    """``--environment``, else what the stack says; a UsageError when neither tells."""
    environment = args.environment or stack_environment(graph_outputs, stack)
    if environment is None:
        from mlops_platform.infra.config import ENVIRONMENTS

        raise UsageError(
            f"cannot tell the environment of stack {stack!r} (no `environment` output); "
            f"pass --environment {'|'.join(ENVIRONMENTS)} or --policy-config FILE"
        )
    return environment


def cmd_check(args: argparse.Namespace) -> int:
    from mlops_platform.policies import governance, offline, registry

    config = None
    if args.policy_config:  # read first: a bad config fails before the (slower) synthesis
        config = read_json(args.policy_config, "policy config")
        problems = offline.check_config(config)
        if problems:
            raise UsageError(
                f"policy config {args.policy_config} is invalid:\n" + "\n".join(f"  {p}" for p in problems)
            )
    if args.graph:
        graph = load_graph(args.graph)
    elif args.stack:
        graph = synthesize(args.stack, stack_outputs=stack_references(args.stack_reference)).graph
    else:
        raise UsageError("name a stack, or pass --graph FILE written by `blueprint synth`")
    if config is None:
        config = registry.policy_config(_environment(args, graph.outputs, graph.stack))
    violations = offline.evaluate(graph, config)
    coverage = governance.monitoring_coverage(governance.monitored_models(offline.policy_resources(graph)))
    if args.format == "json":
        doc = json.loads(offline.render_json(graph.stack, violations, len(registry.RULES)))
        doc["monitoringCoverage"] = {str(tier): row for tier, row in coverage.items()}
        sys.stdout.write(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(offline.render_table(graph.stack, violations, len(registry.RULES)))
        sys.stdout.write(governance.coverage_table(coverage))
    return 1 if offline.blocking(violations) else 0


def cmd_cost(args: argparse.Namespace) -> int:
    from mlops_platform.infra.cost import report as cost_report

    if not args.stack and not args.from_outputs:
        raise UsageError(
            "name one or more stacks, or pass --from-outputs FILE (`pulumi stack output --json`)"
        )
    try:
        docs = []
        for path in args.from_outputs or []:
            doc = cost_report.estimate_from_outputs(read_json(path, "stack outputs"), path)
            docs.append((str(doc.get("stack") or path), doc))
        names = [name for name, _ in docs] + list(args.stack)
        if len(set(names)) < len(names):  # before any synthesis: it is the slow part
            raise UsageError(f"each stack may be named once (got {', '.join(names)})")
        for stack in args.stack:
            graph = synthesize(stack, stack_outputs=stack_references(args.stack_reference)).graph
            docs.append((stack, cost_report.estimate_from_outputs(graph.outputs, f"stack {stack}")))
    except cost_report.NoEstimate as exc:
        raise UsageError(str(exc)) from exc
    sys.stdout.write(cost_report.render(docs, args.format))
    return 0


def _aws(region: str | None) -> Any:
    """A boto3 session, or a UsageError (exit 2) naming what is missing."""
    from mlops_platform.infra.ops.aws_session import AwsAccessError, session

    try:
        return session(region)
    except AwsAccessError as exc:
        raise UsageError(str(exc)) from exc


def cmd_refresh_prices(args: argparse.Namespace) -> int:
    import datetime

    import botocore.exceptions

    from mlops_platform.infra.cost import refresh as price_refresh
    from mlops_platform.infra.cost.prices import PRICES_DIR, PriceTable, PricingError, available_regions

    directory = Path(args.prices_dir) if args.prices_dir else PRICES_DIR
    if not directory.is_dir():
        raise UsageError(f"--prices-dir {directory} is not a directory")
    regions = args.region or available_regions(directory)
    if not regions:
        raise UsageError(f"no price tables in {directory}; name the regions with --region")
    client = _aws(price_refresh.PRICING_REGION).client("pricing")
    written = []
    try:
        for region in regions:
            # A new region prices the same entries as an existing table.
            existing = (
                region
                if (directory / f"{region}.json").exists()
                else next(iter(available_regions(directory)), None)
            )
            if existing is None:
                raise UsageError(f"no price table in {directory} to take the list of entries from")
            try:
                template = PriceTable.load(existing, directory)
            except PricingError as exc:
                raise UsageError(str(exc)) from exc
            result = price_refresh.refresh(client, region, template, datetime.date.today())
            target = directory / f"{region}.json"
            target.write_text(json.dumps(result.table.to_document(), indent=2) + "\n")
            written.append(target)
            print(
                f"wrote {target}: {len(result.table.ec2)} instance types, {len(result.table.rds_instances)} RDS classes",
                file=sys.stderr,
            )
            if result.not_offered:
                print(
                    f"  not offered in {region} (left out): {', '.join(result.not_offered)}", file=sys.stderr
                )
    except botocore.exceptions.ClientError as exc:
        print(f"blueprint refresh-prices: the Price List API refused: {exc}", file=sys.stderr)
        return 1
    except price_refresh.RefreshError as exc:
        print(f"blueprint refresh-prices: {exc}; the table was not rewritten", file=sys.stderr)
        return 1
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from mlops_platform.infra import diff
    from mlops_platform.policies import offline, registry

    threshold = args.fail_on_cost_increase
    if threshold is not None and threshold < 0:
        raise UsageError(f"--fail-on-cost-increase must be a percentage >= 0 (got {threshold})")
    try:
        base, label, notes = diff.base_graph(args.base, args.stack, Path.cwd())
    except diff.BaseError as exc:
        print(f"blueprint diff: {exc}", file=sys.stderr)
        return exc.exit_code
    head = synthesize(args.stack, stack_outputs=stack_references(args.stack_reference)).graph
    environment = stack_environment(head.outputs, args.stack)
    if environment is not None:
        config = registry.policy_config(environment)
        new_violations = diff.introduced(offline.evaluate(base, config), offline.evaluate(head, config))
    else:
        new_violations = []
        notes.append(f"Policies not evaluated: stack {args.stack} has no `environment` output.")
    report = diff.Report(
        args.stack,
        label,
        diff.compare(base, head),
        diff.cost_delta(base, head),
        new_violations,
        notes,
        diff.output_changes(base, head),
    )
    _write(
        report.markdown() if args.format == "markdown" else json.dumps(report.to_json(), indent=2) + "\n",
        args.output,
    )
    failed = 0
    if args.fail_on_replace:
        for change, why in diff.dangerous_replacements(report.changes, base):
            forced = ", ".join(change.replaced_by) or "a replace-on-change input"
            print(
                f"blueprint diff: {why} {change.resource.type} {change.resource.name} would be replaced "
                f"(forced by {forced})",
                file=sys.stderr,
            )
            failed = 1
    if threshold is not None:
        percent = report.cost.percent("expected")
        if percent is None:
            print(
                "blueprint diff: no cost estimate on one side; --fail-on-cost-increase not applied",
                file=sys.stderr,
            )
        elif percent > threshold:
            shown = "from zero" if percent == float("inf") else f"by {percent:.1f}%"
            print(
                f"blueprint diff: expected monthly cost rises {shown} (limit {threshold:g}%)",
                file=sys.stderr,
            )
            failed = 1
    return failed


def cmd_pr_comment(args: argparse.Namespace) -> int:
    from mlops_platform.infra import pr_comment

    if not Path(args.reports).is_dir():
        raise UsageError(f"--reports {args.reports} is not a directory")
    try:
        reports = pr_comment.load(args.reports, args.stack)
    except files.FileInputError as exc:
        raise UsageError(str(exc)) from exc
    _write(pr_comment.compose(reports, args.artifact_url), args.output)
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    import botocore.exceptions

    from mlops_platform.components.support.aws import REGION as REGION_PATTERN
    from mlops_platform.infra.ops import bootstrap

    if not REGION_PATTERN.match(args.region):
        raise UsageError(f"--region must be an AWS region such as us-east-1 (got {args.region!r})")
    session = _aws(args.region)
    try:
        plan = bootstrap.bootstrap(session, args.env, args.region, bucket=args.bucket, dry_run=args.dry_run)
    except bootstrap.BootstrapError as exc:
        print(f"blueprint bootstrap: {exc}", file=sys.stderr)
        return 1
    except botocore.exceptions.ClientError as exc:
        print(f"blueprint bootstrap: AWS refused: {exc}", file=sys.stderr)
        return 1
    backend = plan.backend
    print(f"State backend of {args.env} in {backend.region} (account {backend.account_id})")
    print(f"  bucket   {backend.bucket}")
    print(f"  KMS key  {backend.alias}")
    print()
    if not plan.changes:
        print("Nothing to change: the backend already matches.")
    else:
        print("Would change (dry run, nothing changed):" if plan.dry_run else "Changed:")
        for change in plan.changes:
            print(f"  - {change}")
    print()
    print("Use it:" if not plan.dry_run else "Once created, use it:")
    for command in backend.commands():
        print(f"  {command}")
    return 0


def _stack_config(stack: str) -> Any:
    from mlops_platform.infra import config

    try:
        return config.load_stack(Path.cwd(), stack)
    except config.ConfigError as exc:
        raise SynthError(str(exc), 2) from exc


def cmd_verify(args: argparse.Namespace) -> int:
    from mlops_platform.infra.ops import verify

    platform = _stack_config(args.stack)
    try:
        outputs = verify.check_outputs(read_json(args.outputs, "stack outputs"), args.outputs)
    except verify.OutputsError as exc:
        raise UsageError(str(exc)) from exc
    if outputs["region"] != platform.region:
        raise UsageError(
            f"{args.outputs} is for region {outputs['region']}, but stack {args.stack} deploys to {platform.region}; "
            "is it the right stack's outputs?"
        )
    checks = verify.Verifier(_aws(str(outputs["region"])), platform, outputs).run()
    render = verify.render_json if args.format == "json" else verify.render_table
    sys.stdout.write(render(args.stack, checks))
    return 1 if any(verify.failures(checks)) else 0


def cmd_docs(args: argparse.Namespace) -> int:
    from mlops_platform.infra import reference as docs

    root = Path.cwd()
    if args.check:
        stale = docs.stale(root)
        for page in stale:
            print(f"{page} is out of date; run `blueprint docs`", file=sys.stderr)
        return 1 if stale else 0
    for page in docs.write_all(root):
        print(f"wrote {page}", file=sys.stderr)
    return 0


def cmd_image(args: argparse.Namespace) -> int:
    """Print the packages an image adds (``--requirements``), or the commands that build it."""
    from mlops_platform.infra.ops import images

    build = images.BUILDS[args.image]
    if args.requirements:
        print("\n".join(build.requirements))
        return 0
    if not args.registry:
        raise UsageError("--registry is required (or pass --requirements to list the image's packages)")
    print("\n".join(images.build_commands(build, args.registry)))
    return 0


def cmd_engine_images(args: argparse.Namespace) -> int:
    from mlops_platform.infra.ops import images

    if not args.registry:
        raise UsageError("--registry is required: the platform registry host the image is mirrored to")
    print("\n".join(images.mirror_commands(args.registry)))
    return 0


REFERENCE_HELP = (
    "outputs a StackReference to NAME sees offline: a `pulumi stack output --json` file (repeatable)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="blueprint", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = commands.add_parser("preview", help="print the resource tree of a stack, offline")
    p.add_argument("stack", help="stack name: a stacks/Pulumi.<stack>.yaml file")
    p.add_argument("--stack-reference", action="append", metavar="NAME=FILE", help=REFERENCE_HELP)
    p.set_defaults(func=cmd_preview)

    p = commands.add_parser(
        "synth", help="write the resource graph of a stack as JSON (docs/synth-format.md)"
    )
    p.add_argument("stack", help="stack name: a stacks/Pulumi.<stack>.yaml file")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--stack-reference", action="append", metavar="NAME=FILE", help=REFERENCE_HELP)
    p.set_defaults(func=cmd_synth)

    p = commands.add_parser(
        "outputs",
        help="write the stack outputs a deployment would export, offline (a team's PlatformRef reads them)",
    )
    p.add_argument("stack", help="stack name: a stacks/Pulumi.<stack>.yaml file")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument("--stack-reference", action="append", metavar="NAME=FILE", help=REFERENCE_HELP)
    p.set_defaults(func=cmd_outputs)

    p = commands.add_parser(
        "check", help="evaluate the policy pack against a stack offline (exit 1 on mandatory violations)"
    )
    p.add_argument("stack", nargs="?", help="stack name: a stacks/Pulumi.<stack>.yaml file")
    p.add_argument("--graph", metavar="FILE", help="check a graph written by `blueprint synth` instead")
    p.add_argument(
        "--policy-config",
        metavar="FILE",
        help="a --policy-pack-config JSON document (default: policies/config/<environment>.json's values)",
    )
    p.add_argument(
        "--environment",
        choices=("dev", "stage", "prod"),
        help="environment whose policy config applies (default: the stack's `environment` output)",
    )
    p.add_argument(
        "--format", choices=("table", "json"), default="table", help="output format (default: table)"
    )
    p.add_argument("--stack-reference", action="append", metavar="NAME=FILE", help=REFERENCE_HELP)
    p.set_defaults(func=cmd_check)

    p = commands.add_parser(
        "cost",
        help="monthly cost per component, team and model, and cost per 1,000 inferences (docs/cost-model.md)",
    )
    p.add_argument("stack", nargs="*", help="stack names (stacks/Pulumi.<stack>.yaml); several roll up")
    p.add_argument(
        "--from-outputs",
        metavar="FILE",
        action="append",
        help="read an estimate from `pulumi stack output --json` (repeatable; with or instead of stacks)",
    )
    p.add_argument(
        "--format", choices=("table", "markdown", "json", "csv"), default="table", help="default: table"
    )
    p.add_argument("--stack-reference", action="append", metavar="NAME=FILE", help=REFERENCE_HELP)
    p.set_defaults(func=cmd_cost)

    p = commands.add_parser(
        "diff", help="Markdown report of what changes against a base: resources, replacements, cost, policies"
    )
    p.add_argument("stack", help="stack name: a stacks/Pulumi.<stack>.yaml file")
    p.add_argument(
        "--base",
        required=True,
        help="a git ref (checked out into a temporary worktree) or a `blueprint synth` file",
    )
    p.add_argument("--format", choices=("markdown", "json"), default="markdown", help="default: markdown")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.add_argument(
        "--fail-on-cost-increase",
        type=float,
        metavar="PCT",
        help="exit 1 if the expected monthly cost rises by more than PCT percent",
    )
    p.add_argument(
        "--fail-on-replace",
        action="store_true",
        help="exit 1 if a protected or stateful resource (bucket, database, key, registry, secret) would be replaced",
    )
    p.add_argument("--stack-reference", action="append", metavar="NAME=FILE", help=REFERENCE_HELP)
    p.set_defaults(func=cmd_diff)

    p = commands.add_parser(
        "pr-comment", help="fold the stacks' diff reports into one PR comment under GitHub's size limit"
    )
    p.add_argument("--reports", required=True, metavar="DIR", help="folder of diff-<stack>.md/.err/.rc files")
    p.add_argument("--stack", action="append", required=True, help="stack to include, in order (repeatable)")
    p.add_argument("--artifact-url", help="link to the workflow artifact with the full reports")
    p.add_argument("-o", "--output", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_pr_comment)

    p = commands.add_parser(
        "bootstrap",
        help="create or repair the S3 state backend and KMS secrets key of an environment (idempotent)",
    )
    p.add_argument("--env", required=True, choices=("dev", "stage", "prod"), help="environment")
    p.add_argument("--region", required=True, help="region of the state bucket and key, e.g. us-east-1")
    p.add_argument(
        "--bucket", help="state bucket name (default: mlops-platform-<env>-state-<account>-<region>)"
    )
    p.add_argument("--dry-run", action="store_true", help="report what would change; change nothing")
    p.set_defaults(func=cmd_bootstrap)

    p = commands.add_parser(
        "verify", help="check the live resources of a deployed stack against its config (exit 1 on drift)"
    )
    p.add_argument("stack", help="stack name: a stacks/Pulumi.<stack>.yaml file")
    p.add_argument(
        "--outputs", required=True, metavar="FILE", help="`pulumi stack output --json` of the stack"
    )
    p.add_argument("--format", choices=("table", "json"), default="table", help="default: table")
    p.set_defaults(func=cmd_verify)

    p = commands.add_parser(
        "refresh-prices", help="regenerate the cost model's price tables from the AWS Price List API"
    )
    p.add_argument(
        "--region", action="append", help="region to refresh or add (repeatable; default: every table)"
    )
    p.add_argument("--prices-dir", help="directory of the tables (default: infra/cost/prices)")
    p.set_defaults(func=cmd_refresh_prices)

    for command, image, what in (
        ("mlflow-image", "mlflow", "the pinned MLflow server image"),
        ("monitor-image", "monitor", "the pinned model monitor image (and sign it)"),
    ):
        p = commands.add_parser(command, help=f"print the commands that build and push {what}")
        choice = p.add_mutually_exclusive_group()
        choice.add_argument(
            "--registry", help="registry host, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com"
        )
        choice.add_argument(
            "--requirements", action="store_true", help="only print the packages the image adds, one per line"
        )
        p.set_defaults(func=cmd_image, image=image)
    p = commands.add_parser(
        "engine-images",
        help="print the commands that mirror and sign the engine images team pods run (Argo's executor)",
    )
    p.add_argument("--registry", help="registry host, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com")
    p.set_defaults(func=cmd_engine_images)

    p = commands.add_parser(
        "docs", help="regenerate the reference pages generated from code (docs/configuration.md, ...)"
    )
    p.add_argument("--check", action="store_true", help="only report stale pages (exit 1 if any)")
    p.set_defaults(func=cmd_docs)
    governance.add_commands(commands)
    batch.add_commands(commands, _Parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SynthError as exc:
        print(f"blueprint {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except (UsageError, governance.GovernanceInputError, files.FileInputError, batch.BatchInputError) as exc:
        print(f"blueprint {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
