"""Shared test harness: run programs or single components under the offline runtime."""

from __future__ import annotations

import functools
import subprocess
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlops_platform.components.refs import ArtifactsRef, ClusterRef, GpuPoolInfo, NetworkRef, PlatformRef
from mlops_platform.components.support import pins
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.tagging import platform_tags
from mlops_platform.infra.offline.runner import SynthResult, run_program, synthesize
from mlops_platform.policies.graph import Graph, Resource

ROOT = Path(__file__).resolve().parents[1]
STACKS = ("dev", "stage", "prod")
TAGS = platform_tags(environment="dev", project="mlops-platform", owner="ml-platform", cost_center="cc-1")
ACCOUNT = "123456789012"


def context(environment: Environment = Environment.DEV) -> StackContext:
    """The stack a component under test belongs to: project mlops-platform, stack test."""
    return StackContext.create(
        project="mlops-platform",
        stack="test",
        environment=environment,
        owner="ml-platform",
        cost_center="cc-1",
    )


NETWORK = NetworkRef(vpc_id="vpc-1", private_subnet_ids=["subnet-a", "subnet-b"], cidr="10.0.0.0/16")
CLUSTER = ClusterRef(
    name="mlops-platform-test",
    kubernetes_version=pins.KUBERNETES_VERSION,
    node_role_arn=f"arn:aws:iam::{ACCOUNT}:role/node",
    security_group_id="sg-cluster",
    ebs_kms_key_arn=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/ebs",
)
ARTIFACTS = ArtifactsRef(
    bucket_name="artifacts-bucket-1",
    bucket_arn="arn:aws:s3:::artifacts-bucket-1",
    kms_key_arn=f"arn:aws:kms:us-east-1:{ACCOUNT}:key/artifacts",
)
GPU_POOLS = {
    "gpu-a10": GpuPoolInfo(
        node_labels={"nvidia.com/gpu.present": "true", "mlops-platform.io/gpu-pool": "gpu-a10"},
        gpus_per_node=1,
    )
}


def platform(environment: Environment = Environment.DEV, **overrides: Any) -> PlatformRef:
    """A platform as a team's project sees it, with plain stand-in outputs."""
    values: dict[str, Any] = {
        "context": context(environment),
        "region": "us-east-1",
        "cluster_name": CLUSTER.name,
        "node_role_arn": CLUSTER.node_role_arn,
        "artifact_bucket_name": ARTIFACTS.bucket_name,
        "artifact_kms_key_arn": ARTIFACTS.kms_key_arn,
        "registry_kms_key_arn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/registry",
        "gpu_pools": GPU_POOLS,
        "vpc_cidr": "10.0.0.0/16",
        "secrets_path_prefix": f"mlops-platform/{environment.value}",
        "runbook_base_url": "https://github.com/acme/mlops-platform/blob/main/docs/runbooks",
        "gateway_url": "http://models.internal.example.com",
        "mlflow_url": "https://mlflow.internal.example.com",
        **overrides,
    }
    return PlatformRef(**values)


@functools.cache
def stack(name: str) -> SynthResult:
    """Each stack is synthesized once per test session; tests must not mutate the result."""
    return synthesize(name, ROOT)


def run(
    program: Callable[[], Any], *, config: Mapping[str, Any] | None = None, stack_name: str = "test"
) -> SynthResult:
    """Run a program (usually one component) under the recording mocks."""
    return run_program(
        program,
        project="mlops-platform",
        stack=stack_name,
        config={"aws:region": "us-east-1", **(config or {})},
    )


def only(graph: Graph, resource_type: str) -> Resource:
    found = graph.of_type(resource_type)
    assert len(found) == 1, f"expected exactly one {resource_type}, found {[r.name for r in found]}"
    return found[0]


def kubernetes_objects(graph: Graph) -> list[Resource]:
    """Rendered Kubernetes objects (Helm releases and providers excluded)."""
    return [
        r
        for r in graph.resources
        if r.type.startswith("kubernetes:") and r.type != "kubernetes:helm.sh/v3:Release" and r.custom
    ]


def without_aws_credentials(monkeypatch, scratch: Path) -> None:
    """Make the usual credential chain come up empty (no env keys, no profiles, no instance role)."""
    for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(scratch / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def wait_until_answers(url: str, process: subprocess.Popen, seconds: float = 60) -> None:
    """Poll ``url`` until it answers; fail if ``process`` (the server) exits first or time runs out."""
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited {process.returncode} before {url} answered")
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {seconds:g} s") from None
            time.sleep(0.1)
