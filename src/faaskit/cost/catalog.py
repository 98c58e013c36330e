"""The price catalog: a dated, sourced file of prices shipped with faaskit
(``faaskit/cost/prices.toml``), overlaid by the user's own rows.

Every row is one price with its unit, region and architecture, the tier of monthly usage it
applies to, where it was read and on which day, and whether it was confirmed on the
provider's own page (an unconfirmed row must say why in ``note``). A malformed or undated
row is a :class:`PriceCatalogError` naming the file, the row and the field.

    catalog = load_catalog()                       # shipped rows, + FAASKIT_PRICES if set
    catalog = load_catalog(overlay="my-prices.toml")
    catalog.price("aws.lambda.requests").price     # Decimal('0.20')
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from faaskit.errors import ConfigurationError

__all__ = [
    "PRICES_VARIABLE",
    "SHIPPED",
    "Arch",
    "Catalog",
    "PriceCatalogError",
    "PriceRow",
    "load_catalog",
    "read_rows",
]

PRICES_VARIABLE = "FAASKIT_PRICES"
SHIPPED = Path(__file__).with_name("prices.toml")

Arch = Literal["x86", "arm64", "any"]


class PriceCatalogError(ConfigurationError):
    """A price file that cannot be used: unreadable, or a row with a missing or bad field.
    ``path``, ``row`` (1-based, in file order) and ``field`` say where."""

    def __init__(
        self, detail: str, *, path: Path, row: int | None = None, field: str | None = None
    ) -> None:
        self.path, self.row, self.field = path, row, field
        super().__init__(detail)


class PriceRow(BaseModel):
    """One price: ``price`` USD per ``unit``, for monthly usage in [``tier_from``,
    ``tier_to``) when tiered; an allowance (a free tier, a minimum) carries ``quantity``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
    service: str = Field(min_length=1)
    item: str = Field(min_length=1)
    price: Decimal = Field(ge=0)
    unit: str = Field(min_length=1)
    region: str = Field(min_length=1)
    arch: Arch
    source: str = Field(pattern=r"^https?://\S+$")
    read_on: date
    confirmed: bool
    note: str = ""
    tier_from: Decimal | None = Field(default=None, ge=0)
    tier_to: Decimal | None = Field(default=None, gt=0)
    quantity: Decimal | None = Field(default=None, ge=0)
    vcpus: int | None = Field(default=None, gt=0)
    memory_gib: Decimal | None = Field(default=None, gt=0)

    @field_validator("price", "tier_from", "tier_to", "quantity", "memory_gib", mode="before")
    @classmethod
    def _exact(cls, value: Any) -> Any:
        # A TOML or JSON float has already lost digits: prices are written as strings.
        if isinstance(value, float):
            raise ValueError(f'write it as a string ("{value}") so it stays an exact decimal')
        return value

    @field_validator("read_on", mode="before")
    @classmethod
    def _day(cls, value: Any) -> Any:
        if hasattr(value, "hour"):  # a datetime: the day a price was read is a date
            raise ValueError("give the day the price was read (2026-12-02), not a time")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> PriceRow:
        if not self.confirmed and not self.note.strip():
            raise ValueError("an unconfirmed price needs a note saying where it comes from")
        if self.tier_to is not None and self.tier_from is None:
            raise ValueError("tier_to needs tier_from")
        if (
            self.tier_to is not None
            and self.tier_from is not None
            and self.tier_to <= self.tier_from
        ):
            raise ValueError("tier_to must be above tier_from")
        return self

    @property
    def identity(self) -> tuple[str, str, str, Decimal | None]:
        """What an overlay row replaces: the same key, arch, region and tier start."""
        return (self.key, self.arch, self.region, self.tier_from)


