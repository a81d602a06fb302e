"""``PromotionSpec``: what a stack demands of a version promoted into it (stack config ``promotion``)."""

from __future__ import annotations

import re

from mlops_platform.components.support.environment import Environment
from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.validation import Problem, range_problems

DEFAULT_SOAK_HOURS = {Environment.DEV: 0.0, Environment.STAGE: 2.0, Environment.PROD: 24.0}
_ALIAS = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,254}$")


@spec
class PromotionSpec:
    """The gates of a promotion into this stack (`blueprint promote`, docs/promotion.md)."""

    approval_alias: str | None = None
    """MLflow registry alias the version must carry to be promoted here. Default: the environment's
    name (`stage`, `prod`)."""
    min_soak_hours: float | None = None
    """Hours the version must have served in the source stack, counted from the commit that put its
    digest in the source stack file. Default: 0 in dev, 2 in stage, 24 in prod."""

    def alias_in(self, environment: Environment) -> str:
        return self.approval_alias or environment.value

    def soak_hours_in(self, environment: Environment) -> float:
        return self.min_soak_hours if self.min_soak_hours is not None else DEFAULT_SOAK_HOURS[environment]

    def problems(self, environment: Environment) -> list[Problem]:
        found = range_problems("min_soak_hours", self.soak_hours_in(environment), 0, 24 * 30)
        if not _ALIAS.match(self.alias_in(environment)):
            found.append(
                Problem(
                    "approval_alias",
                    f"must be an MLflow alias such as champion (got {self.approval_alias!r})",
                )
            )
        return found
