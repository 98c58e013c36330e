"""What the CQRS section measured, and the issue's aims for it (met or not)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import results_aims

FAASKIT = "faaskit + SQLite"
EVENTSOURCING = "eventsourcing + SQLite"
EVENTSOURCING_FULL = "eventsourcing + SQLite, synchronous=FULL"
SEARCH_AIM = results_aims.SEARCH_RATIO
"""Search: every query kind's p50 within this many times tantivy's, in the same run."""
EVENT_AIMS = {
    "create": (results_aims.EVENTS_CREATE, results_aims.EVENT_STORE_RATIO),
    "batch": (results_aims.EVENTS_BATCH, results_aims.EVENT_STORE_RATIO),
    "projection": (results_aims.PROJECTION, results_aims.PROJECTION_RATIO),
}
"""Each workload's aim (issue 10's, the projection's kept from an earlier issue): faaskit at
least this many times eventsourcing's events/s."""
TANTIVY = "tantivy (in-memory index)"
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
    tantivy: SearchRun | None = None
    """The same queries on tantivy, in the same run (``search_tantivy``)."""
    index_seconds: float | None = None
    """tantivy only: indexing the documents."""
    first_ms: dict[str, float] = field(default_factory=dict)
    """faaskit only: the first query of each kind, before the run (it fills the typed
    columns of the fields it uses, once per collection and field)."""

    @classmethod
    def from_json(cls, found: dict[str, Any]) -> SearchRun:
        anchor = found.get("tantivy")
        return cls(
            found["latencies"],
            found["timeouts"],
            found["hits"],
            cls.from_json(anchor) if anchor else None,
            found.get("index_seconds"),
            found.get("first_ms", {}),
        )

    def p50(self, kind: str) -> float | None:
        return percentile(self.latencies.get(kind, []), 0.5)

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
    for workload, (aim, limit) in EVENT_AIMS.items():
        mine = ours.rate(workload) if ours else None
        base = theirs.rate(workload) if theirs else None
        ratio = mine / base if mine and base else None
        found.append(
            (
                aim.row,
                f"{fmt_rps(mine)} vs {fmt_rps(base)} events/s = {fmt_ratio(ratio)}",
                None if ratio is None else ratio >= limit,
            )
        )
    return found


def search_ratios(row: SearchRow) -> list[tuple[str, float | None, float | None, float | None]]:
    """(query kind, faaskit p50 ms, tantivy p50 ms, ratio) of a backend's default run."""
    run = row.default
    if run is None or run.tantivy is None:
        return []
    found = []
    for kind in run.latencies:
        mine, theirs = run.p50(kind), run.tantivy.p50(kind)
        found.append((kind, mine, theirs, mine / theirs if mine and theirs else None))
    return found


def search_aims(results: CqrsResults) -> list[tuple[str, str, bool | None]]:
    """(aim, measured, met) per backend: every query kind's p50 within SEARCH_AIM x
    tantivy's, the worst kind shown (each kind's ratio is in the section's ratio table). A
    kind that timed out, or has no ratio, fails the aim."""
    from results import fmt_ms, fmt_ratio

    found: list[tuple[str, str, bool | None]] = []
    for row in results.search:
        aim = results_aims.SEARCH_AIMS.get(row.name)
        ratios = search_ratios(row)
        if aim is None or not ratios or row.default is None:
            continue
        kinds = len(ratios)
        timed_out = row.default.timed_out
        missing = sum(1 for *_, ratio in ratios if ratio is None)
        known = [entry for entry in ratios if entry[3] is not None]
        worst = max(known, key=lambda entry: entry[3] or 0.0, default=None)
        parts = []
        if timed_out:
            parts.append(f"{timed_out} kind(s) timed out")
        if missing:
            parts.append(f"{missing} kind(s) without a ratio")
        if worst is not None:
            kind, mine, theirs, ratio = worst
            parts.append(
                f"worst of {kinds} kinds: {kind}, {fmt_ms(mine)} vs {fmt_ms(theirs)} ms "
                f"= {fmt_ratio(ratio)}"
            )
        met = not (timed_out or missing) and worst is not None and (worst[3] or 0.0) <= SEARCH_AIM
        found.append((aim.row, "; ".join(parts), met))
    return found
