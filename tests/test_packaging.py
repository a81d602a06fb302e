"""The distribution installs one namespace, mlops_platform, and the code only imports through it."""

from __future__ import annotations

import ast
import tomllib

from tests.harness import ROOT

SOURCE_ROOTS = ("components", "infra", "policies")


def test_every_package_folder_is_in_the_distribution():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    folders = {
        "mlops_platform." + ".".join(init.parent.relative_to(ROOT).parts)
        for root in SOURCE_ROOTS
        for init in (ROOT / root).rglob("__init__.py")
    }
    assert folders, "no package folders found"
    assert folders == listed, f"pyproject.toml packages differ from the folders: {sorted(folders ^ listed)}"


def test_code_imports_the_library_through_its_namespace_only():
    """A bare `components`/`infra`/`policies` import would break beside a team's own package of that name."""
    offenders = []
    files = [
        p for root in (*SOURCE_ROOTS, "examples", "tests", "benchmarks") for p in (ROOT / root).rglob("*.py")
    ]
    assert len(files) > 50
    for path in files:
        if path == ROOT / "infra" / "run.py":  # standard library only: it runs before anything is installed
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            offenders += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {n}"
                for n in names
                if n.split(".")[0] in SOURCE_ROOTS
            ]
    assert offenders == []
