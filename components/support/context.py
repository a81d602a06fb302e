"""``StackContext``: what every component of one stack shares: its environment, names and tags."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.tagging import platform_tags, tag_problems
from mlops_platform.components.support.validation import Problem


@dataclass(frozen=True, kw_only=True)
class StackContext:
    """The stack a component belongs to. Built once by the program (or a team's project)."""

    project: str
    """Pulumi project name, e.g. ``mlops-platform``."""
    stack: str
    """Pulumi stack name, e.g. ``prod``."""
    environment: Environment
    """Environment of the stack; selects the defaults and the protections of stateful resources."""
    tags: Mapping[str, str]
    """Tags for every AWS resource; must carry the platform's required tags."""

    @classmethod
    def create(
        cls, *, project: str, stack: str, environment: Environment, owner: str, cost_center: str
    ) -> StackContext:
        tags = platform_tags(
            environment=environment.value, project=project, owner=owner, cost_center=cost_center
        )
        return cls(project=project, stack=stack, environment=environment, tags=tags)

    @property
    def name_prefix(self) -> str:
        """``<project>-<stack>``: physical names that must be known before creation (the cluster)."""
        return f"{self.project}-{self.stack}"

    @property
    def secrets_path_prefix(self) -> str:
        """``<project>/<environment>``: every platform secret lives under it."""
        return f"{self.project}/{self.environment.value}"

    def highly_available(self, override: bool | None = None) -> bool:
        """Whether add-ons run redundant replicas: as a spec says, else in prod only."""
        return self.environment is Environment.PROD if override is None else override

    def problems(self) -> list[Problem]:
        return tag_problems(self.tags)

    def tagged(self, **extra: str) -> StackContext:
        """The same stack, with more tags on what a component creates (``team``, ``model``)."""
        return replace(self, tags={**self.tags, **extra})
