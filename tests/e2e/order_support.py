"""What the orders tests share: tokens, order bodies, and helpers on an AppHarness."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from faaskit.context import Context
from faaskit.events import Event
from faaskit.testing import AppHarness

CUSTOMER_SCOPES = ("orders:read", "orders:write")
ADMIN_SCOPES = ("orders:read", "orders:write", "orders:admin")
MISSING_ID = "00000000-0000-4000-8000-000000000000"


def customer(h: AppHarness, subject: str) -> dict[str, str]:
    return h.auth(subject, *CUSTOMER_SCOPES)


def admin(h: AppHarness) -> dict[str, str]:
    return h.auth("order-admin", *ADMIN_SCOPES)


def address(city: str = "Berlin", **changes: Any) -> dict[str, Any]:
    return {"street": "1 Main St", "city": city, "postal_code": "10115", "country": "DE", **changes}


def line(name: str = "Desk Lamp", quantity: int = 1, unit_price: float = 10.0) -> dict[str, Any]:
    return {
        "product_id": name.lower().replace(" ", "-"),
        "product_name": name,
        "quantity": quantity,
        "unit_price": unit_price,
    }


def order_body(*lines: dict[str, Any], city: str = "Berlin", **changes: Any) -> dict[str, Any]:
    """A valid ``POST /orders`` body (total = the lines' sum) with ``changes`` applied."""
    items = list(lines) or [line("Desk Lamp", 2, 19.99), line("Bulb", 3, 0.1)]
    total = round(sum(i["quantity"] * i["unit_price"] for i in items), 2)
    body = {
        "items": items,
        "total": total,
        "shipping_address": address(city),
        "payment_method": "card",
    }
    return {**body, **changes}


async def register(h: AppHarness, name: str, email: str) -> str:
    """A user in the users collection (so orders carry their name); their id."""
    body = {"email": email, "name": name, "password": "s3cret-pass"}
    response = await h.http.post(
        "/users", json=body, headers=h.auth("admin", "users:write", "users:staff")
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def place(h: AppHarness, subject: str, body: dict[str, Any] | None = None) -> str:
    """Place an order as ``subject`` (asserts the 202); its id."""
    response = await h.http.post("/orders", json=body or order_body(), headers=customer(h, subject))
    assert response.status_code == 202, response.text
    return str(response.json()["order_id"])


async def invoke(h: AppHarness, work: Callable[[Context], Awaitable[Any]]) -> Any:
    """Run ``work(ctx)`` as one invocation of the runtime (committed when it returns)."""
    ctx = h.runtime.context("test", f"test-{id(work)}")

    async def run() -> Any:
        return await work(ctx)

    return await h.runtime.invoke(ctx, run, {}, lambda result: result)


async def stream_types(h: AppHarness, order_id: str) -> list[str]:
    return [event.type for event in await h.runtime.store.read_stream(f"order-{order_id}")]


@contextmanager
def loads_together(parties: int) -> Iterator[None]:
    """Hold every aggregate load until ``parties`` handlers have loaded: each sees the same
    version, so only the event store's expected-version check can refuse the losers."""
    from faaskit.cqrs.streams import Aggregates

    original = Aggregates.load
    barrier = asyncio.Barrier(parties)

    async def load(self: Aggregates[Any], id: str) -> Any:
        found = await original(self, id)
        await asyncio.wait_for(barrier.wait(), timeout=20)
        return found

    Aggregates.load = load  # type: ignore[method-assign]
    try:
        yield
    finally:
        Aggregates.load = original  # type: ignore[method-assign]


@contextmanager
def sagas_held(app: Any) -> Iterator[None]:
    """Hold every order saga at its first step (the step's delivery does nothing), so an
    order stays pending as placed: for tests of the read model over days of virtual time,
    where the saga would confirm or cancel each order. The saga is tested on its own in
    test_shop_orders_saga.py."""
    import dataclasses

    name = "saga.order.reserve_inventory.do"
    original = app.tasks[name]

    async def held(event: Event[dict[str, Any]], ctx: Context) -> None:
        return None

    app.tasks[name] = dataclasses.replace(original, handler=held)
    try:
        yield
    finally:
        app.tasks[name] = original
