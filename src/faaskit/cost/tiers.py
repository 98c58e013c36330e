"""Tiered prices with a free allowance: what a slice of monthly usage costs when the price
per unit falls as usage grows (Lambda's GB-s, API Gateway's requests) and the first units
each month are free."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from faaskit.cost.catalog import PriceRow
from faaskit.cost.money import MILLION, ZERO

__all__ = ["per_unit", "tiered_charge"]


def per_unit(row: PriceRow) -> Decimal:
    """The row's price for one unit: "1M requests" and "10K requests" rows divide down."""
    if row.unit.startswith("1M "):
        return row.price / MILLION
    if row.unit.startswith("10K "):
        return row.price / Decimal(10_000)
    return row.price


def tiered_charge(
    tiers: Sequence[PriceRow],
    quantity: Decimal,
    *,
    start: Decimal = ZERO,
    free: Decimal = ZERO,
) -> tuple[Decimal, Decimal]:
    """(amount, units covered by ``free``) for ``quantity`` units used after ``start`` units
    this month. The free allowance covers the month's first units; tiers count all usage,
    free or not (AWS applies its tiers to the aggregate monthly duration)."""
    end = start + quantity
    covered = max(ZERO, min(end, free) - start)
    billed_from = max(start, min(free, end))
    amount = ZERO
    for row in tiers:
        low = row.tier_from or ZERO
        high = row.tier_to if row.tier_to is not None else end
        overlap = min(end, high) - max(billed_from, low)
        if overlap > 0:
            amount += overlap * per_unit(row)
    return amount, covered
