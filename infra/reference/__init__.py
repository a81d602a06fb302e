"""Reference pages generated from the code, so they cannot drift: ``blueprint docs`` writes them and
a test fails when a committed page is stale."""

from __future__ import annotations

from pathlib import Path

from mlops_platform.infra.reference.components import components_reference
from mlops_platform.infra.reference.configuration import configuration_reference, pulumi_project_file
from mlops_platform.infra.reference.pages import (
    policies_reference,
    policy_config_page,
    serving_metrics_reference,
)

ENVIRONMENTS = ("dev", "stage", "prod")

GENERATED = {
    "docs/configuration.md": configuration_reference,
    "docs/components.md": components_reference,
    "docs/serving-metrics.md": serving_metrics_reference,
    "docs/policies.md": policies_reference,
    "Pulumi.yaml": pulumi_project_file,
    **{f"policies/config/{env}.json": policy_config_page(env) for env in ENVIRONMENTS},
}
"""Page path (from the project root) -> function that renders it."""


def write_all(root: Path) -> list[str]:
    written = []
    for relative, render in GENERATED.items():
        target = root / relative
        text = render(root) if relative == "Pulumi.yaml" else render()
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(relative)
    return written


def stale(root: Path) -> list[str]:
    found = []
    for relative, render in GENERATED.items():
        text = render(root) if relative == "Pulumi.yaml" else render()
        target = root / relative
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            found.append(relative)
    return found
