"""Refresh the full CRD schemas the tests validate workflow objects against.

Argo Workflows' chart installs schema-less CRDs (its full ones come through a hook Job that downloads
them at install, which the platform turns off), so the full schemas of the kinds the platform renders
are kept here, from the argo-workflows repository at the tag the vendored chart runs:

    python tests/crds/refresh.py --git-root DIR   # DIR/argoproj+argo-workflows/repo is a clone
"""

from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CHARTS = HERE.parent.parent / "charts"
KINDS = ("workflows", "workflowtemplates", "cronworkflows")


def app_version() -> str:
    lock = json.loads((CHARTS / "lock.json").read_text())["argo-workflows"]
    with tarfile.open(CHARTS / lock["archive"]) as archive:
        chart = archive.extractfile("argo-workflows/Chart.yaml")
        assert chart is not None
        return str(yaml.safe_load(chart.read())["appVersion"])


def target() -> Path:
    return HERE / f"argo-workflows-{app_version()}.json.gz"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--git-root", type=Path, required=True)
    args = parser.parse_args()
    repo, tag = args.git_root / "argoproj+argo-workflows" / "repo", app_version()
    documents = []
    for kind in KINDS:
        path = f"{tag}:manifests/base/crds/full/argoproj.io_{kind}.yaml"
        text = subprocess.run(["git", "-C", str(repo), "show", path], check=True, capture_output=True).stdout
        documents.append(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    data = json.dumps(documents, sort_keys=True, separators=(",", ":")).encode()
    for old in HERE.glob("argo-workflows-*.json.gz"):
        old.unlink()
    target().write_bytes(gzip.compress(data, 9, mtime=0))
    print(f"wrote {target()} ({', '.join(KINDS)} at {tag})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
