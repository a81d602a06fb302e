"""Refresh components/support/exporter-metrics.json: the metrics each exporter the platform installs
emits, read from one source file of that exporter at the version the vendored charts install.

    python charts/exporter_metrics.py --git-root DIR   # DIR/<owner>+<repo>/repo clones (default: clone)
    python charts/exporter_metrics.py --check          # the file matches what the sources say
    python charts/exporter_metrics.py --only argo-rollouts ...   # refresh some, keep the others

The cross-resource policy ``alert-metrics-exported`` reads the file: every alert expression may only
query metrics that an exporter installed in the same stack emits. Versions come from the vendored
archives (charts/lock.json and the subcharts' appVersion), so the lists move with the chart pins.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from vendor import VendorError, _checkout, _git  # noqa: E402

TARGET = HERE.parent / "components" / "support" / "exporter-metrics.json"

CADVISOR_VERSION = "v0.53.0"
"""cAdvisor as the kubelet of the pinned Kubernetes minor versions vendors it (its container_* metrics)."""

KUBELET_VOLUME_STATS = {
    "source": "https://github.com/kubernetes/kubernetes/blob/release-1.35/pkg/kubelet/metrics/collectors/volume_stats.go",
    "metrics": [
        f"kubelet_volume_stats_{m}"
        for m in ("capacity_bytes", "available_bytes", "used_bytes", "inodes", "inodes_free", "inodes_used")
    ],
}
"""The kubelet's own volume metrics: Kubernetes is not cloned here (it is too large), so these six
are transcribed from the collector's descriptors; every PVC-backed volume reports them."""


def _subchart_app_version(chart: str, subchart: str) -> str:
    lock = json.loads((HERE / "lock.json").read_text())
    with tarfile.open(HERE / lock[chart]["archive"]) as archive:
        meta = yaml.safe_load(archive.extractfile(f"{chart}/charts/{subchart}/Chart.yaml").read())  # type: ignore[union-attr]
    return str(meta["appVersion"]).removeprefix("v")


def _types(text: str) -> list[str]:
    """Metric names from Prometheus exposition ``# TYPE`` lines; histograms and summaries expand."""
    names = []
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M):
        names.append(name)
        if kind in ("histogram", "summary"):
            names += [f"{name}_sum", f"{name}_count", *([f"{name}_bucket"] if kind == "histogram" else [])]
    return names


def _dcgm(repo: Path) -> dict:
    lock = json.loads((HERE / "lock.json").read_text())["dcgm-exporter"]
    path = "etc/default-counters.csv"  # the chart's default `arguments: ["-f", ".../default-counters.csv"]`
    text = _git(repo, "show", f"{lock['commit']}:{path}")
    metrics = [
        line.split(",")[0].strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]
    return {
        "version": lock["version"],
        "source": f"{lock['source']}/blob/{lock['commit']}/{path}",
        "metrics": metrics,
    }


def _kube_state_metrics(repo: Path) -> dict:
    tag = "v" + _subchart_app_version("kube-prometheus-stack", "kube-state-metrics")
    files = [
        f
        for f in _git(repo, "ls-tree", "-r", "--name-only", tag, "docs/metrics").split()
        if f.endswith(".md")
    ]
    metrics = []
    for file in files:
        metrics += re.findall(r"^\|\s*(kube_[a-z0-9_]+)\s*\|", _git(repo, "show", f"{tag}:{file}"), re.M)
    source = f"https://github.com/kubernetes/kube-state-metrics/tree/{tag}/docs/metrics"
    return {"version": tag, "source": source, "metrics": metrics}


def _node_exporter(repo: Path) -> dict:
    tag = "v" + _subchart_app_version("kube-prometheus-stack", "prometheus-node-exporter")
    path = "collector/fixtures/e2e-output.txt"  # the exporter's end-to-end test output: every collector
    metrics = _types(_git(repo, "show", f"{tag}:{path}"))
    # The fixture's /proc/meminfo is an old kernel's; the Linux collector names its fields here.
    meminfo = "collector/meminfo_linux.go"
    metrics += [
        f"node_memory_{k}" for k in re.findall(r'metrics\["(\w+)"\]', _git(repo, "show", f"{tag}:{meminfo}"))
    ]
    base = f"https://github.com/prometheus/node_exporter/blob/{tag}"
    return {"version": tag, "source": f"{base}/{path}", "alsoFrom": f"{base}/{meminfo}", "metrics": metrics}


