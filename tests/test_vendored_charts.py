"""Every pinned chart is vendored in charts/ at its pinned version, and releases install from there."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from mlops_platform.components.support import helm, pins
from tests.harness import ROOT


def test_every_pinned_chart_has_its_archive_with_the_locked_digest():
    done = subprocess.run(
        [sys.executable, "charts/vendor.py", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("chart", sorted(pins.CHARTS))
def test_the_archive_holds_the_pinned_chart_and_every_dependency_it_enables(chart):
    pinned = pins.CHARTS[chart]
    with tarfile.open(helm.archive(chart)) as archive:
        names = archive.getnames()
        meta = yaml.safe_load(archive.extractfile(f"{chart}/Chart.yaml").read())
    assert (meta["name"], str(meta["version"])) == (chart, pinned.version)
    for dependency in meta.get("dependencies") or []:
        folder = dependency.get("alias") or dependency["name"]
        inside = {n.split("/")[2] for n in names if n.startswith(f"{chart}/charts/")}
        assert dependency["name"] in inside or folder in inside, f"{chart}: {dependency['name']} not vendored"
    # No packaged copy of a dependency next to the rebuilt one (Helm would load both).
    assert not [n for n in names if n.startswith(f"{chart}/charts/") and n.endswith(".tgz")]


def test_the_check_reports_a_tampered_archive(tmp_path):
    copy = tmp_path / "charts"
    shutil.copytree(ROOT / "charts", copy)
    lock = json.loads((copy / "lock.json").read_text())
    (copy / lock["metrics-server"]["archive"]).write_bytes(b"not the chart")
    (copy / lock["dcgm-exporter"]["archive"]).unlink()
    (copy / "stray-1.0.0.tgz").write_bytes(b"")
    done = subprocess.run(
        [sys.executable, str(copy / "vendor.py"), "--check"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "metrics-server-3.13.0.tgz does not match the digest in lock.json" in done.stderr
    assert f"dcgm-exporter: {lock['dcgm-exporter']['archive']} is missing" in done.stderr
    assert "stray-1.0.0.tgz: not in lock.json" in done.stderr


def test_a_missing_archive_is_named_with_the_command_that_vendors_it(tmp_path, monkeypatch):
    (tmp_path / "lock.json").write_text(
        json.dumps({"metrics-server": {"version": "0.0.1", "archive": "x.tgz"}})
    )
    monkeypatch.setattr(helm, "CHARTS_DIR", tmp_path)
    helm._lock.cache_clear()
    try:
        with pytest.raises(
            helm.ChartNotVendored,
            match=r"pinned at 3\.13\.0 but vendored at 0\.0\.1; run python charts/vendor.py metrics-server",
        ):
            helm.archive("metrics-server")
        with pytest.raises(
            helm.ChartNotVendored, match=r"chart dcgm-exporter is pinned at .* but not vendored"
        ):
            helm.archive("dcgm-exporter")
    finally:
        helm._lock.cache_clear()


def test_exporter_metric_lists_are_for_the_versions_the_vendored_charts_install():
    """A chart pin that moves without `python charts/exporter_metrics.py` fails here."""
    document = json.loads((ROOT / "components" / "support" / "exporter-metrics.json").read_text())
    lock = json.loads((ROOT / "charts" / "lock.json").read_text())

    def app_version(subchart: str) -> str:
        with tarfile.open(helm.archive("kube-prometheus-stack")) as archive:
            meta = yaml.safe_load(
                archive.extractfile(f"kube-prometheus-stack/charts/{subchart}/Chart.yaml").read()
            )
        return "v" + str(meta["appVersion"]).removeprefix("v")

    assert document["dcgm-exporter"]["version"] == lock["dcgm-exporter"]["version"]
    assert lock["dcgm-exporter"]["commit"] in document["dcgm-exporter"]["source"]
    assert document["kube-state-metrics"]["version"] == app_version("kube-state-metrics")
    assert document["node-exporter"]["version"] == app_version("prometheus-node-exporter")
    for name, entry in document.items():
        assert entry["source"].startswith("https://github.com/"), name
        assert len(entry["metrics"]) > 5 and entry["metrics"] == sorted(set(entry["metrics"])), name
