"""No password, generated or stored, appears in clear text in any rendered input or output."""

from __future__ import annotations

from typing import Any

import pytest

from mlops_platform.infra.offline.values import Secret
from tests.harness import STACKS, stack


def clear_strings(value: Any):
    """Every string reachable from ``value`` without opening a secret."""
    if isinstance(value, Secret):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from clear_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from clear_strings(item)


@pytest.mark.parametrize("name", STACKS)
def test_generated_passwords_never_appear_in_clear(name):
    result = stack(name)
    passwords = [
        r.outputs["result"]
        for r in result.registrations
        if r.type == "random:index/randomPassword:RandomPassword"
    ]
    assert len(passwords) >= 2, "the database and MLflow admin passwords"
    graph_text = result.graph.to_json()
    for password in passwords:
        assert password not in graph_text
        for registration in result.registrations:
            if registration.type.startswith("random:"):
                continue
            leaks = [s for s in clear_strings(registration.inputs) if password in s]
            assert leaks == [], f"{registration.name} carries a password in clear text"
        assert not [s for s in clear_strings(result.stack_outputs) if password in s]


@pytest.mark.parametrize("name", STACKS)
def test_helm_values_carry_no_secret(name):
    releases = stack(name).graph.of_type("kubernetes:helm.sh/v3:Release")
    assert len(releases) >= 8
    for release in releases:
        text = str(release.inputs.get("values"))
        assert "[secret]" not in text, f"{release.name} passes a secret through Helm values"
        # A password-named setting may only point at a Kubernetes Secret ({name, key}), never hold one.
        assert not list(clear_passwords(release.inputs.get("values"))), release.name


def clear_passwords(values: object, path: str = "") -> list[str]:
    """Paths of settings named like a password whose value is text rather than a Secret reference."""
    found = []
    if isinstance(values, dict):
        for key, value in values.items():
            where = f"{path}.{key}"
            # passwordKey, passwordSecret, passwordFile name where the password is kept.
            reference = str(key).endswith(("Key", "Secret", "SecretName", "File"))
            if "password" in str(key).lower() and not reference and isinstance(value, str) and value:
                found.append(where)
            found += clear_passwords(value, where)
    elif isinstance(values, list):
        for i, value in enumerate(values):
            found += clear_passwords(value, f"{path}[{i}]")
    return found


def test_a_password_in_helm_values_is_caught():
    assert clear_passwords({"db": {"password": "hunter2"}}) == [".db.password"]
    assert clear_passwords({"db": {"passwordSecret": {"name": "s", "key": "password"}}}) == []
    assert clear_passwords({"admin": {"existingSecret": "grafana-admin", "passwordKey": "password"}}) == []
