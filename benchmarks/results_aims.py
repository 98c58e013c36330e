"""Issue 10's aims: each a ratio of two things measured in the same run, with its limit,
its words and the section of RESULTS.md whose verdict table holds its row.

One source for both places an aim is shown: the section renderers write a verdict row whose
aim cell is ``Aim.row``, and the summary at the top of RESULTS.md (``report_aims``) finds
each aim's row by that exact cell, so the two cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass

ISSUE = "issue 10"


@dataclass(frozen=True)
class Aim:
    words: str
    """The aim, as the summary shows it."""
    section: str
    """Where its verdict row is (the summary's last column)."""
    earlier: bool = False
    """An earlier issue's aim that issue 10 says must not fall."""

    @property
    def row(self) -> str:
        """The aim cell of its verdict row in its section."""
        tag = f"{ISSUE}: an earlier aim, kept" if self.earlier else ISSUE
        return f"{self.words} ({tag})"

    @property
    def summary(self) -> str:
        return f"{self.words} (an earlier issue's aim)" if self.earlier else self.words


SQLITE_RAW_SHARE = 0.12
PGQUEUER_RATIO = 2.0
CELERY_ONE_WORKER_RATIO = 5.0
EVENT_STORE_RATIO = 2.0
SEARCH_RATIO = 15.0
IMPORT_RATIO = 0.8
STARTUP_RATIO = 1.2
HELLO_RATIO = 0.9
PROJECTION_RATIO = 2.0

MESSAGING = "Messaging"
CQRS = "CQRS"
SEARCH = "CQRS: search"

SQLITE_RAW = Aim(
    f"faaskit + SQLite messaging end to end ≥ {SQLITE_RAW_SHARE:.0%} of raw `executemany` "
    "inserts/s (best worker-process count)",
    MESSAGING,
)
PGQUEUER = Aim(
    f"faaskit + PostgreSQL messaging end to end ≥ {PGQUEUER_RATIO:g}x PgQueuer (batch size "
    "100), one worker each (median of interleaved rounds)",
    MESSAGING,
)
CELERY_ONE_WORKER = Aim(
    f"faaskit + PostgreSQL messaging end to end ≥ {CELERY_ONE_WORKER_RATIO:g}x Celery on "
    "Redis, one worker each (median of interleaved rounds)",
    MESSAGING,
)
EVENTS_CREATE = Aim(
    f"event store (a) new aggregates, one event each: faaskit ≥ {EVENT_STORE_RATIO:g}x "
    "eventsourcing",
    CQRS,
)
EVENTS_BATCH = Aim(
    f"event store (b) one aggregate, saves of 100 events: faaskit ≥ {EVENT_STORE_RATIO:g}x "
    "eventsourcing",
    CQRS,
)
PROJECTION = Aim(f"projection: faaskit ≥ {PROJECTION_RATIO:g}x eventsourcing", CQRS, earlier=True)
SEARCH_BACKENDS = ("faaskit + SQLite", "faaskit + PostgreSQL")
"""Search's aim holds on both backends: one row each (``SearchRow.name``)."""
SEARCH_AIMS = {
    backend: Aim(
        f"search on {backend.removeprefix('faaskit + ')}: every query kind's p50 "
        f"≤ {SEARCH_RATIO:g}x tantivy's (the worst kind shown)",
        SEARCH,
    )
    for backend in SEARCH_BACKENDS
}
IMPORT = Aim(
    f"`import faaskit` ≤ {IMPORT_RATIO:g}x `import aws_lambda_powertools` "
    "(-X importtime / wall time)",
    "Import time",
)
STARTUP = Aim(
    f"faaskit start (process spawn → first 200) ≤ {STARTUP_RATIO:g}x bare Starlette",
    "Start-up",
)
HELLO = Aim(f"hello: faaskit req/s ≥ {HELLO_RATIO:g}x bare Starlette's", "Hello", earlier=True)

ALL = (
    SQLITE_RAW,
    PGQUEUER,
    CELERY_ONE_WORKER,
    EVENTS_CREATE,
    EVENTS_BATCH,
    *SEARCH_AIMS.values(),
    IMPORT,
    STARTUP,
    HELLO,
    PROJECTION,
)
"""In the order of the issue: its new aims, then the earlier ones that must not fall."""
