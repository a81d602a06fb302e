"""``PlatformComponent``: how every component of the platform starts.

It checks its inputs before it registers anything (bad input registers nothing), then registers as a
component whose children hang under it, and knows the account and region it deploys to.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import pulumi
import pulumi_aws as aws

from mlops_platform.components.support.validation import Problem, raise_if_any


class PlatformComponent(pulumi.ComponentResource):
    """A ``ComponentResource`` that validates first; ``child`` parents a resource to it."""

    def __init__(
        self,
        type_: str,
        name: str,
        what: str,
        problems: Iterable[Problem],
        opts: pulumi.ResourceOptions | None,
    ):
        """``what`` names the input in the error (``NetworkSpec``); ``problems`` is every problem found."""
        raise_if_any(f"{what} for {name!r}", list(problems))
        super().__init__(type_, name, None, opts)
        self.child = pulumi.ResourceOptions(parent=self)

    def after(self, *groups: Iterable[pulumi.Resource]) -> pulumi.ResourceOptions:
        """Options for a child that waits for every resource in ``groups``."""
        return pulumi.ResourceOptions(parent=self, depends_on=[r for group in groups for r in group])

    @functools.cached_property
    def account_id(self) -> str:
        """The AWS account of this component's provider."""
        return aws.get_caller_identity(opts=pulumi.InvokeOptions(parent=self)).account_id

    @functools.cached_property
    def region(self) -> str:
        """The AWS region of this component's provider."""
        return aws.get_region(opts=pulumi.InvokeOptions(parent=self)).region
