"""Governance: promotion between environments as a reviewed change with gates (``blueprint promote``),
and the evidence pack a change board reads (``blueprint evidence``)."""
