"""Kubernetes rules for the objects the platform renders (Helm charts' own objects are not visible)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, Severity

from mlops_platform.policies.capacity import ROLLOUT
from mlops_platform.policies.documents import WORKLOAD_TYPES, containers, pod_spec
from mlops_platform.policies.rule import Area, RuleSet, get

_rules = RuleSet(Area.KUBERNETES)
RULES = _rules.rules

_DIGEST = re.compile(r"@sha256:[a-f0-9]{64}$")


def _rule(name: str, *, severity: Severity = Severity.HIGH, stack: bool = False):
    """A stack rule, or a rule on the pod spec of every workload kind (documented by its docstring)."""

    def register(check):
        if stack:
            return _rules.rule(name, severity=severity, stack=True)(check)

        def for_workload(props: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
            spec = pod_spec(f"kubernetes:x:{props.get('kind', '')}", props)
            return check(spec, config) if spec is not None else ()

        _rules.rule(name, severity=severity, types=WORKLOAD_TYPES, documented_by=check)(for_workload)
        return check

    return register


def _pinned(image: str) -> bool:
    if _DIGEST.search(image):
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and not last.endswith(":latest")


@_rule("k8s-no-latest-image", severity=Severity.CRITICAL)
def pinned(spec: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Containers run images pinned by a version tag or a digest, never latest or untagged.

    Fix: Use repository:1.2.3 or repository@sha256:...
    """
    for container in containers(spec):
        image = str(container.get("image", ""))
        if not _pinned(image):
            yield f"container {container.get('name')} runs unpinned image {image!r}"


@_rule("k8s-resources-set")
def resources_set(spec: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Every container requests CPU and memory and has a memory limit.

    Fix: Set resources.requests.cpu, resources.requests.memory and resources.limits.memory.
    """
    for container in containers(spec):
        missing = [
            p
            for p in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))
            if not get(container, "resources", *p)
        ]
        if missing:
            yield f"container {container.get('name')} lacks {', '.join('.'.join(p) for p in missing)}"


def _security(spec: Mapping[str, Any], container: Mapping[str, Any], key: str) -> Any:
    value = get(container, "securityContext", key)
    return value if value is not None else get(spec, "securityContext", key)


@_rule("k8s-run-as-non-root", severity=Severity.CRITICAL)
def non_root(spec: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Containers run as a non-root user.

    Fix: Set securityContext.runAsNonRoot: true (components.kube.restricted_pod_security).
    """
    for container in containers(spec):
        if (
            _security(spec, container, "runAsNonRoot") is not True
            or _security(spec, container, "runAsUser") == 0
        ):
            yield f"container {container.get('name')} may run as root"


@_rule("k8s-read-only-root-filesystem")
def read_only_root(spec: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Containers mount their root filesystem read-only; they write only to declared volumes.

    Fix: Set securityContext.readOnlyRootFilesystem: true and mount an emptyDir at /tmp.
    """
    for container in containers(spec):
        if get(container, "securityContext", "readOnlyRootFilesystem") is not True:
            yield f"container {container.get('name')} has a writable root filesystem"


@_rule("k8s-probes")
def probes(spec: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """Every long-running container has readiness and liveness probes (a pod that runs to completion,
    restartPolicy Never or OnFailure as Jobs have, is not long-running).

    Fix: Add readinessProbe and livenessProbe (ModelEndpoint's health settings).
    """
    if spec.get("restartPolicy") in ("Never", "OnFailure"):
        return
    for container in containers(spec, init=False):
        missing = [p for p in ("readinessProbe", "livenessProbe") if not container.get(p)]
        if missing:
            yield f"container {container.get('name')} has no {' or '.join(missing)}"


@_rule("k8s-no-privileged", severity=Severity.CRITICAL)
def unprivileged(spec: Mapping[str, Any], config: Mapping[str, Any]) -> Iterable[str]:
    """No privileged container, no privilege escalation, no host network, PID or IPC namespace.

    Fix: Remove privileged/host* settings; set allowPrivilegeEscalation: false and drop all capabilities.
    """
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag) is True:
            yield f"the pod uses {flag}"
    for container in containers(spec):
        if get(container, "securityContext", "privileged") is True:
            yield f"container {container.get('name')} is privileged"
        if get(container, "securityContext", "allowPrivilegeEscalation") is not False:
            yield f"container {container.get('name')} may escalate privileges"


@_rule("k8s-network-policy-in-model-namespaces", stack=True)
def model_namespaces(
    resources: Sequence[PolicyResource], config: Mapping[str, Any]
) -> Iterable[tuple[str, str]]:
    """Every namespace that serves a model has NetworkPolicies (default deny, and the endpoint's own).

    Fix: Create endpoints with ModelEndpoint (it renders them) or add a NetworkPolicy to the namespace.
    """
    guarded = {
        get(r.props, "metadata", "namespace")
        for r in resources
        if r.resource_type == "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    }
    for deployment in resources:
        if deployment.resource_type not in ("kubernetes:apps/v1:Deployment", ROLLOUT):
            continue
        labels = get(deployment.props, "metadata", "labels", default={})
        namespace = get(deployment.props, "metadata", "namespace")
        if labels.get("app.kubernetes.io/component") == "model-server" and namespace not in guarded:
            yield deployment.urn, f"namespace {namespace} serves a model but has no NetworkPolicy"
