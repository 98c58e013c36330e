"""What the CQRS section measured, and the issue's aims for it (met or not)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

FAASKIT = "faaskit + SQLite"
EVENTSOURCING = "eventsourcing + SQLite"
EVENTSOURCING_FULL = "eventsourcing + SQLite, synchronous=FULL"
AIM_RATIO = 2.0
REFERENCE = {"create": "~3,400", "batch": "~20,000", "projection": "~3,500"}
"""eventsourcing as measured before this harness existed (quoted by the issue)."""
WORKLOADS = {
    "create": "(a) 10,000 new aggregates, one event each",
    "batch": "(b) one aggregate, 10,000 events in saves of 100",
    "projection": "projection: events applied to a read model",
}


@dataclass
class Measured:
    count: int
    seconds: float

    @property
    def per_s(self) -> float:
        return self.count / self.seconds if self.seconds else math.nan


@dataclass
class EventsRow:
    """One contender: each workload's (events, seconds)."""

    name: str
    setup: str
    measured: dict[str, Measured] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_json(cls, name: str, setup: str, found: dict[str, Any]) -> EventsRow:
        measured = {
            key: Measured(int(value[0]), float(value[1]))
            for key, value in found.items()
            if isinstance(value, list)
        }
        return cls(name, setup, measured)

    def rate(self, workload: str) -> float | None:
        found = self.measured.get(workload)
        return found.per_s if found else None


@dataclass
class SearchRun:
    """One pass of the mixed queries: latencies (ms) per kind, timeouts, total hits."""

    latencies: dict[str, list[float]]
    timeouts: dict[str, int]
    hits: dict[str, int]

    @classmethod
    def from_json(cls, found: dict[str, Any]) -> SearchRun:
        return cls(found["latencies"], found["timeouts"], found["hits"])

    @property
    def all_latencies(self) -> list[float]:
        return [ms for values in self.latencies.values() for ms in values]

    @property
    def timed_out(self) -> int:
        return sum(1 for count in self.timeouts.values() if count)


@dataclass
class SearchRow:
    name: str
    documents: int = 0
    seed_seconds: float | None = None
    default: SearchRun | None = None
    analyzed: SearchRun | None = None
    """SQLite only, and only when the default plan timed out: the same queries after ANALYZE."""
    error: str | None = None


@dataclass
class CqrsResults:
    events: list[EventsRow] = field(default_factory=list)
    search: list[SearchRow] = field(default_factory=list)

    def row(self, name: str) -> EventsRow | None:
        return next((row for row in self.events if row.name == name), None)


def percentile(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def aims(results: CqrsResults) -> list[tuple[str, str, bool | None]]:
    """(aim, measured, met): faaskit ≥ 2x eventsourcing on (a), (b) and the projection."""
    from results import fmt_ratio, fmt_rps

    ours, theirs = results.row(FAASKIT), results.row(EVENTSOURCING)
    found: list[tuple[str, str, bool | None]] = []
    for workload, label in WORKLOADS.items():
        mine = ours.rate(workload) if ours else None
        base = theirs.rate(workload) if theirs else None
        ratio = mine / base if mine and base else None
        found.append(
            (
                f"{label.split(':')[0]}: faaskit ≥ {AIM_RATIO:g}x eventsourcing "
                f"(earlier: {REFERENCE[workload]} events/s)",
                f"{fmt_rps(mine)} vs {fmt_rps(base)} events/s = {fmt_ratio(ratio)}",
                None if ratio is None else ratio >= AIM_RATIO,
            )
        )
    return found
