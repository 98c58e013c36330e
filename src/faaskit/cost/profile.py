"""Traffic profiles: the demo's, one read from a TOML or JSON file, and one scaled by a
factor (the report's 10x and 100x).

    # traffic.toml
    name = "launch week"
    mean_rps = 12
    daily_shape = [1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1]
    cold_share = 0.005

    profile = load_profile("traffic.toml")
"""

from __future__ import annotations

import json
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from faaskit.cost.workload import TrafficProfile
from faaskit.errors import ValidationError

__all__ = ["DEMO_PROFILE", "WORKING_DAY", "describe", "load_profile", "scaled"]

WORKING_DAY: tuple[Decimal, ...] = tuple(
    Decimal(w) for w in (1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1)
)
"""Hourly weights of a shop's day: quiet at night, busiest from 09:00 to 15:00 (its peak is
1.92 times its mean)."""

DEMO_PROFILE: TrafficProfile = TrafficProfile.build(
    name="demo",
    mean_rps=Decimal(2),
    daily_shape=WORKING_DAY,
    # A steady 2 req/s keeps environments warm for minutes; a tour starts each function cold
    # once in a few calls, which would price INIT far above what production pays.
    cold_share=Decimal("0.01"),
)
"""A small shop: 2 requests a second at the front door on average (5.3 million a month), a
working day's shape, 1% of invocations cold."""


def load_profile(path: str | Path) -> TrafficProfile:
    """The profile in ``path`` (``.toml`` or ``.json``), validated; a file that cannot be read
    or a bad field is a :class:`ValidationError` naming the file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ValidationError(f"profile {file}: cannot read it ({error})") from None
    try:
        fields: Any = json.loads(text) if file.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as error:
        raise ValidationError(f"profile {file}: not valid {_kind(file)} ({error})") from None
    if not isinstance(fields, dict):
        raise ValidationError(
            f"profile {file}: give a table of fields, not {type(fields).__name__}"
        )
    fields.setdefault("name", file.stem)
    try:
        built: TrafficProfile = TrafficProfile.build(**_decimals(fields))
    except ValidationError as error:
        raise ValidationError(f"profile {file}: {error}", error.errors) from None
    return built


def scaled(profile: TrafficProfile, factor: Decimal | int) -> TrafficProfile:
    """``profile`` with ``factor`` times its mean rate (its shape and cold share kept)."""
    factor = Decimal(factor)
    if factor < 0:
        raise ValidationError(f"scale {factor}: give a non-negative factor")
    name = profile.name if factor == 1 else f"{profile.name} x{factor.normalize():f}"
    return profile.model_copy(update={"mean_rps": profile.mean_rps * factor, "name": name})


def describe(profile: TrafficProfile) -> str:
    """One line: ``demo: 2 req/s mean, 3.84 at the peak, 5,256,000 requests a month``."""
    return (
        f"{profile.name}: {_number(profile.mean_rps)} req/s mean, "
        f"{_number(profile.peak_in_month())} at the peak, "
        f"{profile.requests_in_month():,} requests a month"
    )


def _number(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


def _kind(file: Path) -> str:
    return "JSON" if file.suffix == ".json" else "TOML"


def _decimals(fields: dict[str, Any]) -> dict[str, Any]:
    # Floats from TOML or JSON become their shortest decimal, not binary noise.
    def exact(value: Any) -> Any:
        if isinstance(value, float):
            return Decimal(repr(value))
        if isinstance(value, list):
            return tuple(exact(v) for v in value)
        return value

    return {key: exact(value) for key, value in fields.items()}
