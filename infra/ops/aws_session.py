"""One place that turns CLI arguments into a boto3 session, with clear errors instead of tracebacks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions


class AwsAccessError(Exception):
    """No usable credentials or region: bad input for the CLI (exit 2)."""


def session(region: str | None = None, *, need_region: bool = True) -> boto3.session.Session:
    """A fresh session (credentials resolved now, from the usual chain: env, profile, SSO, role)."""
    try:
        result = boto3.session.Session(region_name=region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise AwsAccessError(f"{exc}; set AWS_PROFILE to a configured profile or unset it") from exc
    try:
        credentials = result.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:  # e.g. an SSO profile whose token expired
        raise AwsAccessError(f"cannot load AWS credentials: {exc}") from exc
    if credentials is None:
        raise AwsAccessError(
            "no AWS credentials: configure a profile (AWS_PROFILE), SSO (`aws sso login`), or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    if need_region and not result.region_name:
        raise AwsAccessError("no AWS region: pass --region or set AWS_REGION")
    return result


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def read_optional(call: Callable[..., Any], missing: str, **kwargs: Any) -> Any:
    """The response of a read such as get_bucket_policy, or None when AWS answers that the setting
    does not exist (``missing``: the error code it uses for that)."""
    try:
        return call(**kwargs)
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) == missing:
            return None
        raise
