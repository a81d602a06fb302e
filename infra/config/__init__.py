"""Stack configuration, parsed straight into the component specs.

Stack files (``stacks/Pulumi.<stack>.yaml``) set top-level keys of the ``mlops-platform`` namespace;
each is a component spec (``schema.StackSpec``). What a stack does not set comes from its
environment's defaults (``defaults/<env>.yaml``), then from the specs' own defaults. Every problem
is reported at once, naming the key as the user wrote it, before any resource exists::

    mlops-platform:gpuNodePools[1].maxSize: must be >= minSize (got 0 < 2)
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi
from pydantic.alias_generators import to_camel

from mlops_platform.components.foundation.cluster import cluster_name_problems
from mlops_platform.components.refs import GpuPoolInfo
from mlops_platform.components.serving.team_namespace import TeamSpec
from mlops_platform.components.support import files
from mlops_platform.components.support.aws import REGION
from mlops_platform.components.support.context import StackContext
from mlops_platform.components.support.environment import Environment
from mlops_platform.infra.config import parsing
from mlops_platform.infra.config.schema import StackSpec
from mlops_platform.infra.cost.prices import price_problems

NAMESPACE = "mlops-platform"
AWS_KEYS = {"aws:region", "aws:profile", "aws:allowedAccountIds"}
"""Provider keys a stack may set; any other ``aws:`` key is a typo."""
DEFAULTS_DIR = Path(__file__).parent / "defaults"
ENVIRONMENTS = tuple(e.value for e in Environment)
parsing.adapter(StackSpec)  # built once, when the schema is imported (as a pydantic model would be)


class ConfigError(pulumi.RunError):
    """Bad stack configuration. ``pulumi up`` prints a RunError without a traceback."""

    exit_code = 2

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        super().__init__(
            f"invalid stack configuration ({len(self.problems)} problem(s)):\n"
            + "\n".join(f"  {p}" for p in self.problems)
        )


@functools.cache
def environment_defaults(environment: str) -> dict[str, Any]:
    """What a stack of this environment gets for every key it does not set: the environment's file
    over the specs' own defaults."""
    document = files.read_yaml(DEFAULTS_DIR / f"{environment}.yaml", "environment defaults") or {}
    return merge(parsing.defaults(StackSpec), document)


def merge(base: Any, override: Any) -> Any:
    """Stack values over defaults: mappings merge key by key, anything else (lists too) replaces."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = merge(base[key], value) if key in base else value
        return merged
    return override


class PlatformConfig:
    """The validated configuration of one stack, and what the program derives from it."""

    def __init__(self, spec: StackSpec, *, project: str, stack: str, region: str):
        self.spec = spec
        self.region = region
        self.environment = spec.environment
        self.context = StackContext.create(
            project=project,
            stack=stack,
            environment=spec.environment,
            owner=spec.owner,
            cost_center=spec.cost_center,
        )
        self.aws_profile: str | None = None
        self.allowed_account_ids: list[str] | None = None

    @property
    def tags(self) -> Mapping[str, str]:
        return self.context.tags

    @property
    def cluster_name(self) -> str:
        return self.context.name_prefix

    def gpu_pools(self) -> dict[str, GpuPoolInfo]:
        return self.spec.gpu_pools()

    def teams(self) -> dict[str, TeamSpec]:
        """Every team that has a model or a training pipeline, with its configured quota or the
        default one."""
        configured = {t.name: t for t in self.spec.teams}
        named = [m.team for m in self.spec.models] + [t.name for t in self.spec.teams if t.pipelines]
        return {team: configured.get(team, TeamSpec(name=team)) for team in sorted(set(named))}


def parse(raw: Mapping[str, Any], *, project: str, stack: str) -> PlatformConfig:
    """Validate a stack's config given as ``{"mlops-platform:key": value, "aws:region": ...}``."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    keys = sorted({to_camel(f.name) for f in parsing.fields(StackSpec)})
    for key, value in raw.items():
        namespace, _, name = key.partition(":")
        if namespace == NAMESPACE:
            if name not in keys:
                problems.append(f"{key}: unknown key; valid keys: {', '.join(keys)}")
            else:
                values[name] = value
        elif namespace == "aws" and key not in AWS_KEYS:
            problems.append(f"{key}: unknown key; valid aws keys: {', '.join(sorted(AWS_KEYS))}")
    region = raw.get("aws:region")
    if not region:
        problems.append("aws:region: required; set it with `pulumi config set aws:region us-east-1`")
    elif not isinstance(region, str) or not REGION.match(region):
        problems.append(f"aws:region: must be an AWS region such as us-east-1 (got {region!r})")
    environment = values.get("environment")
    if environment in ENVIRONMENTS:
        values = merge(copy.deepcopy(environment_defaults(environment)), values)
    spec, messages = parsing.parse(StackSpec, values, f"{NAMESPACE}:", StackSpec.problems)
    problems += messages
    allowed = raw.get("aws:allowedAccountIds")
    if allowed is not None and not (
        isinstance(allowed, list)
        and allowed
        and all(isinstance(a, str | int) and str(a).isdigit() and len(str(a)) == 12 for a in allowed)
    ):
        problems.append(f"aws:allowedAccountIds: must be a list of 12-digit account IDs (got {allowed!r})")
    profile = raw.get("aws:profile")
    if profile is not None and (not isinstance(profile, str) or not profile.strip() or len(profile) > 128):
        problems.append(f"aws:profile: must be the name of an AWS CLI profile (got {profile!r})")
    if spec is not None and not problems:
        # Everything the stack runs must have a price, or the cost estimate would fail after resources exist.
        problems += [
            f"{NAMESPACE}:{p}" if not p.startswith("aws:") else p
            for p in price_problems(str(region), *spec.priced_things())
        ]
    if problems or spec is None:
        raise ConfigError(problems)
    result = PlatformConfig(spec, project=project, stack=stack, region=str(region))
    context_problems = [f"project {project!r}: {p.render()}" for p in result.context.problems()]
    # The EKS cluster is named <project>-<stack>, so the names Pulumi gives must make a valid one.
    context_problems += [
        f"stack {stack!r}: the EKS cluster is named <project>-<stack>, which {p.message}; rename the stack"
        for p in cluster_name_problems(result.cluster_name)
    ]
    if context_problems:
        raise ConfigError(context_problems)
    result.aws_profile = profile
    result.allowed_account_ids = [str(a) for a in allowed] if allowed else None
    return result


def load() -> PlatformConfig:
    """Read the running program's config (``pulumi up`` and offline synthesis alike)."""
    from pulumi.runtime.config import CONFIG

    raw = {key: _decode(value) for key, value in CONFIG.get().items()}
    return parse(raw, project=pulumi.get_project(), stack=pulumi.get_stack())


def load_stack(project_dir: Path, stack: str, overrides: Mapping[str, Any] | None = None) -> PlatformConfig:
    """A stack file of the project at ``project_dir`` as the CLI would pass it (Pulumi.yaml defaults
    included), with ``overrides`` on top, parsed: ConfigError on bad config, SynthError (exit 2) on a
    missing project or stack file."""
    from mlops_platform.infra.offline.runner import load_project, load_stack_config

    project = load_project(project_dir)
    raw = {**load_stack_config(project, stack), **(overrides or {})}
    return parse(raw, project=project.name, stack=stack)


def _decode(value: Any) -> Any:
    """Config arrives as strings; structured values are JSON text."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value
