"""The distribution installs one namespace, mlops_platform, and the code only imports through it."""

from __future__ import annotations

import ast
import tomllib

from tests.harness import ROOT

SOURCE_ROOTS = ("charts", "components", "infra", "policies")


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


def _site_packages() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def test_a_team_installs_the_wheel_beside_its_own_components_package_and_previews_offline(tmp_path):
    """The team guide, as written: build the wheel, install it into a fresh virtualenv, copy the
    example next to a `components` package of the team's own, and preview it offline against the
    platform's outputs file (`blueprint outputs dev -o platform-outputs.json`)."""
    import shutil
    import subprocess
    import sys
    import zipfile

    wheels = tmp_path / "wheels"
    # Offline: the build backend comes from this environment (the dev extra), not from an index.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("mlops_platform-*.whl")
    tops = {
        n.split("/")[0]
        for n in zipfile.ZipFile(wheel).namelist()
        if not n.split("/")[0].endswith(".dist-info")
    }
    assert tops == {"mlops_platform"}
    # The vendored charts travel with the library, so a platform built from the wheel needs no chart repository.
    assert "mlops_platform/charts/lock.json" in zipfile.ZipFile(wheel).namelist()

    venv = tmp_path / "team-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = next((venv / "lib").glob("python3.*/site-packages"))
    # The dependencies (pulumi, boto3, ...) come from this environment's site-packages, read as a plain
    # path: its .pth files, the editable install of this checkout among them, are not processed.
    (site / "dependencies.pth").write_text(_site_packages() + "\n")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(wheel)], check=True)

    outputs = tmp_path / "platform-outputs.json"
    made = subprocess.run(
        [str(venv / "bin" / "blueprint"), "outputs", "dev", "-o", str(outputs)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    team = tmp_path / "team-model"
    shutil.copytree(ROOT / "examples" / "team-model", team)
    (team / "components").mkdir()
    (team / "components" / "__init__.py").write_text("# the team's own package, which must not clash\n")
    preview = subprocess.run(
        [
            str(venv / "bin" / "blueprint"),
            "preview",
            "dev",
            "--stack-reference",
            f"acme/mlops-platform/dev={outputs}",
        ],
        cwd=team,
        capture_output=True,
        text=True,
    )
    assert preview.returncode == 0, preview.stderr
    assert "mlops:model_endpoint:ModelEndpoint" in preview.stdout
    assert "nlp/sentiment" in preview.stdout
    # It ran the installed wheel, not this checkout.
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import mlops_platform.components as c; print(c.__file__)"],
        cwd=team,
        capture_output=True,
        text=True,
    )
    assert str(site) in where.stdout, where.stdout


FLOORS = ("support", "refs", "foundation", "data", "observability", "serving")
"""components/ from the bottom up: a module imports from its own floor and the ones below only."""


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def test_no_import_runs_back_up_a_floor():
    upward = []
    checked = 0
    for path in (ROOT / "components").rglob("*.py"):
        parts = path.relative_to(ROOT / "components").with_suffix("").parts
        floor = parts[0] if parts[0] in FLOORS else None
        if floor is None:
            continue  # components/__init__.py re-exports every floor
        for module in _imports(path):
            if module.startswith("mlops_platform.components."):
                target = module.split(".")[2]
                checked += 1
                if target in FLOORS and FLOORS.index(target) > FLOORS.index(floor):
                    upward.append(f"{path.relative_to(ROOT)} imports {module}")
    assert checked > 100
    assert upward == []


def test_the_policy_pack_reads_support_at_most():
    found = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "policies").rglob("*.py")
        for module in _imports(path)
        if module.startswith("mlops_platform.")
        and not module.startswith(("mlops_platform.policies", "mlops_platform.components.support"))
    ]
    assert found == []
