"""The orders service's commands — place, change, cancel, confirm — on both backends:
validation, ownership, conflicts and concurrent commands on one order."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from faaskit.context import Context
from faaskit.testing import AppHarness
from shop import app
from shop.orders import Order
from tests.e2e.order_support import (
    MISSING_ID,
    address,
    admin,
    customer,
    invoke,
    line,
    loads_together,
    order_body,
    place,
    register,
    stream_types,
)
from tests.e2e.shop_support import ShopClient, assert_problem, error_fields


@pytest.fixture
async def harness(backend_url: str) -> AsyncIterator[AppHarness]:
    async with AppHarness(app, database_url=backend_url) as h:
        yield h


async def confirm(h: AppHarness, order_id: str) -> None:
    """What the order saga will do: confirm through the aggregate (no HTTP route)."""

    async def work(ctx: Context) -> None:
        orders = ctx.aggregates(Order)
        order = await orders.get(order_id)
        order.confirm(at=ctx.now().isoformat())
        orders.save(order)

    await invoke(h, work)


# -- POST /orders -----------------------------------------------------------------------


async def test_an_order_is_accepted_with_202_and_stored_as_an_event(harness: AppHarness) -> None:
    ann = await register(harness, "Ann Lee", "ann@example.com")

    response = await harness.http.post("/orders", json=order_body(), headers=customer(harness, ann))

    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {
        "message": "Order accepted for processing",
        "order_id": body["order_id"],
        "estimated_processing_time": "15-30 minutes",
        "saga_id": f"order-{body['order_id']}",  # the order saga, started with the event
    }
    [created] = await harness.runtime.store.read_stream(f"order-{body['order_id']}")
    assert created.type == "OrderCreated"
    assert created.data["customer_id"] == ann
    assert created.data["customer_name"] == "Ann Lee"  # from the users collection
    assert created.data["total"] == 40.28
    assert created.metadata["user"] == ann


async def test_a_customer_unknown_to_the_users_service_is_named_unknown(
    harness: AppHarness,
) -> None:
    order_id = await place(harness, "ghost")
    [created] = await harness.runtime.store.read_stream(f"order-{order_id}")
    assert created.data["customer_name"] == "unknown"


async def test_the_total_is_compared_to_the_cent(harness: AppHarness) -> None:
    # 3 x 0.10 is 0.30000000000000004 in floating point; to the cent it is 0.30.
    body = order_body(line("Bulb", 3, 0.1), total=0.3)
    assert (
        await harness.http.post("/orders", json=body, headers=customer(harness, "c"))
    ).is_success


def _without_address() -> dict[str, Any]:
    body = order_body()
    del body["shipping_address"]
    return body


INVALID_ORDERS = [
    ("no items", order_body(items=[], total=10.0), {"items"}),
    ("zero quantity", order_body(line("Lamp", 0, 10.0), total=10.0), {"items.0.quantity"}),
    ("negative quantity", order_body(line("Lamp", -1, 10.0), total=10.0), {"items.0.quantity"}),
    ("zero total", order_body(line("Lamp", 1, 0.0), total=0), {"total"}),
    ("negative total", order_body(total=-40.28), {"total"}),
    ("total off by a cent", order_body(total=40.27), {"total"}),
    ("total of other items", order_body(line("Lamp", 2, 5.0), total=20.0), {"total"}),
    ("no address", _without_address(), {"shipping_address"}),
    (
        "address without city",
        order_body(shipping_address=address(city="")),
        {"shipping_address.city"},
    ),
    (
        "address without street",
        order_body(shipping_address={"city": "Berlin", "postal_code": "1", "country": "DE"}),
        {"shipping_address.street"},
    ),
    ("no payment method", {**order_body(), "payment_method": ""}, {"payment_method"}),
    ("unknown priority", order_body(priority="yesterday"), {"priority"}),
    (
        "a price that is text",
        order_body(items=[line("Lamp", 1, "ten")], total=10.0),  # type: ignore[arg-type]
        {"items.0.unit_price"},
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "fields"), INVALID_ORDERS, ids=[c[0] for c in INVALID_ORDERS]
)
async def test_an_invalid_order_is_a_400_naming_the_field(
    harness: AppHarness, case: str, body: dict[str, Any], fields: set[str]
) -> None:
    response = await harness.http.post("/orders", json=body, headers=customer(harness, "c"))

    problem = assert_problem(response, 400, case=case)
    assert error_fields(problem) == fields
    assert await harness.runtime.store.head_position() == 0  # nothing stored


async def test_every_failing_field_is_reported_at_once(harness: AppHarness) -> None:
    body = {"items": [], "total": 0, "payment_method": "card"}
    response = await harness.http.post("/orders", json=body, headers=customer(harness, "c"))
    assert error_fields(assert_problem(response, 400)) == {"items", "total", "shipping_address"}


async def test_placing_an_order_needs_orders_write(harness: AppHarness) -> None:
    assert_problem(await harness.http.post("/orders", json=order_body()), 401)
    read_only = harness.auth("c", "orders:read")
    assert_problem(await harness.http.post("/orders", json=order_body(), headers=read_only), 403)


# -- PATCH /orders/{id} and POST /orders/{id}/cancel ----------------------------------------


async def test_a_pending_order_can_change_address_and_priority(harness: AppHarness) -> None:
    order_id = await place(harness, "c")
    changes = {"shipping_address": address("Hamburg"), "priority": "urgent"}

    response = await harness.http.patch(
        f"/orders/{order_id}", json=changes, headers=customer(harness, "c")
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Order updated"
    assert (body["status"], body["priority"], body["version"]) == ("pending", "urgent", 2)
    assert body["shipping_address"]["city"] == "Hamburg"
    assert await stream_types(harness, order_id) == ["OrderCreated", "OrderUpdated"]


async def test_a_change_that_changes_nothing_adds_no_event(harness: AppHarness) -> None:
    order_id = await place(harness, "c")
    response = await harness.http.patch(
        f"/orders/{order_id}", json={"priority": "normal"}, headers=customer(harness, "c")
    )
    assert response.status_code == 200
    assert response.json()["version"] == 1
    assert await stream_types(harness, order_id) == ["OrderCreated"]


@pytest.mark.parametrize(
    "changes", [{}, {"status": "shipped"}, {"priority": "soon"}, {"shipping_address": {}}]
)
async def test_an_invalid_change_is_a_400(harness: AppHarness, changes: dict[str, Any]) -> None:
    order_id = await place(harness, "c")
    response = await harness.http.patch(
        f"/orders/{order_id}", json=changes, headers=customer(harness, "c")
    )
    assert_problem(response, 400, case=changes)


async def test_an_order_can_be_cancelled_once(harness: AppHarness) -> None:
    order_id = await place(harness, "c")
    cancel = f"/orders/{order_id}/cancel"

    first = await harness.http.post(
        cancel, json={"reason": "changed my mind"}, headers=customer(harness, "c")
    )
    again = await harness.http.post(
        cancel, json={"reason": "really"}, headers=customer(harness, "c")
    )

    assert first.status_code == 200, first.text
    assert (first.json()["message"], first.json()["status"]) == ("Order cancelled", "cancelled")
    assert_problem(again, 409, "An order that is cancelled cannot be cancelled")
    assert await stream_types(harness, order_id) == ["OrderCreated", "OrderCancelled"]


async def test_a_cancelled_order_cannot_be_changed(harness: AppHarness) -> None:
    order_id = await place(harness, "c")
    headers = customer(harness, "c")
    await harness.http.post(f"/orders/{order_id}/cancel", json={"reason": "no"}, headers=headers)

    response = await harness.http.patch(
        f"/orders/{order_id}", json={"priority": "high"}, headers=headers
    )

    assert_problem(response, 409, "An order that is cancelled cannot be changed")


async def test_a_cancellation_needs_a_reason(harness: AppHarness) -> None:
    order_id = await place(harness, "c")
    response = await harness.http.post(
        f"/orders/{order_id}/cancel", json={"reason": " "}, headers=customer(harness, "c")
    )
    assert error_fields(assert_problem(response, 400)) == {"reason"}


async def test_a_confirmed_order_can_be_cancelled_but_not_changed(harness: AppHarness) -> None:
    order_id = await place(harness, "c")
    await confirm(harness, order_id)
    await confirm(harness, order_id)  # again: no second event
    headers = customer(harness, "c")

    change = await harness.http.patch(
        f"/orders/{order_id}", json={"priority": "high"}, headers=headers
    )
    cancel = await harness.http.post(
        f"/orders/{order_id}/cancel", json={"reason": "late"}, headers=headers
    )

    assert_problem(change, 409, "An order that is confirmed cannot be changed")
    assert cancel.status_code == 200, cancel.text
    assert await stream_types(harness, order_id) == [
        "OrderCreated",
        "OrderConfirmed",
        "OrderCancelled",
    ]


async def test_a_cancelled_order_cannot_be_confirmed(harness: AppHarness) -> None:
    from faaskit import ConflictError

    order_id = await place(harness, "c")
    await harness.http.post(
        f"/orders/{order_id}/cancel", json={"reason": "no"}, headers=customer(harness, "c")
    )
    with pytest.raises(ConflictError):
        await confirm(harness, order_id)


async def test_an_unknown_order_is_a_404(harness: AppHarness) -> None:
    headers = customer(harness, "c")
    change = await harness.http.patch(
        f"/orders/{MISSING_ID}", json={"priority": "high"}, headers=headers
    )
    cancel = await harness.http.post(
        f"/orders/{MISSING_ID}/cancel", json={"reason": "x"}, headers=headers
    )
    read = await harness.http.get(f"/orders/{MISSING_ID}", headers=headers)
    for response in (change, cancel, read):
        assert_problem(response, 404, "Order not found")


async def test_another_customers_order_is_a_403(harness: AppHarness) -> None:
    order_id = await place(harness, "ann")
    await harness.drain()
    bob = customer(harness, "bob")

    change = await harness.http.patch(f"/orders/{order_id}", json={"priority": "high"}, headers=bob)
    cancel = await harness.http.post(
        f"/orders/{order_id}/cancel", json={"reason": "x"}, headers=bob
    )
    read = await harness.http.get(f"/orders/{order_id}", headers=bob)

    for response in (change, cancel, read):
        assert_problem(response, 403)
    assert await stream_types(harness, order_id) == ["OrderCreated"]


async def test_an_orders_admin_may_cancel_anyones_order(harness: AppHarness) -> None:
    order_id = await place(harness, "ann")
    response = await harness.http.post(
        f"/orders/{order_id}/cancel", json={"reason": "fraud check"}, headers=admin(harness)
    )
    assert response.status_code == 200, response.text
    [_, cancelled] = await harness.runtime.store.read_stream(f"order-{order_id}")
    assert cancelled.metadata["user"] == "order-admin"


# -- concurrent commands on one order ----------------------------------------------------


async def test_two_cancels_at_once_one_wins_the_other_is_a_409(harness: AppHarness) -> None:
    order_id = await place(harness, "c")
    headers = customer(harness, "c")
    cancel = f"/orders/{order_id}/cancel"

    with loads_together(2):
        answers = await asyncio.gather(
            harness.http.post(cancel, json={"reason": "first"}, headers=headers),
            harness.http.post(cancel, json={"reason": "second"}, headers=headers),
        )

    assert sorted(r.status_code for r in answers) == [200, 409]
    [loser] = [r for r in answers if r.status_code == 409]
    assert loser.json()["title"] == "Concurrent Modification"  # the event store refused it
    [winner] = [r for r in answers if r.status_code == 200]
    reason = "first" if winner is answers[0] else "second"
    events = await harness.runtime.store.read_stream(f"order-{order_id}")
    assert [e.type for e in events] == ["OrderCreated", "OrderCancelled"]
    assert events[1].data["reason"] == reason
    await harness.drain()
    view = (await harness.http.get(f"/orders/{order_id}", headers=headers)).json()
    assert (view["status"], view["cancel_reason"], view["version"]) == ("cancelled", reason, 2)
    assert len(await harness.published("order.cancelled")) == 1


async def test_two_changes_from_one_version_keep_the_winner_and_refuse_the_other(
    harness: AppHarness,
) -> None:
    order_id = await place(harness, "c")
    headers = customer(harness, "c")
    path = f"/orders/{order_id}"

    with loads_together(2):
        answers = await asyncio.gather(
            harness.http.patch(path, json={"priority": "high"}, headers=headers),
            harness.http.patch(path, json={"shipping_address": address("Rome")}, headers=headers),
        )

    assert sorted(r.status_code for r in answers) == [200, 409]
    [loser] = [r for r in answers if r.status_code == 409]
    assert loser.json()["title"] == "Concurrent Modification"  # the event store refused it
    winner = next(r for r in answers if r.status_code == 200).json()
    await harness.drain()
    view = (await harness.http.get(path, headers=headers)).json()
    assert view["version"] == 2
    assert (view["priority"], view["shipping_city"]) == (
        winner["priority"],
        winner["shipping_address"]["city"],
    )
    assert await stream_types(harness, order_id) == ["OrderCreated", "OrderUpdated"]


def test_concurrent_commands_over_http_lose_no_event(shop: ShopClient) -> None:
    """Real requests on their own connections: every 200 is one stored event, and of the
    cancels exactly one wins."""
    headers = shop.bearer("orders:read", "orders:write", subject="cy")
    placed = shop.http.post("/orders", json=order_body(), headers=headers)
    assert placed.status_code == 202, placed.text
    path = f"/orders/{placed.json()['order_id']}"
    cities = [f"City {n}" for n in range(6)]  # each a real change, whatever came before

    changes = shop.at_once(
        [
            lambda client, c=c: client.patch(
                path, json={"shipping_address": address(c)}, headers=headers
            )
            for c in cities
        ]
    )
    cancels = shop.at_once(
        [
            lambda client: client.post(f"{path}/cancel", json={"reason": "x"}, headers=headers)
            for _ in range(5)
        ]
    )

    assert set(changes) <= {200, 409} and 200 in changes, changes
    assert sorted(cancels) == [200, 409, 409, 409, 409], cancels
    runtime = shop.server.runtime
    stream = asyncio.run_coroutine_threadsafe(
        runtime.store.read_stream(f"order-{placed.json()['order_id']}"), runtime.loop
    ).result(timeout=10)
    types = [event.type for event in stream]
    assert types[0] == "OrderCreated" and types[-1] == "OrderCancelled"
    assert [event.version for event in stream] == list(range(1, len(stream) + 1))
    assert types.count("OrderUpdated") == changes.count(200)
    assert types.count("OrderCancelled") == 1
