"""PlatformSecrets: KMS, paths, generated or empty values, External Secrets, least privilege."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from mlops_platform.components.data.platform_secrets import (
    PlatformSecrets,
    PlatformSecretsSpec,
    SecretRef,
    SecretSpec,
    external_secret,
)
from mlops_platform.components.support import pins
from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.validation import InvalidArgs
from tests.harness import CLUSTER, context, only, run

SPECS = [
    SecretSpec(name="slack-webhook", description="Slack webhook for alerts; set by on-call"),
    SecretSpec(name="grafana/admin", description="Grafana admin login", generate=True, username="admin"),
]


def secrets(environment=Environment.DEV, specs=SPECS, **overrides):
    spec = PlatformSecretsSpec(entries=specs, **overrides)
    return run(lambda: PlatformSecrets("secrets", spec, context(environment), CLUSTER))


def test_secrets_live_under_the_prefix_encrypted_with_the_platform_key():
    graph = secrets().graph
    key = only(graph, "aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    by_name = {s.inputs["name"]: s for s in graph.of_type("aws:secretsmanager/secret:Secret")}
    assert set(by_name) == {"mlops-platform/dev/slack-webhook", "mlops-platform/dev/grafana/admin"}
    for secret in by_name.values():
        assert secret.inputs["kmsKeyId"].startswith("arn:aws:kms:us-east-1:123456789012:key/")
        assert secret.inputs["description"]
        assert secret.inputs["recoveryWindowInDays"] == 30


def test_only_generated_secrets_get_a_value_and_it_is_secret():
    result = secrets()
    (version,) = result.graph.of_type("aws:secretsmanager/secretVersion:SecretVersion")
    assert version.inputs["secretString"] == "[secret]"
    raw = next(r for r in result.registrations if r.type == "aws:secretsmanager/secretVersion:SecretVersion")
    value = json.loads(raw.inputs["secretString"].value)
    assert value["username"] == "admin" and len(value["password"]) == 32
    assert only(result.graph, "random:index/randomPassword:RandomPassword").inputs["special"] is False


def test_operator_role_reads_only_the_prefix():
    graph = secrets().graph
    policy = json.loads(only(graph, "aws:iam/rolePolicy:RolePolicy").inputs["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    assert statements["ReadSecrets"]["Resource"] == [
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:mlops-platform/dev/*"
    ]
    assert statements["ReadSecrets"]["Action"] == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
    ]
    assert statements["DecryptSecrets"]["Action"] == ["kms:Decrypt"]
    association = only(graph, "aws:eks/podIdentityAssociation:PodIdentityAssociation")
    assert (association.inputs["namespace"], association.inputs["serviceAccount"]) == (
        "external-secrets",
        "external-secrets",
    )


def test_operator_and_store_are_installed():
    graph = secrets().graph
    release = only(graph, "kubernetes:helm.sh/v3:Release")
    assert (release.inputs["name"], release.inputs["version"]) == (
        "external-secrets",
        pins.CHARTS["external-secrets"].version,
    )
    assert release.inputs["values"]["installCRDs"] is True
    store = only(graph, "kubernetes:external-secrets.io/v1:ClusterSecretStore")
    assert store.inputs["spec"] == {"provider": {"aws": {"service": "SecretsManager", "region": "us-east-1"}}}
    assert release.urn in store.depends_on


def test_external_secret_helper_declares_the_mapping():
    def program():
        import pulumi

        external_secret(
            "hook",
            namespace="monitoring",
            target="alertmanager-slack",
            entries={"url": SecretRef("mlops-platform/dev/slack-webhook")},
            template={"config.yaml": "url: {{ .url }}"},
            opts=pulumi.ResourceOptions(),
        )

    resource = only(run(program).graph, "kubernetes:external-secrets.io/v1:ExternalSecret")
    spec = resource.inputs["spec"]
    assert resource.inputs["metadata"]["namespace"] == "monitoring"
    assert spec["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "aws-secrets-manager"}
    assert spec["data"] == [{"secretKey": "url", "remoteRef": {"key": "mlops-platform/dev/slack-webhook"}}]
    assert spec["target"]["template"]["data"] == {"config.yaml": "url: {{ .url }}"}


def test_prod_protects_key_and_secrets():
    graph = secrets(environment=Environment.PROD).graph
    stateful = graph.of_type("aws:secretsmanager/secret:Secret") + graph.of_type("aws:kms/key:Key")
    assert len(stateful) == len(SPECS) + 1
    for resource in stateful:
        assert resource.protect and resource.retain_on_delete


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"recovery_window_days": 3}, "recovery_window_days: must be between 7 and 30 (got 3)"),
        (
            {"specs": [SecretSpec(name="X", description="d")]},
            "entries[0].name: must be lowercase letters, digits, '-' or '/' (got 'X')",
        ),
        (
            {"specs": [SecretSpec(name="x", description=" ")]},
            "entries[0].description: must say what the secret is for",
        ),
        (
            {"specs": [SecretSpec(name="x", description="d", generate=True, length=8)]},
            "entries[0].length: must be between 16 and 128 (got 8)",
        ),
        (
            {"specs": [SecretSpec(name="x", description="d", username="u")]},
            "entries[0].username: only applies to generated secrets",
        ),
        (
            {"specs": [SecretSpec(name="x", description="d"), SecretSpec(name="x", description="e")]},
            "entries[1].name: duplicate secret name 'x'",
        ),
    ],
)
def test_rejects_bad_spec(overrides, message):
    specs = overrides.pop("specs", SPECS)
    with pytest.raises(InvalidArgs) as caught:
        PlatformSecrets("s", PlatformSecretsSpec(entries=specs, **overrides), context(), CLUSTER)
    assert message in str(caught.value)


def test_rejects_a_project_that_makes_no_path_prefix():
    with pytest.raises(InvalidArgs) as caught:
        PlatformSecrets("s", PlatformSecretsSpec(), replace(context(), project="Bad Prefix"), CLUSTER)
    assert "context.project: must make a '<project>/<env>' prefix (got 'Bad Prefix/dev')" in str(caught.value)
