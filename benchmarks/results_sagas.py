"""What the sagas section measured (faaskit vs DBOS Transact, a 4-step saga of trivial
steps on SQLite and PostgreSQL), and the issue's aims for it (met or not)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

FAASKIT = "faaskit"
DBOS = "DBOS Transact"
CONTENDERS = (FAASKIT, DBOS)
SQLITE = "SQLite"
POSTGRES = "PostgreSQL"
BACKENDS = (SQLITE, POSTGRES)
REFERENCE = {  # DBOS 3.4.0 measured here earlier (the issue), one thread
    (SQLITE, "per_s"): "50",
    (SQLITE, "p50"): "19",
    (SQLITE, "p99"): "54",
    (POSTGRES, "per_s"): "46",
}
REFERENCE_IMPORT_MS = 945
AIM_RATIO = 5.0
"""faaskit at least 5x DBOS's sagas/s on the same backend."""
AIM_IMPORT_SHARE = 0.1
"""faaskit's import at most a tenth of DBOS's."""


def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Run:
    """One child process of one contender on one backend (one round)."""

    sequential_sagas: int
    sequential_seconds: float
    latencies_ms: list[float]
    sequential_counts: dict[str, int]
    inflight_sagas: int
    inflight_seconds: float
    inflight_counts: dict[str, int]
    xact_commit: int | None = None
    """pg_stat_database.xact_commit delta of the run's own database (whole child)."""
    sagas_total: int = 0

    @classmethod
    def from_json(cls, found: dict[str, Any], warmup: int) -> Run:
        seq, many = found["sequential"], found["inflight"]
        return cls(
            seq["sagas"],
            seq["seconds"],
            seq["latencies_ms"],
            seq["counts"],
            many["sagas"],
            many["seconds"],
            many["counts"],
            sagas_total=warmup + seq["sagas"] + many["sagas"],
        )


