"""Shared test harness: run programs or single components under the offline runtime."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlops_platform.components.support.tagging import platform_tags
from mlops_platform.infra.offline.runner import SynthResult, run_program, synthesize
from mlops_platform.policies.graph import Graph, Resource

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("dev", "stage", "prod")
TAGS = platform_tags(environment="dev", project="mlops-platform", owner="ml-platform", cost_center="cc-1")


@functools.cache
def stack(name: str) -> SynthResult:
    """Each stack is synthesized once per test session; tests must not mutate the result."""
    return synthesize(name, ROOT)


def run(
    program: Callable[[], Any], *, config: Mapping[str, Any] | None = None, stack_name: str = "test"
) -> SynthResult:
    """Run a program (usually one component) under the recording mocks."""
    return run_program(
        program,
        project="mlops-platform",
        stack=stack_name,
        config={"aws:region": "us-east-1", **(config or {})},
    )


def only(graph: Graph, resource_type: str) -> Resource:
    found = graph.of_type(resource_type)
    assert len(found) == 1, f"expected exactly one {resource_type}, found {[r.name for r in found]}"
    return found[0]


def kubernetes_objects(graph: Graph) -> list[Resource]:
    """Rendered Kubernetes objects (Helm releases and providers excluded)."""
    return [
        r
        for r in graph.resources
        if r.type.startswith("kubernetes:") and r.type != "kubernetes:helm.sh/v3:Release" and r.custom
    ]


def without_aws_credentials(monkeypatch, scratch: Path) -> None:
    """Make the usual credential chain come up empty (no env keys, no profiles, no instance role)."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(scratch / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
