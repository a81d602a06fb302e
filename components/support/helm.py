"""Helm releases of the charts pinned in ``components/support/pins.py``, installed from the archives
vendored in ``charts/``: the only way components install charts, and no chart repository at deploy time."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.support.pins import CHARTS

CHARTS_DIR = Path(__file__).resolve().parents[2] / "charts"
"""The vendored archives and their lock.json: ``charts/`` in a checkout, ``mlops_platform/charts`` in
the wheel (both are two levels above this module's package)."""


Resources = Mapping[str, Mapping[str, str]]
"""A container's ``resources`` as the values pass it: ``{"requests": {...}, "limits": {...}}``."""
NO_REQUESTS: Resources = {}
"""A pod the chart renders without requests: the scheduler counts it as nothing."""


@dataclass(frozen=True)
class Footprint:
    """What a release asks the scheduler for, as the cost model places it: pods on the system nodes,
    and daemons on every node or on every GPU node. Each entry is the very ``resources`` mapping the
    values pass, so the two cannot drift; tests/test_helm_render.py checks the sums against the
    chart as Helm renders it."""

    system_pods: tuple[tuple[int, Resources], ...] = ()
    """(replicas, resources) of each workload on the system nodes."""
    operated_pods: tuple[tuple[int, Resources], ...] = ()
    """(replicas, resources) of the system-node pods an operator of the release starts from custom
    resources the component registers (Envoy Gateway's proxies): the chart does not render them."""
    every_node: Resources = field(default_factory=dict)
    """Resources of a DaemonSet pod on every node."""
    gpu_nodes: Resources = field(default_factory=dict)
    """Resources of a DaemonSet pod on every GPU node."""

    @staticmethod
    def _requests(resources: Resources) -> list[str]:
        requests = resources.get("requests", {})
        return [str(requests.get("cpu", "0")), str(requests.get("memory", "0"))]

    def to_props(self) -> dict[str, Any]:
        return {
            "systemPods": [[replicas, *self._requests(r)] for replicas, r in self.system_pods],
            "operatedPods": [[replicas, *self._requests(r)] for replicas, r in self.operated_pods],
            "everyNode": self._requests(self.every_node),
            "gpuNodes": self._requests(self.gpu_nodes),
        }


_FOOTPRINT: ContextVar[Footprint | None] = ContextVar("footprint", default=None)


def current_footprint() -> Footprint | None:
    """The footprint of the release or EKS add-on being constructed (the cost recorder reads it as
    it sees the resource: the engine never does)."""
    return _FOOTPRINT.get()


@contextmanager
def declaring(footprint: Footprint) -> Iterator[None]:
    """Makes ``footprint`` the one the cost recorder reads for the resource constructed inside:
    a Helm release here, an EKS add-on in ``components/foundation/cluster.py``."""
    token = _FOOTPRINT.set(footprint)
    try:
        yield
    finally:
        _FOOTPRINT.reset(token)


class ChartNotVendored(FileNotFoundError):
    """A pinned chart has no vendored archive at its pinned version."""


@cache
def _lock() -> dict[str, Any]:
    path = CHARTS_DIR / "lock.json"
    if not path.is_file():
        raise ChartNotVendored(f"{path} is missing; vendor the charts with python charts/vendor.py --all")
    return json.loads(path.read_text(encoding="utf-8"))


def archive(chart: str) -> Path:
    """The vendored archive of ``chart`` at its pinned version; a clear error when it is missing."""
    pinned = CHARTS[chart]
    entry = _lock().get(chart)
    fix = f"run python charts/vendor.py {chart}"
    if entry is None or entry["version"] != pinned.version:
        found = "not vendored" if entry is None else f"vendored at {entry['version']}"
        raise ChartNotVendored(f"chart {chart} is pinned at {pinned.version} but {found}; {fix}")
    path = CHARTS_DIR / entry["archive"]
    if not path.is_file():
        raise ChartNotVendored(f"{path} is missing; {fix}")
    return path


def chart_path(chart: str) -> str:
    """The archive as the Release's ``chart`` input: relative to the program's directory (``infra/``,
    where Pulumi runs the program and the Kubernetes provider resolves paths), so the input is the
    same on every machine and in every diff: ``../charts/<name>-<version>.tgz``."""
    return os.path.relpath(archive(chart), Path.cwd())


def release(
    name: str,
    chart: str,
    *,
    namespace: str,
    values: pulumi.Input[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    footprint: Footprint,
    create_namespace: bool = False,
) -> k8s.helm.v3.Release:
    """One ``helm.v3.Release`` (a single resource the engine, mocks and policies can all see).

    The release name equals the chart name so in-cluster object names are predictable; ``atomic``
    rolls a failed upgrade back instead of leaving a half-applied release.
    """
    pinned = CHARTS[chart]
    with declaring(footprint):
        return k8s.helm.v3.Release(
            name,
            name=pinned.name,
            chart=chart_path(chart),
            version=pinned.version,
            namespace=namespace,
            create_namespace=create_namespace,
            values=values,
            atomic=True,
            cleanup_on_fail=True,
            max_history=10,
            timeout=900,
            opts=opts,
        )
