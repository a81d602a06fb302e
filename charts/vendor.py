"""Vendor a pinned Helm chart: package it from its upstream source into charts/<name>-<version>.tgz,
with every dependency inside, and record where it came from and its digest in charts/lock.json.

    python charts/vendor.py kube-prometheus-stack                  # clone the source repository
    python charts/vendor.py kube-prometheus-stack --git-root DIR   # use DIR/<owner>+<repo>/repo clones
    python charts/vendor.py --all --git-root DIR                   # every chart in the pins
    python charts/vendor.py --check                                # archives match lock.json and the pins

The version comes from components/support/pins.py (CHARTS). The chart is taken from its git
repository at the commit that set that version in Chart.yaml (chart repositories publish exactly that
state), its dependencies the same way at the versions Chart.yaml asks for, and packaged with Helm
(the helm-python-sdk wheel). Deploys then install from the archive and need no chart repository.
Needs git and the dev extra; ``--check`` needs neither network nor git.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
LOCK = HERE / "lock.json"

# chart                          GitHub repository                             chart folder in it
_SOURCE_TABLE = """
cluster-autoscaler               kubernetes/autoscaler                         cluster-autoscaler/charts/cluster-autoscaler
nvidia-device-plugin             NVIDIA/k8s-device-plugin                      deployments/helm/nvidia-device-plugin
metrics-server                   kubernetes-sigs/metrics-server                charts/metrics-server
aws-load-balancer-controller     aws/eks-charts                                stable/aws-load-balancer-controller
aws-for-fluent-bit               aws/eks-charts                                stable/aws-for-fluent-bit
external-secrets                 external-secrets/external-secrets             deploy/charts/external-secrets
kube-prometheus-stack            prometheus-community/helm-charts              charts/kube-prometheus-stack
kube-state-metrics               prometheus-community/helm-charts              charts/kube-state-metrics
prometheus-node-exporter         prometheus-community/helm-charts              charts/prometheus-node-exporter
prometheus-windows-exporter      prometheus-community/helm-charts              charts/prometheus-windows-exporter
grafana                          grafana/helm-charts                           charts/grafana
dcgm-exporter                    NVIDIA/dcgm-exporter                          deployment
opentelemetry-collector          open-telemetry/opentelemetry-helm-charts      charts/opentelemetry-collector
node-feature-discovery           kubernetes-sigs/node-feature-discovery        deployment/helm/node-feature-discovery
karpenter                        aws/karpenter-provider-aws                    charts/karpenter
opencost                         opencost/opencost-helm-chart                  charts/opencost
kyverno                          kyverno/kyverno                               charts/kyverno
gateway-helm                     envoyproxy/gateway                            charts/gateway-helm
argo-rollouts                    argoproj/argo-helm                            charts/argo-rollouts
keda                             kedacore/charts                               keda
keda-add-ons-http                kedacore/charts                               http-add-on
argo-workflows                   argoproj/argo-helm                            charts/argo-workflows
kueue                            kubernetes-sigs/kueue                         charts/kueue
prometheus-pushgateway           prometheus-community/helm-charts              charts/prometheus-pushgateway
"""
SOURCES: dict[str, tuple[str, str]] = {
    name: (repository, path)
    for name, repository, path in (line.split() for line in _SOURCE_TABLE.strip().splitlines())
}
"""Chart name -> (GitHub repository, chart folder in it): where each chart's source lives (charts the
pins name, and the dependencies they pull in)."""

STAMPED_AT_RELEASE = {"node-feature-discovery": "v{version}", "gateway-helm": "{version}"}
"""Charts whose Chart.yaml version is set only when packaging a release (``helm package --version``
from the release tag, as node-feature-discovery's hack/prepare-release.sh does): chart -> tag format."""

DROPPED = {
    "bitwarden-sdk-server": "external-secrets' optional Bitwarden provider, off unless bitwarden-sdk-server.enabled; "
    "its source never set the version the OCI registry publishes",
    "openreports": "Kyverno's optional OpenReports CRDs, off unless openreports.installCrds; its source "
    "stamps the chart version only when a release is packaged",
}
"""Optional dependencies left out of the vendored archive (removed from its Chart.yaml), with why."""


def _external_secrets_crds(repo: Path, commit: str, chart_dir: Path) -> None:
    """Port of external-secrets' hack/helm.generate.sh, which its release runs before packaging: split
    deploy/crds/bundle.yaml into templates/crds/<singular>.yaml, each behind the chart's install flags.
    (The script's v1alpha1-conversion rewrite matches no CRD in the 1.x bundle, so it is not ported.)"""
    bundle = _git(repo, "show", f"{commit}:deploy/crds/bundle.yaml")
    annotations = (
        "    {{- with .Values.crds.annotations }}\n    {{- toYaml . | nindent 4}}\n    {{- end }}\n"
        "    {{- if and .Values.crds.conversion.enabled .Values.webhook.certManager.enabled"
        " .Values.webhook.certManager.addInjectorAnnotations }}\n"
        '    cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "external-secrets.fullname" . }}-webhook\n'
        "    {{- end }}\n"
    )
    target = chart_dir / "templates" / "crds"
    target.mkdir(parents=True, exist_ok=True)
    for text in re.split(r"(?m)^---\s*$", bundle):
        document = yaml.safe_load(text)
        if not document:
            continue
        kind, singular = document["spec"]["names"]["kind"], document["spec"]["names"]["singular"]
        flag = f"create{kind}"
        guarded = "Cluster" in flag or "PushSecret" in flag
        opening = (
            f"{{{{- if and (.Values.installCRDs) (.Values.crds.{flag}) }}}}"
            if guarded
            else "{{- if .Values.installCRDs }}"
        )
        body = text.strip("\n") + "\n"
        body = body.replace("name: kubernetes", 'name: {{ include "external-secrets.fullname" . }}-webhook')
        body = body.replace("namespace: default", "namespace: {{ .Release.Namespace | quote }}")
        body = re.sub(r"(?m)^(.*annotations.*\n)", lambda m: m[1] + annotations, body, count=1)
        (target / f"{singular}.yaml").write_text(f"{opening}\n{body}{{{{- end }}}}\n")


def _envoy_gateway_values(repo: Path, commit: str, chart_dir: Path) -> None:
    """Port of envoyproxy/gateway's ``make helm-generate``, which its release runs before packaging:
    values.yaml is values.tmpl.yaml with the release image (the release sets IMAGE to
    docker.io/envoyproxy/gateway and TAG to the release tag) and the default pull policy."""
    version = yaml.safe_load((chart_dir / "Chart.yaml").read_text()).get("version")
    tag = (
        _git(repo, "describe", "--tags", "--exact-match", commit).strip()
        if version == "v0.0.0-latest"
        else version
    )
    template = (chart_dir / "values.tmpl.yaml").read_text()
    values = template.replace("${GatewayImage}", f"docker.io/envoyproxy/gateway:{tag}")
    (chart_dir / "values.yaml").write_text(values.replace("${GatewayImagePullPolicy}", "IfNotPresent"))


RELEASE_STEPS = {"external-secrets": _external_secrets_crds, "gateway-helm": _envoy_gateway_values}
"""Chart -> what its project's release does to the source tree before ``helm package``."""


class VendorError(Exception):
    pass


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise VendorError(f"git {' '.join(args)} in {repo}: {done.stderr.strip()}")
    return done.stdout


def _checkout(repository: str, git_root: Path | None, scratch: Path) -> Path:
    if git_root is not None:
        path = git_root / repository.replace("/", "+") / "repo"
        if not path.exists():
            raise VendorError(f"no clone of {repository} at {path}")
        return path
    path = scratch / repository.replace("/", "+")
    if not path.exists():
        url = f"https://github.com/{repository}.git"
        done = subprocess.run(
            ["git", "clone", "--quiet", "--filter=blob:none", url, str(path)], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise VendorError(f"cannot clone {url}: {done.stderr.strip()}")
    return path


def _versions(repo: Path, path: str) -> dict[str, str]:
    """Every version the chart's Chart.yaml ever set -> the commit that set it (the first)."""
    found: dict[str, str] = {}
    # Every ref: some projects set the chart version on release branches or tags only.
    log = _git(repo, "log", "--all", "--format=COMMIT %H", "-p", "--", f"{path}/Chart.yaml")
    commit = ""
    for line in log.splitlines():
        if line.startswith("COMMIT "):
            commit = line.split()[1]
        elif m := re.match(r'^\+version:\s*"?([^"\s]+)"?\s*$', line):
            found[m[1]] = commit  # the log runs newest first, so the oldest commit stays
    return found


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in re.split(r"[.-]", version))


def _export(repo: Path, commit: str, path: str, target: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", commit, path], capture_output=True, check=True
    ).stdout
    target.mkdir(parents=True, exist_ok=True)
    (target / "export.tar").write_bytes(archive)
    with tarfile.open(target / "export.tar") as tar:
        tar.extractall(target, filter="data")
    (target / "export.tar").unlink()
    # Symlinks into the rest of the repository (karpenter's crds/ point at pkg/apis/crds/) become the
    # files they name at the same commit, as `helm package` in the source tree would read them.
    for link in sorted(p for p in (target / path).rglob("*") if p.is_symlink()):
        inside = os.path.normpath(os.path.join(os.path.dirname(link.relative_to(target)), os.readlink(link)))
        link.unlink()
        link.write_bytes(
            subprocess.run(
                ["git", "-C", str(repo), "show", f"{commit}:{inside}"], capture_output=True, check=True
            ).stdout
        )
    return target / path


def _build(
    name: str, version: str, git_root: Path | None, scratch: Path, destination: Path
) -> dict[str, Any]:
    """Package ``name`` at ``version`` into ``destination``; returns its lock entry."""
    import helm_python as helm

    if name not in SOURCES:
        raise VendorError(f"no source known for chart {name!r}; add it to SOURCES in {__file__}")
    repository, path = SOURCES[name]
    repo = _checkout(repository, git_root, scratch)
    stamp: str | None = None
    if name in STAMPED_AT_RELEASE:
        if not re.fullmatch(r"v?[0-9][0-9A-Za-z.+-]*", version):
            raise VendorError(
                f"{name} is packaged from its release tag, so pin an exact version, not {version!r}"
            )
        resolved = stamp = version
        commit = _git(repo, "rev-list", "-n", "1", STAMPED_AT_RELEASE[name].format(version=version)).strip()
    else:
        versions = _versions(repo, path)
        matching = sorted((v for v in versions if fnmatch.fnmatch(v, version)), key=_version_key)
        if not matching:
            raise VendorError(f"{repository}:{path} never set version {version!r} in Chart.yaml")
        resolved = matching[-1]
        commit = versions[resolved]
    chart_dir = _export(repo, commit, path, scratch / f"{name}-{resolved}")
    document = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    if stamp is None and str(document.get("version")) != resolved:
        raise VendorError(
            f"{repository}@{commit[:12]}:{path}/Chart.yaml says {document.get('version')}, not {resolved}"
        )
    for packaged in (chart_dir / "charts").glob("*.tgz"):
        packaged.unlink()  # an upstream copy of a dependency; it is rebuilt from source below
    dependencies: dict[str, Any] = {}
    kept = []
    for dependency in document.get("dependencies") or []:
        if dependency["name"] in DROPPED:
            dependencies[dependency["name"]] = {"dropped": DROPPED[dependency["name"]]}
            continue
        kept.append(dependency)
        if not dependency.get("repository") or str(dependency["repository"]).startswith("file://"):
            continue  # a subchart kept in the tree (charts/crds)
        entry = _build(
            dependency["name"], str(dependency["version"]), git_root, scratch, chart_dir / "charts"
        )
        dependencies[dependency["name"]] = {k: entry[k] for k in ("version", "source", "commit")}
    if len(kept) != len(document.get("dependencies") or []):
        document["dependencies"] = kept
        (chart_dir / "Chart.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    if name in RELEASE_STEPS:
        RELEASE_STEPS[name](repo, commit, chart_dir)
    (chart_dir / "Chart.lock").unlink(missing_ok=True)  # it names the chart repository's digests
    archive = Path(helm.package(chart_dir, destination=destination, version=stamp))
    return {
        "version": resolved,
        "source": f"https://github.com/{repository}",
        "path": path,
        "commit": commit,
        "archive": archive.name,
        "digest": "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest(),
        "dependencies": dependencies,
    }


def _pins() -> dict[str, Any]:
    from mlops_platform.components.support.pins import CHARTS

    return CHARTS


def vendor(names: list[str], git_root: Path | None) -> None:
    pins = _pins()
    lock = json.loads(LOCK.read_text()) if LOCK.exists() else {}
    with tempfile.TemporaryDirectory(prefix="vendor-chart-") as tmp:
        for name in names:
            if name not in pins:
                raise VendorError(f"{name!r} is not pinned in components/support/pins.py (CHARTS)")
            pinned = pins[name]
            old = lock.get(name, {}).get("archive")
            entry = _build(name, pinned.version, git_root, Path(tmp), HERE)
            if old and old != entry["archive"]:
                (HERE / old).unlink(missing_ok=True)
            lock[name] = {**entry, "repository": pinned.repository}
            print(
                f"vendored {entry['archive']} ({entry['digest']}) from {entry['source']}@{entry['commit'][:12]}"
            )
    LOCK.write_text(json.dumps(dict(sorted(lock.items())), indent=2) + "\n")


def check() -> list[str]:
    """Every pinned chart has its archive, at the pinned version, with the digest the lock records."""
    pins, problems = _pins(), []
    lock = json.loads(LOCK.read_text()) if LOCK.exists() else {}
    for name, pinned in pins.items():
        entry = lock.get(name)
        if entry is None:
            problems.append(f"{name}: not vendored; run python charts/vendor.py {name}")
            continue
        archive = HERE / entry["archive"]
        if entry["version"] != pinned.version:
            problems.append(f"{name}: vendored {entry['version']}, pinned {pinned.version}")
        if not archive.exists():
            problems.append(f"{name}: {archive.name} is missing")
        elif "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest() != entry["digest"]:
            problems.append(f"{name}: {archive.name} does not match the digest in lock.json")
    for stray in sorted({p.name for p in HERE.glob("*.tgz")} - {e["archive"] for e in lock.values()}):
        problems.append(f"{stray}: not in lock.json")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="chart names (keys of CHARTS in components/support/pins.py)")
    parser.add_argument("--all", action="store_true", help="every pinned chart")
    parser.add_argument("--git-root", type=Path, help="folder of <owner>+<repo>/repo clones (default: clone)")
    parser.add_argument("--check", action="store_true", help="only check the archives against lock.json")
    args = parser.parse_args(argv)
    try:
        if args.check:
            problems = check()
            for problem in problems:
                print(problem, file=sys.stderr)
            return 1 if problems else 0
        names = sorted(_pins()) if args.all else args.names
        if not names:
            parser.error("name a chart, or pass --all")
        vendor(names, args.git_root)
    except VendorError as exc:
        print(f"vendor: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
