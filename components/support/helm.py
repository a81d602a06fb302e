"""Helm releases pinned in ``components/support/pins.py``: the only way components install charts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from mlops_platform.components.support.pins import CHARTS


def release(
    name: str,
    chart: str,
    *,
    namespace: str,
    values: pulumi.Input[Mapping[str, Any]],
    opts: pulumi.ResourceOptions,
    create_namespace: bool = False,
) -> k8s.helm.v3.Release:
    """One ``helm.v3.Release`` (a single resource the engine, mocks and policies can all see).

    The release name equals the chart name so in-cluster object names are predictable; ``atomic``
    rolls a failed upgrade back instead of leaving a half-applied release.
    """
    pinned = CHARTS[chart]
    return k8s.helm.v3.Release(
        name,
        name=pinned.name,
        chart=pinned.name,
        version=pinned.version,
        repository_opts={"repo": pinned.repository},
        namespace=namespace,
        create_namespace=create_namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        max_history=10,
        timeout=900,
        opts=opts,
    )
