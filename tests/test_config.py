"""Stack configuration: environment defaults, and every kind of bad value rejected with its exact message."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml
from pydantic.alias_generators import to_camel

from mlops_platform.components.foundation.network import NatGateways
from mlops_platform.components.support import pins
from mlops_platform.components.support.environment import Environment
from mlops_platform.infra import config
from mlops_platform.infra.config import parsing
from mlops_platform.infra.config.schema import StackSpec
from mlops_platform.infra.offline.runner import SynthError
from tests.harness import ROOT, run

DEV = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())["config"]


def parse(raw: dict[str, Any]) -> config.PlatformConfig:
    return config.parse(raw, project="mlops-platform", stack="test")


def problems_of(changes: dict[str, Any], remove: tuple[str, ...] = ()) -> list[str]:
    raw = copy.deepcopy(DEV)
    raw.update(changes)
    for key in remove:
        raw.pop(key)
    with pytest.raises(config.ConfigError) as caught:
        parse(raw)
    return caught.value.problems


def test_dev_stack_parses_with_dev_defaults():
    cfg = parse(copy.deepcopy(DEV))
    assert cfg.environment is Environment.DEV
    assert cfg.spec.network.az_count == 2
    assert cfg.spec.network.nat_gateways is NatGateways.SINGLE
    assert cfg.spec.network.flow_logs.enabled is False
    assert cfg.spec.cluster.kubernetes_version == pins.KUBERNETES_VERSION
    assert cfg.tags == {
        "environment": "dev",
        "project": "mlops-platform",
        "owner": "ml-platform",
        "cost-center": "cc-1042",
        "managed-by": "pulumi",
    }
    assert cfg.cluster_name == "mlops-platform-test"


def test_prod_defaults_differ_from_dev():
    raw = copy.deepcopy(DEV)
    raw["mlops-platform:environment"] = "prod"
    raw["mlops-platform:cluster"] = {"adminPrincipalArns": ["arn:aws:iam::123456789012:role/admin"]}
    raw.pop("mlops-platform:models")  # dev's models have no SLO, which prod requires
    cfg = parse(raw)
    assert cfg.spec.network.az_count == 3
    assert cfg.spec.network.nat_gateways is NatGateways.PER_AZ
    assert cfg.spec.network.flow_logs.enabled is True
    assert cfg.spec.cluster.endpoint.public_access is False
    assert cfg.spec.system_nodes.min_size == 3


def test_stack_values_override_only_what_they_set():
    raw = copy.deepcopy(DEV)
    raw["mlops-platform:network"] = {"azCount": 3}
    cfg = parse(raw)
    assert cfg.spec.network.az_count == 3
    assert cfg.spec.network.cidr == "10.0.0.0/16"  # still the dev default


BAD_CONFIGS = [
    pytest.param(
        {
            "mlops-platform:gpuNodePools": [
                {"name": "a", "instanceTypes": ["g5.xlarge"], "maxSize": 1},
                {"name": "b", "instanceTypes": ["g5.xlarge"], "minSize": 2, "maxSize": 0},
            ]
        },
        "mlops-platform:gpuNodePools[1].maxSize: must be >= minSize (got 0 < 2)",
        id="max-below-min",
    ),
    pytest.param(
        {"mlops-platform:environment": "qa"},
        'mlops-platform:environment: must be one of dev, stage or prod (got "qa")',
        id="unknown-environment",
    ),
    pytest.param(
        {"mlops-platform:netwrk": {}},
        "mlops-platform:netwrk: unknown key; valid keys: artifacts, audit, cluster, costAssumptions, costCenter, environment, gateway, gpuNodePools, imageAdmission, "
        "mlflow, models, monitoring, network, observability, owner, pipelines, promotion, registry, secrets, systemNodes, "
        "teams",
        id="unknown-top-level-key",
    ),
    pytest.param(
        {"mlops-platform:network": {"azCuont": 3}},
        "mlops-platform:network.azCuont: unknown key; valid keys: azCount, cidr, existing, flowLogs, interfaceEndpoints, natGateways",
        id="unknown-nested-key",
    ),
    pytest.param(
        {"mlops-platform:network": {"azCount": 9}},
        "mlops-platform:network.azCount: must be between 2 and 6 (got 9)",
        id="az-count-out-of-range",
    ),
    pytest.param(
        {"mlops-platform:network": {"cidr": "10.0.0.0/8"}},
        "mlops-platform:network.cidr: prefix must be /16 to /20 (got /8)",
        id="cidr-too-large",
    ),
    pytest.param(
        {"mlops-platform:network": {"cidr": "ten-dot-zero"}},
        "mlops-platform:network.cidr: must be an IPv4 CIDR such as 10.0.0.0/16 (got 'ten-dot-zero')",
        id="cidr-garbage",
    ),
    pytest.param(
        {"mlops-platform:network": {"natGateways": "many"}},
        'mlops-platform:network.natGateways: must be one of single or perAz (got "many")',
        id="nat-mode",
    ),
    pytest.param(
        {"mlops-platform:network": {"flowLogs": {"enabled": True, "retentionDays": 8}}},
        "mlops-platform:network.flowLogs.retentionDays: must be a CloudWatch Logs retention period such as 7, 30, 90 or 365 (got 8)",
        id="log-retention",
    ),
    pytest.param(
        {"mlops-platform:network": {"interfaceEndpoints": ["s3"]}},
        'mlops-platform:network.interfaceEndpoints[0]: must be one of ecr.api, ecr.dkr, sts or logs (got "s3")',
        id="interface-endpoint",
    ),
    pytest.param(
        {"mlops-platform:cluster": {"adminPrincipalArns": ["bob"]}},
        "mlops-platform:cluster.adminPrincipalArns[0]: must be an IAM role or user ARN (got 'bob')",
        id="admin-arn",
    ),
    pytest.param(
        {"mlops-platform:cluster": {"adminPrincipalArns": []}},
        "mlops-platform:cluster.adminPrincipalArns: must list at least one IAM role, including the one that runs pulumi up",
        id="no-admins",
    ),
    pytest.param(
        {
            "mlops-platform:cluster": {
                "adminPrincipalArns": ["arn:aws:iam::123456789012:role/a"],
                "kubernetesVersion": "1.20",
            }
        },
        "mlops-platform:cluster.kubernetesVersion: must be one of 1.33, 1.34, 1.35 (got '1.20')",
        id="kubernetes-version",
    ),
    pytest.param(
        {
            "mlops-platform:cluster": {
                "adminPrincipalArns": ["arn:aws:iam::123456789012:role/a"],
                "endpoint": {"publicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]},
            }
        },
        "mlops-platform:cluster.endpoint.publicAccessCidrs[0]: must not open the endpoint to the whole internet (0.0.0.0/0)",
        id="endpoint-open-to-world",
    ),
    pytest.param(
        {
            "mlops-platform:cluster": {
                "adminPrincipalArns": ["arn:aws:iam::123456789012:role/a"],
                "endpoint": {"publicAccess": True},
            }
        },
        "mlops-platform:cluster.endpoint.publicAccessCidrs: must list the CIDRs allowed to reach the public endpoint",
        id="public-endpoint-without-cidrs",
    ),
    pytest.param(
        {"mlops-platform:systemNodes": {"instanceTypes": ["m9.huge"]}},
        "mlops-platform:systemNodes.instanceTypes[0]: unknown instance type 'm9.huge'",
        id="unknown-instance-type",
    ),
    pytest.param(
        {"mlops-platform:gpuNodePools": [{"name": "p", "instanceTypes": ["m6i.large"], "maxSize": 1}]},
        "mlops-platform:gpuNodePools[0].instanceTypes[0]: m6i.large has no GPU; use a g4dn, g5, g6, g6e, p4d or p5 type",
        id="gpu-pool-without-gpu",
    ),
    pytest.param(
        {
            "mlops-platform:gpuNodePools": [
                {
                    "name": "p",
                    "instanceTypes": ["g5.xlarge", "g5.12xlarge"],
                    "maxSize": 1,
                    "provisioner": "managedNodeGroup",
                }
            ]
        },
        "mlops-platform:gpuNodePools[0].instanceTypes: must all have the same GPU count, or scale-from-zero would "
        "schedule wrongly (got g5.xlarge=1, g5.12xlarge=4)",
        id="gpu-count-mismatch",
    ),
    pytest.param(
        {
            "mlops-platform:gpuNodePools": [
                {"name": "p", "instanceTypes": ["g5.xlarge"], "maxSize": 1, "capacityType": "spot"}
            ]
        },
        'mlops-platform:gpuNodePools[0].capacityType: must be one of ON_DEMAND or SPOT (got "spot")',
        id="capacity-type-case",
    ),
    pytest.param(
        {"mlops-platform:gpuNodePools": [{"name": "p", "instanceTypes": ["g5.xlarge"], "maxSize": "two"}]},
        'mlops-platform:gpuNodePools[0].maxSize: must be an integer (got "two")',
        id="not-an-integer",
    ),
    pytest.param(
        {"mlops-platform:gpuNodePools": [{"name": "Big_Pool", "instanceTypes": ["g5.xlarge"], "maxSize": 1}]},
        "mlops-platform:gpuNodePools[0].name: must be 1-40 lowercase letters, digits or '-' (got 'Big_Pool')",
        id="pool-name",
    ),
    pytest.param(
        {
            "mlops-platform:gpuNodePools": [
                {"name": "p", "instanceTypes": ["g5.xlarge"], "maxSize": 1},
                {"name": "p", "instanceTypes": ["g6.xlarge"], "maxSize": 1},
            ]
        },
        "mlops-platform:gpuNodePools[1].name: duplicate pool name 'p'; names must be unique",
        id="duplicate-pool",
    ),
    pytest.param(
        {"mlops-platform:gpuNodePools": {"name": "p"}},
        'mlops-platform:gpuNodePools: must be a list (got {"name": "p"})',
        id="pools-not-a-list",
    ),
    pytest.param(
        {
            "mlops-platform:gateway": {
                "sharedLoadBalancer": True,
                "wafAclArn": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/models/0000",
            }
        },
        "mlops-platform:gateway.sharedLoadBalancer: cannot be true with certificateArns, wafAclArn or a "
        "model's certificateArn: they would apply to MLflow and Grafana on the shared ALB too; set it to false",
        id="shared-load-balancer-with-waf",
    ),
    pytest.param(
        {"mlops-platform:observability": {"prometheusCpu": "half a core"}},
        "mlops-platform:observability.prometheusCpu: must be a Kubernetes quantity such as 500m, 2 or 4Gi "
        "(got 'half a core')",
        id="prometheus-cpu",
    ),
    pytest.param(
        {"mlops-platform:mlflow": {"serverCpu": "-1"}},
        "mlops-platform:mlflow.serverCpu: must be a Kubernetes quantity such as 500m, 2 or 4Gi (got '-1')",
        id="mlflow-server-cpu",
    ),
    pytest.param(
        {"aws:region": "mars-north-1a"},
        "aws:region: must be an AWS region such as us-east-1 (got 'mars-north-1a')",
        id="region",
    ),
    pytest.param(
        {"aws:regoin": "us-east-1"},
        "aws:regoin: unknown key; valid aws keys: aws:allowedAccountIds, aws:profile, aws:region",
        id="unknown-aws-key",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), BAD_CONFIGS)
def test_rejects_bad_value_with_exact_message(changes, expected):
    assert expected in problems_of(changes)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("mlops-platform:owner", "mlops-platform:owner: required; set it in stacks/Pulumi.<stack>.yaml"),
        (
            "mlops-platform:costCenter",
            "mlops-platform:costCenter: required; set it in stacks/Pulumi.<stack>.yaml",
        ),
        ("aws:region", "aws:region: required; set it with `pulumi config set aws:region us-east-1`"),
    ],
)
def test_rejects_missing_required_key(key, expected):
    assert problems_of({}, remove=(key,)) == [expected]


def test_reports_every_problem_at_once_even_beside_structural_errors():
    problems = problems_of(
        {
            "mlops-platform:network": {"azCount": 9, "natGateways": "many"},
            "mlops-platform:gpuNodePools": [
                {"name": "p", "instanceTypes": ["g5.xlarge"], "minSize": 3, "maxSize": 1, "capacityType": "x"}
            ],
        }
    )
    # Structural errors first, then every semantic problem of the parts that are well-formed; the dev
    # team's quota no longer fits the pools, and its pipeline and models still ask for the gpu-spot
    # pool this change removed.
    assert problems == [
        'mlops-platform:network.natGateways: must be one of single or perAz (got "many")',
        'mlops-platform:gpuNodePools[0].capacityType: must be one of ON_DEMAND or SPOT (got "x")',
        "mlops-platform:network.azCount: must be between 2 and 6 (got 9)",
        "mlops-platform:gpuNodePools[0].maxSize: must be >= minSize (got 1 < 3)",
        "mlops-platform:teams[0].quota.gpus: is 2 but the GPU pools can hold at most 1 (p: 1); lower it or "
        "raise a pool's maxSize",
        "mlops-platform:teams[0].pipelines[0].train.pool: unknown GPU pool 'gpu-spot'; pools: p",
        "mlops-platform:models[1].resources.gpuPool: unknown GPU pool 'gpu-spot'; known pools: p",
    ]


def test_bad_config_registers_no_resource():
    from mlops_platform.infra.program import main

    bad = copy.deepcopy(DEV)
    bad["mlops-platform:network"] = {"azCount": 1}
    with pytest.raises(SynthError) as caught:
        run(main, config=bad)
    assert caught.value.exit_code == 2
    assert "mlops-platform:network.azCount: must be between 2 and 6 (got 1)" in str(caught.value)
    assert caught.value.registered == []


def test_pulumi_yaml_declares_every_top_level_key():
    project = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    declared = project["config"]
    schema = {to_camel(f.name): f for f in parsing.fields(StackSpec)}
    assert set(declared) == set(schema) | {"aws:region"}
    for key, field in schema.items():
        annotation = parsing.hints(StackSpec)[field.name]
        declaration = declared[key]
        assert declaration["description"], key
        expected = (
            "array"
            if parsing.is_sequence(annotation)
            else "object"
            if parsing.element_spec(annotation)
            else "string"
        )
        assert declaration["type"] == expected, key
        assert "Default" in declaration["description"] or "Required" in declaration["description"], key


DEV_MODEL = {"name": "m", "team": "t", "stable": {"name": "v1", "imageTag": "1.0", "weight": 100}}

CROSS_SECTION = [
    pytest.param(
        {
            "mlops-platform:gateway": {"sharedLoadBalancer": True},
            "mlops-platform:models": [
                {**DEV_MODEL, "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/0000"}
            ],
        },
        "mlops-platform:gateway.sharedLoadBalancer: cannot be true with certificateArns, wafAclArn or a "
        "model's certificateArn: they would apply to MLflow and Grafana on the shared ALB too; set it to false",
        id="shared-load-balancer-with-model-certificate",
    ),
    pytest.param(
        {"mlops-platform:mlflow": {"image": "mlflow:latest"}},
        "mlops-platform:mlflow.image: must not use the mutable tag 'latest'; pin a version or a digest (got 'mlflow:latest')",
        id="mlflow-latest",
    ),
    pytest.param(
        {"mlops-platform:registry": {"repositories": ["other"]}},
        "mlops-platform:registry.repositories: must include 'mlflow-server' while mlflow.image is unset (the default image lives there)",
        id="mlflow-repository",
    ),
    pytest.param(
        {
            "mlops-platform:artifacts": {
                "grants": [{"roleArn": "arn:aws:iam::123456789012:role/ci", "prefix": "models"}]
            }
        },
        "mlops-platform:artifacts.grants[0].prefix: must be a key prefix ending in '/', such as models/risk/ (got 'models')",
        id="grant-prefix",
    ),
    pytest.param(
        {"mlops-platform:registry": {"pushRoleArns": ["ci"]}},
        "mlops-platform:registry.pushRoleArns[0]: must be an IAM role ARN (got 'ci')",
        id="push-role",
    ),
    pytest.param(
        {
            "mlops-platform:secrets": {
                "entries": [{"name": "a", "description": "d"}, {"name": "a", "description": "e"}]
            }
        },
        "mlops-platform:secrets.entries[1].name: duplicate secret name 'a'",
        id="duplicate-secret",
    ),
    pytest.param(
        {"mlops-platform:observability": {"receivers": [{"name": "r", "kind": "slack", "secret": "nope"}]}},
        "mlops-platform:observability.receivers[0].secret: must name an entry of secrets.entries (got 'nope'; known: huggingface-token, mlflow-risk, slack-webhook)",
        id="receiver-secret",
    ),
    pytest.param(
        {"mlops-platform:observability": {"budget": {"monthlyLimitUsd": -5}}},
        "mlops-platform:observability.budget.monthlyLimitUsd: must be > 0 and at most 1e9 (got -5.0)",
        id="budget",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"canary": {"name": "v2", "imageTag": "2.0", "weight": 20}}]},
        "mlops-platform:models[0].canary.weight: stable and canary weights must sum to 100 (got 100 + 20 = 120)",
        id="model-weights",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"resources": {"gpus": 1}}]},
        "mlops-platform:models[0].resources.gpuPool: must name a GPU pool when gpus > 0 (got gpus=1 and no pool)",
        id="model-gpu-without-pool",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"resources": {"gpus": 1, "gpuPool": "gpu-huge"}}]},
        "mlops-platform:models[0].resources.gpuPool: unknown GPU pool 'gpu-huge'; known pools: gpu-spot",
        id="model-unknown-pool",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"stable": {"name": "v1", "imageTag": "latest"}}]},
        "mlops-platform:models[0].stable.imageTag: must not be 'latest': pin a version or a digest",
        id="model-latest",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"stable": {"name": "v1"}}]},
        "mlops-platform:models[0].stable.imageTag: set an immutable image tag or a digest (got neither)",
        id="model-no-tag",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"name": "Fraud_Scorer"}]},
        "mlops-platform:models[0].name: must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with an alphanumeric, at most 40 characters (got 'Fraud_Scorer')",
        id="model-name",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"replicas": {"min": 3, "max": 2}}]},
        "mlops-platform:models[0].replicas.max: must be >= replicas.min (got 2 < 3)",
        id="model-min-max",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL, DEV_MODEL]},
        "mlops-platform:models[1].name: duplicate model name 'm'; model names must be unique in a stack",
        id="model-duplicate",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"secrets": [{"env": "TOKEN", "secret": "nope"}]}]},
        "mlops-platform:models[0].secrets[0].secret: must name an entry of secrets.entries (got 'nope')",
        id="model-secret",
    ),
    pytest.param(
        {"mlops-platform:models": [DEV_MODEL | {"env": {"MODEL_URI": "s3://elsewhere"}}]},
        "mlops-platform:models[0].env.MODEL_URI: is set by the platform; choose another name",
        id="model-reserved-env",
    ),
]


@pytest.mark.parametrize(("changes", "expected"), CROSS_SECTION)
def test_rejects_cross_section_problems_with_exact_message(changes, expected):
    problems = problems_of(changes)
    assert any(p.startswith(expected) for p in problems), problems


def prod_problems(changes):
    return problems_of(
        {
            "mlops-platform:environment": "prod",
            "mlops-platform:cluster": {"adminPrincipalArns": ["arn:aws:iam::123456789012:role/a"]},
            "mlops-platform:models": [],
            **changes,
        }
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"mlops-platform:artifacts": {"forceDestroy": True}},
            "mlops-platform:artifacts.forceDestroy: is only allowed in dev; prod data must survive a destroy",
            id="force-destroy",
        ),
        pytest.param(
            {"mlops-platform:mlflow": {"database": {"multiAz": False}}},
            "mlops-platform:mlflow.database.multiAz: must be true in prod: the tracking server must survive an AZ outage",
            id="multi-az",
        ),
        pytest.param(
            {"mlops-platform:mlflow": {"database": {"backupRetentionDays": 7}}},
            "mlops-platform:mlflow.database.backupRetentionDays: must be >= 14 in prod (got 7)",
            id="backups",
        ),
        pytest.param(
            {"mlops-platform:mlflow": {"replicas": 1}},
            "mlops-platform:mlflow.replicas: must be >= 2 in prod (got 1)",
            id="mlflow-replicas",
        ),
        pytest.param(
            {"mlops-platform:systemNodes": {"capacityType": "SPOT"}},
            "mlops-platform:systemNodes.capacityType: must be ON_DEMAND in prod: the platform's add-ons run "
            "on these nodes",
            id="spot-system-nodes",
        ),
        pytest.param(
            {"mlops-platform:models": [DEV_MODEL]},
            "mlops-platform:models[0].slo: is required in prod: set an availability target and a p95 latency",
            id="model-slo",
        ),
        pytest.param(
            {"mlops-platform:pipelines": {"archiveDatabase": {"multiAz": False}}},
            "mlops-platform:pipelines.archiveDatabase.multiAz: must be true in prod: the workflow archive "
            "must survive an AZ outage",
            id="archive-multi-az",
        ),
        pytest.param(
            {"mlops-platform:pipelines": {"archive": "elsewhere"}},
            "mlops-platform:pipelines.archive: must be one of none, mlflowDatabase or ownDatabase "
            '(got "elsewhere")',
            id="archive-location",
        ),
        pytest.param(
            {"mlops-platform:imageAdmission": {"mode": "audit"}},
            "mlops-platform:imageAdmission.mode: must be enforce in prod: stage and prod run signed images only",
            id="admission-audit",
        ),
    ],
)
def test_rejects_prod_only_problems(changes, expected):
    assert expected in prod_problems(changes)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"mlops-platform:secrets": {"recoveryWindowDays": 3}},
            "mlops-platform:secrets.recoveryWindowDays: must be between 7 and 30 (got 3)",
            id="recovery-window",
        ),
        pytest.param(
            {
                "mlops-platform:cluster": {
                    "adminPrincipalArns": ["arn:aws:iam::123456789012:role/a"],
                    "controlPlaneLogRetentionDays": 2,
                }
            },
            "mlops-platform:cluster.controlPlaneLogRetentionDays: must be a CloudWatch Logs retention period",
            id="control-plane-retention",
        ),
        pytest.param(
            {
                "mlops-platform:gpuNodePools": [
                    {"name": "p", "instanceTypes": ["g5.xlarge"], "labels": {"a": "b c"}}
                ]
            },
            "mlops-platform:gpuNodePools[0].labels.a: must be a label value",
            id="pool-label-value",
        ),
        pytest.param(
            {"mlops-platform:owner": "x" * 300},
            "mlops-platform:owner: must be at most 256 characters: it becomes an AWS tag (got 300)",
            id="owner-too-long",
        ),
    ],
)
def test_errors_name_the_key_the_user_wrote(changes, expected):
    assert any(p.startswith(expected) for p in problems_of(changes)), problems_of(changes)


def test_a_new_pool_setting_reaches_the_nodes_from_the_stack_file(project_copy):
    """gpuNodePools[].labels: one spec field, set in a stack file, lands on the nodes (dev's pool is a
    Karpenter NodePool: on its node template)."""
    from mlops_platform.infra.offline.runner import synthesize

    stack_file = project_copy / "stacks" / "Pulumi.dev.yaml"
    raw = yaml.safe_load(stack_file.read_text())
    raw["config"]["mlops-platform:gpuNodePools"][0]["labels"] = {"workload-class": "interactive"}
    stack_file.write_text(yaml.safe_dump(raw))
    graph = synthesize("dev", project_copy).graph
    (pool,) = graph.of_type("kubernetes:karpenter.sh/v1:NodePool")
    assert pool.inputs["spec"]["template"]["metadata"]["labels"]["workload-class"] == "interactive"
    assert graph.outputs["gpuNodePools"]["gpu-spot"]["nodeLabels"]["workload-class"] == "interactive"
