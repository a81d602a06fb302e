"""One version of a model: an image in the model's repository, its share of traffic and its lineage."""

from __future__ import annotations

import re

from mlops_platform.components.support.spec import spec
from mlops_platform.components.support.tagging import tag_value_problems
from mlops_platform.components.support.validation import Problem, dns_label_problem, range_problems

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_RUN_ID = re.compile(r"^[a-f0-9]{32}$")
_COMMIT = re.compile(r"^[a-f0-9]{7,40}$")
_URI = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


@spec
class ModelVersion:
    """One version of the model: an image in the model's repository and its share of traffic."""

    name: str
    """Version name, e.g. ``v3``; part of the Deployment and Service names."""
    image_tag: str | None = None
    """Immutable image tag. One of tag or digest is required; ``latest`` is refused."""
    image_digest: str | None = None
    """Image digest ``sha256:...``; wins over the tag when both are set."""
    weight: int = 100
    """Percentage of traffic. Stable and canary must sum to 100. Default: 100."""
    model_path: str | None = None
    """Path of the artifact under the endpoint's prefix. Default: the version name."""
    registered_model: str | None = None
    """Lineage: the MLflow registered model this version serves. Default: none."""
    registry_version: str | None = None
    """Lineage: its version number or alias in the MLflow registry (``7``, ``champion``). Required
    with ``registered_model``. Default: none."""
    training_run_id: str | None = None
    """Lineage: the MLflow run that trained it (32 hex characters). Default: none."""
    dataset_uri: str | None = None
    """Lineage: the data it was trained on (``s3://...``). Default: none."""
    code_commit: str | None = None
    """Lineage: the commit of the training code (7 to 40 hex characters). Default: none."""

    def lineage(self) -> dict[str, str]:
        """What this version is made of, as the lineage annotations and output carry it."""
        values = {
            "registered-model": self.registered_model,
            "registry-version": self.registry_version,
            "image-digest": self.image_digest,
            "image-tag": self.image_tag,
            "training-run": self.training_run_id,
            "dataset-uri": self.dataset_uri,
            "code-commit": self.code_commit,
        }
        return {k: v for k, v in values.items() if v is not None}

    def problems(self) -> list[Problem]:
        found = [p for p in [dns_label_problem("name", self.name, max_length=20)] if p]
        if (self.registered_model is None) != (self.registry_version is None):
            found.append(
                Problem("registry_version", "set registered_model and registry_version together (or neither)")
            )
        if self.training_run_id is not None and not _RUN_ID.match(self.training_run_id):
            found.append(
                Problem(
                    "training_run_id",
                    f"must be an MLflow run ID, 32 hex characters (got {self.training_run_id!r})",
                )
            )
        if self.code_commit is not None and not _COMMIT.match(self.code_commit):
            found.append(
                Problem(
                    "code_commit", f"must be a git commit, 7 to 40 hex characters (got {self.code_commit!r})"
                )
            )
        if self.dataset_uri is not None and not _URI.match(self.dataset_uri):
            found.append(
                Problem("dataset_uri", f"must be a URI such as s3://bucket/path (got {self.dataset_uri!r})")
            )
        elif self.dataset_uri is not None:  # it becomes an AWS tag on the model's resources
            found += tag_value_problems("dataset_uri", self.dataset_uri)
        if self.registered_model is not None:
            found += tag_value_problems("registered_model", self.registered_model)
        if self.image_tag is None and self.image_digest is None:
            found.append(Problem("image_tag", "set an immutable image tag or a digest (got neither)"))
        if self.image_tag is not None:
            if self.image_tag == "latest":
                found.append(Problem("image_tag", "must not be 'latest': pin a version or a digest"))
            elif not _TAG.match(self.image_tag):
                found.append(Problem("image_tag", f"must be a valid image tag (got {self.image_tag!r})"))
        if self.image_digest is not None and not _DIGEST.match(self.image_digest):
            found.append(
                Problem("image_digest", f"must be sha256:<64 hex characters> (got {self.image_digest!r})")
            )
        if self.weight is not None:  # a canary may leave it out (it moves by steps)
            found += range_problems("weight", self.weight, 0, 100)
        return found

    def reference(self) -> str:
        return f"@{self.image_digest}" if self.image_digest else f":{self.image_tag}"
