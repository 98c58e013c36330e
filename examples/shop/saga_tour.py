"""The tour's order-saga part: an order for too much stock, a declined card, a flaky
provider that succeeds on a retry, and a refund that fails until ``faaskit sagas retry``.

Each order is placed over HTTP and followed through ``GET /orders/{id}`` (the read model and
its saga's status) while the worker beside the server runs the saga; the payment provider
posts its signed notices to ``POST /payments/webhook`` of the same server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shop.tour import LAMP_ORDER, Step, Tour


def wait_for_order(
    tour: Tour,
    title: str,
    order_id: str,
    status: str,
    saga_status: str | None = None,
    within: float = 30.0,
) -> dict[str, Any]:
    """Poll ``GET /orders/{id}`` until the order is ``status`` (and its saga ``saga_status``)."""
    deadline = time.monotonic() + within
    path = f"/orders/{order_id}"
    while True:
        response = tour.client.get(path, headers=tour.admin)
        body: dict[str, Any] = response.json() if response.status_code == 200 else {}
        saga = body.get("saga") or {}
        reached = body.get("status") == status and saga_status in (None, saga.get("status"))
        if reached or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    shown = path
    for name, id in tour.names.items():
        shown = shown.replace(id, "{" + name + "}")
    step = Step(title, "GET", path, 200, shown, 200 if reached else 404)
    step.note = _saga_note(body) if reached else f"still {body.get('status')}, {saga.get('status')}"
    tour.steps.append(step)
    tour.report(step)
    return body


def _saga_note(order: dict[str, Any]) -> str:
    saga = order["saga"]
    if saga["failure"] is None:
        retried = [f"{s['name']} x{s['attempts']}" for s in saga["steps"] if s["attempts"] > 1]
        return f"{order['status']}; saga {saga['status']}" + (
            f" ({', '.join(retried)})" if retried else ""
        )
    reason = order.get("cancel_reason") or saga["failure"]["reason"]
    return f"{order['status']}, saga {saga['status']}: {reason}"


def place(
    tour: Tour,
    bob_auth: dict[str, str],
    name: str,
    title: str,
    sagas: dict[str, str],
    **changes: Any,
) -> str:
    """Bob places a lamp order with ``changes``; its id (named ``name`` in the table)."""
    response = tour.step(
        title,
        "POST",
        "/orders",
        202,
        headers=bob_auth,
        json={**LAMP_ORDER, **changes},
        note=lambda r: f"saga {r.json()['saga_id'][:14]}…",
    )
    order_id: str = response.json()["order_id"]
    tour.names[name] = order_id
    sagas[name] = response.json()["saga_id"]
    return order_id


def stock_note(response: Any) -> str:
    body = response.json()
    return f"{body['name']}: {body['stock']} free, {body['reserved']} reserved"


def saga_steps(
    tour: Tour,
    bob_auth: dict[str, str],
    retry: Callable[[str], int] | None,
    sagas: dict[str, str],
) -> None:
    if "order" in tour.names:
        sagas["order"] = f"order-{tour.names['order']}"
    tour.step(
        "The lamps Bob returned are back",
        "GET",
        "/inventory/lamp-1",
        200,
        headers=tour.admin,
        note=lambda r: stock_note(r) if r.status_code == 200 else "",
    )
    tour.step(
        "Admin sets the poster's stock to 2",
        "PUT",
        "/inventory/poster-1",
        200,
        headers=tour.admin,
        json={"stock": 2},
        note=lambda r: f"{r.json()['name']}: {r.json()['stock']} in stock",
    )
    posters = {
        "items": [
            {"product_id": "poster-1", "product_name": "Poster", "quantity": 3, "unit_price": 12.5}
        ],
        "total": 37.5,
    }
    short = place(tour, bob_auth, "posters", "Bob orders 3 posters", sagas, **posters)
    wait_for_order(tour, "Too little stock: cancelled", short, "cancelled", "failed")

    declined = place(
        tour, bob_auth, "declined", "Bob pays with a declined card", sagas,
        payment_method="declined-card",
    )  # fmt: skip
    wait_for_order(tour, "Declined: stock released", declined, "cancelled", "compensated")
    flaky = place(
        tour, bob_auth, "flaky", "Bob pays via a flaky provider", sagas,
        payment_method="flaky-card",
    )  # fmt: skip
    wait_for_order(tour, "Payment retried, then confirmed", flaky, "confirmed", "completed")

    outage(tour, bob_auth, sagas)
    refunds(tour, bob_auth, retry, sagas)


def outage(tour: Tour, bob_auth: dict[str, str], sagas: dict[str, str]) -> None:
    """While the payment provider is down, five failed charges open its circuit breaker and
    the payment steps after them fail fast; once it is back, one trial charge closes it."""

    def provider(title: str, **request: Any) -> None:
        tour.step(
            title,
            "PUT" if request else "GET",
            "/payments/provider",
            200,
            note=breaker_note,
            headers=tour.admin,
            **request,
        )

    provider("The payment provider goes down", json={"charges_available": False})
    down = [
        place(tour, bob_auth, f"down{n}", "Bob orders during the outage", sagas) for n in (1, 2)
    ]
    for order_id in down:
        wait_for_order(tour, "Payment failed: cancelled", order_id, "cancelled", "compensated")
    provider("Its circuit breaker is open")
    provider("The payment provider is back", json={"charges_available": True})
    back = place(tour, bob_auth, "back", "Bob orders again", sagas)
    wait_for_order(tour, "One trial charge closes it: confirmed", back, "confirmed", "completed")
    provider("Its circuit breaker is closed")


def breaker_note(response: Any) -> str:
    body = response.json()
    if "breaker" not in body:
        return f"charges_available={body['charges_available']}"
    return "breaker {state}, opened {opens}x".format(**body["breaker"])


def refunds(
    tour: Tour,
    bob_auth: dict[str, str],
    retry: Callable[[str], int] | None,
    sagas: dict[str, str],
) -> None:
    """A refund that fails while the provider's refunds are down stops the saga at
    compensation_failed; once they are back, ``faaskit sagas retry`` finishes it."""
    tour.step(
        "The provider's refunds go down",
        "PUT",
        "/payments/provider",
        200,
        headers=tour.admin,
        json={"refunds_available": False},
        note=lambda r: f"refunds_available={r.json()['refunds_available']}",
    )
    address = {"street": "1 Ice Shelf", "city": "Nowhere", "postal_code": "0", "country": "XX"}
    stuck = place(
        tour, bob_auth, "stuck", "Bob ships where the carrier won't", sagas,
        shipping_address=address,
    )  # fmt: skip
    wait_for_order(
        tour, "Refund fails: compensation_failed", stuck, "pending", "compensation_failed"
    )
    tour.step(
        "The provider's refunds are back",
        "PUT",
        "/payments/provider",
        200,
        headers=tour.admin,
        json={"refunds_available": True},
        note=lambda r: f"refunds_available={r.json()['refunds_available']}",
    )
    saga_id = sagas["stuck"]
    code = retry(saga_id) if retry is not None else -1
    step = Step(
        "Ops retries the refund", "CLI", "", 0, f"faaskit sagas retry {saga_id[:14]}…", code
    )
    step.note = "compensating process_payment again" if code == 0 else "no retry command"
    tour.steps.append(step)
    tour.report(step)
    wait_for_order(tour, "Refunded, stock back: cancelled", stuck, "cancelled", "compensated")
