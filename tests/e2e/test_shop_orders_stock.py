"""Stock is conserved over 200 concurrent orders — successes and every kind of failure —
run by two real ``faaskit worker`` processes on one shared store, on both backends.

The HTTP server runs in this process (no worker of its own); the workers run the sagas,
the payment provider's calls (which post their signed notices to that server) and the
read model. A random mix (fixed seed) of good cards, declined cards, flaky and silent
providers, an unserved country and impossible quantities is placed from many connections
at once; then, for every product, free stock plus what confirmed orders hold is exactly
the stock it started with, and each order's payment, shipment and mail fit its outcome.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from faaskit.sagas import SagaState
from tests.conftest import LiveServer
from tests.e2e.order_support import line
from tests.e2e.saga_shop_support import OrderShop, order, quick_provider
from tests.e2e.test_workers import Workers

ORDERS = 200
STOCK = {"lamp": 250, "bulb": 250, "pen": 250}
KINDS = ("card", "card", "card", "declined", "flaky", "no-answer", "unserved", "too-many")
WITHIN = 120.0
"""Seconds for all the sagas to finish (they take a few; the bound only stops a hang)."""


@pytest.fixture
def shop(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[OrderShop, Workers]]:
    from shop import app

    server = LiveServer(app, backend_url, tmp_path / ".faaskit").__enter__()
    quick_provider(monkeypatch, server.url)  # the workers inherit the environment
    workers = Workers(backend_url, tmp_path)
    client = OrderShop(server)
    try:
        yield client, workers
    finally:
        workers.cleanup()
        client.close()
        server.__exit__(None, None, None)


def random_order(rng: random.Random, kind: str) -> dict[str, Any]:
    products = rng.sample(sorted(STOCK), rng.randint(1, 2))
    lines = [line(name.title(), rng.randint(1, 3), 2.5) for name in products]
    if kind == "too-many":
        lines[0]["quantity"] = 10_000
    method = {"declined": "declined-card", "flaky": "flaky-card", "no-answer": "no-answer-card"}
    return order(
        *lines,
        method=method.get(kind, "card"),
        country="XX" if kind == "unserved" else "DE",
    )


def final_states(shop: OrderShop, saga_ids: list[str]) -> dict[str, SagaState]:
    deadline = time.monotonic() + WITHIN
    states = {}
    for saga_id in saga_ids:
        states[saga_id] = shop.outcome(saga_id, within=max(deadline - time.monotonic(), 1))
    return states


def test_stock_is_conserved_over_200_concurrent_orders_with_two_workers(
    shop: tuple[OrderShop, Workers],
) -> None:
    client, workers = shop
    for product, stock in STOCK.items():
        client.set_stock(product, stock)
    started = [workers.start("examples/shop", "--concurrency", "16") for _ in range(2)]
    asyncio.run(workers.wait_started(*started))
    rng = random.Random(20261202)
    kinds = [KINDS[i % len(KINDS)] for i in range(ORDERS)]
    rng.shuffle(kinds)
    bodies = [random_order(rng, kind) for kind in kinds]

    with ThreadPoolExecutor(max_workers=16) as pool:
        placed = list(pool.map(lambda body: client.place(body, subject="buyer"), bodies))
    states = final_states(client, [saga_id for _, saga_id in placed])
    wanted = {
        order_id: "confirmed" if states[saga_id].status == "completed" else "cancelled"
        for order_id, saga_id in placed
    }
    client.until(lambda: views_match(client, wanted), "the read model to follow", WITHIN)
    for process in started:
        assert workers.stop(process) == 0

    outcomes = Counter(states[saga_id].status for _, saga_id in placed)
    assert set(outcomes) <= {"completed", "failed", "compensated"}, outcomes
    held: Counter[str] = Counter()
    for (order_id, saga_id), kind, body in zip(placed, kinds, bodies, strict=True):
        state = states[saga_id]
        expected = "completed" if kind in ("card", "flaky") else ("failed", "compensated")
        assert state.status in expected, (kind, state.status, state.failure)
        check_effects(client, order_id, state)
        if state.status == "completed":
            for item in body["items"]:
                held[item["product_id"]] += item["quantity"]
    for product, stock in STOCK.items():
        level = client.stock(product)
        assert level["reserved"] == held[product], product
        assert level["stock"] + level["reserved"] == stock, product
    failures = Counter((s.failure or {}).get("step") for s in states.values())
    assert failures["reserve_inventory"] and failures["process_payment"], failures
    assert failures["create_shipment"] and outcomes["completed"], (failures, outcomes)
    assert client.run(client.server.runtime.store.dead_letters(limit=10)) == []


def views_match(shop: OrderShop, wanted: dict[str, str]) -> bool | None:
    shown = {view["id"]: view["status"] for view in shop.docs("orders_view")}
    return True if shown == wanted else None


def check_effects(shop: OrderShop, order_id: str, state: SagaState) -> None:
    """The order's payment, shipment and mail are as its saga's outcome leaves them."""
    payment = shop.doc("payments", f"pay-{order_id}")
    shipment = shop.doc("shipments", f"ship-{order_id}")
    held = shop.docs("reservations", order_id=order_id, status="held")
    mail = [m for m in shop.docs("mailbox") if m["data"].get("order_id") == order_id]
    if state.status == "completed":
        assert payment is not None and payment["status"] == "captured"
        assert payment["refunds"] == []
        assert shipment is not None and shipment["status"] == "created"
        assert [m["template"] for m in mail] == ["order-confirmed"]
        assert held, order_id
        return
    assert held == [], order_id
    assert mail == [], order_id
    assert shipment is None or shipment["status"] == "cancelled"
    if payment is not None:
        refunds = len(payment["refunds"])
        assert (payment["status"], refunds) in (("pending", 0), ("declined", 0), ("refunded", 1))
