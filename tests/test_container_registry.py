"""ContainerRegistry: immutability, scanning, KMS, lifecycle, repository policy, caches, grants."""

from __future__ import annotations

import json

import pytest

from mlops_platform.components.data.container_registry import (
    ContainerRegistry,
    ContainerRegistrySpec,
    PullThroughCache,
    Scanning,
)
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import TAGS, context, only, run

NODE_ROLE = "arn:aws:iam::123456789012:role/node"


def registry(grants=(), environment=Environment.DEV, pull_principal_arns=(), kms_key_arn=None, **overrides):
    def program():
        import pulumi_aws as aws

        spec = ContainerRegistrySpec(**{"repositories": ["mlflow-server", "fraud/scorer"], **overrides})
        r = ContainerRegistry(
            "registry",
            spec,
            context(environment),
            pull_principal_arns=pull_principal_arns,
            kms_key_arn=kms_key_arn,
        )
        role = aws.iam.Role("ci", assume_role_policy="{}", tags=TAGS)
        for verb in grants:
            getattr(r, f"grant_{verb}")(role)

    return run(program).graph


def test_repositories_are_immutable_scanned_and_kms_encrypted():
    graph = registry()
    repos = graph.of_type("aws:ecr/repository:Repository")
    assert sorted(r.inputs["name"] for r in repos) == ["fraud/scorer", "mlflow-server"]
    for repo in repos:
        assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
        assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
        (encryption,) = repo.inputs["encryptionConfigurations"]
        assert encryption["encryptionType"] == "KMS" and encryption["kmsKey"].startswith("arn:aws:kms:")
        assert repo.inputs["forceDelete"] is False
    assert only(graph, "aws:kms/key:Key").inputs["enableKeyRotation"] is True
    assert graph.of_type("aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration") == []


def test_lifecycle_keeps_n_tagged_and_expires_untagged():
    graph = registry(keep_tagged_images=12, untagged_expiry_days=3)
    policy = json.loads(graph.of_type("aws:ecr/lifecyclePolicy:LifecyclePolicy")[0].inputs["policy"])
    untagged, tagged = policy["rules"]
    assert untagged["selection"] == {
        "tagStatus": "untagged",
        "countType": "sinceImagePushed",
        "countUnit": "days",
        "countNumber": 3,
    }
    assert tagged["selection"] == {
        "tagStatus": "tagged",
        "tagPatternList": ["*"],
        "countType": "imageCountMoreThan",
        "countNumber": 12,
    }


def test_repository_policy_admits_only_the_named_principals():
    graph = registry(pull_principal_arns=[NODE_ROLE])
    for policy in graph.of_type("aws:ecr/repositoryPolicy:RepositoryPolicy"):
        (statement,) = json.loads(policy.inputs["policy"])["Statement"]
        assert statement["Principal"] == {"AWS": [NODE_ROLE]}
        assert statement["Effect"] == "Allow"
        assert not any(a.startswith(("ecr:Put", "ecr:Delete", "ecr:Upload")) for a in statement["Action"])
    assert registry().of_type("aws:ecr/repositoryPolicy:RepositoryPolicy") == []


def test_enhanced_scanning_is_registry_wide():
    graph = registry(scanning=Scanning.ENHANCED)
    config = only(graph, "aws:ecr/registryScanningConfiguration:RegistryScanningConfiguration")
    assert config.inputs["scanType"] == "ENHANCED"
    assert config.inputs["rules"][0]["scanFrequency"] == "CONTINUOUS_SCAN"


def test_pull_through_cache_repositories_inherit_the_guarantees():
    graph = registry(
        pull_through_caches=[PullThroughCache(prefix="ecr-public", upstream_registry_url="public.ecr.aws")]
    )
    rule = only(graph, "aws:ecr/pullThroughCacheRule:PullThroughCacheRule")
    assert (rule.inputs["ecrRepositoryPrefix"], rule.inputs["upstreamRegistryUrl"]) == (
        "ecr-public",
        "public.ecr.aws",
    )
    template = only(graph, "aws:ecr/repositoryCreationTemplate:RepositoryCreationTemplate")
    assert template.inputs["imageTagMutability"] == "IMMUTABLE"
    assert template.inputs["appliedFors"] == ["PULL_THROUGH_CACHE"]
    assert template.inputs["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    assert template.inputs["customRoleArn"].startswith(
        "arn:aws:iam::123456789012:role/registry-cache-template-role-"
    )
    policy = json.loads(
        graph.find("aws:iam/rolePolicy:RolePolicy", "registry-cache-template-policy").inputs["policy"]
    )
    assert policy["Statement"][0]["Resource"] == [
        "arn:aws:ecr:us-east-1:123456789012:repository/ecr-public/*"
    ]


