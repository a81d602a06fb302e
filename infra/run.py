"""One-command entry point for a fresh machine with only python3 (>= 3.11).

    python3 -m infra.run preview dev    # offline preview of a stack
    python3 -m infra.run test           # lint and the whole test suite, as CI runs it
    python3 -m infra.run <any blueprint command and arguments>
    python3 -m infra.run --help         # create .venv only, and list the commands

Every form, ``--help`` included, creates ``.venv`` and installs the project with its dev extra the
first time (and again whenever ``pyproject.toml`` changes), then runs the command inside it. Pulumi
uses the same ``.venv`` (``runtime.options.virtualenv`` in Pulumi.yaml), so ``--help`` is also how CI
prepares it. Standard library only: nothing is installed yet.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".installed-from"
LINT_PATHS = ["components", "infra", "policies", "tests", "examples", "benchmarks"]


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> None:
    if STAMP.exists() and STAMP.read_text() == _fingerprint():
        return
    if not (BIN / "python").exists():
        print(f"creating {VENV} ...", file=sys.stderr)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (OSError, subprocess.CalledProcessError) as exc:
            sys.exit(f"could not create a virtualenv ({exc}); on Debian/Ubuntu install python3-venv first")
    print("installing mlops-platform with its dev extra into .venv ...", file=sys.stderr)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "--quiet"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs under whatever python3 the user has
        print(
            f"mlops-platform needs Python 3.11 or newer (this is {sys.version.split()[0]})", file=sys.stderr
        )
        return 2
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    ensure_environment()
    if argv[0] in ("-h", "--help"):
        print(__doc__)
        return subprocess.run([str(BIN / "blueprint"), "--help"], cwd=ROOT).returncode
    if argv[0] == "test":
        paths = [p for p in LINT_PATHS if (ROOT / p).exists()]
        lint = subprocess.run([str(BIN / "ruff"), "check", *paths], cwd=ROOT)
        if lint.returncode != 0:
            return lint.returncode
        # Two workers (the CI machine's cores), one test file each at a time: a file's module fixtures
        # (the MLflow and Prometheus servers, synthesized stacks) start once, on one worker.
        workers = ["-n", "2", "--dist", "loadfile"]
        return subprocess.run([str(BIN / "pytest"), "-q", *workers, *argv[1:]], cwd=ROOT).returncode
    return subprocess.run([str(BIN / "blueprint"), *argv], cwd=ROOT).returncode


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
