"""The messaging section of RESULTS.md."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from results import Results, fmt_ms, fmt_ratio, fmt_rps, fmt_verdict
from results_messaging import (
    CELERY,
    FAASKIT,
    RAW_COPY,
    RAW_PSYCOPG,
    RAW_SQLITE,
    MessagingResults,
    ThroughputRow,
    aims,
)

Table = Callable[[Sequence[str], Sequence[Sequence[str]]], list[str]]

METHOD = """\
- **faaskit** (`benchmarks/bench_apps.py`, app `messaging`): the subscriber inserts one
  document per message (its id, the time `ctx.publish` was called, the time the handler ran)
  in the unit of work that also acks the delivery, so handled + acked is one commit.
- **Throughput**, the same two phases for every contender: (1) publish N messages while no
  worker runs — faaskit: in this process, `Runtime.invoke` of a function that calls
  `ctx.publish` 100 times (one unit of work), 16 such invocations in flight; Celery:
  `.delay()` N times from one thread; (2) start the worker processes and let them drain the
  backlog — faaskit: `python -m faaskit worker bench_apps:messaging --concurrency 256`, one
  per worker process; Celery: `celery worker --pool prefork --concurrency <processes>`. **Drained**
  is N over first-to-last handler run (from the handlers' own timestamps: process start-up
  excluded). **End-to-end** is N / (publish seconds + drain seconds).
- **Celery's task**, the fair equivalent of the subscriber: one `RPUSH` of its publish and
  run times to a Redis list (its store write); `acks_late=True` (ack after the run,
  at-least-once like faaskit), no result backend, no heartbeat/mingle/gossip, log level
  WARNING, default prefetch (4 per process), broker = the local Redis.
- **PgQueuer** (`benchmarks/pgqueuer_side.py`), on PostgreSQL in a fresh schema of its own
  per run (`Queries.install()`, what `pgq install` runs): the same two phases — (1)
  `Queries.enqueue` of 100 jobs per call (its list form), 16 calls in flight on a psycopg pool
  of 10 (faaskit's default pool size) through its `PsycopgDriver`; (2) one worker process, one
  `QueueManager`, `run(batch_size=100)` or `run()` (its default), its other defaults (no
  `max_concurrent_tasks`), on uvloop as `pgq run` runs it (faaskit's worker runs on asyncio's
  own loop). The handler inserts one row — the job id as key, a `jsonb` of its publish and run
  times, like faaskit's handled document — in its own transaction on a psycopg pool of 10; a
  run is done when every row is written and every job is acked (gone from PgQueuer's queue
  table). The `QueueManager` runs on asyncpg (`AsyncpgDriver`), not psycopg: the LISTEN
  watcher of `PsycopgDriver` waits in psycopg's `notifies(timeout=1.0)`, which holds the
  connection's lock, so each dequeue and ack waits for a notification or the timeout (a smoke
  run drained ~210 msg/s at batch size 100 and ~21 at its default); asyncpg delivers
  notifications by callback and has no such wait.
- **PgQueuer does less per message than faaskit: its handler's write and its ack commit
  separately.** The ack is a later statement on the worker's connection, batched with other
  acks, so a crash between the two runs the handler again and its write happens twice unless
  the handler guards it; faaskit commits each handler's writes with its ack in one transaction
  (exactly-once effects on its own state). Publishing, PgQueuer writes one row per job; faaskit
  writes the outbox message and its delivery.
- **One worker on PostgreSQL, head to head**: rounds of faaskit + PostgreSQL, PgQueuer at
  batch size 100 and at its default, and Celery + Redis, one worker process each, in one
  order on odd rounds and the reverse on even rounds (a slow minute of this shared machine
  hurts every contender alike); each row is the round with the median end-to-end rate, and
  the aims divide those medians.
- **Latency**: one message per publishing invocation (Celery: one `.delay()`), 20-60 ms
  apart, to one worker process that idle-waits (the gaps are far longer than a message
  takes, so every message finds the worker idle); latency = handler start - the moment
  `publish` was called, both `time.time()` on this machine. A first message is handled and
  discarded before the samples (the worker is up and warm). "worker in the publishing
  process" is how `faaskit dev` runs a worker (in-process wake-up, no polling).
- **Raw limit**: the same outbox rows (`faaskit_messages`, faaskit's own schema and
  indexes, JSON text as faaskit writes it) inserted by the driver alone in one transaction:
  Python's `sqlite3` `executemany` (WAL, synchronous=NORMAL); `psycopg` `executemany`
  (pipelined) and `COPY` into a fresh schema. "vs raw" divides end-to-end messages/s by
  these rows/s (a message costs faaskit more rows than that: outbox, delivery, the
  handler's document, the ack).
- **Durability**: faaskit on SQLite: WAL + `synchronous=NORMAL` (its default: a commit
  survives a process crash, not a power loss); PostgreSQL: `synchronous_commit=on`, one
  transaction per unit of work; Celery: as durable as Redis's persistence (see Machine:
  with `appendonly=no` and no `save`, a Redis restart loses every queued task, so faaskit
  does strictly more durable work per message than Celery here).
