"""Render a stack's Helm releases with the real Helm engine (the helm-python-sdk wheel) and check what
comes out, the way a first ``pulumi up`` would meet it:

- every values key the program passes is declared in the chart's values (or its subcharts'), or the
  chart reads it: removing it changes the rendered manifests, or a template names it;
- the chart's ``values.schema.json`` accepts the values;
- every rendered built-in object passes kubernetes-validate, strict, at the stack's Kubernetes version;
- every custom resource (rendered, or registered by the program) passes the schema of its CRD from the
  vendored charts, strictly: a field the CRD does not declare is an error, as the API server would
  prune it silently.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

from mlops_platform.components.support import kube
from mlops_platform.components.support.helm import CHARTS_DIR
from mlops_platform.policies.graph import Graph, Resource
from tests.harness import ROOT

PROGRAM_DIR = ROOT / "infra"
"""Where Pulumi runs the program (Pulumi.yaml ``main``), so where Release chart paths resolve."""

RELEASE = "kubernetes:helm.sh/v3:Release"


class _ManifestLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML (libyaml's, when PyYAML has it: the CRDs are megabytes) plus the ``=`` value tag,
    which the Prometheus operator's CRDs use in enums."""


_ManifestLoader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))


def _documents(text: str) -> Iterator[dict[str, Any]]:
    for document in yaml.load_all(text, Loader=_ManifestLoader):
        if not document:
            continue
        yield from document.get("items") or [] if document.get("kind") == "List" else [document]


@dataclass
class Report:
    """What rendering one stack found: the objects (source, manifest) and every problem."""

    objects: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    custom_resources: int = 0
    problems: list[str] = field(default_factory=list)


@functools.cache
def load_chart(path: Path) -> helm.Chart:
    return helm.Chart.load(path)


def _crd_schemas(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    spec = document["spec"]
    return {
        (f"{spec['group']}/{version['name']}", spec["names"]["kind"]): version["schema"]["openAPIV3Schema"]
        for version in spec["versions"]
        if version.get("served", True) and "schema" in version
    }


CRD_SCHEMAS_DIR = ROOT / "tests" / "crds"
"""Full CRD schemas of engines whose charts install schema-less ones (tests/crds/refresh.py)."""


@functools.cache
def _full_crds() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRD_SCHEMAS_DIR.glob("*.json.gz")):
        for document in json.loads(gzip.decompress(path.read_bytes())):
            found.update(_crd_schemas(document))
    return found


@functools.cache
def _packaged_crds() -> dict[tuple[str, str], dict[str, Any]]:
    """CRDs every vendored chart ships under crds/ (its own and its subcharts')."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for archive in sorted(CHARTS_DIR.glob("*.tgz")):
        for crd in load_chart(archive).crds:
            for document in _documents(crd["data"]):
                if document.get("kind") == "CustomResourceDefinition":
                    found.update(_crd_schemas(document))
    return found


def _go_pattern(pattern: str) -> str:
    """Go's regexp (the API server's) accepts flags after ``^``; Python's wants them first."""
    return re.sub(r"^\^\(\?([a-zA-Z]+)\)", r"(?\1)^", pattern)


def _strict(schema: Any) -> Any:
    """The CRD schema with undeclared fields refused, unless the schema preserves unknown fields."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if isinstance(strict.get("pattern"), str):
        strict["pattern"] = _go_pattern(strict["pattern"])
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


_VALIDATORS: dict[int, tuple[dict[str, Any], jsonschema.Draft7Validator]] = {}


def custom_resource_problems(manifest: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """``manifest`` against its CRD's openAPIV3Schema, strictly (validators are kept per schema)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        strict = _strict(schema)
        # Every object may carry these, whether or not the CRD spells them out.
        strict.setdefault("properties", {}).update(
            {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
        )
        cached = _VALIDATORS[id(schema)] = (schema, jsonschema.Draft7Validator(strict))
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in cached[1].iter_errors(manifest)
    ]


