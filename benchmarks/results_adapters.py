"""What the adapters section measured (per-event dispatch and the cold-start proxy), and
the issue's aims for it (met or not)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

FAASKIT = "faaskit"
POWERTOOLS = "Powertools"
CHALICE = "Chalice"
MANGUM = "Mangum + Starlette"
BARE = "bare function (floor)"
CONTENDERS = (FAASKIT, POWERTOOLS, CHALICE, MANGUM, BARE)

REFERENCE_US = {POWERTOOLS: "28.5", CHALICE: "36", MANGUM: "101", BARE: "3.6"}
"""Per-event µs measured on this machine before this harness existed (quoted by the issue)."""


@dataclass
class DispatchRow:
    """One contender's µs per event, one number per interleaved round (index = round)."""

    name: str
    event: str = ""
    rounds_us: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_us(self) -> float | None:
        return statistics.median(self.rounds_us) if self.rounds_us else None


@dataclass
class ColdRow:
    """A fresh interpreter per sample: import the handler module, then serve one event."""

    name: str
    import_ms: list[float] = field(default_factory=list)
    first_ms: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_import_ms(self) -> float | None:
        return statistics.median(self.import_ms) if self.import_ms else None

    @property
    def median_first_ms(self) -> float | None:
        return statistics.median(self.first_ms) if self.first_ms else None

    @property
    def median_total_ms(self) -> float | None:
        totals = [a + b for a, b in zip(self.import_ms, self.first_ms, strict=True)]
        return statistics.median(totals) if totals else None


@dataclass
class AdapterResults:
    dispatch: list[DispatchRow] = field(default_factory=list)
    cold: list[ColdRow] = field(default_factory=list)
    rounds: int = 0
    events_per_round: int = 0
    samples: int = 0
    date: str = ""
    machine: str = ""
    load_before: str = ""
    load_after: str = ""
    pinning: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def dispatch_row(self, name: str) -> DispatchRow | None:
        return next((row for row in self.dispatch if row.name == name), None)

    def cold_row(self, name: str) -> ColdRow | None:
        return next((row for row in self.cold if row.name == name), None)

    def ratio(self, name: str, base: str = POWERTOOLS) -> float | None:
        """The median over rounds of (this contender's µs / ``base``'s µs in the same
        round): paired by round, so a busy moment of the shared machine cancels out."""
        row, other = self.dispatch_row(name), self.dispatch_row(base)
        if row is None or other is None:
            return None
        pairs = [a / b for a, b in zip(row.rounds_us, other.rounds_us, strict=False) if b]
        return statistics.median(pairs) if pairs else None

    def over_floor_us(self, name: str) -> float | None:
        """Median over rounds of (µs - the bare function's µs in the same round)."""
        row, floor = self.dispatch_row(name), self.dispatch_row(BARE)
        if row is None or floor is None:
            return None
        gaps = [a - b for a, b in zip(row.rounds_us, floor.rounds_us, strict=False)]
        return statistics.median(gaps) if gaps else None

    def cold_ratio(self, name: str, what: str) -> float | None:
        """``what`` ("import", "first" or "total") against Powertools' median."""
        mine, theirs = self.cold_row(name), self.cold_row(POWERTOOLS)
        if mine is None or theirs is None:
            return None
        a, b = (getattr(row, f"median_{what}_ms") for row in (mine, theirs))
        return a / b if a is not None and b else None


def aims(results: AdapterResults) -> list[tuple[str, str, bool | None]]:
    """(aim, measured, met): faaskit's adapter at most Powertools' per-event overhead and
    import time."""
    from results import fmt_ratio

    found: list[tuple[str, str, bool | None]] = []
    ours, theirs = results.dispatch_row(FAASKIT), results.dispatch_row(POWERTOOLS)
    ratio = results.ratio(FAASKIT)
    mine_us = ours.median_us if ours else None
    theirs_us = theirs.median_us if theirs else None
    found.append(
        (
            "faaskit's per-event overhead ≤ Powertools' (v2 event → JSON hello → answer)",
            f"{_us(mine_us)} vs {_us(theirs_us)} µs/event = {fmt_ratio(ratio)}",
            None if ratio is None else ratio <= 1.0,
        )
    )
    cold_ours, cold_theirs = results.cold_row(FAASKIT), results.cold_row(POWERTOOLS)
    for what, label in (
        ("import", "import of the handler module"),
        ("total", "import + first event"),
    ):
        a = getattr(cold_ours, f"median_{what}_ms") if cold_ours else None
        b = getattr(cold_theirs, f"median_{what}_ms") if cold_theirs else None
        cold = results.cold_ratio(FAASKIT, what)
        found.append(
            (
                f"faaskit's {label} ≤ Powertools'"
                + ("" if what == "import" else " (informational: not the issue's aim)"),
                f"{_ms(a)} vs {_ms(b)} ms = {fmt_ratio(cold)}",
                None if cold is None else cold <= 1.0,
            )
        )
    return found


def _us(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"
