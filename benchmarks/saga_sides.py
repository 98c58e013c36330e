"""The two contenders of the sagas section, each run in a child process of its own
(``sagas.py child ...``): a 4-step saga of trivial steps on faaskit (started by an
invocation, run by a Worker in the same process and event loop) and the same workflow on
DBOS Transact. Each prints one JSON object: the timed phases and the commits counted
inside the process.

Counting commits inside the process:

- faaskit: every call of the store's writing methods (``commit`` — a unit of work:
  the starting invocation, a step's transition with its ack and the next step's
  delivery — ``claim``, ``claim_delivery``, ``retry``, ``release``, ``dead_letter``), each
  one transaction of its own on PostgreSQL; on SQLite the group-commit writer's own
  ``BEGIN IMMEDIATE … COMMIT`` transactions too (many units of work share one).
- DBOS: SQLAlchemy's engine ``commit`` events (every engine, so its system database on
  either backend), and its ``rollback`` events (DBOS reads in transactions it rolls back).
"""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

STEPS = 4
WRITE_METHODS = ("commit", "claim", "claim_delivery", "retry", "release", "dead_letter")


def _nothing(*_: Any) -> None:
    return None


# --- faaskit ------------------------------------------------------------------------------


def faaskit_app() -> tuple[Any, Any]:
    """The app: one saga of STEPS steps, each returning a small dict."""
    from faaskit import App

    app = App("bench_sagas")
    saga = app.saga("four")

    def make(index: int) -> None:
        async def step(input: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
            return {"step": index, "n": input["n"]}

        step.__name__ = f"step{index + 1}"
        saga.step(step)

    for index in range(STEPS):
        make(index)
    return app, saga


class FaaskitProbe:
    """Wraps the runtime's store: counts its writing calls, and resolves a future when a
    commit writes a saga's final state (the saga is done the moment that commit returns)."""

    def __init__(self, store: Any) -> None:
        from faaskit.sagas import SAGAS_COLLECTION

        self.collection = SAGAS_COLLECTION
        self.calls: Counter[str] = Counter()
        self.micros: Counter[str] = Counter()
        """Microseconds awaited in each method (the store's round trip, queueing included)."""
        self.transactions = 0
        self.waiting: dict[str, asyncio.Future[float]] = {}
        self.statuses: Counter[str] = Counter()
        for name in WRITE_METHODS:
            if hasattr(store, name):
                setattr(store, name, self._counted(name, getattr(store, name)))
        self.sqlite = "sqlite" in type(store).__module__
        if self.sqlite:
            self._sqlite_transactions()

    def _counted(self, name: str, method: Any) -> Any:
        watch = name == "commit"

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            began = time.perf_counter()
            result = await method(*args, **kwargs)
            self.micros[name] += int((time.perf_counter() - began) * 1e6)
            if watch:
                self._finished(args[0])
            elif name == "claim" and not result:
                self.calls["claim (empty)"] += 1
            return result

        return counted

    def _finished(self, write_set: Any) -> None:
        from faaskit.sagas.state import FINAL

        for write in write_set.writes:
            if getattr(write, "collection", None) != self.collection:
                continue
            status = write.data.get("status")
            if status in FINAL:
                self.statuses[status] += 1
                future = self.waiting.pop(write.id, None)
                if future is not None and not future.done():
                    future.set_result(time.perf_counter())

    def _sqlite_transactions(self) -> None:
        from faaskit.store import sqlite

        writer = sqlite._GroupCommitWriter
        original = writer._commit
        if getattr(original, "counted", False):
            return
        probe = self
        lock = threading.Lock()

        def _commit(self: Any, batch: list[Any]) -> None:
            with lock:
                probe.transactions += 1
            original(self, batch)

        _commit.counted = True  # type: ignore[attr-defined]
        writer._commit = _commit  # type: ignore[method-assign]

    def snapshot(self) -> dict[str, int]:
        waited = {f"{name} µs": micros for name, micros in self.micros.items()}
        physical = {"sqlite transactions": self.transactions} if self.sqlite else {}
        return {**self.calls, **physical, **waited}


async def _faaskit(url: str, home: Path, warmup: int, sequential: int, inflight: int) -> Any:
    from faaskit.config import Settings
    from faaskit.runtime.runtime import Runtime
    from faaskit.runtime.worker import Worker

    app, saga = faaskit_app()
    settings = Settings.load(database_url=url, data_dir=home, log_level="WARNING")
    runtime = Runtime(app, settings)
    runtime.add_service(Worker(runtime).run)  # as `faaskit dev` runs it: one event loop
    probe = FaaskitProbe(runtime.store)
    loop = asyncio.get_running_loop()

    async def starter(ctx: Any, n: int) -> str:
        return str(await ctx.start_saga(saga, {"n": n}, saga_id=f"four-{n}"))

    async def start(n: int) -> asyncio.Future[float]:
        done: asyncio.Future[float] = loop.create_future()
        probe.waiting[f"four-{n}"] = done
        ctx = runtime.context("start_order", f"start-{n}")
        await runtime.invoke(ctx, starter, {"ctx": ctx, "n": n}, _nothing)
        return done

    async def one(n: int) -> float:
        began = time.perf_counter()
        finished = await asyncio.wait_for(await start(n), 30)
        return (finished - began) * 1e3

    await runtime.start()
    try:
        runs = (warmup, sequential, inflight)
        found = await _phases(one, start, _gather, runs, probe.snapshot)
    finally:
        await runtime.stop()
    found["statuses"] = dict(probe.statuses)
    return found


async def _phases(
    one: Any,
    start: Any,
    wait_all: Any,
    runs: tuple[int, int, int],
    counted: Any,
) -> dict[str, Any]:
    """Warm-up, then (a) one saga at a time, (b) ``inflight`` started at once, then all
    awaited: ``start(n)`` gives what ``wait_all`` waits for."""
    warmup, sequential, inflight = runs
    number = 0
    for _ in range(warmup):
        await one(number)
        number += 1
    gc.collect()
    before = counted()
    began = time.perf_counter()
    latencies = []
    for _ in range(sequential):
        latencies.append(await one(number))
        number += 1
    seconds = time.perf_counter() - began
    middle = counted()
    first = number
    began = time.perf_counter()
    started = await asyncio.gather(*(start(n) for n in range(first, first + inflight)))
    await asyncio.wait_for(wait_all(started), 120)
    inflight_seconds = time.perf_counter() - began
    after = counted()
    return {
        "sequential": {
            "sagas": sequential,
            "seconds": seconds,
            "latencies_ms": latencies,
            "counts": _delta(before, middle),
        },
        "inflight": {
            "sagas": inflight,
            "seconds": inflight_seconds,
            "counts": _delta(middle, after),
        },
    }


async def _gather(futures: list[asyncio.Future[float]]) -> None:
    await asyncio.gather(*futures)


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after.get(key, 0) - before.get(key, 0) for key in after}