@dataclass
class Row:
    """One contender on one backend: every round's run."""

    contender: str
    backend: str
    runs: list[Run] = field(default_factory=list)
    baseline_xact: int | None = None
    """xact_commit of a child that starts, runs no saga and stops (PostgreSQL)."""
    statuses: dict[str, int] = field(default_factory=dict)
    error: str | None = None

    @property
    def name(self) -> str:
        return f"{self.contender} + {self.backend}"

    def _median(self, values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    @property
    def sequential_rates(self) -> list[float]:
        return [r.sequential_sagas / r.sequential_seconds for r in self.runs]

    @property
    def inflight_rates(self) -> list[float]:
        return [r.inflight_sagas / r.inflight_seconds for r in self.runs]

    @property
    def sequential_per_s(self) -> float | None:
        return self._median(self.sequential_rates)

    @property
    def inflight_per_s(self) -> float | None:
        return self._median(self.inflight_rates)

    @property
    def latencies_ms(self) -> list[float]:
        return [value for run in self.runs for value in run.latencies_ms]

    def latency(self, share: float) -> float | None:
        return percentile(self.latencies_ms, share)

    def counts(self, phase: str) -> dict[str, float]:
        """Per saga: every counter of ``phase`` ("sequential" or "inflight"), all rounds."""
        totals: dict[str, float] = {}
        sagas = 0
        for run in self.runs:
            counts = run.sequential_counts if phase == "sequential" else run.inflight_counts
            sagas += run.sequential_sagas if phase == "sequential" else run.inflight_sagas
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
        return {key: value / sagas for key, value in totals.items()} if sagas else {}

    def commits(self, phase: str) -> float | None:
        """Transactions committed per saga, counted in the process: faaskit's store writes
        (each its own transaction on PostgreSQL) or SQLite's group-commit transactions;
        DBOS's SQLAlchemy commits."""
        counts = self.counts(phase)
        if not counts:
            return None
        if self.contender == DBOS:
            return counts.get("commit", 0.0)
        if self.backend == SQLITE:
            return counts.get("sqlite transactions", 0.0)
        return writes(counts)

    def units(self, phase: str) -> float | None:
        """faaskit's writing store calls per saga (units of work, claims, retries...),
        before SQLite's group commit merges them; DBOS: its commits."""
        counts = self.counts(phase)
        if not counts:
            return None
        return writes(counts) if self.contender == FAASKIT else counts.get("commit", 0.0)

    @property
    def xact_per_saga(self) -> float | None:
        """(run's xact_commit - the idle child's) / sagas the run ran, median of rounds."""
        if self.baseline_xact is None:
            return None
        found = [
            (run.xact_commit - self.baseline_xact) / run.sagas_total
            for run in self.runs
            if run.xact_commit is not None and run.sagas_total
        ]
        return self._median(found)


def writes(counts: dict[str, float]) -> float:
    names = ("commit", "claim", "claim_delivery", "retry", "release", "dead_letter")
    return sum(counts.get(name, 0.0) for name in names)


@dataclass
class ImportRow:
    name: str
    statement: str
    samples_ms: list[float] = field(default_factory=list)
    error: str | None = None

    @property
    def median_ms(self) -> float | None:
        return statistics.median(self.samples_ms) if self.samples_ms else None


@dataclass
class SagaResults:
    rows: list[Row] = field(default_factory=list)
    imports: list[ImportRow] = field(default_factory=list)
    rounds: int = 0
    warmup: int = 0
    sequential: int = 0
    inflight: int = 0
    date: str = ""
    machine: str = ""
    load_before: str = ""
    load_after: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def row(self, contender: str, backend: str) -> Row | None:
        return next(
            (r for r in self.rows if r.contender == contender and r.backend == backend), None
        )

    def import_row(self, name: str) -> ImportRow | None:
        return next((r for r in self.imports if r.name == name), None)

    def ratio(self, backend: str, what: str) -> float | None:
        """faaskit / DBOS of ``what`` ("sequential" or "inflight" sagas/s), the median of
        the per-round ratios (each round ran both, back to back)."""
        ours, theirs = self.row(FAASKIT, backend), self.row(DBOS, backend)
        if ours is None or theirs is None:
            return None
        a, b = (getattr(row, f"{what}_rates") for row in (ours, theirs))
        pairs = [x / y for x, y in zip(a, b, strict=False) if y]
        return statistics.median(pairs) if pairs else None

    def import_share(self) -> float | None:
        ours, theirs = self.import_row(FAASKIT), self.import_row(DBOS)
        if ours is None or theirs is None or not ours.median_ms or not theirs.median_ms:
            return None
        return ours.median_ms / theirs.median_ms


def aims(found: SagaResults) -> list[tuple[str, str, bool | None]]:
    """(aim, measured, met)."""
    from results import fmt_ratio

    rows: list[tuple[str, str, bool | None]] = []
    for backend in BACKENDS:
        ours, theirs = found.row(FAASKIT, backend), found.row(DBOS, backend)
        for what, label in (("sequential", "one at a time"), ("inflight", "many in flight")):
            ratio = found.ratio(backend, what)
            a = getattr(ours, f"{what}_per_s") if ours else None
            b = getattr(theirs, f"{what}_per_s") if theirs else None
            informational = "" if what == "sequential" else " (informational)"
            rows.append(
                (
                    f"{backend}, {label}: faaskit ≥ {AIM_RATIO:.0f}x DBOS sagas/s{informational}",
                    f"{_n(a)} vs {_n(b)} /s = {fmt_ratio(ratio)}",
                    None if ratio is None else ratio >= AIM_RATIO,
                )
            )
        for what, label in (("sequential", "one at a time"), ("inflight", "many in flight")):
            a = ours.commits(what) if ours else None
            b = theirs.commits(what) if theirs else None
            rows.append(
                (
                    f"{backend}, {label}: fewer commits per saga than DBOS",
                    f"{_f(a)} vs {_f(b)}",
                    None if a is None or b is None else a < b,
                )
            )
    share = found.import_share()
    ours_import, theirs_import = found.import_row(FAASKIT), found.import_row(DBOS)
    rows.append(
        (
            f"import ≤ {AIM_IMPORT_SHARE:.0%} of `import dbos`",
            f"{_f(ours_import.median_ms if ours_import else None, 0)} vs "
            f"{_f(theirs_import.median_ms if theirs_import else None, 0)} ms = "
            f"{'—' if share is None else f'{share:.0%}'}",
            None if share is None else share <= AIM_IMPORT_SHARE,
        )
    )
    return rows


def _n(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _f(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
