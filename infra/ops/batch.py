"""``blueprint batch run MODEL --stack S``: one run of a model's batch scoring.

Offline (the default) it prints the Workflow it would submit: the stack is synthesized, and the
Workflow names the WorkflowTemplate the stack renders for the model. With ``--submit`` it creates
that Workflow through the Kubernetes API (Argo's engine API is its CRDs; the Argo server is not
needed and prod may run none), with ``kubectl create`` and the current kubeconfig, and prints the
name Kubernetes gave it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from typing import Any

import yaml

from mlops_platform.components.lifecycle.workflows import WORKFLOW_LABEL, submission
from mlops_platform.components.support import kube
from mlops_platform.infra.offline.runner import synthesize

TEMPLATE = "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate"


class BatchInputError(Exception):
    """A model without a batch job, kubectl missing: exit 2, no traceback."""


def workflow_for(stack: str, model: str) -> dict[str, Any]:
    """The Workflow that runs ``model``'s batch scoring once in ``stack``."""
    graph = synthesize(stack).graph
    jobs = graph.outputs.get("batchScoring") or {}
    if model not in jobs:
        models = sorted(graph.outputs.get("models") or {})
        with_batch = ", ".join(sorted(jobs)) or "none"
        if model not in models:
            raise BatchInputError(
                f"stack {stack!r} has no model {model!r} (models: {', '.join(models) or 'none'})"
            )
        raise BatchInputError(
            f"model {model!r} has no batch job in stack {stack!r}: add `batch:` to it in "
            f"stacks/Pulumi.{stack}.yaml (models with one: {with_batch})"
        )
    job = jobs[model]
    template = next(
        r
        for r in graph.of_type(TEMPLATE)
        if r.inputs["metadata"]["name"] == job["workflowTemplate"]
        and r.inputs["metadata"]["namespace"] == job["namespace"]
    )
    source = template.inputs["metadata"]["labels"]
    labels = {k: source[k] for k in (kube.TEAM_LABEL, kube.MODEL_LABEL, WORKFLOW_LABEL)}
    return submission(job["namespace"], job["workflowTemplate"], labels, {})


def cmd_batch_run(args: argparse.Namespace) -> int:
    workflow = workflow_for(args.stack, args.model)
    text = yaml.safe_dump(workflow, sort_keys=False)
    if not args.submit:
        sys.stdout.write(text)
        print(
            f"offline: this is the Workflow `--submit` creates in namespace "
            f"{workflow['metadata']['namespace']} (kubectl, current context)",
            file=sys.stderr,
        )
        return 0
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        raise BatchInputError(
            "--submit needs kubectl on PATH, with the cluster in its kubeconfig "
            "(aws eks update-kubeconfig --name <clusterName output>)"
        )
    command = [kubectl, "create", "-f", "-", "-o", "name"]
    if args.context:
        command[1:1] = ["--context", args.context]
    done = subprocess.run(command, input=text, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"blueprint batch run: kubectl create failed:\n{done.stderr.strip()}", file=sys.stderr)
        return 1
    print(done.stdout.strip())
    print(
        f"submitted; follow it with: kubectl get {done.stdout.strip()} -n "
        f"{workflow['metadata']['namespace']} -w",
        file=sys.stderr,
    )
    return 0


def add_commands(commands: Any, parser_class: type) -> None:
    batch = commands.add_parser("batch", help="batch scoring of a model: run it once (docs/pipelines.md)")
    actions = batch.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=parser_class)
    p = actions.add_parser(
        "run",
        help="print the Workflow that scores the model's batch input once, or --submit it",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("model", help="model name, as in the stack file")
    p.add_argument("--stack", required=True, help="stack name: a stacks/Pulumi.<stack>.yaml file")
    p.add_argument(
        "--submit", action="store_true", help="create the Workflow in the cluster (kubectl, current context)"
    )
    p.add_argument("--context", help="kubeconfig context to submit with (default: the current one)")
    p.set_defaults(func=cmd_batch_run)