class Catalog:
    """Price rows by key; ``files`` names the files they came from, in overlay order."""

    def __init__(self, rows: Iterable[PriceRow], files: Sequence[Path] = ()) -> None:
        self.rows: tuple[PriceRow, ...] = tuple(rows)
        self.files = tuple(files)

    def __iter__(self) -> Iterator[PriceRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def overlaid(self, rows: Iterable[PriceRow], file: Path) -> Catalog:
        """This catalog with ``rows`` replacing the rows of the same identity (and added)."""
        merged: dict[tuple[str, str, str, Decimal | None], PriceRow] = {
            row.identity: row for row in self.rows
        }
        for row in rows:
            merged[row.identity] = row
        return Catalog(merged.values(), (*self.files, file))

    def tiers(self, key: str, arch: str = "any") -> list[PriceRow]:
        """Every row of ``key`` for ``arch``, by tier: rows for ``any`` serve every arch, and
        asking for ``any`` takes the key's rows whatever their arch."""
        found = [
            row
            for row in self.rows
            if row.key == key and (arch == "any" or row.arch in (arch, "any"))
        ]
        if not found:
            raise PriceCatalogError(
                f"no price {key!r} for arch {arch!r} in {', '.join(map(str, self.files))}",
                path=self.files[-1] if self.files else SHIPPED,
                field="key",
            )
        if any(row.arch == arch for row in found) and arch != "any":
            found = [row for row in found if row.arch == arch]
        return sorted(found, key=lambda row: row.tier_from or Decimal(0))

    def price(self, key: str, arch: str = "any") -> PriceRow:
        """The one row of an untiered ``key``."""
        return self.tiers(key, arch)[0]

    def quantity(self, key: str, arch: str = "any") -> Decimal:
        """The allowance of ``key`` (a free tier's size, a minimum)."""
        row = self.price(key, arch)
        return row.quantity if row.quantity is not None else Decimal(0)

    def unconfirmed(self) -> list[PriceRow]:
        """Rows not confirmed on the provider's own page."""
        return [row for row in self.rows if not row.confirmed]


def read_rows(path: Path) -> list[PriceRow]:
    """The validated rows of one price file (TOML ``[[price]]`` tables, or a JSON document
    ``{"price": [...]}``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PriceCatalogError(
            f"{path}: cannot read the price file ({error.strerror})", path=path
        ) from error
    document = _parse(text, path)
    raw = document.get("price")
    if not isinstance(raw, list) or not raw:
        raise PriceCatalogError(
            f"{path}: no [[price]] rows (each price is a [[price]] table)", path=path
        )
    return [_row(entry, path, number) for number, entry in enumerate(raw, start=1)]


def load_catalog(overlay: str | Path | None = None) -> Catalog:
    """The shipped catalog, overlaid by ``overlay`` or else by the file FAASKIT_PRICES names."""
    catalog = Catalog(read_rows(SHIPPED), (SHIPPED,))
    chosen = overlay if overlay is not None else os.environ.get(PRICES_VARIABLE) or None
    if chosen is None:
        return catalog
    path = Path(chosen)
    return catalog.overlaid(read_rows(path), path)


def _parse(text: str, path: Path) -> Mapping[str, Any]:
    try:
        if path.suffix == ".json":
            import orjson

            document = orjson.loads(text)
        else:
            document = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise PriceCatalogError(f"{path}: not valid {_kind(path)}: {error}", path=path) from error
    if not isinstance(document, dict):
        raise PriceCatalogError(f"{path}: expected a table of [[price]] rows", path=path)
    return document


def _kind(path: Path) -> str:
    return "JSON" if path.suffix == ".json" else "TOML"


def _row(entry: Any, path: Path, number: int) -> PriceRow:
    if not isinstance(entry, dict):
        raise PriceCatalogError(f"{path}: row {number} is not a table", path=path, row=number)
    try:
        return PriceRow.model_validate(entry)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        key = entry.get("key", "?")
        what = "missing" if first["type"] == "missing" else first["msg"]
        hint = " (every price says the day it was read)" if field == "read_on" else ""
        raise PriceCatalogError(
            f"{path}: row {number} ({key}): {field or 'row'}: {what}{hint}",
            path=path,
            row=number,
            field=field,
        ) from error
