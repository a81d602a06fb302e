"""Pulumi entry point (``main: infra/`` in Pulumi.yaml): ``pulumi up`` runs this directory."""

from infra.program import main

main()