def faaskit_side(url: str, home: Path, warmup: int, sequential: int, inflight: int) -> Any:
    return asyncio.run(_faaskit(url, home, warmup, sequential, inflight))


# --- DBOS ---------------------------------------------------------------------------------


def dbos_side(url: str, home: Path, warmup: int, sequential: int, inflight: int) -> Any:
    """DBOS's documented shape: ``@DBOS.step()`` functions called from a
    ``@DBOS.workflow()``, started with ``DBOS.start_workflow`` and awaited with the handle's
    ``get_result()``; its system database on SQLite or PostgreSQL."""
    from dbos import DBOS, DBOSConfig
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def on(name: str) -> Any:
        def count(*_: Any) -> None:
            with lock:
                counts[name] += 1

        return count

    event.listen(Engine, "commit", on("commit"))
    event.listen(Engine, "rollback", on("rollback"))
    home.mkdir(parents=True, exist_ok=True)
    config: DBOSConfig = {
        "name": "bench-sagas",
        "system_database_url": url,
        "log_level": "WARNING",
        "application_version": "bench",  # else it hashes the workflows' source (a warning)
    }
    DBOS(config=config)

    def make(index: int) -> Any:
        def step(n: int) -> dict[str, Any]:
            return {"step": index, "n": n}

        step.__name__ = step.__qualname__ = f"step{index + 1}"
        return DBOS.step()(step)

    steps = [make(index) for index in range(STEPS)]

    @DBOS.workflow()
    def four(n: int) -> dict[str, Any]:
        return {f"step{index + 1}": step(n) for index, step in enumerate(steps)}

    DBOS.launch()

    async def one(n: int) -> float:
        began = time.perf_counter()
        DBOS.start_workflow(four, n).get_result()
        return (time.perf_counter() - began) * 1e3

    async def start(n: int) -> Any:
        return DBOS.start_workflow(four, n)

    async def wait_all(handles: list[Any]) -> None:
        await asyncio.to_thread(lambda: [handle.get_result() for handle in handles])

    def snapshot() -> dict[str, int]:
        with lock:
            return dict(counts)

    try:
        runs = (warmup, sequential, inflight)
        found = asyncio.run(_phases(one, start, wait_all, runs, snapshot))
    finally:
        DBOS.destroy()
    return found
