"""Observability: metrics, GPU telemetry, dashboards, alerts, logs, alarms and budgets, one module per
subsystem; ``Observability`` (in ``stack``) composes them."""
