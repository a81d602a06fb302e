"""``PlatformComponent``: how every component of the platform starts.

It checks its inputs before it registers anything (bad input registers nothing), then registers as a
component whose children hang under it, and knows the account and region it deploys to.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import pulumi
import pulumi_aws as aws
from pulumi.runtime import settings as runtime_settings

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
        return self._provider_fact("account", lambda: aws.get_caller_identity(opts=self._invoke()).account_id)

    @functools.cached_property
    def region(self) -> str:
        """The AWS region of this component's provider."""
        return self._provider_fact("region", lambda: aws.get_region(opts=self._invoke()).region)

    def _invoke(self) -> pulumi.InvokeOptions:
        return pulumi.InvokeOptions(parent=self)

    def _provider_fact(self, fact: str, ask: Callable[[], str]) -> str:
        """Each component asks once, and components with the same AWS provider share the answer for
        the run (an invoke is a round trip to the engine; dozens of components ask the same)."""
        root = runtime_settings.get_root_resource()
        known: dict[tuple[str, int], str] = (
            root.__dict__.setdefault("_mlops_provider_facts", {}) if root else {}
        )
        key = (fact, id(self.get_provider("aws::")))
        if key not in known:
            known[key] = ask()
        return known[key]
