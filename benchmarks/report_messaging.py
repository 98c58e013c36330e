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
        results.throughput,
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
    lines = ["## Messaging: publish → subscriber → ack", "", METHOD.rstrip(), ""]
    lines += ["### Throughput", "", *_throughput(m, table), ""]
    lines += ["### Publish-to-handler latency, idle worker", "", *_latency(m, table), ""]
    lines += ["### The machine's limit: the same rows, raw", "", *_raw(m, table), ""]
    lines += ["Aims of the issue:", ""]
    lines += table(
        ["aim", "measured", "verdict"],
        [[aim, measured, fmt_verdict(met)] for aim, measured, met in aims(m)],
    )
    return [*lines, ""]