def _kubelet(repo: Path) -> dict:
    path = "docs/storage/prometheus.md"
    text = _git(repo, "show", f"{CADVISOR_VERSION}:{path}")
    metrics = re.findall(r"^`(container_[a-z0-9_]+|machine_[a-z0-9_]+)`", text, re.M)
    return {
        "version": f"cadvisor {CADVISOR_VERSION}",
        "source": f"https://github.com/google/cadvisor/blob/{CADVISOR_VERSION}/{path}",
        "alsoFrom": KUBELET_VOLUME_STATS["source"],
        "metrics": [*metrics, *KUBELET_VOLUME_STATS["metrics"]],
    }


OPENCOST_SOURCE_COMMIT = "5f6533303e3850c8635796a74bb22802d16e9090"
"""The newest opencost/opencost commit the stored mirror holds (2024-10-24). The vendored chart runs
image 1.120.1, which that mirror lacks: the metric names its collectors register are read here and
must be re-read at the chart's appVersion when a newer mirror is available."""


def _opencost(repo: Path) -> dict:
    path = "pkg/costmodel/metrics.go"  # every collector the cost model registers, by its Name
    text = _git(repo, "show", f"{OPENCOST_SOURCE_COMMIT}:{path}")
    return {
        "version": f"commit {OPENCOST_SOURCE_COMMIT[:12]} (the chart runs {_chart_app_version('opencost')})",
        "source": f"https://github.com/opencost/opencost/blob/{OPENCOST_SOURCE_COMMIT}/{path}",
        "metrics": re.findall(r'Name:\s*"([a-z_]+)"', text),
    }


def _argo_rollouts(repo: Path) -> dict:
    tag = _chart_app_version("argo-rollouts")
    path = "controller/metrics/prommetrics.go"  # every collector the controller registers
    text = _git(repo, "show", f"{tag}:{path}")
    histograms = re.findall(r'NewHistogramVec\(\s*prometheus\.HistogramOpts\{\s*Name:\s*"([a-z_]+)"', text)
    metrics = re.findall(r'Name:\s*"([a-z_]+)"', text) + re.findall(r'NewDesc\(\s*"([a-z_]+)"', text)
    metrics += [f"{h}_{suffix}" for h in histograms for suffix in ("bucket", "sum", "count")]
    return {
        "version": tag,
        "source": f"https://github.com/argoproj/argo-rollouts/blob/{tag}/{path}",
        "metrics": metrics,
    }


ENVOY_CLUSTER_STATS = {
    "source": "https://github.com/envoyproxy/envoy/blob/v1.39.0/docs/root/configuration/upstream/cluster_manager/cluster_stats.rst",
    "metrics": [
        f"envoy_cluster_{stat}"
        for stat in (
            "upstream_rq_pending_overflow",
            "upstream_rq_pending_active",
            "upstream_rq_active",
            "upstream_rq_timeout",
            "upstream_rq_total",
            "upstream_rq_xx",
        )
    ],
}
"""Envoy's per-cluster request statistics (as Envoy Gateway's Prometheus endpoint names them: an
``envoy_cluster_`` prefix, response classes as ``upstream_rq_xx`` with ``envoy_response_code_class``).
Envoy is not cloned here (it is too large), so the ones the platform reads are transcribed from the
stats reference of Envoy v1.39.0, the proxy Envoy Gateway v1.9.0 runs (DefaultEnvoyProxyImage)."""


def _envoy_gateway(repo: Path) -> dict:
    """What Envoy Gateway's own dashboards read from its proxies and controller, at the vendored tag."""
    from mlops_platform.components.support.exporters import metric_names

    tag = json.loads((HERE / "lock.json").read_text())["gateway-helm"]["version"]
    folder = "charts/gateway-addons-helm/dashboards"
    metrics: set[str] = set()
    for file in _git(repo, "ls-tree", "--name-only", tag, f"{folder}/").split():
        if file.endswith(".json"):
            for expr in re.findall(r'"expr":\s*"((?:[^"\\]|\\.)*)"', _git(repo, "show", f"{tag}:{file}")):
                metrics |= metric_names(json.loads(f'"{expr}"'))
    own = sorted(m for m in metrics if m.startswith(("envoy_", "watchable_")))
    return {
        "version": tag,
        "source": f"https://github.com/envoyproxy/gateway/tree/{tag}/{folder}",
        "alsoFrom": ENVOY_CLUSTER_STATS["source"],
        "metrics": [*own, *ENVOY_CLUSTER_STATS["metrics"]],
    }


def _keda_http_interceptor(repo: Path) -> dict:
    tag = "v" + _chart_app_version("keda-add-ons-http").removeprefix("v")
    path = (
        "interceptor/metrics/prometheus_test.go"  # the Prometheus exposition the interceptor's tests expect
    )
    return {
        "version": tag,
        "source": f"https://github.com/kedacore/http-add-on/blob/{tag}/{path}",
        # The expected expositions sit indented in Go raw strings.
        "metrics": _types(
            "\n".join(line.strip() for line in _git(repo, "show", f"{tag}:{path}").splitlines())
        ),
    }