- 2 cores: more worker processes than cores (4) share them with the database and Redis.
"""


def _vs_raw(row: ThroughputRow, results: MessagingResults) -> str:
    name = {"SQLite": RAW_SQLITE, "PostgreSQL": RAW_PSYCOPG}.get(row.backend)
    raw = results.raw_rate(name) if name else None
    ours = row.end_to_end_per_s
    return f"{ours / raw:.1%}" if ours and raw else "—"


def _vs_celery(row: ThroughputRow, results: MessagingResults) -> str:
    celery = results.celery(row.processes)
    theirs = celery.end_to_end_per_s if celery else None
    ours = row.end_to_end_per_s
    if row.contender == CELERY:
        return "1.00x" if ours else "—"
    return fmt_ratio(ours / theirs if ours and theirs else None)


def _throughput(results: MessagingResults, table: Table) -> list[str]:
    rows = []
    backends = {"SQLite": 0, "PostgreSQL": 1}
    for row in sorted(
        results.sweep,
        key=lambda r: (r.contender != FAASKIT, backends.get(r.backend, 2), r.processes),
    ):
        rows.append(
            [
                row.name,
                str(row.processes),
                f"{row.messages:,}",
                fmt_rps(row.published_per_s),
                fmt_rps(row.consumed_per_s),
                f"**{fmt_rps(row.end_to_end_per_s)}**" if row.end_to_end_per_s else "—",
                _vs_raw(row, results),
                _vs_celery(row, results),
                row.error or row.note or "",
            ]
        )
    return table(
        [
            "contender",
            "worker processes",
            "messages",
            "published msg/s",
            "drained msg/s",
            "end-to-end msg/s",
            "vs raw executemany",
            "vs Celery (same processes)",
            "error or note",
        ],
        rows,
    )


def _contenders(results: MessagingResults) -> list[str]:
    """The head-to-head's contenders (``ThroughputRow.name``) in the order they first ran."""
    return list(dict.fromkeys(row.name for row in results.rounds))


def _head_to_head(results: MessagingResults, table: Table) -> list[str]:
    """The median round of each contender, every round's end-to-end rate beside it."""
    faaskit = results.median_round(f"{FAASKIT} + PostgreSQL")
    ours = faaskit.end_to_end_per_s if faaskit else None
    rows = []
    for name in _contenders(results):
        median = results.median_round(name)
        every = [r for r in results.rounds if r.name == name]
        theirs = median.end_to_end_per_s if median else None
        failed = next((r.error or r.note for r in every if r.error or r.note), "")
        rows.append(
            [
                name,
                f"{median.messages:,}" if median else "—",
                fmt_rps(median.published_per_s if median else None),
                fmt_rps(median.consumed_per_s if median else None),
                f"**{fmt_rps(theirs)}**" if theirs else "—",
                " / ".join(
                    f"#{r.round} {fmt_rps(r.end_to_end_per_s)}" if r.end_to_end_per_s else "failed"
                    for r in every
                ),
                _vs_raw(median, results) if median else "—",
                fmt_ratio(ours / theirs if ours and theirs else None),
                failed or "",
            ]
        )
    return table(
        [
            "contender (one worker process)",
            "messages",
            "published msg/s",
            "drained msg/s",
            "end-to-end msg/s",
            "rounds end-to-end msg/s",
            "vs raw executemany",
            "faaskit ÷ this (end to end)",
            "error or note",
        ],
        rows,
    )


def _latency(results: MessagingResults, table: Table) -> list[str]:
    rows = [
        [
            row.name,
            row.setup,
            str(len(row.latencies_ms)),
            fmt_ms(row.percentile(0.5)),
            fmt_ms(row.percentile(0.99)),
            fmt_ms(max(row.latencies_ms) if row.latencies_ms else None),
            row.error or "",
        ]
        for row in results.latency
    ]
    return table(["contender", "worker", "samples", "p50 ms", "p99 ms", "max ms", "error"], rows)


def _raw(results: MessagingResults, table: Table) -> list[str]:
    order = {RAW_SQLITE: 0, RAW_PSYCOPG: 1, RAW_COPY: 2}
    rows = [
        [row.name, row.method, f"{row.rows:,}", fmt_rps(row.per_s), row.error or ""]
        for row in sorted(results.raw, key=lambda r: order.get(r.name, 9))
    ]
    return table(["driver", "how", "rows", "rows/s", "error"], rows)


def section(results: Results, table: Table) -> list[str]:
    m = results.messaging
    lines = ["## Messaging: publish → subscriber → ack", ""]
    if m.date:
        versions = ", ".join(f"{name} {version}" for name, version in m.versions.items())
        lines += [
            f"Measured {m.date}; load average before {m.load_before}, after {m.load_after}; "
            f"{versions}.",
            "",
        ]
    lines += [METHOD.rstrip(), ""]
    lines += ["### Throughput", "", *_throughput(m, table), ""]
    if m.rounds:
        rounds = len({r.round for r in m.rounds})
        lines += [
            f"### One worker on PostgreSQL: faaskit vs PgQueuer, {rounds} interleaved rounds",
            "",
            *_head_to_head(m, table),
            "",
        ]
    lines += ["### Publish-to-handler latency, idle worker", "", *_latency(m, table), ""]
    lines += ["### The machine's limit: the same rows, raw", "", *_raw(m, table), ""]
    lines += ["Aims of the issue:", ""]
    lines += table(
        ["aim", "measured", "verdict"],
        [[aim, measured, fmt_verdict(met)] for aim, measured, met in aims(m)],
    )
    return [*lines, ""]
