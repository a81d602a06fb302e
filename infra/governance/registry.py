"""The model registry as promotion reads it: MLflow through its client, or a recorded export file.

The export (``blueprint registry-export``) is the same reading written down, so a gate can be judged
where MLflow cannot be reached (a PR job without network to it) and the evidence of the decision kept.
Its format::

    {"trackingUri": "...", "exportedAt": "2026-12-01T10:00:00+00:00",
     "models": {"fraud-scorer": {"aliases": {"prod": "4"},
                                 "versions": {"4": {"runId": "...", "source": "...", "stage": "None"}}}}}
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlops_platform.components.support import files

FORMAT_HELP = "see infra/governance/registry.py or write one with `blueprint registry-export`"


class RegistryUnavailable(Exception):
    """The registry cannot be read (unreachable, refused, or a broken export): exit 2."""


@dataclass(frozen=True)
class RegistryVersion:
    """One version of a registered model, as the registry holds it."""

    model: str
    version: str
    aliases: tuple[str, ...] = ()
    stage: str = "None"
    run_id: str | None = None
    source: str | None = None


@dataclass
class RegistryReading:
    """Versions of registered models, from wherever they were read."""

    where: str
    models: dict[str, dict[str, Any]] = field(default_factory=dict)

    def version(self, model: str, version_or_alias: str) -> RegistryVersion | None:
        entry = self.models.get(model)
        if entry is None:
            return None
        aliases: Mapping[str, str] = entry.get("aliases") or {}
        number = aliases.get(version_or_alias, version_or_alias)
        details = (entry.get("versions") or {}).get(str(number))
        if details is None:
            return None
        return RegistryVersion(
            model=model,
            version=str(number),
            aliases=tuple(sorted(a for a, v in aliases.items() if str(v) == str(number))),
            stage=str(details.get("stage") or "None"),
            run_id=details.get("runId"),
            source=details.get("source"),
        )

    def to_document(self) -> dict[str, Any]:
        return {"trackingUri": self.where, "models": self.models}


def read_export(path: str) -> RegistryReading:
    """A file written by `blueprint registry-export`."""
    try:
        document = files.read_json(path, "registry export")
    except files.FileInputError as exc:
        raise RegistryUnavailable(str(exc)) from exc
    models = document.get("models") if isinstance(document, dict) else None
    if not isinstance(models, dict) or not all(
        isinstance(entry, dict) and isinstance(entry.get("versions", {}), dict) for entry in models.values()
    ):
        raise RegistryUnavailable(f"registry export {path}: no 'models' mapping of versions ({FORMAT_HELP})")
    return RegistryReading(where=f"export {path}", models=models)


def read_mlflow(tracking_uri: str, names: Sequence[str]) -> RegistryReading:
    """Every version and alias of ``names`` from the MLflow registry at ``tracking_uri`` (credentials
    from the usual MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN)."""
    # Fail fast: the client's default retries back off for minutes before it reports a dead host.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    try:
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException
    except ImportError as exc:
        raise RegistryUnavailable(
            "the MLflow client is not installed: pip install 'mlops-platform[registry]' "
            "(or pass --registry-export FILE)"
        ) from exc
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    reading = RegistryReading(where=tracking_uri)
    for name in names:
        try:
            versions = client.search_model_versions(f"name = '{name}'")
            registered = client.get_registered_model(name) if versions else None
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                continue
            raise RegistryUnavailable(
                f"MLflow registry at {tracking_uri} cannot be read: {exc.message}"
            ) from exc
        except Exception as exc:  # connection errors surface from requests, not as MlflowException
            raise RegistryUnavailable(f"MLflow registry at {tracking_uri} cannot be read: {exc}") from exc
        if registered is None:
            continue
        reading.models[name] = {
            "aliases": dict(sorted((registered.aliases or {}).items())),
            "versions": {
                str(v.version): {"runId": v.run_id, "source": v.source, "stage": v.current_stage}
                for v in sorted(versions, key=lambda v: int(v.version))
            },
        }
    return reading


def export_document(reading: RegistryReading, now: datetime.datetime) -> dict[str, Any]:
    return {**reading.to_document(), "exportedAt": now.isoformat(timespec="seconds")}
