"""Signed images only: the KMS signing key, Kyverno from its chart, and the ClusterPolicy that verifies
signatures in team namespaces (enforce in stage and prod, audit in dev), checked against its CRD."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from mlops_platform.components.data.image_signing import ImageSigningKey
from mlops_platform.components.serving.kyverno import (
    ADMISSION_SERVICE_ACCOUNT,
    AdmissionMode,
    Kyverno,
    KyvernoSpec,
)
from mlops_platform.components.support.environment import Environment
from mlops_platform.infra.offline.runner import SynthError
from tests.harness import ACCOUNT, CLUSTER, ROOT, context, only, run, stack
from tests.helm_render import RELEASE, check_stack, custom_resource_problems, render_release

KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/signing"
CI_ROLE = f"arn:aws:iam::{ACCOUNT}:role/github-actions-deploy"


def admission(environment: Environment = Environment.DEV, teams=("risk",), **overrides):
    def program():
        Kyverno(
            "image-admission",
            KyvernoSpec(**overrides),
            context(environment),
            CLUSTER,
            None,
            signing_key_arn=KEY_ARN,
            team_names=list(teams),
        )

    return run(program).graph


def cluster_policy(graph, name="verify-model-images"):
    (policy,) = [
        p.inputs
        for p in graph.of_type("kubernetes:kyverno.io/v1:ClusterPolicy")
        if p.inputs["metadata"]["name"] == name
    ]
    return policy


def test_the_signing_key_is_asymmetric_and_only_ci_may_sign_with_it():
    graph = run(
        lambda: ImageSigningKey(
            "image-signing", context(Environment.PROD), signer_role_arns=[CI_ROLE], account_id=ACCOUNT
        )
    ).graph
    key = only(graph, "aws:kms/key:Key")
    assert key.inputs["keyUsage"] == "SIGN_VERIFY"
    assert key.inputs["customerMasterKeySpec"] == "ECC_NIST_P256"
    assert key.protect  # prod: the trust anchor survives a mistaken delete
    statements = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}
    assert set(statements) == {"EnableIamPolicies", "SignImages"}
    assert statements["SignImages"]["Principal"] == {"AWS": [CI_ROLE]}
    assert "kms:Sign" in statements["SignImages"]["Action"]
    alias = only(graph, "aws:kms/alias:Alias")
    assert alias.inputs["name"] == "alias/mlops-platform-test-image-signing"


def test_a_signer_that_is_not_a_role_arn_is_refused_and_nothing_is_registered():
    with pytest.raises(SynthError, match=r"signer_role_arns\[0\]: must be an IAM role ARN") as caught:
        run(lambda: ImageSigningKey("image-signing", context(), signer_role_arns=["ci"], account_id=ACCOUNT))
    assert caught.value.registered == []


@pytest.mark.parametrize(
    ("environment", "action"),
    [(Environment.DEV, "Audit"), (Environment.STAGE, "Enforce"), (Environment.PROD, "Enforce")],
)
def test_team_pods_must_run_images_signed_with_the_platform_key(environment, action):
    policy = cluster_policy(admission(environment))
    signed, registry = policy["spec"]["rules"]
    match = signed["match"]["any"][0]["resources"]
    assert match["kinds"] == ["Pod"]
    assert match["namespaceSelector"] == {
        "matchExpressions": [{"key": "mlops-platform.io/team", "operator": "Exists"}]
    }
    [verify] = signed["verifyImages"]
    assert verify["imageReferences"] == [f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/*"]
    assert verify["failureAction"] == action
    assert verify["required"] and verify["mutateDigest"] and verify["verifyDigest"]
    assert verify["attestors"][0]["entries"][0]["keys"]["kms"] == f"awskms:///{KEY_ARN}"
    # No image escapes the check by coming from another registry.
    assert registry["validate"]["failureAction"] == action
    assert registry["validate"]["pattern"]["spec"]["containers"] == [
        {"image": f"{ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/*"}
    ]
    assert policy["spec"]["webhookConfiguration"]["failurePolicy"] == "Fail"


def test_stage_and_prod_refuse_audit_mode():
    with pytest.raises(SynthError, match="mode: must be enforce in prod") as caught:
        admission(Environment.PROD, mode=AdmissionMode.AUDIT)
    assert caught.value.registered == []
    assert cluster_policy(admission(Environment.DEV, mode=AdmissionMode.ENFORCE))["spec"]["rules"][0][
        "verifyImages"
    ][0]["failureAction"] == ("Enforce")


def test_kyverno_may_read_the_public_key_and_the_team_repositories_only():
    graph = admission(teams=("risk", "growth"))
    association = only(graph, "aws:eks/podIdentityAssociation:PodIdentityAssociation").inputs
    assert (association["namespace"], association["serviceAccount"]) == ("kyverno", ADMISSION_SERVICE_ACCOUNT)
    statements = {
        s["Sid"]: s
        for s in json.loads(only(graph, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])["Statement"]
    }
    assert statements["ReadSigningPublicKey"]["Action"] == ["kms:DescribeKey", "kms:GetPublicKey"]
    assert statements["ReadSigningPublicKey"]["Resource"] == [KEY_ARN]
    assert statements["PullImages"]["Resource"] == [
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/growth/*",
        f"arn:aws:ecr:us-east-1:{ACCOUNT}:repository/risk/*",
    ]
    assert "kms:Sign" not in json.dumps(statements)


def test_the_cluster_policy_validates_against_the_crd_kyverno_installs():
    """The strict CRD check of tests/helm_render.py covers the policy; a field the CRD lacks fails it."""
    graph = admission(Environment.PROD)
    report = check_stack(graph, ROOT)  # the component ran here, not in infra/
    # Footprints are checked against stacks' cost estimates (test_helm_render); a lone component has none.
    assert [p for p in report.problems if "declares no footprint" not in p] == []
    sources = [source for source, manifest in report.objects if manifest.get("kind") == "ClusterPolicy"]
    assert sources == ["image-admission-verify-model-images", "image-admission-label-platform-pods"]

    [release] = graph.of_type(RELEASE)
    rendered, _ = render_release(release, ROOT)
    crd = next(
        manifest
        for template, text in rendered.items()
        if "clusterpolicies" in template
        for manifest in yaml.safe_load_all(text)
        if manifest
    )
    schema = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")["schema"]["openAPIV3Schema"]
    policy = cluster_policy(graph)
    assert custom_resource_problems(policy, schema) == []
    broken = copy.deepcopy(policy)
    broken["spec"]["rules"][0]["verifyImages"][0]["failureAction"] = "Block"
    broken["spec"]["rules"][0]["verifyImages"][0]["keyless"] = {}
    problems = custom_resource_problems(broken, schema)
    assert any("'Block' is not one of ['Audit', 'Enforce']" in p for p in problems)
    assert any("'keyless' was unexpected" in p for p in problems)
    assert custom_resource_problems(cluster_policy(graph, "label-platform-pods"), schema) == []


def test_platform_pods_get_the_platform_team_label_and_nothing_is_blocked_for_it():
    policy = cluster_policy(admission(Environment.PROD), "label-platform-pods")
    # Only Pods, as created: Kyverno must not rewrite the Deployments Helm and Pulumi own.
    assert policy["metadata"]["annotations"]["pod-policies.kyverno.io/autogen-controllers"] == "none"
    assert policy["spec"]["webhookConfiguration"]["failurePolicy"] == "Ignore"
    [rule] = policy["spec"]["rules"]
    [match] = rule["match"]["any"]
    assert match["resources"]["kinds"] == ["Pod"] and match["resources"]["operations"] == ["CREATE"]
    # Outside team namespaces, and only where the pod names no team itself.
    assert match["resources"]["namespaceSelector"] == {
        "matchExpressions": [{"key": "mlops-platform.io/team", "operator": "DoesNotExist"}]
    }
    assert rule["mutate"] == {
        "patchStrategicMerge": {"metadata": {"labels": {"+(mlops-platform.io/team)": "platform"}}}
    }


def test_every_stack_installs_kyverno_and_exports_how_ci_signs():
    for name, mode in (("dev", "audit"), ("stage", "enforce"), ("prod", "enforce")):
        graph = stack(name).graph
        releases = [r.inputs["name"] for r in graph.of_type(RELEASE)]
        assert "kyverno" in releases
        signing = graph.outputs["imageSigning"]
        assert signing["admission"] == mode
        assert signing["keyAlias"] == f"alias/mlops-platform-{name}-image-signing"
        assert signing["cosignKey"].startswith("awskms:///arn:aws:kms:")
    # prod lets the risk team's CI sign, besides the platform's own deploy role.
    key = next(
        r for r in stack("prod").graph.of_type("aws:kms/key:Key") if r.inputs.get("keyUsage") == "SIGN_VERIFY"
    )
    signers = {s["Sid"]: s for s in json.loads(key.inputs["policy"])["Statement"]}["SignImages"]["Principal"][
        "AWS"
    ]
    assert signers == [
        "arn:aws:iam::123456789012:role/github-actions-deploy",
        "arn:aws:iam::123456789012:role/risk-ci",
    ]
