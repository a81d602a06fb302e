"""`blueprint diff`: what a pull request changes, offline: resources, replacements, cost, policies."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys

import pytest

from mlops_platform.infra import diff
from mlops_platform.infra.offline.runner import synthesize
from mlops_platform.policies import offline, registry
from mlops_platform.policies.graph import Graph, Resource
from tests.harness import ROOT, stack

GPU_SPOT = {
    "name": "gpu-spot",
    "instanceTypes": ["g6.xlarge", "g5.xlarge"],
    "capacityType": "SPOT",
    "minSize": 0,
    "maxSize": 2,
}
NEW_POOL = {
    "name": "gpu-large",
    "instanceTypes": ["g6e.xlarge"],
    "minSize": 1,
    "maxSize": 2,
    "provisioner": "managedNodeGroup",  # an always-on node: Karpenter would launch none for no pod
}


FIXTURE_DEV_STACK = """config:
  aws:region: us-east-1
  mlops-platform:environment: dev
  mlops-platform:owner: ml-platform
  mlops-platform:costCenter: cc-1
  mlops-platform:cluster:
    adminPrincipalArns: [arn:aws:iam::123456789012:role/platform-admin]
    endpoint: {publicAccess: true, publicAccessCidrs: [203.0.113.0/24]}
  mlops-platform:gpuNodePools:
    - name: gpu-spot
      instanceTypes: [g6.xlarge, g5.xlarge]
      capacityType: SPOT
      minSize: 0
      maxSize: 2
"""


def blueprint(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "mlops_platform.infra.cli", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def with_new_pool() -> Graph:
    overrides = {"mlops-platform:gpuNodePools": [GPU_SPOT, NEW_POOL]}
    return synthesize("dev", ROOT, config_overrides=overrides).graph


@pytest.fixture(scope="module")
def with_one_pool() -> Graph:
    """The base of the pool test: dev with exactly the test's own pool, whatever dev's file holds."""
    return synthesize("dev", ROOT, config_overrides={"mlops-platform:gpuNodePools": [GPU_SPOT]}).graph


def test_adding_a_gpu_pool_shows_its_resources_and_a_cost_increase(with_one_pool, with_new_pool):
    base = with_one_pool
    changes = diff.compare(base, with_new_pool)
    added = {(c.resource.type, c.resource.name) for c in changes if c.kind == "add"}
    assert {
        ("mlops:gpu_node_pool:GpuNodePool", "gpu-large"),
        ("aws:eks/nodeGroup:NodeGroup", "gpu-large-nodes"),
        ("aws:ec2/launchTemplate:LaunchTemplate", "gpu-large-nodes-lt"),
    } <= added
    # Nothing else moves but the cost dashboard, whose estimate panel shows the new figure, and the
    # teams' Kueue queues, which gain the pool as a flavor.
    moved = [c.resource.name for c in changes if c.kind != "add"]
    assert moved == ["observability-dashboard-cost", "pipelines-queue-growth", "pipelines-queue-risk"]
    cost = diff.cost_delta(base, with_new_pool)
    # One always-on g6e.xlarge: 1.861 x 730 = 1358.53 plus its 100 GiB gp3 volume, 8.00.
    assert cost.change("idle") == pytest.approx(1358.53 + 8.00)
    # No model selects the new pool: at peak it still runs only its minSize.
    assert cost.change("peak") == cost.change("idle") > 0
    assert ("gpu-large", 0.0, pytest.approx(1366.53)) in [(n, b, h) for n, b, h in cost.by_component]
    report = diff.Report("dev", "base", changes, cost, [], [], diff.output_changes(base, with_new_pool))
    text = report.markdown()
    assert text.startswith(f"## `dev`: {len(added)} to add, ")
    assert "| **change** | **+1,366.53 (+" in text
    assert "- `gpuNodePools` changed" in text
    # The unit KPI per model: the idle pool is platform cost, shared out, so churn-classifier's rises
    # (fraud-scorer scales to zero in dev and serves no declared traffic: it has none).
    assert "| model | per 1k inferences before | after | SageMaker per 1k |" in text
    (row,) = [r for r in cost.per_1k if r[0] == "growth/churn-classifier"]
    assert row[2] > row[1] and row[3] is not None
    assert f"| growth/churn-classifier | {row[1]:.4f} | {row[2]:.4f} | {row[3]:.4f} |" in text
    # What changed inside the output, not only that it did.
    assert '  - `gpu-large.instanceTypes[0]`: (none) → "g6e.xlarge"' in text
    assert "  - `gpu-large.maxSize`: (none) → 2" in text


def test_a_bucket_rename_is_flagged_as_a_replacement():
    base = stack("dev").graph
    head = copy.deepcopy(base)
    bucket = next(
        r for r in head.resources if r.type == "aws:s3/bucket:Bucket" and r.name == "artifacts-bucket"
    )
    bucket.inputs["bucket"] = "acme-ml-artifacts-renamed"
    [change] = diff.compare(base, head)
    assert change.kind == "replace" and change.replaced_by == ["bucket"]
    text = diff.Report("dev", "base", [change], diff.cost_delta(base, head), []).markdown()
    assert "### ⚠️ Replacements (1)" in text
    assert "- `aws:s3/bucket:Bucket` **artifacts-bucket** — forced by `bucket`" in text


def test_in_place_updates_are_not_replacements():
    base = stack("dev").graph
    head = copy.deepcopy(base)
    group = next(r for r in head.resources if r.type == "aws:eks/nodeGroup:NodeGroup")
    group.inputs["scalingConfig"]["maxSize"] = 9
    [change] = diff.compare(base, head)
    assert change.kind == "update"
    assert change.details == [("scalingConfig.maxSize", "3 → 9")]


def resource(name: str, **inputs) -> Resource:
    return Resource(
        urn=f"urn:pulumi:dev::p::aws:s3/bucket:Bucket::{name}",
        type="aws:s3/bucket:Bucket",
        name=name,
        parent=None,
        custom=True,
        provider=None,
        depends_on=[],
        protect=False,
        retain_on_delete=False,
        ignore_changes=[],
        inputs=inputs,
    )


GOLDEN = """\
## `dev`: 1 to add, 1 to change, 1 to replace, 1 to delete