def test_grants_are_scoped_to_the_registry_repositories():
    graph = registry(grants=("pull", "push"))
    repo_arns = sorted(
        f"arn:aws:ecr:us-east-1:123456789012:repository/{n}" for n in ("fraud/scorer", "mlflow-server")
    )
    pull = json.loads(graph.find("aws:iam/rolePolicy:RolePolicy", "registry-pull-ci").inputs["policy"])
    pulls = {s["Sid"]: s for s in pull["Statement"]}
    assert sorted(pulls["PullImages"]["Resource"]) == repo_arns
    assert pulls["RegistryLogin"]["Action"] == ["ecr:GetAuthorizationToken"]
    push = json.loads(graph.find("aws:iam/rolePolicy:RolePolicy", "registry-push-ci").inputs["policy"])
    pushes = {s["Sid"]: s for s in push["Statement"]}
    assert "ecr:PutImage" in pushes["PushImages"]["Action"]
    assert sorted(pushes["PushImages"]["Resource"]) == repo_arns


def test_grant_by_role_arn_attaches_to_the_named_role():
    def program():
        r = ContainerRegistry("registry", ContainerRegistrySpec(repositories=["a"]), context())
        r.grant_push("arn:aws:iam::123456789012:role/ci/github-actions-deploy")

    policy = only(run(program).graph, "aws:iam/rolePolicy:RolePolicy")
    assert policy.name == "registry-push-github-actions-deploy"
    assert policy.inputs["role"] == "github-actions-deploy"


def test_given_key_is_used_instead_of_a_new_one():
    graph = registry(kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/shared")
    assert graph.of_type("aws:kms/key:Key") == []
    assert all(
        r.inputs["encryptionConfigurations"][0]["kmsKey"].endswith("key/shared")
        for r in graph.of_type("aws:ecr/repository:Repository")
    )


def test_prod_protects_repositories_and_key():
    graph = registry(environment=Environment.PROD)
    stateful = graph.of_type("aws:ecr/repository:Repository") + graph.of_type("aws:kms/key:Key")
    assert len(stateful) == 3
    assert all(r.protect for r in stateful)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"repositories": []}, "repositories: must list at least one repository"),
        (
            {"repositories": ["Bad Name"]},
            "repositories[0]: must be lowercase words separated by '-', '_', '.' or '/' (got 'Bad Name')",
        ),
        ({"repositories": ["a", "a"]}, "repositories[1]: duplicate repository 'a'"),
        ({"keep_tagged_images": 0}, "keep_tagged_images: must be between 1 and 10000 (got 0)"),
        ({"untagged_expiry_days": 0}, "untagged_expiry_days: must be between 1 and 36500 (got 0)"),
        ({"push_role_arns": ["ci"]}, "push_role_arns[0]: must be an IAM role ARN (got 'ci')"),
        (
            {"pull_through_caches": [PullThroughCache(prefix="q", upstream_registry_url="https://quay.io")]},
            "pull_through_caches[0].prefix: must be 2-30 lowercase characters (got 'q')",
        ),
        (
            {
                "pull_through_caches": [
                    PullThroughCache(prefix="quay", upstream_registry_url="https://quay.io")
                ]
            },
            "pull_through_caches[0].upstream_registry_url: must be a registry host such as public.ecr.aws, without a scheme",
        ),
        (
            {
                "pull_through_caches": [
                    PullThroughCache(
                        prefix="hub",
                        upstream_registry_url="registry-1.docker.io",
                        credential_arn="arn:aws:secretsmanager:us-east-1:1:secret:x",
                    )
                ]
            },
            "pull_through_caches[0].credential_arn: must be a Secrets Manager secret named ecr-pullthroughcache/...",
        ),
    ],
)
def test_rejects_bad_spec(overrides, message):
    with pytest.raises(InvalidArgs) as caught:
        ContainerRegistry("r", ContainerRegistrySpec(**{"repositories": ["a"], **overrides}), context())
    assert message in str(caught.value)


def test_push_roles_in_the_spec_get_push_grants():
    spec = ContainerRegistrySpec(repositories=["a"], push_role_arns=["arn:aws:iam::123456789012:role/ci"])
    policy = only(
        run(lambda: ContainerRegistry("registry", spec, context())).graph, "aws:iam/rolePolicy:RolePolicy"
    )
    assert policy.name == "registry-push-ci"
    assert {s["Sid"] for s in json.loads(policy.inputs["policy"])["Statement"]} >= {"PushImages"}
