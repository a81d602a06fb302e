"""ClusterAddons: pinned charts, GPU-only device plugin, autoscaler least privilege."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from mlops_platform.components.foundation.cluster_addons import (
    ClusterAddons,
    ClusterAddonsSpec,
    autoscaler_policy,
)
from mlops_platform.components.support import pins
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import CLUSTER, ROOT, context, run


def addons(environment=Environment.DEV, **overrides):
    spec = ClusterAddonsSpec(**overrides)
    return run(lambda: ClusterAddons("addons", spec, context(environment), CLUSTER)).graph


def releases(graph):
    return {r.inputs["name"]: r for r in graph.of_type("kubernetes:helm.sh/v3:Release")}


def test_every_chart_is_pinned_and_installed_from_its_vendored_archive():
    installed = releases(addons())
    assert set(installed) == {"cluster-autoscaler", "nvidia-device-plugin", "metrics-server"}
    for chart, release in installed.items():
        pinned = pins.CHARTS[chart]
        assert release.inputs["version"] == pinned.version
        # A path relative to the directory the program runs in, to the archive at the pinned version.
        assert release.inputs["chart"] == os.path.relpath(ROOT / "charts" / f"{chart}-{pinned.version}.tgz")
        assert Path(release.inputs["chart"]).is_file()
        assert "repositoryOpts" not in release.inputs
        assert release.inputs["namespace"] == "kube-system"


def test_device_plugin_runs_only_on_gpu_nodes_and_tolerates_the_taint():
    values = releases(addons())["nvidia-device-plugin"].inputs["values"]
    assert values["nodeSelector"] == {"mlops-platform.io/nvidia-device-plugin": "daemonset"}
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in values["tolerations"]


def test_autoscaler_matches_the_control_plane_and_discovers_this_cluster():
    values = releases(addons())["cluster-autoscaler"].inputs["values"]
    assert values["autoDiscovery"] == {"clusterName": "mlops-platform-test"}
    assert values["image"]["tag"] == pins.CLUSTER_AUTOSCALER_IMAGE_TAGS[pins.KUBERNETES_VERSION]
    assert values["nodeSelector"] == {"mlops-platform.io/node-role": "system"}


def test_autoscaler_can_only_scale_groups_its_cluster_owns():
    policy = json.loads(autoscaler_policy(region="us-east-1", account_id="123456789012", cluster_name="c1"))
    writes = [s for s in policy["Statement"] if "autoscaling:SetDesiredCapacity" in s["Action"]]
    (write,) = writes
    assert write["Resource"] == [
        "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/*"
    ]
    assert write["Condition"] == {"StringEquals": {"aws:ResourceTag/k8s.io/cluster-autoscaler/c1": "owned"}}
    star = [s for s in policy["Statement"] if s["Resource"] == ["*"]]
    assert all(all(":Describe" in a or ":Get" in a for a in s["Action"]) for s in star)


def test_autoscaler_role_is_bound_to_its_service_account():
    graph = addons()
    (association,) = graph.of_type("aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert association.inputs["namespace"] == "kube-system"
    assert association.inputs["serviceAccount"] == "cluster-autoscaler"


def test_high_availability_doubles_metrics_server():
    assert releases(addons())["metrics-server"].inputs["values"]["replicas"] == 1
    values = releases(addons(high_availability=True))["metrics-server"].inputs["values"]
    assert values["replicas"] == 2
    assert values["podDisruptionBudget"]["enabled"] is True
    # Prod turns it on unless the spec says otherwise.
    assert releases(addons(Environment.PROD))["metrics-server"].inputs["values"]["replicas"] == 2


def test_rejects_unpinned_kubernetes_version():
    old = replace(CLUSTER, kubernetes_version="1.20")
    with pytest.raises(
        InvalidArgs, match=r"cluster.kubernetes_version: no pinned cluster-autoscaler for '1\.20'"
    ):
        ClusterAddons("a", ClusterAddonsSpec(), context(), old)
