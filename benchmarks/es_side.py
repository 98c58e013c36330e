"""The eventsourcing contender of the CQRS section, run as a script that prints JSON.

    python benchmarks/es_side.py --folder /tmp/es --aggregates 10000 [--synchronous full]

The same workload as ``cqrs.py`` (faaskit), with the library's documented API and its SQLite
module (``PERSISTENCE_MODULE=eventsourcing.sqlite``):

- (a) ``app.save(Order(...))`` once per new aggregate (one event each), one after another:
  the library's application is synchronous and SQLite has one writer;
- (b) one aggregate: ``add_item`` 100 times then ``app.save(order)``, 100 times (the first
  save carries the creation event, so 10,000 events in all);
- projection: a ``ProcessApplication`` that follows the orders application and records an
  ``OrderSummary`` per ``Order.Placed`` (its read model, with the tracking record in the same
  transaction), catching up from the start with ``pull_and_process`` — what the library's
  system runners call when prompted. Only ``Order.Placed`` is pulled (``topics``).

``--synchronous normal`` (the default here) opens the library's SQLite connections with
``PRAGMA synchronous = NORMAL``, faaskit's setting; the library itself leaves SQLite's default
(FULL in WAL mode: an fsync per commit), measured with ``--synchronous full``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate, event
from eventsourcing.system import ProcessApplication
from eventsourcing.utils import get_topic


class Order(Aggregate):
    @event("Placed")
    def __init__(self, customer: str, total: float) -> None:
        self.customer = customer
        self.total = total
        self.items = 0

    @event("ItemAdded")
    def add_item(self, sku: str, price: float) -> None:
        self.items += 1
        self.total += price


class Orders(Application[UUID]):
    pass


class OrderSummary(Aggregate):
    @event("Created")
    def __init__(self, order_id: UUID, customer: str, total: float) -> None:
        self.order_id = order_id
        self.customer = customer
        self.total = total


class OrderSummaries(ProcessApplication[UUID]):
    topics = (get_topic(Order.Placed),)  # type: ignore[attr-defined]

    @singledispatchmethod
    def policy(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        """Other events: nothing to project."""

    @policy.register(Order.Placed)  # type: ignore[attr-defined]
    def _(self, domain_event: Any, processing_event: ProcessingEvent[UUID]) -> None:
        summary = OrderSummary(
            domain_event.originator_id, domain_event.customer, domain_event.total
        )
        processing_event.collect_events(summary)


def use_synchronous(mode: str) -> None:
    """Open every connection of the library's SQLite pool with ``PRAGMA synchronous``."""
    import eventsourcing.sqlite as es_sqlite

    create = es_sqlite.SQLiteConnectionPool._create_connection

    def connect(pool: Any) -> Any:
        connection = create(pool)
        connection._sqlite_conn.execute(f"PRAGMA synchronous = {mode}")
        return connection

    es_sqlite.SQLiteConnectionPool._create_connection = connect  # type: ignore[method-assign, assignment]


def measure(folder: Path, aggregates: int, batches: int, batch: int, full: bool) -> dict[str, Any]:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "ORDERS_SQLITE_DBNAME": str(folder / "orders.db"),
        "ORDERSUMMARIES_SQLITE_DBNAME": str(folder / "summaries.db"),
    }
    app = Orders(env=env)
    found: dict[str, Any] = {}
    started = time.perf_counter()
    for index in range(aggregates):
        app.save(Order(f"customer {index % 997}", 10.0 + index % 50))
    found["create"] = [aggregates, time.perf_counter() - started]
    if not full:
        return found
    started = time.perf_counter()
    order = Order("big spender", 1.0)
    for round_ in range(batches):
        for item in range(batch - (1 if round_ == 0 else 0)):
            order.add_item(f"sku-{item}", 1.0)
        app.save(order)
    found["batch"] = [batches * batch, time.perf_counter() - started]
    summaries = OrderSummaries(env=env)
    summaries.follow(app.name, app.notification_log)
    started = time.perf_counter()
    summaries.pull_and_process(app.name)
    seconds = time.perf_counter() - started
    found["projection"] = [aggregates + 1, seconds]
    projected = summaries.recorder.max_tracking_id(app.name)
    if projected != (app.recorder.max_notification_id() or 0) - (batches * batch - 1):
        found["warning"] = f"tracking at {projected}"
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--aggregates", type=int, default=10_000)
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--synchronous", choices=("normal", "full"), default="normal")
    parser.add_argument("--create-only", action="store_true", help="only (a)")
    args = parser.parse_args()
    if args.synchronous == "normal":
        use_synchronous("NORMAL")
    found = measure(args.folder, args.aggregates, args.batches, args.batch, not args.create_only)
    json.dump(found, sys.stdout)


if __name__ == "__main__":
    main()
