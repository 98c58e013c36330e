"""The faaskit side of the CQRS section, in-process (Runtime + Worker, no HTTP), run as a
script that prints JSON, like its eventsourcing counterpart ``es_side.py``.

    python benchmarks/cqrs.py events --database-url sqlite:///tmp/c.db --home /tmp/c
    python benchmarks/cqrs.py search --database-url sqlite:///tmp/s.db --home /tmp/s

events (the ``shop`` app of ``bench_apps``):

- (a) one invocation per new ``Order`` (one event each) — ``ctx.aggregates(Order).save``,
  256 invocations in flight so their units of work share group commits; also a few
  thousand one at a time, to show what a single caller gets;
- (b) one aggregate, 100 invocations of 100 events each, one after another; the aggregate
  object stays in memory between them, as the eventsourcing side keeps it (no reload);
- projection: the ``orders_projection`` catching up from position 0 (the worker's
  ``ProjectionRunner``, batches of 200 events per unit of work, checkpoint in the unit).

search: seed documents into the searchable ``orders_view`` collection (units of work of 500
inserts, 8 in flight), then time mixed queries through ``ctx.documents(...).search``; then
the same orders and queries on tantivy (``search_tantivy``), in the same process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import bench_apps
import search_tantivy
from bench_apps import Order

HERE = Path(__file__).resolve().parent
IN_FLIGHT = 256
SEED_BATCH = 500
SEED_IN_FLIGHT = 8

FIRST = ("Anna", "Ben", "Carla", "David", "Eva", "Felix", "Greta", "Hugo", "Ida", "Jonas")
LAST = ("Schmidt", "Müller", "Weber", "Wagner", "Becker", "Hoffmann", "Koch", "Richter")
CITIES: tuple[str, ...] = (
    "Berlin",
    "Hamburg",
    "Munich",
    "Cologne",
    "Leipzig",
    "Dresden",
    "Bremen",
    "Bonn",
)
CITIES += ("Lisbon", "Porto", "Paris", "Lyon", "Vienna", "Zurich", "Milan", "Madrid")
PRODUCTS: tuple[str, ...] = (
    "lamp",
    "desk",
    "chair",
    "sofa",
    "shelf",
    "rug",
    "mirror",
    "clock",
    "vase",
)
PRODUCTS += ("pillow", "blanket", "table", "stool", "bench", "cabinet", "frame", "candle")
MATERIALS = ("oak", "walnut", "steel", "linen", "wool", "brass", "glass", "velvet", "rattan")
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")


def _runtime(url: str, home: Path) -> Any:
    from faaskit.config import Settings
    from faaskit.runtime.runtime import Runtime

    settings = Settings.load(database_url=url, data_dir=home, log_level="WARNING")
    return Runtime(bench_apps.shop, settings)


async def _invoke(
    runtime: Any, name: str, handler: Callable[..., Awaitable[None]], **kw: Any
) -> None:
    ctx = runtime.context(name, f"{name}-{time.monotonic_ns()}")
    await runtime.invoke(ctx, handler, {"ctx": ctx, **kw}, _nothing)


def _nothing(result: Any) -> None:
    return None


# --- events -------------------------------------------------------------------------------


async def place(ctx: Any, index: int) -> None:
    order = Order(f"{index:08d}")
    order.place(f"customer {index % 997}", 10.0 + index % 50)
    ctx.aggregates(Order).save(order)


async def add_items(ctx: Any, order: Order, count: int) -> None:
    for item in range(count):
        order.add_item(f"sku-{item}", 1.0)
    ctx.aggregates(Order).save(order)


async def _create(runtime: Any, first: int, count: int, in_flight: int) -> float:
    """``count`` invocations, ``in_flight`` at a time: as many callers pulling the next
    index, not a task per invocation waiting on a semaphore (10,000 waiting tasks cost
    asyncio and the GC more than the invocations they wait for)."""
    indexes = iter(range(first, first + count))

    async def caller() -> None:
        for index in indexes:
            await _invoke(runtime, "place", place, index=index)

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(min(in_flight, count))))
    return time.perf_counter() - started


async def events(url: str, home: Path, aggregates: int, one_by_one: int) -> dict[str, Any]:
    from faaskit.runtime.worker import Worker

    runtime = _runtime(url, home)
    await runtime.start()
    found: dict[str, Any] = {}
    try:
        found["create"] = [aggregates, await _create(runtime, 0, aggregates, IN_FLIGHT)]
        seconds = await _create(runtime, aggregates, one_by_one, 1)
        found["create_one_by_one"] = [one_by_one, seconds]
        big = Order("big-spender")
        started = time.perf_counter()
        big.place("big spender", 1.0)
        await _invoke(runtime, "add_items", add_items, order=big, count=99)
        for _ in range(99):
            await _invoke(runtime, "add_items", add_items, order=big, count=100)
        found["batch"] = [10_000, time.perf_counter() - started]
        runner = Worker(runtime).projections[0]
        started = time.perf_counter()
        projected = await runner.catch_up()
        found["projection"] = [projected, time.perf_counter() - started]
    finally:
        await runtime.stop()
    return found


# --- search -------------------------------------------------------------------------------


def order_document(index: int, rng: random.Random) -> dict[str, Any]:
    return {
        "customer_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "customer_id": f"c{rng.randrange(5000)}",
        "product_names": [
            f"{rng.choice(MATERIALS)} {rng.choice(PRODUCTS)}" for _ in range(rng.randint(1, 4))
        ],
        "shipping_city": rng.choice(CITIES),
        "status": rng.choice(STATUSES),
        "created_at": f"2026-{1 + index % 12:02d}-{1 + index % 28:02d}T{index % 24:02d}:00:00Z",
        "total": round(rng.uniform(5, 900), 2),
    }


async def seed_batch(ctx: Any, documents: list[tuple[str, dict[str, Any]]]) -> None:
    view = ctx.documents(bench_apps.orders_view)
    for id, data in documents:
        view.insert(id, data)


def orders(documents: int) -> list[tuple[str, dict[str, Any]]]:
    """The documents ``seed`` inserts, in its order (the same random draws)."""
    rng = random.Random(7)
    return [(f"order-{i:07d}", order_document(i, rng)) for i in range(documents)]


async def seed(runtime: Any, documents: int) -> float:
    rng = random.Random(7)
    slots = asyncio.Semaphore(SEED_IN_FLIGHT)

    async def one(first: int) -> None:
        batch = [
            (f"order-{i:07d}", order_document(i, rng))
            for i in range(first, min(documents, first + SEED_BATCH))
        ]
        async with slots:
            await _invoke(runtime, "seed", seed_batch, documents=batch)

    started = time.perf_counter()
    await asyncio.gather(*(one(first) for first in range(0, documents, SEED_BATCH)))
    return time.perf_counter() - started


QUERIES: dict[str, Callable[[Any, random.Random], Awaitable[Any]]] = {
    "text (2 words, by relevance)": lambda view, rng: view.search(
        f"{rng.choice(MATERIALS)} {rng.choice(PRODUCTS)}"
    ),
    "text + filter, sorted by date": lambda view, rng: view.search(
        rng.choice(CITIES), where={"status": rng.choice(STATUSES)}, sort="created_at:desc"
    ),
    "filter + range, sorted by total": lambda view, rng: view.search(
        None,
        where={"status": rng.choice(STATUSES)},
        ranges={"created_at": ("2026-03-01", "2026-09-30")},
        sort="total:desc",
    ),
    "text, page 5 by date": lambda view, rng: view.search(
        rng.choice(PRODUCTS), sort="created_at:desc", page=5
    ),
}


async def first_queries(runtime: Any) -> dict[str, float]:
    """One query of each kind, untimed by the run: the first search that filters, bounds
    or sorts by a field fills its typed column from the documents (once per collection
    and field); what that took is reported beside the run."""
    ctx = runtime.context("search", "search-first")
    view = ctx.documents(bench_apps.orders_view)
    rng = random.Random(2)
    took: dict[str, float] = {}
    for kind, query in QUERIES.items():
        started = time.perf_counter()
        await query(view, rng)
        took[kind] = (time.perf_counter() - started) * 1e3
    return took


def _interrupter(runtime: Any) -> Callable[[], None]:
    """How to stop a query past its deadline: SQLite's interrupt (PostgreSQL has a
    statement_timeout in its URL instead)."""
    reader = getattr(runtime.store, "reader", None)
    return reader.interrupt if isinstance(reader, sqlite3.Connection) else _no_interrupt


def _no_interrupt() -> None:
    return None


async def query_all(runtime: Any, queries: int, deadline: float) -> dict[str, Any]:
    """``queries`` mixed queries, the kinds in turn; a kind that misses the deadline once
    is not run again (its remaining queries are counted as skipped)."""
    ctx = runtime.context("search", "search-queries")
    view = ctx.documents(bench_apps.orders_view)
    rng = random.Random(1)
    latencies: dict[str, list[float]] = {kind: [] for kind in QUERIES}
    timeouts: dict[str, int] = {kind: 0 for kind in QUERIES}
    hits: dict[str, int] = {kind: 0 for kind in QUERIES}
    kinds = list(QUERIES)
    interrupt = _interrupter(runtime)
    for index in range(queries):
        kind = kinds[index % len(kinds)]
        if timeouts[kind]:
            timeouts[kind] += 1
            continue
        timer = threading.Timer(deadline, interrupt)
        timer.start()
        started = time.perf_counter()
        try:
            page = await QUERIES[kind](view, rng)
        except Exception as error:  # interrupted (SQLite) or cancelled (PostgreSQL)
            if "interrupt" not in str(error) and "timeout" not in str(error):
                raise
            timeouts[kind] = 1
            continue
        finally:
            timer.cancel()
        latencies[kind].append((time.perf_counter() - started) * 1e3)
        hits[kind] += page.total
    return {"latencies": latencies, "timeouts": timeouts, "hits": hits}


async def search(
    url: str, home: Path, documents: int, queries: int, deadline: float, analyze: bool
) -> dict[str, Any]:
    runtime = _runtime(url, home)
    await runtime.start()
    found: dict[str, Any] = {"documents": documents}
    try:
        found["seed_seconds"] = await seed(runtime, documents)
        first = await first_queries(runtime)
        found["default"] = await query_all(runtime, queries, deadline)
        found["default"]["first_ms"] = first
    finally:
        await runtime.stop()
    # The anchor in the same run (and process): tantivy on the same orders and queries,
    # carried inside the run it is compared with.
    found["default"]["tantivy"] = search_tantivy.run(orders(documents), queries)
    timed_out = any(found["default"]["timeouts"].values())
    if analyze and timed_out and url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            conn.execute("ANALYZE")
        runtime = _runtime(url, home)
        await runtime.start()
        try:
            found["analyzed"] = await query_all(runtime, queries, deadline)
        finally:
            await runtime.stop()
    return found


# --- the driver ---------------------------------------------------------------------------


def run_script(script: str, arguments: list[str], *, timeout: float = 600) -> dict[str, Any]:
    """Run ``script`` (this folder) with ``arguments``; the JSON it printed."""
    done = subprocess.run(
        [sys.executable, str(HERE / script), *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=HERE,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"{script} failed: {last}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("events", "search"))
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--aggregates", type=int, default=10_000)
    parser.add_argument("--one-by-one", type=int, default=2_000)
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--deadline", type=float, default=2.0, help="seconds per query")
    parser.add_argument("--analyze", action="store_true", help="after timeouts, ANALYZE, again")
    args = parser.parse_args()
    args.home.mkdir(parents=True, exist_ok=True)
    if args.what == "events":
        work = events(args.database_url, args.home, args.aggregates, args.one_by_one)
    else:
        work = search(
            args.database_url, args.home, args.documents, args.queries, args.deadline, args.analyze
        )
    json.dump(asyncio.run(work), sys.stdout)


if __name__ == "__main__":
    main()
