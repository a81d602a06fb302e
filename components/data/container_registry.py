"""``ContainerRegistry``: ECR repositories with immutable tags, scanning, KMS and lifecycle rules.

Example::

    registry = ContainerRegistry("registry", ContainerRegistrySpec(repositories=["mlflow-server"]),
                                 context, pull_principal_arns=[cluster.ref.node_role_arn])
    registry.grant_push(ci_role)
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from enum import StrEnum

import pulumi
import pulumi_aws as aws

from mlops_platform.components.foundation import kms
from mlops_platform.components.foundation.pod_identity import Grantee, grantee
from mlops_platform.components.foundation.service_role import service_role
from mlops_platform.components.support import iam
from mlops_platform.components.support.aws import role_arn_problem
from mlops_platform.components.support.component import PlatformComponent
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import stateful_options
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, range_problems

_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_PREFIX = re.compile(r"^[a-z0-9][a-z0-9._-]{1,29}$")


class Scanning(StrEnum):
    """How images are scanned for vulnerabilities."""

    SCAN_ON_PUSH = "scanOnPush"
    """Basic scanning of each image when it is pushed (free)."""
    ENHANCED = "enhanced"
    """Amazon Inspector continuous scanning, set once for the whole registry (account and region)."""


@spec
class PullThroughCache:
    """Mirror an upstream registry under a prefix of this registry."""

    prefix: str
    """Repository prefix, e.g. ``ecr-public``: images are pulled as ``<registry>/ecr-public/<image>``."""
    upstream_registry_url: str
    """Upstream registry, e.g. ``public.ecr.aws`` or ``quay.io``."""
    credential_arn: str | None = None
    """Secrets Manager secret (name prefixed ``ecr-pullthroughcache/``) for upstreams that need a login."""


@spec
class ContainerRegistrySpec:
    """ECR repositories and how images in them are kept and scanned."""

    repositories: Sequence[str]
    """Repository names, e.g. ``mlflow-server`` or ``fraud/scorer`` (models get their own)."""
    scanning: Scanning = Scanning.SCAN_ON_PUSH
    """`scanOnPush` per repository, or `enhanced` (Inspector) for the whole registry. Default: `scanOnPush`."""
    keep_tagged_images: int = 30
    """Tagged images kept per repository; older ones expire. Default: 30."""
    untagged_expiry_days: int = 7
    """Days before an untagged image expires. Default: 7."""
    pull_through_caches: Sequence[PullThroughCache] = ()
    """Upstream registries to mirror. Default: none."""
    push_role_arns: Sequence[str] = ()
    """Roles (CI) allowed to push to these repositories. Default: none."""

    def problems(self) -> list[Problem]:
        found = []
        if not self.repositories:
            found.append(Problem("repositories", "must list at least one repository"))
        for i, repository in enumerate(self.repositories):
            if not _REPOSITORY.match(repository) or len(repository) > 256:
                found.append(
                    Problem(
                        f"repositories[{i}]",
                        f"must be lowercase words separated by '-', '_', '.' or '/' (got {repository!r})",
                    )
                )
            if self.repositories.index(repository) != i:
                found.append(Problem(f"repositories[{i}]", f"duplicate repository {repository!r}"))
        found += range_problems("keep_tagged_images", self.keep_tagged_images, 1, 10000)
        found += range_problems("untagged_expiry_days", self.untagged_expiry_days, 1, 36500)
        for i, arn in enumerate(self.push_role_arns):
            found += [p for p in [role_arn_problem(f"push_role_arns[{i}]", arn)] if p]
        for i, cache in enumerate(self.pull_through_caches):
            if not _PREFIX.match(cache.prefix):
                found.append(
                    Problem(
                        f"pull_through_caches[{i}].prefix",
                        f"must be 2-30 lowercase characters (got {cache.prefix!r})",
                    )
                )
            if "://" in cache.upstream_registry_url or not cache.upstream_registry_url:
                found.append(
                    Problem(
                        f"pull_through_caches[{i}].upstream_registry_url",
                        f"must be a registry host such as public.ecr.aws, without a scheme (got {cache.upstream_registry_url!r})",
                    )
                )
            if (
                cache.credential_arn is not None
                and ":secret:ecr-pullthroughcache/" not in cache.credential_arn
            ):
                found.append(
                    Problem(
                        f"pull_through_caches[{i}].credential_arn",
                        "must be a Secrets Manager secret named ecr-pullthroughcache/...",
                    )
                )
        return found


def lifecycle_policy(keep_tagged_images: int, untagged_expiry_days: int) -> str:
    rules = [
        {
            "rulePriority": 1,
            "description": f"Expire untagged images after {untagged_expiry_days} days",
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": untagged_expiry_days,
            },
            "action": {"type": "expire"},
        },
        {
            "rulePriority": 2,
            "description": f"Keep the last {keep_tagged_images} tagged images",
            "selection": {
                "tagStatus": "tagged",
                "tagPatternList": ["*"],
                "countType": "imageCountMoreThan",
                "countNumber": keep_tagged_images,
            },
            "action": {"type": "expire"},
        },
    ]
    return json.dumps({"rules": rules}, sort_keys=True)


class ContainerRegistry(PlatformComponent):
    """ECR repositories: IMMUTABLE tags, scan on push (or registry-wide enhanced scanning), KMS
    encryption, a lifecycle policy and a repository policy naming who may pull."""

    repository_urls: dict[str, pulumi.Output[str]]
    """Repository name -> URL to push and pull (``<account>.dkr.ecr.<region>.amazonaws.com/<name>``)."""
    repository_arns: dict[str, pulumi.Output[str]]
    """Repository name -> ARN."""
    kms_key_arn: pulumi.Output[str]
    """Key that encrypts the layers."""

    def __init__(
        self,
        name: str,
        spec: ContainerRegistrySpec,
        context: StackContext,
        *,
        pull_principal_arns: Sequence[pulumi.Input[str]] = (),
        kms_key_arn: pulumi.Input[str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """``pull_principal_arns``: roles the repository policy lets pull (the node role pulls for the
        kubelet); default none, and identities of the account can still pull when their own IAM policy
        allows it. ``kms_key_arn`` encrypts the layers; default: the component creates a key."""
        super().__init__(
            "mlops:container_registry:ContainerRegistry",
            name,
            "ContainerRegistrySpec",
            [*spec.problems(), *context.problems()],
            opts,
        )
        self._prefix = name
        child = self.child
        tags = dict(context.tags)
        if kms_key_arn is None:
            key_arn = kms.customer_managed_key(
                f"{name}-key",
                context,
                description=f"Encrypts the image layers of {name}",
                opts=child,
            ).arn
        else:
            key_arn = pulumi.Output.from_input(kms_key_arn)
        self.kms_key_arn = key_arn
        encryption = [{"encryption_type": "KMS", "kms_key": key_arn}]
        policy = lifecycle_policy(spec.keep_tagged_images, spec.untagged_expiry_days)

        self.repository_urls, self.repository_arns = {}, {}
        for repository in spec.repositories:
            slug = repository.replace("/", "-")
            repo = aws.ecr.Repository(
                f"{name}-{slug}",
                name=repository,
                image_tag_mutability="IMMUTABLE",
                image_scanning_configuration={"scan_on_push": True},
                encryption_configurations=encryption,
                force_delete=False,
                tags=tags,
                opts=stateful_options(context.environment, child),
            )
            aws.ecr.LifecyclePolicy(
                f"{name}-{slug}-lifecycle", repository=repo.name, policy=policy, opts=child
            )
            if pull_principal_arns:
                aws.ecr.RepositoryPolicy(
                    f"{name}-{slug}-policy",
                    repository=repo.name,
                    policy=pulumi.Output.all(*pull_principal_arns).apply(iam.repository_pull_policy),
                    opts=child,
                )
            self.repository_urls[repository] = repo.repository_url
            self.repository_arns[repository] = repo.arn

        if spec.scanning is Scanning.ENHANCED:
            aws.ecr.RegistryScanningConfiguration(
                f"{name}-scanning",
                scan_type="ENHANCED",
                rules=[
                    {
                        "scan_frequency": "CONTINUOUS_SCAN",
                        "repository_filters": [{"filter": "*", "filter_type": "WILDCARD"}],
                    }
                ],
                opts=child,
            )
        template_role = self._template_role(spec, key_arn, tags) if spec.pull_through_caches else None
        for cache in spec.pull_through_caches:
            aws.ecr.PullThroughCacheRule(
                f"{name}-cache-{cache.prefix}",
                ecr_repository_prefix=cache.prefix,
                upstream_registry_url=cache.upstream_registry_url,
                credential_arn=cache.credential_arn,
                opts=child,
            )
            # Repositories the cache creates on first pull get the same guarantees as ours.
            aws.ecr.RepositoryCreationTemplate(
                f"{name}-cache-{cache.prefix}-template",
                prefix=cache.prefix,
                applied_fors=["PULL_THROUGH_CACHE"],
                image_tag_mutability="IMMUTABLE",
                encryption_configurations=[{"encryption_type": "KMS", "kms_key": key_arn}],
                lifecycle_policy=policy,
                resource_tags=tags,
                # ECR needs a role of ours to tag and to encrypt with a customer-managed key.
                custom_role_arn=template_role.arn if template_role else None,
                opts=child,
            )
        for role_arn in spec.push_role_arns:
            self.grant_push(role_arn)
        self.register_outputs({"repositoryUrls": self.repository_urls, "kmsKeyArn": self.kms_key_arn})

    def _template_role(
        self, spec: ContainerRegistrySpec, key_arn: pulumi.Output[str], tags: dict
    ) -> aws.iam.Role:
        account_id, region = self.account_id, self.region
        repositories = [
            f"arn:aws:ecr:{region}:{account_id}:repository/{cache.prefix}/*"
            for cache in spec.pull_through_caches
        ]
        return service_role(
            self,
            f"{self._prefix}-cache-template",
            "ecr.amazonaws.com",
            policy=key_arn.apply(
                lambda arn: iam.document(
                    [
                        iam.statement(
                            "CreateCachedRepositories",
                            ["ecr:CreateRepository", "ecr:TagResource"],
                            repositories,
                        ),
                        iam.statement(
                            "EncryptCachedRepositories",
                            ["kms:CreateGrant", "kms:DescribeKey", "kms:RetireGrant"],
                            arn,
                        ),
                    ]
                )
            ),
            tags=tags,
        )

    def grant_pull(self, role: Grantee) -> aws.iam.RolePolicy:
        """Let ``role`` pull from these repositories only."""
        return self._grant("pull", role, iam.ecr_pull_statements)

    def grant_push(self, role: Grantee) -> aws.iam.RolePolicy:
        """Let ``role`` push to (and pull from) these repositories only."""
        return self._grant("push", role, iam.ecr_push_statements)

    def _grant(self, verb: str, role: Grantee, statements) -> aws.iam.RolePolicy:
        role_id, slug = grantee(role)
        arns = [self.repository_arns[r] for r in sorted(self.repository_arns)]
        return aws.iam.RolePolicy(
            f"{self._prefix}-{verb}-{slug}",
            role=role_id,
            policy=pulumi.Output.all(self.kms_key_arn, *arns).apply(
                lambda a: iam.document(statements(a[1:], a[0]))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
