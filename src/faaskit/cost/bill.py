"""A bill: line items (compute, requests, gateway, queues, secrets, INIT, instances…), each
an exact amount with the quantity and formula behind it. As the providers' worked examples
do, each charge is rounded to the cent only once it is computed ("1,100,000 * $0.00001667
= $18.34"), and the total is the sum of those charges ("$18.34 + $0.40 = $18.74")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from faaskit.cost.money import ZERO, cents

__all__ = ["Bill", "LineItem", "plain"]


def plain(value: Decimal) -> str:
    """``value`` without exponent or trailing zeros: ``730``, ``0.05``, ``1500000``."""
    text = format(value.normalize(), "f")
    return text


@dataclass(frozen=True, slots=True)
class LineItem:
    """One charge: ``quantity`` ``unit`` of which ``free`` were covered by a free tier,
    costing ``amount`` (exact); ``detail`` says how it was counted."""

    item: str
    quantity: Decimal
    unit: str
    amount: Decimal
    detail: str = ""
    free: Decimal = ZERO
    keys: tuple[str, ...] = ()

    @property
    def cents(self) -> Decimal:
        return cents(self.amount)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "quantity": plain(self.quantity),
            "unit": self.unit,
            "free": plain(self.free),
            "amount": float(self.cents),
            "exact": str(self.amount),
            "detail": self.detail,
            "prices": list(self.keys),
        }


@dataclass(frozen=True, slots=True)
class Bill:
    """A month on one platform: its line items; ``total`` sums their cents, ``exact`` their
    unrounded amounts."""

    platform: str
    items: Sequence[LineItem]
    free_tier: bool
    notes: Sequence[str] = field(default=())

    @property
    def exact(self) -> Decimal:
        return sum((item.amount for item in self.items), ZERO)

    @property
    def total(self) -> Decimal:
        return sum((item.cents for item in self.items), ZERO)

    def item(self, name: str) -> LineItem:
        """The line item called ``name`` (KeyError when the bill has none)."""
        for line in self.items:
            if line.item == name:
                return line
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "free_tier": self.free_tier,
            "items": [line.to_dict() for line in self.items],
            "total": float(self.total),
            "exact": str(self.exact),
            "notes": list(self.notes),
        }
