"""The units every cost figure is in: three scenarios, 730-hour months, amounts rounded to the cent."""

from __future__ import annotations

from decimal import Decimal

SCENARIOS = ("idle", "expected", "peak")
HOURS_PER_MONTH = Decimal(730)
DAYS_PER_MONTH = HOURS_PER_MONTH / Decimal(24)
CENT = Decimal("0.01")
