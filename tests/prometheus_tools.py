"""The real Prometheus tools (Debian's ``prometheus`` and ``prometheus-alertmanager`` packages) run on
the exact rules and Alertmanager config the stacks render."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml

from mlops_platform.policies.graph import Graph
from tests.helm_render import PROGRAM_DIR, RELEASE

PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
TOOLS_REQUIRED = os.environ.get("MLOPS_REQUIRE_TOOLS") == "1" or os.environ.get("CI") == "true"
"""`.ci/run` sets MLOPS_REQUIRE_TOOLS=1: in CI a missing tool fails these tests, never skips them."""


def tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed: apt-get install {package} (.ci/run installs it)"
    if TOOLS_REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


def promtool() -> str:
    return tool("promtool", "prometheus")


def amtool() -> str:
    return tool("amtool", "prometheus-alertmanager")


def alertmanager() -> str:
    return tool("prometheus-alertmanager", "prometheus-alertmanager")


def rule_files(graph: Graph, folder: Path) -> dict[str, Path]:
    """Every PrometheusRule of the graph as a Prometheus rule file: resource name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for rule_set in graph.of_type(PROMETHEUS_RULE):
        path = folder / f"{rule_set.name}.yaml"
        path.write_text(yaml.safe_dump({"groups": rule_set.inputs["spec"]["groups"]}, sort_keys=False))
        written[rule_set.name] = path
    return written


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, timeout=120)


def alerting_rules(graph: Graph) -> dict[str, dict[str, Any]]:
    """Alert name -> its rule (the first, for alerts rendered once per burn window)."""
    found: dict[str, dict[str, Any]] = {}
    for rule_set in graph.of_type(PROMETHEUS_RULE):
        for group in rule_set.inputs["spec"]["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found.setdefault(rule["alert"], rule)
    return found


def annotations(rule: dict[str, Any], labels: dict[str, str], value: str = "") -> dict[str, str]:
    """The rule's annotations as Prometheus expands them for an alert with these labels and value."""

    def expand(text: str) -> str:
        text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: labels.get(m[1], ""), text)
        return text.replace("{{ $value }}", value)

    return {key: expand(text) for key, text in rule["annotations"].items()}


def alertmanager_config(graph: Graph) -> dict[str, Any]:
    """The Alertmanager config the operator gets: the chart's default ``alertmanager.config`` merged
    with the release's values, exactly as Helm coalesces them."""
    (release,) = [r for r in graph.of_type(RELEASE) if r.inputs["name"] == "kube-prometheus-stack"]
    chart = helm.Chart.load((PROGRAM_DIR / release.inputs["chart"]).resolve())
    return chart.merge_values(release.inputs["values"])["alertmanager"]["config"]