def _leaf_paths_undeclared(
    values: Any, defaults: Any, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    """Keys of ``values`` that the chart's merged defaults do not declare. Below an empty map or a
    non-map default (free-form: labels, annotations, extra args) nothing is declared or needed."""
    if not isinstance(values, dict) or not isinstance(defaults, dict):
        return
    for key, value in values.items():
        if key not in defaults:
            yield (*path, key)
        elif isinstance(defaults[key], dict) and defaults[key]:
            yield from _leaf_paths_undeclared(value, defaults[key], (*path, key))


def _without(values: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    trimmed = copy.deepcopy(values)
    parent = trimmed
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return trimmed


@functools.cache
def _template_text(path: Path) -> str:
    """Every template of the archive, its subcharts' included (the SDK lists the parent's only)."""
    with tarfile.open(path) as archive:
        return "\n".join(
            archive.extractfile(member).read().decode()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile() and "/templates/" in member.name
        )


def _named_in_templates(archive: Path, key: str) -> bool:
    return re.search(rf"\.{re.escape(key)}\b|\"{re.escape(key)}\"", _template_text(archive)) is not None


def render_release(release: Resource, program_dir: Path = PROGRAM_DIR) -> tuple[dict[str, str], list[str]]:
    """Render one Release as Helm would install it; returns (template -> manifest, problems)."""
    inputs = release.inputs
    archive = (program_dir / inputs["chart"]).resolve()
    name = inputs.get("name") or release.name
    if not archive.is_file():
        return {}, [f"{release.name}: chart {inputs['chart']} not found from {program_dir}"]
    chart = load_chart(archive)
    values = inputs.get("values") or {}
    problems = []
    try:
        chart.validate_schema(values)
    except helm.HelmValuesError as exc:
        problems.append(f"{release.name}: values.schema.json of {chart.name} rejects the values: {exc}")

    def render(with_values: dict[str, Any]) -> dict[str, str]:
        return chart.render(
            with_values, name=name, namespace=inputs.get("namespace", "default"), is_install=True
        )

    try:
        rendered = render(values)
    except helm.HelmError as exc:
        return {}, [*problems, f"{release.name}: {chart.name} does not render: {exc}"]
    for path in _leaf_paths_undeclared(values, chart.merge_values({})):
        if _named_in_templates(archive, path[-1]):
            continue
        try:
            unchanged = render(_without(values, path)) == rendered
        except helm.HelmError:
            unchanged = False  # the chart needs it
        if unchanged:
            problems.append(
                f"{release.name}: values key {'.'.join(path)} is neither declared nor read by {chart.name} {chart.version}"
            )
    return rendered, problems


GPU_NODE_SELECTORS = (kube.GPU_PRESENT_LABEL, kube.DEVICE_PLUGIN_LABEL)


def _requests(containers: list[dict[str, Any]]) -> tuple[Decimal, Decimal]:
    requests = [c.get("resources", {}).get("requests", {}) for c in containers]
    return (
        sum((kube.quantity(r.get("cpu", 0)) for r in requests), Decimal(0)),
        sum((kube.quantity(r.get("memory", 0)) for r in requests), Decimal(0)),
    )


def rendered_footprint(manifests: list[dict[str, Any]]) -> dict[str, tuple[Decimal, ...]]:
    """What a release's pods request as Helm renders it: system pods (replicas, CPU, memory, summed
    over replicas), and the DaemonSet pod on every node and on every GPU node."""
    system, every, gpu = [Decimal(0)] * 3, [Decimal(0)] * 2, [Decimal(0)] * 2
    # A Deployment a ScaledObject of the same chart scales runs at least its minReplicaCount.
    scaled = {
        (m["spec"]["scaleTargetRef"].get("kind", "Deployment"), m["spec"]["scaleTargetRef"]["name"]): m[
            "spec"
        ].get("minReplicaCount", 1)
        for m in manifests
        if m.get("kind") == "ScaledObject"
    }
    for manifest in manifests:
        kind, spec = manifest.get("kind"), manifest.get("spec") or {}
        if kind in ("Prometheus", "Alertmanager"):  # the operator runs these as StatefulSets
            replicas, (cpu, memory) = spec.get("replicas", 1), _requests([spec])
        elif kind in ("Deployment", "StatefulSet", "DaemonSet"):
            pod = spec.get("template", {}).get("spec", {})
            replicas = scaled.get((kind, manifest["metadata"]["name"]), spec.get("replicas", 1))
            cpu, memory = _requests(pod.get("containers", []))
        else:
            continue
        if kind == "DaemonSet":
            target = gpu if set(pod.get("nodeSelector") or {}) & set(GPU_NODE_SELECTORS) else every
            target[0], target[1] = target[0] + cpu, target[1] + memory
        else:
            system = [system[0] + replicas, system[1] + replicas * cpu, system[2] + replicas * memory]
    return {"system": tuple(system), "everyNode": tuple(every), "gpuNodes": tuple(gpu)}


def declared_footprint(declared: dict[str, Any]) -> dict[str, tuple[Decimal, ...]]:
    """The same sums of a release's ``helm.Footprint`` (the costEstimate's ``addOns`` entry)."""
    pods = declared["systemPods"]
    return {
        "system": (
            Decimal(sum(r for r, _, _ in pods)),
            sum((r * kube.quantity(c) for r, c, _ in pods), Decimal(0)),
            sum((r * kube.quantity(m) for r, _, m in pods), Decimal(0)),
        ),
        "everyNode": tuple(kube.quantity(v) for v in declared["everyNode"]),
        "gpuNodes": tuple(kube.quantity(v) for v in declared["gpuNodes"]),
    }


def _footprint_problems(
    name: str, manifests: list[dict[str, Any]], declared: dict[str, Any] | None
) -> list[str]:
    """The cost model places a release by its declared footprint: it must be what the chart renders."""
    if declared is None:
        return [
            f"{name}: declares no footprint (helm.release(..., footprint=...)), so the cost model cannot place it"
        ]
    want, got = declared_footprint(declared), rendered_footprint(manifests)
    return [
        f"{name}: footprint {part} declares {_shown(want[part])} but the chart renders {_shown(got[part])}"
        for part in want
        if want[part] != got[part]
    ]


def _shown(values: tuple[Decimal, ...]) -> str:
    return "(" + ", ".join(f"{v.normalize():f}" for v in values) + ")"


def check_stack(graph: Graph, program_dir: Path = PROGRAM_DIR) -> Report:
    report = Report()
    add_ons = (graph.outputs.get("costEstimate") or {}).get("addOns", {})
    crds = dict(_packaged_crds())
    clusters = graph.of_type("aws:eks/cluster:Cluster")
    version = clusters[0].inputs["version"] if clusters else kubernetes_validate.latest_version()
    for resource in graph.resources:
        if resource.type == RELEASE:
            rendered, problems = render_release(resource, program_dir)
            report.problems += problems
            manifests = []
            for template, text in sorted(rendered.items()):
                if not template.endswith((".yaml", ".yml")):
                    continue  # NOTES.txt
                for manifest in _documents(text):
                    manifests.append(manifest)
                    report.objects.append((f"{resource.name}: {template}", manifest))
                    if manifest.get("kind") == "CustomResourceDefinition":
                        crds.update(_crd_schemas(manifest))
            report.problems += _footprint_problems(resource.name, manifests, add_ons.get(resource.name))
        elif resource.type.startswith("kubernetes:") and resource.custom and "apiVersion" in resource.inputs:
            report.objects.append((resource.name, resource.inputs))
    crds.update(_full_crds())  # over the schema-less ones the chart installs
    for source, manifest in report.objects:
        kind = (manifest.get("apiVersion"), manifest.get("kind"))
        group = str(kind[0]).split("/")[0]
        if kind in crds or ("." in group and not group.endswith("k8s.io")):
            report.custom_resources += 1
            if kind not in crds:
                report.problems.append(f"{source}: no vendored chart defines the CRD of {kind[0]} {kind[1]}")
                continue
            report.problems += [
                f"{source}: {kind[1]} {manifest.get('metadata', {}).get('name')}: {problem}"
                for problem in custom_resource_problems(manifest, crds[kind])
            ]
            continue
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(map(str, exc.absolute_path)) or "(root)"
            report.problems.append(
                f"{source}: {kind[1]} {manifest.get('metadata', {}).get('name')}: {where}: {exc.message}"
            )
        except kubernetes_validate.SchemaNotFoundError:
            report.problems.append(f"{source}: Kubernetes {version} has no {kind[0]} {kind[1]}")
    return report
