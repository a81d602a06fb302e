"""Pulumi entry point (``main: infra/`` in Pulumi.yaml): ``pulumi up`` runs this directory."""

from mlops_platform.infra.program import main

main()
