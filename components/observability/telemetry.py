"""CloudWatch metrics the platform's dashboards and alarms read (Prometheus metrics, and the
model-server contract, live in components/support/exporters.py)."""

from __future__ import annotations

CLOUDWATCH_METRICS: dict[str, frozenset[str]] = {
    "AWS/RDS": frozenset(
        {"CPUUtilization", "FreeStorageSpace", "DatabaseConnections", "ReadLatency", "WriteLatency"}
    ),
    "AWS/NATGateway": frozenset({"ErrorPortAllocation", "PacketsDropCount", "BytesOutToDestination"}),
}
