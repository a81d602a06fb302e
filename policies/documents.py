"""Reading what rules inspect: IAM documents, pod specs, dependency links."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource

from mlops_platform.policies.rule import as_list, get

READ_VERBS = ("Describe", "Get", "List", "BatchGet", "BatchCheck", "Head", "Search")
"""Action verbs that only read; every other action counts as a write."""


def statements(document: Any) -> list[dict[str, Any]]:
    """The statements of an IAM or resource policy given as JSON text or a mapping; [] if unreadable
    (unknown during a preview)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    if not isinstance(document, Mapping):
        return []
    return [s for s in as_list(document.get("Statement")) if isinstance(s, Mapping)]


def is_write(action: str) -> bool:
    if action == "*":
        return True
    _, _, verb = action.partition(":")
    return not verb.startswith(READ_VERBS)


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod template of a workload object, or None for other types."""
    kind = resource_type.rsplit(":", 1)[-1]
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Rollout"):
        return get(props, "spec", "template", "spec")
    if kind == "CronJob":
        return get(props, "spec", "jobTemplate", "spec", "template", "spec")
    if kind == "Pod":
        return get(props, "spec")
    return None


WORKLOAD_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
    "kubernetes:batch/v1:CronJob",
    "kubernetes:core/v1:Pod",
    "kubernetes:argoproj.io/v1alpha1:Rollout",
)


def containers(spec: Mapping[str, Any] | None, *, init: bool = True) -> Iterator[Mapping[str, Any]]:
    if not spec:
        return
    yield from (c for c in as_list(spec.get("containers")) if isinstance(c, Mapping))
    if init:
        yield from (c for c in as_list(spec.get("initContainers")) if isinstance(c, Mapping))


def of_type(resources: Sequence[PolicyResource], resource_type: str) -> list[PolicyResource]:
    return [r for r in resources if r.resource_type == resource_type]


def dependents(
    resources: Sequence[PolicyResource], target: PolicyResource, resource_type: str, via: str = "bucket"
) -> list[PolicyResource]:
    """Resources of ``resource_type`` whose ``via`` input comes from ``target`` (a bucket's encryption,
    policy...). Property dependencies, not plain ones: a log bucket's policy also depends on the bucket
    it serves, but it is not that bucket's policy."""
    return [
        r
        for r in resources
        if r.resource_type == resource_type
        and any(d.urn == target.urn for d in (r.property_dependencies or {}).get(via, []))
    ]


def descendants(resources: Sequence[PolicyResource], ancestor: PolicyResource) -> Iterator[PolicyResource]:
    children: dict[str, list[PolicyResource]] = {}
    for r in resources:
        if r.parent is not None:
            children.setdefault(r.parent.urn, []).append(r)
    stack = list(children.get(ancestor.urn, []))
    while stack:
        current = stack.pop()
        yield current
        stack.extend(children.get(current.urn, []))
