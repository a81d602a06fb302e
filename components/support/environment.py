"""Deployment environments and what each one means for stateful resources."""

from __future__ import annotations

from enum import StrEnum

import pulumi


class Environment(StrEnum):
    """The three environments a stack can be."""

    DEV = "dev"
    STAGE = "stage"
    PROD = "prod"


def stateful_options(
    environment: Environment, opts: pulumi.ResourceOptions | None = None
) -> pulumi.ResourceOptions:
    """Options for resources that hold data or identity (buckets, databases, registries, keys, secrets).

    Protected in prod, so that a mistaken delete fails instead of losing data; retained on delete in
    stage and prod, so that even a forced removal from the stack leaves the cloud resource in place.
    """
    return pulumi.ResourceOptions.merge(
        opts,
        pulumi.ResourceOptions(
            protect=environment is Environment.PROD,
            retain_on_delete=environment in (Environment.STAGE, Environment.PROD),
        ),
    )