Compared with `main` (abc).

### Monthly cost estimate (USD)

| | idle | expected | peak |
|---|---:|---:|---:|
| base | 10.00 | 20.00 | 30.00 |
| head | 12.50 | 20.00 | 60.00 |
| **change** | **+2.50 (+25.0%)** | **+0.00** | **+30.00 (+100.0%)** |

### ⚠️ Replacements (1)

- `aws:s3/bucket:Bucket` **renamed** — forced by `bucket`
  - `bucket`: "old" → "new"

### Added (1)

- `aws:s3/bucket:Bucket` **fresh**

### Changed (1)

- `aws:s3/bucket:Bucket` **tagged**
  - `tags.team`: "a" → "b"
  - `(protect)`: false → true

### Deleted (1)

- `aws:s3/bucket:Bucket` **gone**

_Offline diff of the resources the program asks for (secrets masked); not a diff against live state. Replacement flags cover known replace-on-change inputs only._
"""


def test_markdown_is_stable_and_exact():
    tagged_before = resource("tagged", tags={"team": "a"}, password="[secret]")
    tagged_after = resource("tagged", tags={"team": "b"}, password="[secret]")
    tagged_after.protect = True
    cost = {"monthly": {"idle": 10.0, "expected": 20.0, "peak": 30.0}, "byComponent": {}}
    base = Graph(
        "p",
        "dev",
        [resource("renamed", bucket="old"), tagged_before, resource("gone")],
        {"costEstimate": cost},
    )
    head_cost = {"monthly": {"idle": 12.5, "expected": 20.0, "peak": 60.0}, "byComponent": {}}
    head = Graph(
        "p",
        "dev",
        [resource("fresh"), tagged_after, resource("renamed", bucket="new")],
        {"costEstimate": head_cost},
    )
    renders = {
        diff.Report(
            "dev", "`main` (abc)", diff.compare(base, head), diff.cost_delta(base, head), []
        ).markdown()
        for _ in range(3)
    }
    assert renders == {GOLDEN}


def test_policy_violations_the_change_introduces_are_listed():
    base = stack("dev").graph
    head = copy.deepcopy(base)
    next(r for r in head.resources if r.type == "aws:rds/instance:Instance").inputs["publiclyAccessible"] = (
        True
    )
    config = registry.policy_config("dev")
    new = diff.introduced(offline.evaluate(base, config), offline.evaluate(head, config))
    assert [v.rule for v in new] == ["rds-not-public"]
    text = diff.Report("dev", "b", diff.compare(base, head), diff.cost_delta(base, head), new).markdown()
    assert "### Policy violations introduced (1)" in text
    assert "**[mandatory] rds-not-public**" in text


def test_diff_against_a_graph_file_and_cost_gate(tmp_path):
    base = copy.deepcopy(stack("dev").graph)
    base.outputs["costEstimate"]["monthly"] = {"idle": 1.0, "expected": 1.0, "peak": 1.0}
    graph_file = tmp_path / "base.json"
    graph_file.write_text(base.to_json())
    result = blueprint(
        "diff", "dev", "--base", str(graph_file), "--fail-on-cost-increase", "10", "--format", "json"
    )
    assert result.returncode == 1
    assert "expected monthly cost rises by" in result.stderr
    report = json.loads(result.stdout)
    assert report["counts"] == {"add": 0, "update": 0, "replace": 0, "remove": 0}
    assert report["cost"]["change"]["expected"] > 0


def test_bad_base_exits_2_without_traceback(tmp_path):
    result = blueprint("diff", "dev", "--base", "no-such-ref-or-file")
    assert result.returncode == 2
    assert "--base no-such-ref-or-file is neither a graph file nor a git commit" in result.stderr
    (tmp_path / "g.json").write_text("{}")
    result = blueprint("diff", "dev", "--base", str(tmp_path / "g.json"))
    assert result.returncode == 2 and "not a synth graph" in result.stderr
    assert blueprint("diff", "dev", "--base", "HEAD", "--fail-on-cost-increase", "-5").returncode == 2


@pytest.fixture
def repository(tmp_path):
    """A fresh git repository holding this project, with one commit that adds a GPU pool to dev."""
    project = tmp_path / "repo"
    project.mkdir()
    for name in ("Pulumi.yaml", "pyproject.toml"):
        shutil.copy(ROOT / name, project / name)
    for folder in ("charts", "components", "infra", "policies"):
        shutil.copytree(ROOT / folder, project / folder, ignore=shutil.ignore_patterns("__pycache__"))
    # The test's own stack, not the working tree's (a user's edit there must not break it).
    (project / "stacks").mkdir()
    dev = project / "stacks" / "Pulumi.dev.yaml"
    dev.write_text(FIXTURE_DEV_STACK)

    def git(*args):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "empty")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "platform")
    dev.write_text(
        FIXTURE_DEV_STACK
        + "    - name: gpu-large\n      instanceTypes: [g6e.xlarge]\n      minSize: 1\n      maxSize: 2\n"
        + "      provisioner: managedNodeGroup\n"
    )
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", "add a GPU pool")
    return project


def test_diff_against_the_previous_commit_in_a_worktree(repository):
    result = blueprint("diff", "dev", "--base", "HEAD~1", "--fail-on-cost-increase", "5", cwd=repository)
    assert result.returncode == 1, result.stderr  # the new always-on pool costs far more than 5%
    assert "Compared with `HEAD~1` (" in result.stdout
    assert "### Added (" in result.stdout and "**gpu-large**" in result.stdout
    assert "| gpu-large | 0.00 | 1,366.53 | +1,366.53 |" in result.stdout
    worktrees = subprocess.run(
        ["git", "worktree", "list"], cwd=repository, capture_output=True, text=True
    ).stdout
    assert len(worktrees.strip().splitlines()) == 1  # the temporary worktree is gone
    # A ref from before the stack existed: everything is new, and the report says so.
    result = blueprint("diff", "dev", "--base", "HEAD~2", cwd=repository)
    assert result.returncode == 0, result.stderr
    assert "does not exist at HEAD~2: everything is new" in result.stdout


def test_a_git_base_is_synthesized_with_its_own_code(repository):
    """The base runs the code of its commit, not this checkout's (the venv's editable install)."""
    tagging = repository / "components" / "support" / "tagging.py"
    original = tagging.read_text()
    assert '"managed-by": "pulumi",' in original

    def commit(text, message):
        tagging.write_text(text)
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-am", message],
            cwd=repository,
            check=True,
        )

    commit(original.replace('"managed-by": "pulumi",', '"managed-by": "pulumi-base",'), "retag")
    commit(original, "restore")
    result = blueprint("diff", "dev", "--base", "HEAD~1", "--format", "json", cwd=repository)
    assert result.returncode == 0, result.stderr
    retagged = [
        c
        for c in json.loads(result.stdout)["changes"]
        if any(d["path"] == "tags.managed-by" and "pulumi-base" in d["change"] for d in c["details"])
    ]
    assert retagged, "the base's own tagging code must show up as a tag change"


def test_fail_on_replace_exits_1_for_stateful_or_protected_replacements_only(tmp_path):
    """One base with three replacements: a database (stateful), a protected role and a ConfigMap."""

    def replace_three(graph):
        next(r for r in graph.resources if r.type == "aws:rds/instance:Instance").inputs["dbName"] = "old"
        role = next(r for r in graph.resources if r.type == "aws:iam/role:Role")
        role.protect = True
        role.inputs["path"] = "/old/"
        config_map = next(r for r in graph.resources if r.type == "kubernetes:core/v1:ConfigMap")
        config_map.inputs["metadata"]["name"] = "renamed"
        return role.name, config_map.name

    base = copy.deepcopy(stack("dev").graph)
    role, config_map = replace_three(base)
    path = tmp_path / "base.json"
    path.write_text(base.to_json())
    gated = blueprint("diff", "dev", "--base", str(path), "--fail-on-replace")
    assert gated.returncode == 1, gated.stderr
    assert sorted(gated.stderr.strip().splitlines()) == sorted(
        [
            "blueprint diff: stateful aws:rds/instance:Instance mlflow-db would be replaced (forced by dbName)",
            f"blueprint diff: protected aws:iam/role:Role {role} would be replaced (forced by path)",
        ]
    )
    assert (
        "### ⚠️ Replacements (3)" in gated.stdout and f"**{config_map}**" in gated.stdout
    )  # reported, not gated
    kinds = [why for _, why in diff.dangerous_replacements(diff.compare(base, stack("dev").graph), base)]
    assert sorted(kinds) == ["protected", "stateful"]
