"""Durable messaging: faaskit's worker on SQLite and PostgreSQL, Celery on Redis, PgQueuer on
PostgreSQL, and the raw insert rate of the same rows (the machine's limit).

Throughput (for every contender the same two phases):

1. publish N messages with no worker running — faaskit: invocations of ``bench_apps`` that
   publish 100 messages each, 16 at a time, in this process; Celery: ``.delay()`` N times;
   PgQueuer: ``Queries.enqueue`` of 100 jobs per call, 16 calls at a time;
2. start the worker processes and let them drain the backlog. Each handler records when it
   ran, so the drain time is first to last handler run (process start-up excluded).

One worker on PostgreSQL, head to head: rounds of faaskit, PgQueuer (batch size 100 and its
default) and Celery, one worker process each, their order reversed every other round so a
slow minute of the shared machine hurts every contender alike (``head_to_head``).

Latency: one message at a time (20-60 ms apart, far slower than the worker handles them) to
a worker that idle-waits; the handler's run time minus the time ``publish`` was called.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import bench_apps
import stores
from results_messaging import (
    CELERY,
    FAASKIT,
    PGQUEUER,
    PGQUEUER_100,
    RAW_COPY,
    RAW_PSYCOPG,
    RAW_SQLITE,
    LatencyRow,
    RawRow,
    ThroughputRow,
)

HERE = Path(__file__).resolve().parent
DISTRIBUTIONS = ("psycopg", "psycopg-pool", "pgqueuer", "celery", "kombu", "redis")
"""The versions the section states (beside Python and the faaskit commit)."""
BATCH = 100
"""Messages published by one invocation."""
PUBLISHERS = 16
"""Publishing invocations in flight at once (they share group commits on SQLite)."""
WORKER_CONCURRENCY = 256
APP = "bench_apps:messaging"
DEADLINE = 180.0
"""Seconds a drain may take before the run is called failed."""


# --- faaskit ------------------------------------------------------------------------------


def _runtime(url: str, home: Path, *, worker: bool = False) -> Any:
    from faaskit.config import Settings
    from faaskit.runtime.runtime import Runtime

    runtime = Runtime(
        bench_apps.messaging, Settings.load(database_url=url, data_dir=home, log_level="WARNING")
    )
    if worker:  # what `faaskit dev` does: the worker shares the process and its event loop
        from faaskit.runtime.worker import Worker

        runtime.add_service(Worker(runtime, concurrency=WORKER_CONCURRENCY).run)
    return runtime


async def _publish(runtime: Any, count: int, first: int) -> None:
    ctx = runtime.context("publish", f"publish-{first}-{time.monotonic_ns()}")
    arguments = {"ctx": ctx, "count": count, "first": first}
    await runtime.invoke(ctx, bench_apps.publish_batch, arguments, _nothing)


async def publish(url: str, home: Path, messages: int) -> float:
    """Seconds to publish ``messages`` in invocations of BATCH, PUBLISHERS at a time."""
    runtime = _runtime(url, home)
    await runtime.start()
    try:
        slots = asyncio.Semaphore(PUBLISHERS)

        async def one(first: int) -> None:
            async with slots:
                await _publish(runtime, min(BATCH, messages - first), first)

        started = time.perf_counter()
        await asyncio.gather(*(one(first) for first in range(0, messages, BATCH)))
        return time.perf_counter() - started
    finally:
        await runtime.stop()


@contextmanager
def faaskit_workers(
    url: str, processes: int, workdir: Path, *, log_level: str = "WARNING"
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``processes`` runs of ``python -m faaskit worker bench_apps:messaging``, stopped
    with SIGTERM (graceful) at the end."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAASKIT_")}
    env.update(FAASKIT_LOG_LEVEL=log_level, FAASKIT_HOME=str(workdir / "home"))
    command = [sys.executable, "-m", "faaskit", "worker", APP, "--database-url", url]
    command += ["--concurrency", str(WORKER_CONCURRENCY)]
    started = []
    try:
        for index in range(processes):
            with (workdir / f"worker-{index}.log").open("wb") as log:
                started.append(subprocess.Popen(command, cwd=HERE, env=env, stdout=log, stderr=log))
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _check_alive(processes: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    """Raise when a worker died (its log's last line says why)."""
    died = _deaths(processes, workdir)
    if died:
        raise RuntimeError(died[0])


def _deaths(processes: list[subprocess.Popen[bytes]], workdir: Path) -> list[str]:
    found = []
    for index, process in enumerate(processes):
        if process.poll() is not None:
            log = (workdir / f"worker-{index}.log").read_text(errors="replace")
            found.append(f"worker {index} exited with {process.returncode}: {_cause(log)}")
    return found


def _cause(log: str) -> str:
    """The exception line of a traceback (else the last line) of a worker's log."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.partition(": ")[0]
        if " " not in head and head.endswith(("Error", "Exception", "Detected")):
            return line
    return lines[-1] if lines else "no output"


def _check_some_alive(processes: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    """A throughput run goes on while one worker lives (the row notes the others)."""
    died = _deaths(processes, workdir)
    if len(died) == len(processes):
        raise RuntimeError(died[0])


def _wait_handled(db: stores.Database, count: int, check: Any, deadline: float) -> int:
    """Poll the store until ``count`` messages are handled; how many were."""
    ends = time.monotonic() + deadline
    while True:
        done = db.documents("handled")
        if done >= count:
            return done
        check()
        if time.monotonic() > ends:
            raise RuntimeError(f"only {done:,} of {count:,} handled within {deadline:.0f} s")
        time.sleep(0.05)


def faaskit_throughput(
    db: stores.Database, processes: int, messages: int, workdir: Path
) -> ThroughputRow:
    row = ThroughputRow(FAASKIT, db.kind, processes, messages)
    workdir.mkdir(parents=True, exist_ok=True)
    row.publish_seconds = asyncio.run(publish(db.url, workdir / "home", messages))
    with faaskit_workers(db.url, processes, workdir) as workers:
        alive = lambda: _check_some_alive(workers, workdir)  # noqa: E731
        row.handled = _wait_handled(db, messages, alive, DEADLINE)
        died = _deaths(workers, workdir)
    if died:
        row.note = f"{len(died)} of {processes} worker(s) died, the rest drained: {died[0]}"
    handled = db.number("handled")
    first, last = db.query(
        f"SELECT min({handled}), max({handled}) FROM faaskit_documents WHERE collection = ?",
        ("handled",),
    )[0]
    row.consume_seconds = float(last) - float(first)
    left = db.scalar("SELECT count(*) FROM faaskit_deliveries")
    if left:
        raise RuntimeError(f"{left} deliveries left after every message was handled")
    return row


async def _probe(runtime: Any, samples: int, rng: random.Random) -> None:
    """One message per invocation, ``samples`` times, 20-60 ms apart (open loop)."""
    for index in range(samples):
        await _publish(runtime, 1, index)
        await asyncio.sleep(rng.uniform(0.02, 0.06))


def _latencies(db: stores.Database, skip: int) -> list[float]:
    published, handled = db.number("published"), db.number("handled")
    rows = db.query(
        f"SELECT {published}, {handled} FROM faaskit_documents WHERE collection = ?"
        f" ORDER BY {published}",
        ("handled",),
    )
    return [(float(h) - float(p)) * 1e3 for p, h in rows[skip:]]


async def _warm_up(runtime: Any, db: stores.Database, check: Any) -> None:
    """One message handled end to end, then a pause: the worker is up and idle."""
    await _publish(runtime, 1, -1)
    await asyncio.to_thread(_wait_handled, db, 1, check, 60.0)
    await asyncio.sleep(1.5)


async def _latency_run(
    db: stores.Database, workdir: Path, samples: int, in_process: bool, check: Any
) -> list[float]:
    runtime = _runtime(db.url, workdir / "home", worker=in_process)
    await runtime.start()
    try:
        await _warm_up(runtime, db, check)
        await _probe(runtime, samples, random.Random(11))
        await asyncio.to_thread(_wait_handled, db, samples + 1, check, 60.0)
    finally:
        await runtime.stop()
    return _latencies(db, skip=1)


def faaskit_latency(
    db: stores.Database, workdir: Path, samples: int, *, in_process: bool
) -> LatencyRow:
    workdir.mkdir(parents=True, exist_ok=True)
    if in_process:
        row = LatencyRow(
            f"faaskit + {db.kind}",
            "worker in the publishing process (as `faaskit dev` runs it)",
        )
        row.latencies_ms = asyncio.run(_latency_run(db, workdir, samples, True, _nothing))
        return row
    row = LatencyRow(f"faaskit + {db.kind}", "one `faaskit worker` process")
    with faaskit_workers(db.url, 1, workdir) as workers:
        check = lambda: _check_alive(workers, workdir)  # noqa: E731
        row.latencies_ms = asyncio.run(_latency_run(db, workdir, samples, False, check))
    return row


def _nothing(*_: Any) -> None:
    return None


# --- Celery -------------------------------------------------------------------------------


def _celery_wait(lane: Any, count: int, process: subprocess.Popen[bytes], log: Path) -> None:
    ends = time.monotonic() + DEADLINE
    while lane.handled() < count:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"celery worker exited with {process.returncode}: {tail}")
        if time.monotonic() > ends:
            raise RuntimeError(f"only {lane.handled():,} of {count:,} tasks ran in time")
        time.sleep(0.05)


def celery_throughput(processes: int, messages: int, workdir: Path) -> ThroughputRow:
    import celery_side

    row = ThroughputRow(CELERY, "Redis", processes, messages)
    workdir.mkdir(parents=True, exist_ok=True)
    lane = celery_side.Lane.new()
    log = workdir / f"celery-{processes}.log"
    try:
        started = time.perf_counter()
        lane.publish(messages)
        row.publish_seconds = time.perf_counter() - started
        with celery_side.worker(lane, processes, log) as process:
            _celery_wait(lane, messages, process, log)
        handled = [h for _, h in lane.timestamps()]
        row.handled = len(handled)
        row.consume_seconds = max(handled) - min(handled)
    finally:
        lane.clean()
    return row


def celery_latency(workdir: Path, samples: int) -> LatencyRow:
    import celery_side

    row = LatencyRow("Celery + Redis", "one prefork worker process (`-c 1`)")
    workdir.mkdir(parents=True, exist_ok=True)
    lane = celery_side.Lane.new()
    log = workdir / "celery-latency.log"
    rng = random.Random(11)
    try:
        with celery_side.worker(lane, 1, log) as process:
            lane.publish(1)  # warm-up: the worker is up
            _celery_wait(lane, 1, process, log)
            time.sleep(1.5)
            for _ in range(samples):
                lane.publish(1)
                time.sleep(rng.uniform(0.02, 0.06))
            _celery_wait(lane, samples + 1, process, log)
        pairs = sorted(lane.timestamps())[1:]
        row.latencies_ms = [(handled - published) * 1e3 for published, handled in pairs]
    finally:
        lane.clean()
    return row


# --- PgQueuer -----------------------------------------------------------------------------


def pgqueuer_name(batch_size: int | None) -> str:
    """The contender's name: ``PGQUEUER_100``, or its default batch size said as such."""
    if batch_size == 100:
        return PGQUEUER_100
    import pgqueuer_side

    return f"{PGQUEUER} (batch_size={pgqueuer_side.default_batch_size()}, its default)"


def pgqueuer_throughput(
    db: stores.Database, batch_size: int | None, messages: int, workdir: Path
) -> ThroughputRow:
    """faaskit's two phases for PgQueuer: enqueue ``messages`` with no worker, then one
    worker (``pgqueuer_side.py``, ``batch_size`` or its default) drains them; drain time
    from the handlers' own timestamps, as for faaskit. Done when every job's row is written
    and every job is acked (gone from PgQueuer's queue table)."""
    import pgqueuer_side

    row = ThroughputRow(pgqueuer_name(batch_size), db.kind, 1, messages)
    if not pgqueuer_side.ASYNCPG:
        row.note = f"QueueManager on {pgqueuer_side.worker_driver()}"
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(pgqueuer_side.install(db.url))
    row.publish_seconds = asyncio.run(pgqueuer_side.publish(db.url, messages, BATCH, PUBLISHERS))
    log = workdir / "pgqueuer-worker.log"
    table = pgqueuer_side.TABLE
    with pgqueuer_side.worker(db.url, batch_size, log) as process:
        check = functools.partial(_check_child, process, log, "pgqueuer worker")
        row.handled = _wait_rows(db, f"SELECT count(*) FROM {table}", messages, check)
        queue = f"SELECT count(*) FROM {pgqueuer_side.QUEUE_TABLE}"
        ends = time.monotonic() + 30
        while (left := int(db.scalar(queue))) and time.monotonic() < ends:
            check()
            time.sleep(0.05)
    if left:
        raise RuntimeError(f"{left} jobs not acked 30 s after every handler ran")
    first, last = db.query(
        f"SELECT min((data->>'handled')::float8), max((data->>'handled')::float8) FROM {table}"
    )[0]
    row.consume_seconds = float(last) - float(first)
    return row


def _check_child(process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    if process.poll() is not None:
        tail = log.read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{what} exited with {process.returncode}: {tail}")


def _wait_rows(db: stores.Database, sql: str, count: int, check: Callable[[], None]) -> int:
    """Poll ``sql`` (a count) until it reaches ``count``; the count."""
    ends = time.monotonic() + DEADLINE
    while (done := int(db.scalar(sql))) < count:
        check()
        if time.monotonic() > ends:
            raise RuntimeError(f"only {done:,} of {count:,} handled within {DEADLINE:.0f} s")
        time.sleep(0.05)
    return done


# --- one worker on PostgreSQL, head to head -----------------------------------------------

PGQUEUER_BATCH_SIZES: tuple[int | None, ...] = (100, None)
"""Batch size 100 (the aim's) and PgQueuer's default (``None``: not passed)."""
HEAD_TO_HEAD = 2 + len(PGQUEUER_BATCH_SIZES)
"""Runs per round: faaskit + PostgreSQL, each PgQueuer batch size, Celery."""


def head_to_head(
    url: str, round_: int, messages: int, celery_messages: int, workdir: Path
) -> list[tuple[ThroughputRow, Callable[[], ThroughputRow]]]:
    """Round ``round_`` (from 1): (the row to record if it fails, the measurement) per
    contender, one worker each, every PostgreSQL run in a fresh schema; reversed order on
    even rounds."""

    def faaskit_run() -> ThroughputRow:
        with stores.postgres(url) as db:
            return faaskit_throughput(db, 1, messages, workdir / f"faaskit-{round_}")

    def pgqueuer_run(batch_size: int | None) -> ThroughputRow:
        with stores.postgres(url) as db:
            folder = workdir / f"pgqueuer-{batch_size or 'default'}-{round_}"
            return pgqueuer_throughput(db, batch_size, messages, folder)

    def celery_run() -> ThroughputRow:
        return celery_throughput(1, celery_messages, workdir / f"celery-{round_}")

    runs: list[tuple[ThroughputRow, Callable[[], ThroughputRow]]] = [
        (ThroughputRow(FAASKIT, stores.POSTGRES, 1, messages), faaskit_run)
    ]
    for size in PGQUEUER_BATCH_SIZES:
        failed = ThroughputRow(pgqueuer_name(size), stores.POSTGRES, 1, messages)
        runs.append((failed, functools.partial(pgqueuer_run, size)))
    runs.append((ThroughputRow(CELERY, "Redis", 1, celery_messages), celery_run))

    def in_round(
        failed: ThroughputRow, measure: Callable[[], ThroughputRow]
    ) -> tuple[ThroughputRow, Callable[[], ThroughputRow]]:
        def measured() -> ThroughputRow:
            row = measure()
            row.round = round_
            return row

        failed.round = round_
        return failed, measured

    ordered = runs if round_ % 2 == 1 else runs[::-1]
    return [in_round(failed, measure) for failed, measure in ordered]


# --- the machine's limit ------------------------------------------------------------------

_COLUMNS = "id, topic, key, data, headers, correlation_id, causation_id, published_at, expires_at"
_INSERT = f"INSERT INTO faaskit_messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"


def message_rows(count: int) -> list[tuple[Any, ...]]:
    """Rows as faaskit's outbox stores a published message (JSON text for data)."""
    now = time.time()
    return [
        (
            f"{index:032x}",
            bench_apps.TOPIC,
            None,
            f'{{"n":{index},"published":{now}}}',
            "{}",
            "publish-1",
            "publish-1",
            now,
            None,
        )
        for index in range(count)
    ]


def _schema(kind: str) -> str:
    import faaskit.store

    name = "sqlite.sql" if kind == stores.SQLITE else "postgres.sql"
    return Path(faaskit.store.__file__).with_name(name).read_text()


def raw_sqlite(folder: Path, count: int) -> RawRow:
    """One executemany transaction into faaskit's own schema (WAL, synchronous=NORMAL)."""
    row = RawRow(RAW_SQLITE, "WAL, synchronous=NORMAL, one transaction", count)
    folder.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.executescript(_schema(stores.SQLITE))
        rows = message_rows(count)
        started = time.perf_counter()
        conn.execute("BEGIN")
        conn.executemany(_INSERT, rows)
        conn.execute("COMMIT")
        row.seconds = time.perf_counter() - started
    finally:
        conn.close()
    return row


def raw_postgres(url: str, count: int) -> list[RawRow]:
    """executemany (psycopg pipelines it) and COPY, each one transaction, fresh schema."""
    import psycopg

    found = []
    rows = message_rows(count)
    with stores.postgres(url) as db, psycopg.connect(db.url) as conn:
        conn.execute(_schema(stores.POSTGRES))
        conn.commit()
        many = RawRow(RAW_PSYCOPG, "one transaction (pipeline mode)", count)
        started = time.perf_counter()
        with conn.cursor() as cursor:
            cursor.executemany(_INSERT.replace("?", "%s"), rows)
        conn.commit()
        many.seconds = time.perf_counter() - started
        found.append(many)
        conn.execute("TRUNCATE faaskit_messages")
        conn.commit()
        copy = RawRow(RAW_COPY, "one transaction", count)
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy(f"COPY faaskit_messages ({_COLUMNS}) FROM STDIN") as out,
        ):
            for values in rows:
                out.write_row(values)
        conn.commit()
        copy.seconds = time.perf_counter() - started
        found.append(copy)
    return found
