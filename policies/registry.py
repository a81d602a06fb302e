"""Every rule of the pack, and the per-environment configuration the pack runs with."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlops_platform.components.support import files
from mlops_platform.policies import consistency, cost, governance, kubernetes, reliability, security, tagging
from mlops_platform.policies.rule import Rule

RULES: list[Rule] = [
    *security.RULES,
    *reliability.RULES,
    *cost.RULES,
    *tagging.RULES,
    *kubernetes.RULES,
    *consistency.RULES,
    *governance.RULES,
]
PACK_NAME = "mlops-platform-guardrails"
CONFIG_DIR = Path(__file__).parent / "config"

_INSTANCE_TYPES = {
    "dev": [
        "t3.large",
        "t3.xlarge",
        # Same size as t3.large: dev's spot system nodes pick from all four.
        "m5.large",
        "m7i.large",
        "m6i.large",
        "m6i.xlarge",
        "g4dn.xlarge",
        "g5.xlarge",
        "g6.xlarge",
        "g5.2xlarge",
        "g6.2xlarge",
    ],
    "stage": [
        "m6i.large",
        "m6i.xlarge",
        "m6i.2xlarge",
        "g4dn.xlarge",
        "g5.xlarge",
        "g6.xlarge",
        "g5.2xlarge",
        "g6.2xlarge",
        "g6e.xlarge",
    ],
    "prod": [
        "m6i.large",
        "m6i.xlarge",
        "m6i.2xlarge",
        "m7i.xlarge",
        "m7i.2xlarge",
        "g5.xlarge",
        "g5.2xlarge",
        "g5.12xlarge",
        "g6.xlarge",
        "g6.2xlarge",
        "g6.12xlarge",
        "g6e.xlarge",
        "g6e.2xlarge",
        "g6e.12xlarge",
        "p4d.24xlarge",
        "p5.48xlarge",
    ],
}

ENVIRONMENTS = ("dev", "stage", "prod")
_KNOB_TABLE: tuple[tuple[str, str, tuple[Any, Any, Any]], ...] = (
    # rule                    knob                    (dev, stage, prod); None: the rule's default
    ("allowed-instance-types", "allowedInstanceTypes", tuple(_INSTANCE_TYPES[e] for e in ENVIRONMENTS)),
    ("gpu-pool-max-size-cap", "maxGpuNodes", (2, 4, 16)),
    # Mandatory in dev and stage: what an environment may spend on GPUs is a budget, not advice.
    ("environment-gpu-cap", "maxEnvironmentGpus", (4, 8, 32)),
    ("environment-gpu-cap", "enforcementLevel", ("mandatory", "mandatory", None)),
    # Mandatory in prod only: dev and stage may knowingly run models larger than their pools.
    ("model-gpu-capacity", "enforcementLevel", ("advisory", "advisory", None)),
    ("rds-backup-retention", "minimumDays", (7, 7, 14)),
)

KNOBS: dict[str, dict[str, dict[str, Any]]] = {environment: {} for environment in ENVIRONMENTS}
for _rule_name, _knob, _values in _KNOB_TABLE:
    for _environment, _value in zip(ENVIRONMENTS, _values, strict=True):
        if _value is not None:
            KNOBS[_environment].setdefault(_rule_name, {})[_knob] = _value
"""Per-environment values of the rules' knobs; ``environment`` is set for every rule that reads it."""


def policy_config(environment: str) -> dict[str, dict[str, Any]]:
    """The ``--policy-pack-config`` document for one environment (policies/config/<env>.json)."""
    config: dict[str, dict[str, Any]] = {}
    for rule in RULES:
        values: dict[str, Any] = {}
        if "environment" in rule.config:
            values["environment"] = environment
        values.update(KNOBS[environment].get(rule.name, {}))
        if values:
            config[rule.name] = values
    return config


def config_file_text(environment: str) -> str:
    return json.dumps(policy_config(environment), indent=2, sort_keys=True) + "\n"


def load_config(path: Path) -> Mapping[str, Any]:
    return files.read_json(path, "policy config")