def _histogram_suffixes(names: list[str], histograms: set[str]) -> list[str]:
    return [*names, *(f"{h}_{suffix}" for h in sorted(histograms) for suffix in ("bucket", "sum", "count"))]


def _argo_workflows(repo: Path) -> dict:
    tag = _chart_app_version("argo-workflows")
    path = "docs/metrics.md"  # generated from the controller's metric definitions
    text = _git(repo, "show", f"{tag}:{path}")
    sections = re.findall(r"^#### `([a-z0-9_]+)`\n\n(.*?)(?=^#### |^### |\Z)", text, re.M | re.S)
    names = [f"argo_workflows_{name}" for name, _ in sections]
    histograms = {
        f"argo_workflows_{name}" for name, body in sections if "histogram" in body.split("\n")[0].lower()
    }
    return {
        "version": tag,
        "source": f"https://github.com/argoproj/argo-workflows/blob/{tag}/{path}",
        "metrics": _histogram_suffixes(names, histograms),
    }


def _kueue(repo: Path) -> dict:
    tag = "v" + _chart_app_version("kueue").removeprefix("v")
    path = "site/content/en/docs/reference/metrics.md"  # tables generated from pkg/metrics
    rows = re.findall(r"^\| `(kueue_[a-z_]+)` \| (\w+) \|", _git(repo, "show", f"{tag}:{path}"), re.M)
    return {
        "version": tag,
        "source": f"https://github.com/kubernetes-sigs/kueue/blob/{tag}/{path}",
        "metrics": _histogram_suffixes(
            [name for name, _ in rows], {name for name, kind in rows if kind == "Histogram"}
        ),
    }


def _chart_app_version(chart: str) -> str:
    lock = json.loads((HERE / "lock.json").read_text())
    with tarfile.open(HERE / lock[chart]["archive"]) as archive:
        meta = yaml.safe_load(archive.extractfile(f"{chart}/Chart.yaml").read())  # type: ignore[union-attr]
    return str(meta["appVersion"])


EXTRACTORS: dict[str, tuple[str, Callable[[Path], dict]]] = {
    "dcgm-exporter": ("NVIDIA/dcgm-exporter", _dcgm),
    "kube-state-metrics": ("kubernetes/kube-state-metrics", _kube_state_metrics),
    "node-exporter": ("prometheus/node_exporter", _node_exporter),
    "kubelet": ("google/cadvisor", _kubelet),
    "opencost": ("opencost/opencost", _opencost),
    "argo-rollouts": ("argoproj/argo-rollouts", _argo_rollouts),
    "envoy-gateway": ("envoyproxy/gateway", _envoy_gateway),
    "keda-http-interceptor": ("kedacore/http-add-on", _keda_http_interceptor),
    "argo-workflows": ("argoproj/argo-workflows", _argo_workflows),
    "kueue": ("kubernetes-sigs/kueue", _kueue),
}
"""Exporter -> (its repository, how to read its metric names at the installed version)."""


def build(git_root: Path | None, only: list[str] | None = None) -> dict:
    """Every exporter's list; with ``only``, those re-read and the others kept from the file."""
    with tempfile.TemporaryDirectory(prefix="exporter-metrics-") as scratch:
        document = json.loads(TARGET.read_text()) if only else {}
        for exporter, (repository, extract) in EXTRACTORS.items():
            if only and exporter not in only:
                continue
            entry = extract(_checkout(repository, git_root, Path(scratch)))
            entry["metrics"] = sorted(set(entry["metrics"]))
            if not entry["metrics"]:
                raise VendorError(f"{exporter}: no metric names found in {entry['source']}")
            document[exporter] = entry
    return document


def render(document: dict) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--git-root", type=Path, help="folder of <owner>+<repo>/repo clones (default: clone)")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the sources")
    parser.add_argument("--only", nargs="+", choices=sorted(EXTRACTORS), help="refresh these exporters only")
    args = parser.parse_args(argv)
    try:
        text = render(build(args.git_root, args.only))
    except VendorError as exc:
        print(f"exporter_metrics: {exc}", file=sys.stderr)
        return 2
    if args.check:
        if TARGET.read_text() != text:
            print(f"{TARGET} is stale; run python charts/exporter_metrics.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text)
    counts = ", ".join(f"{name}: {len(entry['metrics'])}" for name, entry in json.loads(text).items())
    print(f"wrote {TARGET} ({counts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
