"""Every IAM document the stacks render: valid JSON, real actions, no write on '*'."""

from __future__ import annotations

import fnmatch
import functools
import json

import botocore.loaders
import pytest

from tests.harness import STACKS, stack

IDENTITY_POLICY_TYPES = {"aws:iam/rolePolicy:RolePolicy": "policy", "aws:iam/policy:Policy": "policy"}
RESOURCE_POLICY_TYPES = {
    "aws:iam/role:Role": "assumeRolePolicy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
    "aws:ecr/repositoryPolicy:RepositoryPolicy": "policy",
    "aws:kms/key:Key": "policy",
}
# Permissions that exist in IAM but are not API operations of the same name.
IAM_ONLY_ACTIONS = {
    "s3:ListBucket",
    "s3:GetObjectVersion",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionTagging",
    "s3:GetReplicationConfiguration",
    "s3:DeleteObjectVersion",
    "s3:PutLifecycleConfiguration",
    "s3:ReplicateDelete",
    "s3:ReplicateObject",
    "s3:ReplicateTags",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "sts:TagSession",
    "iam:PassRole",
}
READ_VERBS = ("Describe", "Get", "List", "BatchGet", "BatchCheck", "Head")


SERVICES = {
    "acm": "acm",
    "autoscaling": "autoscaling",
    "cloudwatch": "cloudwatch",
    "ec2": "ec2",
    "ecr": "ecr",
    "eks": "eks",
    "elbv2": "elasticloadbalancing",
    "firehose": "firehose",
    "glue": "glue",
    "iam": "iam",
    "kms": "kms",
    "logs": "logs",
    "pricing": "pricing",
    "resourcegroupstaggingapi": "tag",
    "s3": "s3",
    "secretsmanager": "secretsmanager",
    "sns": "sns",
    "sqs": "sqs",
    "ssm": "ssm",
    "sts": "sts",
    "wafv2": "wafv2",
    "xray": "xray",
}
"""botocore models of the services the platform's policies name, with their IAM prefixes; an action
of any other service fails."""


@functools.cache
def known_actions() -> frozenset[str]:
    """``prefix:Operation`` for every operation of those services, keyed by their IAM prefix."""
    loader = botocore.loaders.create_loader()
    actions = set(IAM_ONLY_ACTIONS)
    for service, prefix in SERVICES.items():
        model = loader.load_service_model(service, "service-2")
        actions.update(f"{prefix}:{operation}" for operation in model["operations"])
    return frozenset(actions)


def documents(types):
    for name in STACKS:
        for resource_type, prop in types.items():
            for resource in stack(name).graph.of_type(resource_type):
                if prop in resource.inputs:
                    yield f"{name}/{resource.name}", resource.inputs[prop]


def statements(document):
    body = json.loads(document)
    assert body["Version"] == "2012-10-17"
    found = body["Statement"]
    return found if isinstance(found, list) else [found]


def as_list(value):
    return value if isinstance(value, list) else [value]


ALL_DOCUMENTS = list(documents({**IDENTITY_POLICY_TYPES, **RESOURCE_POLICY_TYPES}))


def test_there_are_documents_to_check():
    assert len(ALL_DOCUMENTS) > 50


@pytest.mark.parametrize(("where", "document"), ALL_DOCUMENTS, ids=[w for w, _ in ALL_DOCUMENTS])
def test_document_is_valid_json_with_real_actions(where, document):
    assert statements(document), f"{where}: a policy document without statements"
    for statement in statements(document):
        assert statement["Effect"] in ("Allow", "Deny")
        for action in as_list(statement["Action"]):
            if action in ("*", "s3:*", "kms:*"):
                continue  # wildcards are judged by the rules below
            matches = fnmatch.filter(known_actions(), action) if "*" in action else [action]
            assert matches and all(m in known_actions() for m in matches), f"{where}: unknown action {action}"


IDENTITY_DOCUMENTS = list(documents(IDENTITY_POLICY_TYPES))


@pytest.mark.parametrize(("where", "document"), IDENTITY_DOCUMENTS, ids=[w for w, _ in IDENTITY_DOCUMENTS])
def test_identity_policy_grants_no_write_on_every_resource(where, document):
    assert statements(document), f"{where}: a policy document without statements"
    for statement in statements(document):
        actions = as_list(statement["Action"])
        assert "*" not in actions and not any(a.endswith(":*") for a in actions), f"{where}: wildcard action"
        if "*" in as_list(statement["Resource"]) and statement["Effect"] == "Allow":
            writes = [a for a in actions if not a.split(":", 1)[1].startswith(READ_VERBS)]
            assert writes == [], f"{where}: write actions on '*': {writes}"
