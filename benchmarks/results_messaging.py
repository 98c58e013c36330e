"""What the messaging section measured, and the issue's aims for it (met or not)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import results_aims

FAASKIT = "faaskit"
CELERY = "Celery"
RAW_SQLITE = "sqlite3 executemany"
RAW_PSYCOPG = "psycopg executemany"
RAW_COPY = "psycopg COPY"
REFERENCE_CELERY = 3.0
"""The aim: faaskit ≥ 3x Celery on Redis."""
PGQUEUER = "PgQueuer"
PGQUEUER_100 = "PgQueuer (batch_size=100)"
"""The contender of issue 10's PostgreSQL aim; the other PgQueuer row is at its default."""
AIM_PGQUEUER = results_aims.PGQUEUER_RATIO
"""Issue 10: faaskit + PostgreSQL end to end ≥ 2x PgQueuer (batch size 100), one worker each."""
AIM_CELERY_ONE_WORKER = results_aims.CELERY_ONE_WORKER_RATIO
"""Issue 10: ... and ≥ 5x Celery on Redis, one worker each."""


@dataclass
class ThroughputRow:
    """N messages published (no worker running), then drained by ``processes`` workers."""

    contender: str
    backend: str
    processes: int
    messages: int = 0
    publish_seconds: float | None = None
    consume_seconds: float | None = None
    """First to last handler run (handler timestamps): excludes process start-up."""
    handled: int | None = None
    note: str | None = None
    """Something that went wrong without spoiling the run (a worker that died)."""
    error: str | None = None
    round: int = 0
    """0: the sweep over worker processes; 1, 2, ...: a round of the one-worker
    head-to-head on PostgreSQL (faaskit, PgQueuer, Celery, order alternating per round)."""

    @property
    def name(self) -> str:
        return f"{self.contender} + {self.backend}"

    @property
    def published_per_s(self) -> float | None:
        return self.messages / self.publish_seconds if self.publish_seconds else None

    @property
    def consumed_per_s(self) -> float | None:
        return self.messages / self.consume_seconds if self.consume_seconds else None

    @property
    def end_to_end_per_s(self) -> float | None:
        if not (self.publish_seconds and self.consume_seconds):
            return None
        return self.messages / (self.publish_seconds + self.consume_seconds)


@dataclass
class LatencyRow:
    """Publish-to-handler latencies of one message at a time, to an idle worker."""

    name: str
    setup: str
    latencies_ms: list[float] = field(default_factory=list)
    error: str | None = None

    def percentile(self, q: float) -> float | None:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return None
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class RawRow:
    """The machine's limit: the same message rows inserted by the driver alone."""

    name: str
    method: str
    rows: int = 0
    seconds: float | None = None
    error: str | None = None

    @property
    def per_s(self) -> float | None:
        return self.rows / self.seconds if self.seconds else None


@dataclass
class MessagingResults:
    throughput: list[ThroughputRow] = field(default_factory=list)
    latency: list[LatencyRow] = field(default_factory=list)
    raw: list[RawRow] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    date: str = ""
    load_before: str = ""
    load_after: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    """Stamped by the run: a section measured alone (``--only messaging``) says when, under
    what load and with what it was measured."""

    @property
    def sweep(self) -> list[ThroughputRow]:
        return [r for r in self.throughput if r.round == 0]

    @property
    def rounds(self) -> list[ThroughputRow]:
        """The one-worker head-to-head on PostgreSQL, in the order it ran."""
        return [r for r in self.throughput if r.round > 0]

    def median_round(self, name: str) -> ThroughputRow | None:
        """The round of contender ``name`` (``ThroughputRow.name``) with the median
        end-to-end rate (the lower of the middle two for an even count)."""
        rows = sorted(
            (r for r in self.rounds if r.name == name and r.end_to_end_per_s),
            key=lambda r: r.end_to_end_per_s or 0.0,
        )
        return rows[(len(rows) - 1) // 2] if rows else None

    def best(self, contender: str, backend: str) -> ThroughputRow | None:
        rows = [
            r
            for r in self.throughput
            if r.contender == contender and r.backend == backend and r.end_to_end_per_s
        ]
        return max(rows, key=lambda r: r.end_to_end_per_s or 0.0, default=None)

    def celery(self, processes: int) -> ThroughputRow | None:
        return next(
            (r for r in self.sweep if r.contender == CELERY and r.processes == processes),
            None,
        )

    def raw_rate(self, name: str) -> float | None:
        row = next((r for r in self.raw if r.name == name), None)
        return row.per_s if row else None


def aims(results: MessagingResults) -> list[tuple[str, str, bool | None]]:
    """(aim, measured, met): SQLite vs its raw limit (issue 10's 12%, which restates the
    earlier 5% and its 25,000 msg/s estimate), faaskit vs Celery (best of each, an earlier
    issue's), and issue 10's one-worker aims on PostgreSQL."""
    from results import fmt_ratio, fmt_rps

    found: list[tuple[str, str, bool | None]] = []
    best = results.best(FAASKIT, "SQLite")
    ours = best.end_to_end_per_s if best else None
    where = f" ({best.processes} worker process(es))" if best else ""
    raw = results.raw_rate(RAW_SQLITE)
    share = ours / raw if ours and raw else None
    found.append(
        (
            results_aims.SQLITE_RAW.row,
            f"{fmt_rps(ours)} msg/s end-to-end{where} = "
            + (f"{share:.1%} of {fmt_rps(raw)} rows/s" if share is not None else "—"),
            None if share is None else share >= results_aims.SQLITE_RAW_SHARE,
        )
    )
    theirs_row = results.best(CELERY, "Redis")
    theirs = theirs_row.end_to_end_per_s if theirs_row else None
    for backend in ("SQLite", "PostgreSQL"):
        row = results.best(FAASKIT, backend)
        mine = row.end_to_end_per_s if row else None
        ratio = mine / theirs if mine and theirs else None
        found.append(
            (
                f"faaskit + {backend} ≥ {REFERENCE_CELERY:g}x Celery on Redis (best of each)",
                f"{fmt_rps(mine)} vs {fmt_rps(theirs)} msg/s end-to-end = {fmt_ratio(ratio)}",
                None if ratio is None else ratio >= REFERENCE_CELERY,
            )
        )
    if results.rounds:
        found += one_worker_aims(results)
    return found


def one_worker_aims(results: MessagingResults) -> list[tuple[str, str, bool | None]]:
    """Issue 10: faaskit + PostgreSQL end to end ≥ 2x PgQueuer (batch size 100) and ≥ 5x
    Celery on Redis, one worker each: medians of the interleaved rounds of one run."""
    from results import fmt_ratio, fmt_rps

    ours_row = results.median_round(f"{FAASKIT} + PostgreSQL")
    ours = ours_row.end_to_end_per_s if ours_row else None
    rounds = len({r.round for r in results.rounds})
    found: list[tuple[str, str, bool | None]] = []
    for name, aim, limit in (
        (f"{PGQUEUER_100} + PostgreSQL", results_aims.PGQUEUER, AIM_PGQUEUER),
        (f"{CELERY} + Redis", results_aims.CELERY_ONE_WORKER, AIM_CELERY_ONE_WORKER),
    ):
        row = results.median_round(name)
        theirs = row.end_to_end_per_s if row else None
        ratio = ours / theirs if ours and theirs else None
        found.append(
            (
                aim.row,
                f"{fmt_rps(ours)} vs {fmt_rps(theirs)} msg/s (median of {rounds} round(s)) = "
                f"{fmt_ratio(ratio)}",
                None if ratio is None else ratio >= limit,
            )
        )
    return found
