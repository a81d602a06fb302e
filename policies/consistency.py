"""Cross-resource rules: facts that hold only between resources, which no mock and no single-resource
check can see, and which a first real deploy would otherwise discover (a 409, a pod that never
schedules, an alert that can never fire)."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pulumi_policy import PolicyResource, Severity

from mlops_platform.components.support import kube
from mlops_platform.components.support.exporters import EXPORTERS, bucket_label, metric_names
from mlops_platform.components.support.instance_catalog import gpus_per_node
from mlops_platform.policies.capacity import CAPACITY_TYPES, ROLLOUT, Pods, pod_sets
from mlops_platform.policies.documents import of_type
from mlops_platform.policies.rule import Area, RuleSet, as_list, get

_rules = RuleSet(Area.CONSISTENCY)
_rule = _rules.rule
RULES = _rules.rules

Pairs = Iterable[tuple[str, str]]

POD_IDENTITY = "aws:eks/podIdentityAssociation:PodIdentityAssociation"
ADDON = "aws:eks/addon:Addon"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
POD_MONITOR = "kubernetes:monitoring.coreos.com/v1:PodMonitor"
MONITORED_BY_NAME = {"envoy-gateway": "envoy-gateway", "keda-add-ons-http": "keda-http-interceptor"}
"""Scrape targets the platform declares itself (``app.kubernetes.io/name``) -> the exporter scraped."""
RELEASE = "kubernetes:helm.sh/v3:Release"


@_rule("pod-identity-unique", severity=Severity.CRITICAL, stack=True)
def pod_identity_unique(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """One Pod Identity association per cluster, namespace and service account, counting the ones EKS
    add-ons create from their podIdentityAssociations: EKS refuses the second (409 ResourceInUseException).

    Fix: Give the role to the add-on's podIdentityAssociations or to a standalone association, not both.
    """
    seen: dict[tuple[str, str, str], str] = {}
    claims = [
        (r.urn, (get(r.props, "clusterName"), get(r.props, "namespace"), get(r.props, "serviceAccount")))
        for r in of_type(resources, POD_IDENTITY)
    ]
    for addon in of_type(resources, ADDON):
        # Add-ons run in kube-system unless their namespaceConfig moves them.
        namespace = get(addon.props, "namespaceConfig", "namespace", default="kube-system")
        for association in as_list(get(addon.props, "podIdentityAssociations")):
            claims.append(
                (addon.urn, (get(addon.props, "clusterName"), namespace, get(association, "serviceAccount")))
            )
    for urn, key in claims:
        if not all(isinstance(part, str) for part in key):
            continue  # unknown until apply
        if key in seen:
            yield (
                urn,
                f"service account {key[1]}/{key[2]} on cluster {key[0]} already has an association ({seen[key]})",
            )
        else:
            seen[key] = urn


PHYSICAL_KEYS: dict[str, tuple[str, ...]] = {
    "aws:eks/addon:Addon": ("clusterName", "addonName"),
    "aws:eks/accessEntry:AccessEntry": ("clusterName", "principalArn"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ("clusterName", "principalArn", "policyArn"),
    "aws:eks/nodeGroup:NodeGroup": ("clusterName", "nodeGroupName"),
    "aws:iam/rolePolicy:RolePolicy": ("role", "name"),
    "aws:rds/instance:Instance": ("identifier",),
    "aws:s3/bucket:Bucket": ("bucket",),
    "aws:ecr/repositoryPolicy:RepositoryPolicy": ("repository",),
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": ("repository",),
    "aws:sns/topicPolicy:TopicPolicy": ("arn",),
}
"""Type -> the inputs that name the object in AWS. Every other AWS type with a ``name`` input is keyed
by it; S3 bucket sub-resources (policy, versioning, ...) are one per bucket, keyed by ``bucket``."""


def _physical_key(resource: PolicyResource) -> tuple[str, ...] | None:
    fields = PHYSICAL_KEYS.get(resource.resource_type)
    if fields is None:
        if resource.resource_type.startswith("aws:s3/bucket") and "bucket" in resource.props:
            fields = ("bucket",)
        elif "name" in resource.props:
            fields = ("name",)
        else:
            return None  # named by Pulumi (name plus a random suffix): unique by construction
    values = tuple(get(resource.props, f) for f in fields)
    return values if all(isinstance(v, str) for v in values) else None


@_rule("physical-names-unique", severity=Severity.CRITICAL, stack=True)
def physical_names_unique(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """No two resources of one AWS type claim the same physical name (or, for one-per-parent settings
    such as a bucket policy, the same parent) in the stack's region: the second create fails, or
    silently overwrites the first.

    Fix: Rename one of them; for one-per-parent settings, merge them into one resource.
    """
    seen: dict[tuple[str, tuple[str, ...]], str] = {}
    for resource in resources:
        if not resource.resource_type.startswith("aws:"):
            continue
        key = _physical_key(resource)
        if key is None:
            continue
        if (resource.resource_type, key) in seen:
            first = seen[(resource.resource_type, key)]
            yield resource.urn, f"{resource.resource_type} {'/'.join(key)} is also claimed by {first}"
        else:
            seen[(resource.resource_type, key)] = resource.urn


def _pool_capacity(resources: Sequence[PolicyResource]) -> dict[str, tuple[int, str]]:
    """GPU pool -> (``nvidia.com/gpu`` it can offer, how that is made up), from the node groups and
    Karpenter NodePools labelled with the pool."""
    pools: dict[str, tuple[int, str]] = {}
    for resource in resources:
        if resource.resource_type not in CAPACITY_TYPES:
            continue
        if resource.resource_type == "aws:eks/nodeGroup:NodeGroup":
            pool = get(resource.props, "labels", kube.GPU_POOL_LABEL)
            if isinstance(pool, str):
                nodes = get(resource.props, "scalingConfig", "maxSize", default=0)
                per_node = gpus_per_node(as_list(get(resource.props, "instanceTypes")))
                total, _ = pools.get(pool, (0, ""))
                pools[pool] = (total + nodes * per_node, f"{nodes} nodes x {per_node}")
            continue
        labels = get(resource.props, "spec", "template", "metadata", "labels", default={})
        limit = get(resource.props, "spec", "limits", kube.GPU_RESOURCE)
        if isinstance(labels.get(kube.GPU_POOL_LABEL), str) and limit is not None:
            pools[labels[kube.GPU_POOL_LABEL]] = (
                int(kube.quantity(limit)),
                f"its Karpenter GPU limit {limit}",
            )
    return pools


def _model_pods(resources: Sequence[PolicyResource]) -> dict[tuple[str, str], list[Pods]]:
    """(namespace, model) -> the pods of its versions (a Rollout's live ones, a shadow's Deployment)."""
    models: dict[tuple[str, str], list[Pods]] = defaultdict(list)
    # The Rollout's live versions first (stable, canary), then the shadow's Deployment.
    for pods in sorted(pod_sets(resources), key=lambda p: p.resource.resource_type != ROLLOUT):
        model = get(pods.template, "metadata", "labels", kube.MODEL_LABEL)
        if isinstance(model, str):
            models[(pods.namespace, model)].append(pods)
    return models


@_rule("model-gpu-capacity", stack=True)
def model_gpu_capacity(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """A model's versions at their maximum replicas fit the GPU pool they are pinned to: maxReplicas x
    GPUs per pod, summed over stable and canary, is at most the pool's maxSize x GPUs per node.
    Otherwise the surplus pods stay Pending exactly when traffic peaks. Mandatory in prod.

    Fix: Lower the model's replicas.max, or raise the pool's maxSize (gpuNodePools[].maxSize).
    """
    pools = _pool_capacity(resources)
    for (namespace, model), versions in sorted(_model_pods(resources).items()):
        demand: dict[str, list[str]] = defaultdict(list)
        totals: dict[str, int] = defaultdict(int)
        for pods in versions:
            pod = get(pods.template, "spec", default={})
            pool = get(pod, "nodeSelector", kube.GPU_POOL_LABEL)
            gpus = sum(
                int(get(c, "resources", "limits", "nvidia.com/gpu", default=0) or 0)
                for c in as_list(get(pod, "containers"))
            )
            if not isinstance(pool, str) or not gpus or pool not in pools:
                continue  # CPU-only, or the pool is another stack's (checked at config from its outputs)
            most_replicas = pods.replicas[1]
            totals[pool] += most_replicas * gpus
            demand[pool].append(f"{pods.name}: {most_replicas} x {gpus}")
        for pool, total in totals.items():
            most, made_of = pools[pool]
            if total > most:
                yield (
                    versions[0].resource.urn,
                    f"model {namespace}/{model} may run {total} GPUs ({', '.join(demand[pool])}) but pool {pool} "
                    f"holds at most {most} ({made_of})",
                )


_LE = re.compile(r'le="([^"]+)"')


@_rule("slo-latency-bucket", stack=True)
def slo_latency_bucket(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """Every latency bucket an SLO rule reads (``le="0.25"``) is one the model's server exports, as its
    pods declare in the latency-buckets annotation; a missing bucket yields no series, and the alert
    can never fire.

    Fix: Add the SLO's threshold to the model's latencyBuckets (and export it from the server), or set
    slo.latencyP95Ms to one of the buckets.
    """
    declared: dict[tuple[str, str], set[str]] = {}
    for (namespace, model), versions in _model_pods(resources).items():
        for pods in versions:
            text = get(pods.template, "metadata", "annotations", kube.LATENCY_BUCKETS_ANNOTATION)
            if isinstance(text, str):
                bounds = {bucket_label(float(b)) for b in text.split(",") if b.strip()}
                declared.setdefault((namespace, model), set()).update(bounds)
    for rule_set in of_type(resources, PROMETHEUS_RULE):
        namespace = get(rule_set.props, "metadata", "namespace")
        model = get(rule_set.props, "metadata", "labels", kube.MODEL_LABEL)
        if not isinstance(model, str):
            continue
        buckets = declared.get((namespace, model))
        for group in as_list(get(rule_set.props, "spec", "groups")):
            for rule in as_list(get(group, "rules")):
                for bound in _LE.findall(str(get(rule, "expr", default=""))):
                    if buckets is None:
                        yield (
                            rule_set.urn,
                            f'{namespace}/{model}: rule reads le="{bound}" but no pod declares its buckets',
                        )
                    elif bucket_label(float(bound)) not in buckets:
                        yield (
                            rule_set.urn,
                            f"{namespace}/{model}: rule {get(rule, 'record') or get(rule, 'alert')} reads "
                            f'le="{bound}", which the server does not export (buckets: {", ".join(sorted(buckets, key=float))})',
                        )


def installed_exporters(resources: Sequence[PolicyResource]) -> set[str]:
    """Exporters (keys of components/support/exporters.EXPORTERS) whose metrics the stack scrapes."""
    found = set()
    for release in of_type(resources, RELEASE):
        chart, values = get(release.props, "name"), get(release.props, "values", default={})
        if chart == "dcgm-exporter":
            found.add("dcgm-exporter")
        if chart == "kube-prometheus-stack":
            found.add("prometheus")
            for exporter, key in (
                ("kube-state-metrics", "kubeStateMetrics"),
                ("node-exporter", "nodeExporter"),
                ("kubelet", "kubelet"),
            ):
                if get(values, key, "enabled", default=True) is not False:
                    found.add(exporter)
        if chart == "argo-rollouts" and get(values, "controller", "metrics", "serviceMonitor", "enabled"):
            found.add("argo-rollouts")
        if chart == "argo-workflows" and get(values, "controller", "serviceMonitor", "enabled"):
            found |= {"argo-workflows", "batch-scoring"}
        if chart == "kueue" and get(values, "enablePrometheus"):
            found.add("kueue")
        # What the model monitor jobs push is scraped from the Pushgateway.
        if chart == "prometheus-pushgateway" and get(values, "serviceMonitor", "enabled"):
            found.add("model-monitor")
    for monitor in [*of_type(resources, SERVICE_MONITOR), *of_type(resources, POD_MONITOR)]:
        labels = get(monitor.props, "metadata", "labels", default={})
        if labels.get("app.kubernetes.io/name") in MONITORED_BY_NAME:
            found.add(MONITORED_BY_NAME[labels["app.kubernetes.io/name"]])
        if labels.get("app.kubernetes.io/name") == "mlflow":
            found.add("mlflow")
        if isinstance(labels.get(kube.MODEL_LABEL), str):
            found.add("model-server")
    return found


@_rule("alert-metrics-exported", stack=True)
def alert_metrics_exported(resources: Sequence[PolicyResource], config: Mapping[str, Any]) -> Pairs:
    """Every alert and recording rule reads only metrics that an exporter installed in the same stack
    emits (at the pinned versions; components/support/exporter-metrics.json names each list's source),
    or that a recording rule of the stack writes. A rule over a metric nobody exports never fires.

    Fix: Install the exporter, or correct the metric name against the exporter's list.
    """
    installed = installed_exporters(resources)
    available = {m for name in installed for m in EXPORTERS[name].metrics}
    rules = [
        (rule_set, rule)
        for rule_set in of_type(resources, PROMETHEUS_RULE)
        for group in as_list(get(rule_set.props, "spec", "groups"))
        for rule in as_list(get(group, "rules"))
    ]
    available |= {get(rule, "record") for _, rule in rules if get(rule, "record")}
    for rule_set, rule in rules:
        expression = get(rule, "expr")
        if not isinstance(expression, str):
            continue
        for metric in sorted(metric_names(expression) - available):
            owners = sorted(name for name, e in EXPORTERS.items() if metric in e.metrics)
            hint = (
                f"it comes from {', '.join(owners)}, not installed here"
                if owners
                else "no known exporter emits it"
            )
            yield rule_set.urn, f"rule {get(rule, 'alert') or get(rule, 'record')} reads {metric}: {hint}"
