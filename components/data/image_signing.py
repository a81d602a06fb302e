"""``ImageSigningKey``: the KMS key CI signs model images with (cosign), and admission verifies.

An asymmetric ECC_NIST_P256 key whose private half never leaves KMS: the roles that push images may
sign with it, and the account's IAM policies grant verification (Kyverno's role gets
``kms:GetPublicKey`` on it). docs/adr/0001-image-signing.md says why cosign with KMS and not AWS
Signer with Notation.

Example::

    key = ImageSigningKey("image-signing", context, signer_role_arns=spec.registry.push_role_arns,
                          account_id=account_id, opts=aws_only)
    key.cosign_key  # awskms:///arn:aws:kms:...: `cosign sign --key` and Kyverno's attestor
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws

from mlops_platform.components.support import iam
from mlops_platform.components.support.aws import ROLE_ARN
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import stateful_options
from mlops_platform.components.support.validation import Problem

SIGNING_ACTIONS = ("kms:Sign", "kms:GetPublicKey", "kms:DescribeKey")
"""What `cosign sign --key awskms:///...` calls."""
VERIFY_ACTIONS = ("kms:GetPublicKey", "kms:DescribeKey")
"""What `cosign verify` and Kyverno's KMS attestor call."""
KEY_SPEC = "ECC_NIST_P256"


def cosign_key_uri(key_arn: str) -> str:
    """How cosign and Kyverno name a KMS key."""
    return f"awskms:///{key_arn}"


def signing_key_policy(account_id: str, signer_role_arns: Sequence[str]) -> str:
    """The account administers the key (and grants verification through IAM); the signers sign."""
    statements = [iam.kms_root_statement(account_id)]
    if signer_role_arns:
        statements.append(
            {
                "Sid": "SignImages",
                "Effect": "Allow",
                "Principal": {"AWS": sorted(signer_role_arns)},
                "Action": list(SIGNING_ACTIONS),
                "Resource": "*",  # in a key policy, "*" is this key
                "Condition": {"StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256"}},
            }
        )
    return iam.document(statements)


class ImageSigningKey(PlatformComponent):
    """The signing key and its alias ``alias/<project>-<stack>-image-signing``."""

    key_arn: pulumi.Output[str]
    """ARN of the key."""
    alias_name: str
    """Its alias: what CI passes to cosign (``awskms:///alias/...``)."""
    cosign_key: pulumi.Output[str]
    """``awskms:///<key ARN>``: the key as cosign and Kyverno name it."""

    def __init__(
        self,
        name: str,
        context: StackContext,
        *,
        signer_role_arns: Sequence[str],
        account_id: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``signer_role_arns``: the roles that push images (CI); only they may sign."""
        problems = [
            Problem(f"signer_role_arns[{i}]", f"must be an IAM role ARN (got {arn!r})")
            for i, arn in enumerate(signer_role_arns)
            if not ROLE_ARN.match(arn)
        ]
        super().__init__("mlops:image_signing:ImageSigningKey", name, "signing key", problems, opts)
        # Asymmetric keys cannot rotate (AWS refuses); a new key is a new trust anchor, rolled by
        # adding it to the policy's attestors before CI switches (docs/adr/0001-image-signing.md).
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"Signs and verifies the model images of {context.name_prefix}",
            key_usage="SIGN_VERIFY",
            customer_master_key_spec=KEY_SPEC,
            deletion_window_in_days=30,
            policy=signing_key_policy(account_id, signer_role_arns),
            tags=dict(context.tags),
            opts=stateful_options(context.environment, self.child),
        )
        self.alias_name = f"alias/{context.name_prefix}-image-signing"
        aws.kms.Alias(f"{name}-alias", name=self.alias_name, target_key_id=self.key.key_id, opts=self.child)
        self.key_arn = self.key.arn
        self.cosign_key = self.key_arn.apply(cosign_key_uri)
        self.register_outputs({"keyArn": self.key_arn, "alias": self.alias_name})
