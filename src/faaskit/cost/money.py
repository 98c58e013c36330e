"""Money and time as the bills count them: exact decimals, rounded to the cent only once an
amount is final (as the providers' own worked examples do), and a month of 730 hours.

    >>> cents(Decimal("18.337"))
    Decimal('18.34')
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

__all__ = [
    "CENT",
    "HOURS_PER_MONTH",
    "MILLION",
    "SECONDS_PER_MONTH",
    "ZERO",
    "ceil_to",
    "cents",
    "decimal_of",
]

ZERO = Decimal(0)
CENT = Decimal("0.01")
MILLION = Decimal(1_000_000)
HOURS_PER_MONTH = Decimal(730)
"""The month every provider's calculator uses (8,760 hours a year / 12)."""
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600


def cents(amount: Decimal) -> Decimal:
    """``amount`` rounded half up to the cent, the way the providers print a charge."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def ceil_to(value: Decimal, step: Decimal) -> Decimal:
    """``value`` rounded up to a whole number of ``step`` (100 ms, 128 MB, 1 ms…)."""
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def decimal_of(value: Decimal | int | str) -> Decimal:
    """An exact decimal from an int, a string or a Decimal; never from a float, whose binary
    digits would creep into the bill (``0.1`` is ``0.1000000000000000055…``)."""
    if isinstance(value, float):
        raise TypeError(f"money from a float ({value!r}) is inexact: pass a string or an int")
    return value if isinstance(value, Decimal) else Decimal(value)
