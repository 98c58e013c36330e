"""The PgQueuer contender of the messaging section: its schema, its publisher, and its worker
(this file run as a script, one process, like ``celery_side``'s worker).

    python pgqueuer_side.py <postgres-url> <batch-size | default>

The workload is faaskit's: N jobs enqueued while no worker runs, then one worker drains them
and each handler writes one row. The row is the equivalent of faaskit's handled document —
the job's id as key, a JSON object with the time the job was published (its payload) and the
time the handler ran — inserted in a transaction of its own on a connection of a psycopg pool
(PgQueuer gives a handler nothing to write with; a pool in the worker is how its docs share a
database with handlers). PgQueuer then acks the job on its own connection, in a later
statement batched with other acks (its ``JobStatusLogBuffer``): handler write and ack commit
separately, so a crash between them runs the handler again. faaskit commits them together.

Drivers: psycopg 3 (faaskit's driver) for the publisher (``PsycopgDriver``) and for the
handler's writes; the worker's ``QueueManager`` runs on asyncpg (``AsyncpgDriver``), because
``PsycopgDriver`` cannot keep up there: its LISTEN watcher sits in psycopg's ``notifies(
timeout=1.0)``, which holds the connection's lock (psycopg ≥ 3.2), so every dequeue and ack
on that connection waits for a notification or the 1 s timeout — about 0.5 s per batch (a
smoke run here drained ~210 msg/s at batch size 100 and ~21 msg/s at its default). Without
asyncpg installed the worker falls back to ``PsycopgDriver`` and the row says so. The worker
runs on uvloop when it is installed (a PgQueuer dependency), as ``pgq run`` does. The pools
are faaskit's default size (10).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import logging
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson
from pgqueuer import AsyncpgDriver, Job, PsycopgDriver, Queries, QueueManager
from pgqueuer.domain.settings import db_settings
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

HERE = Path(__file__).resolve().parent
ENTRYPOINT = "bench.handle"
TABLE = "bench_handled"
POOL_SIZE = 10
"""faaskit's default ``FAASKIT_POSTGRES_POOL_SIZE``: both sides get as many connections."""
QUEUE_TABLE = db_settings().queue_table
"""PgQueuer's queue table (``pgqueuer``): a job is acked when its row is gone."""
_INSERT = f"INSERT INTO {TABLE} (id, data) VALUES (%s, %s)"
ASYNCPG = importlib.util.find_spec("asyncpg") is not None


def worker_driver() -> str:
    """The driver the worker's QueueManager runs on (the row notes it)."""
    return "asyncpg" if ASYNCPG else "psycopg (asyncpg missing: see pgqueuer_side.py)"


def default_batch_size() -> int:
    """``QueueManager.run``'s own default (10 in PgQueuer 1.6), read, not assumed."""
    return int(inspect.signature(QueueManager.run).parameters["batch_size"].default)


async def install(url: str) -> None:
    """PgQueuer's schema (``Queries.install``, what ``pgq install`` runs) and the handler's
    table, in the fresh schema that ``url``'s search_path selects."""
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        await Queries(PsycopgDriver(conn)).install()
        await conn.execute(f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, data jsonb NOT NULL)")


async def publish(url: str, messages: int, batch: int, in_flight: int) -> float:
    """Seconds to enqueue ``messages`` jobs, ``batch`` per ``Queries.enqueue`` call (its
    list form, one INSERT ... unnest), ``in_flight`` calls at once — the shape of faaskit's
    publisher (100 messages per unit of work, 16 in flight, a pool of 10)."""
    pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
        url, min_size=POOL_SIZE, max_size=POOL_SIZE, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True, timeout=10)
    queries: dict[int, Queries] = {}  # one per pooled connection, made once
    try:
        slots = asyncio.Semaphore(in_flight)

        async def one(first: int) -> None:
            count = min(batch, messages - first)
            async with slots, pool.connection() as conn:
                mine = queries.get(id(conn))
                if mine is None:
                    mine = queries[id(conn)] = Queries(PsycopgDriver(conn))
                payloads: list[bytes | None] = [
                    orjson.dumps({"n": n, "published": time.time()})
                    for n in range(first, first + count)
                ]
                await mine.enqueue([ENTRYPOINT] * count, payloads, [0] * count)

        started = time.perf_counter()
        await asyncio.gather(*(one(first) for first in range(0, messages, batch)))
        return time.perf_counter() - started
    finally:
        await pool.close()


@contextmanager
def worker(url: str, batch_size: int | None, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """This file as a worker process (``None``: PgQueuer's default batch size), stopped
    with SIGTERM (PgQueuer's graceful shutdown: in-flight jobs finish) at the end."""
    command = [sys.executable, str(Path(__file__)), url, str(batch_size or "default")]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=HERE, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@asynccontextmanager
async def _asyncpg(url: str) -> AsyncIterator[Any]:
    """An asyncpg connection to ``url``, whose libpq ``options=-c...`` asyncpg does not
    read: its settings (the run's search_path) go in as ``server_settings``."""
    import asyncpg  # type: ignore[import-untyped]  # no stubs; imported only when installed

    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    settings = dict(
        option.removeprefix("-c").split("=", 1)
        for option in query.pop("options", "").split()
        if option.startswith("-c")
    )
    dsn = urlunsplit(parts._replace(query=urlencode(query)))
    conn = await asyncpg.connect(dsn, server_settings=settings)
    try:
        yield conn
    finally:
        await conn.close()


@asynccontextmanager
async def _manager_driver(url: str) -> AsyncIterator[AsyncpgDriver | PsycopgDriver]:
    """The QueueManager's driver: asyncpg when installed, else psycopg (see the docstring)."""
    if ASYNCPG:
        async with _asyncpg(url) as conn:
            yield AsyncpgDriver(conn)
    else:
        async with await AsyncConnection.connect(url, autocommit=True) as conn:
            yield PsycopgDriver(conn)


async def work(url: str, batch_size: int | None) -> None:
    """One QueueManager on one connection, handlers writing through a pool, until SIGTERM."""
    async with (
        _manager_driver(url) as queue_driver,
        AsyncConnectionPool(url, min_size=1, max_size=POOL_SIZE, open=False) as pool,
    ):
        manager = QueueManager(Queries(queue_driver))

        @manager.entrypoint(ENTRYPOINT)
        async def handle(job: Job) -> None:
            message = orjson.loads(job.payload or b"{}")
            row = Jsonb({"published": message["published"], "handled": time.time()})
            # The pool's connection block is the transaction: INSERT, then COMMIT on exit.
            async with pool.connection() as writer:
                await writer.execute(_INSERT, (job.id, row))

        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, manager.shutdown.set)
        # Its defaults otherwise (dequeue timeout, no max_concurrent_tasks): as a user runs it.
        if batch_size is None:
            await manager.run()
        else:
            await manager.run(batch_size=batch_size)


def main(argv: list[str]) -> None:
    url, size = argv
    logging.basicConfig(level=logging.WARNING)
    job = work(url, None if size == "default" else int(size))
    if importlib.util.find_spec("uvloop") is not None:
        import uvloop

        uvloop.run(job)
    else:
        asyncio.run(job)


if __name__ == "__main__":
    main(sys.argv[1:])
