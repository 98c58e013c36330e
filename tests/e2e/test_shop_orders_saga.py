"""The order flow end to end, over real HTTP on both backends: ``POST /orders`` starts the
order saga; a worker beside the server runs it; the simulated payment provider answers
through the signed ``POST /payments/webhook`` of the same server. Each outcome leaves
stock, payments, shipments, the mailbox and the order exactly as it should."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import Context, Event
from faaskit.runtime.worker import Worker
from faaskit.sagas import retry_saga
from shop.payments import SIGNATURE_HEADER, canonical, signature
from tests.conftest import LiveServer
from tests.e2e.order_support import line
from tests.e2e.saga_shop_support import WEBHOOK_SECRET, OrderShop, order, quick_provider
from tests.e2e.shop_support import assert_problem

WORKFLOW = (
    "inventory.check",
    "inventory.checked",
    "inventory.check.failed",
    "payment.process",
    "fulfillment.prepare",
)
INBOX = "workflow_inbox"


@pytest.fixture
def shop(backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OrderShop]:
    """The shop with a worker beside its server, and a subscriber of the workflow events
    that keeps each envelope it received in ``workflow_inbox``."""
    from shop import app

    async def keep(event: Event[dict[str, Any]], ctx: Context) -> None:
        envelope = {
            "topic": event.topic,
            "correlation_id": event.correlation_id,
            "key": event.key,
            "data": event.data,
        }
        ctx.documents(INBOX).insert(event.id, envelope)

    added = len(app.subscriptions)
    try:
        for topic in WORKFLOW:
            app.subscribe(topic, name=f"test_keep_{topic.replace('.', '_')}")(keep)
        server = LiveServer(app, backend_url, tmp_path / ".faaskit")
        server.runtime.add_service(Worker(server.runtime, poll_interval=0.05).run)
        quick_provider(monkeypatch, server.url)
        with server:
            client = OrderShop(server)
            yield client
            client.close()
    finally:
        del app.subscriptions[added:]


def payment_of(shop: OrderShop, order_id: str) -> dict[str, Any] | None:
    return shop.doc("payments", f"pay-{order_id}")


# -- the outcomes ----------------------------------------------------------------------


def test_a_good_order_is_reserved_paid_shipped_confirmed(shop: OrderShop) -> None:
    before = shop.stock("desk-lamp")["stock"]
    order_id, saga_id = shop.place(order(line("Desk Lamp", 2, 19.99), line("Bulb", 3, 0.1)))

    state = shop.outcome(saga_id)

    assert state.status == "completed", state.failure
    assert [s.status for s in state.steps] == ["completed"] * 4
    assert shop.stock("desk-lamp") == {**shop.stock("desk-lamp"), "stock": before - 2}
    assert shop.stock("desk-lamp")["reserved"] == 2
    held = shop.docs("reservations", order_id=order_id)
    assert sorted((r["product_id"], r["quantity"], r["status"]) for r in held) == [
        ("bulb", 3, "held"),
        ("desk-lamp", 2, "held"),
    ]
    payment = payment_of(shop, order_id)
    assert payment is not None
    assert (payment["status"], payment["amount"], payment["refunds"]) == ("captured", 40.28, [])
    assert payment["idempotency_key"] == f"{saga_id}:process_payment:do"
    shipment = shop.doc("shipments", f"ship-{order_id}")
    assert shipment is not None and shipment["status"] == "created"
    [confirmation] = shop.mail("order-confirmed")
    assert confirmation["data"]["tracking_number"] == shipment["tracking_number"]
    assert shop.mail("order-cancelled") == []
    view = shop.view(order_id, "confirmed")
    assert view["saga"]["status"] == "completed" and view["saga"]["current_step"] is None


def test_too_little_stock_cancels_the_order_and_reserves_nothing(shop: OrderShop) -> None:
    shop.set_stock("poster-1", 1)
    order_id, saga_id = shop.place(order(line("Bulb", 5, 0.1), line("Poster 1", 2, 15.0)))

    state = shop.outcome(saga_id)

    assert state.status == "failed"
    assert state.failure is not None
    details = state.failure["details"]
    assert (details["product"], details["available"], details["requested"]) == ("poster-1", 1, 2)
    reason = "insufficient stock for poster-1: 1 available, 2 requested"
    assert state.failure["reason"] == reason
    assert shop.stock("poster-1")["stock"] == 1 and shop.stock("poster-1")["reserved"] == 0
    assert shop.stock("bulb")["reserved"] == 0  # the bulbs were there, and not taken either
    assert shop.docs("reservations") == []
    assert payment_of(shop, order_id) is None and shop.docs("shipments") == []
    assert shop.mail() == []
    view = shop.view(order_id, "cancelled")
    assert view["cancel_reason"] == reason
    assert view["saga"]["status"] == "failed"
    assert view["saga"]["failure"]["step"] == "reserve_inventory"


def test_a_declined_card_releases_the_stock(shop: OrderShop) -> None:
    before = shop.stock("desk-lamp")["stock"]
    order_id, saga_id = shop.place(order(method="declined-card"))

    state = shop.outcome(saga_id)

    assert state.status == "compensated"
    assert state.compensated == ["reserve_inventory"]
    assert state.failure is not None
    assert state.failure["reason"] == "payment declined: insufficient funds"
    assert state.step("process_payment").attempts == 1  # a decline is not retried
    assert shop.stock("desk-lamp") == {**shop.stock("desk-lamp"), "stock": before, "reserved": 0}
    [released] = shop.docs("reservations", order_id=order_id)
    assert released["status"] == "released"
    payment = payment_of(shop, order_id)
    assert payment is not None
    assert (payment["status"], payment["refunds"]) == ("declined", [])
    assert shop.docs("shipments") == [] and shop.mail() == []
    view = shop.view(order_id, "cancelled")
    assert view["cancel_reason"] == "payment declined: insufficient funds"


def test_a_flaky_provider_is_retried_and_the_order_confirmed(shop: OrderShop) -> None:
    order_id, saga_id = shop.place(order(method="flaky-card"))

    state = shop.outcome(saga_id)

    assert state.status == "completed", state.failure
    assert state.step("process_payment").attempts == 3  # unavailable twice, then charged
    payment = payment_of(shop, order_id)
    assert payment is not None
    assert (payment["status"], payment["charges"]) == ("captured", 1)
    assert len(shop.mail("order-confirmed")) == 1
    shop.view(order_id, "confirmed")


def test_a_provider_that_never_answers_times_out_and_compensates(shop: OrderShop) -> None:
    before = shop.stock("desk-lamp")["stock"]
    order_id, saga_id = shop.place(order(method="no-answer-card"))

    state = shop.outcome(saga_id)

    assert state.status == "compensated"
    assert state.failure is not None and state.failure["kind"] == "timeout"
    assert state.step("process_payment").attempts == 4  # each attempt waited, unanswered
    assert shop.stock("desk-lamp")["stock"] == before
    payment = payment_of(shop, order_id)
    assert payment is not None
    # one payment, asked four times under one idempotency key; never taken, never refunded
    assert (payment["status"], payment["charges"], payment["refunds"]) == ("pending", 4, [])
    assert shop.docs("shipments") == [] and shop.mail() == []
    assert shop.view(order_id, "cancelled")["cancel_reason"].startswith("TimeoutError")


def test_a_carrier_refusal_refunds_once_and_releases_the_stock(shop: OrderShop) -> None:
    before = shop.stock("desk-lamp")["stock"]
    order_id, saga_id = shop.place(order(country="XX"))

    state = shop.outcome(saga_id)

    assert state.status == "compensated"
    assert state.compensated == ["process_payment", "reserve_inventory"]
    payment = payment_of(shop, order_id)
    assert payment is not None and payment["status"] == "refunded"
    [refund] = payment["refunds"]
    assert refund["amount"] == payment["amount"]
    assert shop.stock("desk-lamp")["stock"] == before
    assert shop.docs("shipments") == [] and shop.mail() == []
    view = shop.view(order_id, "cancelled")
    assert view["cancel_reason"] == "the carrier does not ship to XX"
    assert view["saga"]["failure"]["step"] == "create_shipment"


def test_a_failed_refund_waits_for_a_retry_then_compensates(shop: OrderShop) -> None:
    down = shop.http.put(
        "/payments/provider", json={"refunds_available": False}, headers=shop.admin
    )
    assert down.status_code == 200, down.text
    before = shop.stock("desk-lamp")["stock"]
    order_id, saga_id = shop.place(order(country="XX"))

    stuck = shop.outcome(saga_id)

    assert stuck.status == "compensation_failed"
    assert stuck.current_step == "process_payment"
    assert shop.stock("desk-lamp")["stock"] == before - 2  # released only after the refund
    payment = payment_of(shop, order_id)
    assert payment is not None and (payment["status"], payment["refunds"]) == ("captured", [])
    view = shop.view(order_id, "pending")  # neither confirmed nor cancelled while it waits
    assert view["saga"]["status"] == "compensation_failed"
    assert view["saga"]["current_step"] == "process_payment"

    up = shop.http.put("/payments/provider", json={"refunds_available": True}, headers=shop.admin)
    assert up.status_code == 200, up.text
    shop.run(retry_saga(shop.server.runtime, saga_id))
    state = shop.outcome(saga_id)

    assert state.status == "compensated"
    payment = payment_of(shop, order_id)
    assert payment is not None and len(payment["refunds"]) == 1
    assert shop.stock("desk-lamp")["stock"] == before
    assert shop.view(order_id, "cancelled")["cancel_reason"] == "the carrier does not ship to XX"


def test_cancelling_an_order_stops_its_saga_and_undoes_it(
    shop: OrderShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PAYMENT_TIMEOUT", "60")
    before = shop.stock("desk-lamp")["stock"]
    order_id, saga_id = shop.place(order(method="no-answer-card"))
    shop.until(lambda: payment_of(shop, order_id), "the payment step to wait")

    cancel = shop.http.post(
        f"/orders/{order_id}/cancel", json={"reason": "too slow"}, headers=shop.customer()
    )

    assert cancel.status_code == 200, cancel.text
    state = shop.outcome(saga_id)
    assert state.status == "compensated"
    assert state.failure is not None and state.failure["kind"] == "cancelled"
    assert shop.stock("desk-lamp")["stock"] == before
    assert shop.view(order_id, "cancelled")["cancel_reason"] == "too slow"


# -- the webhook -----------------------------------------------------------------------


def notice(shop: OrderShop, order_id: str, status: str = "captured") -> dict[str, Any]:
    payment = payment_of(shop, order_id)
    assert payment is not None
    return {
        "payment_id": payment["payment_id"],
        "token": payment["token"],
        "status": status,
        "amount": payment["amount"],
    }


def waiting_payment(shop: OrderShop, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """An order whose payment waits for a notice that only the test will send."""
    monkeypatch.setenv("SHOP_PAYMENT_TIMEOUT", "60")
    order_id, saga_id = shop.place(order(method="no-answer-card"))
    shop.until(lambda: payment_of(shop, order_id), "the payment step to wait")
    return order_id, saga_id


def test_a_notice_without_the_right_signature_is_a_401_and_changes_nothing(
    shop: OrderShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id, saga_id = waiting_payment(shop, monkeypatch)
    body = canonical(notice(shop, order_id))
    json_type = {"content-type": "application/json"}
    forged = signature("not-the-secret", body)
    tampered = canonical({**notice(shop, order_id), "amount": 0.01})

    answers = [
        shop.http.post("/payments/webhook", content=body, headers=json_type),
        shop.http.post(
            "/payments/webhook", content=body, headers={**json_type, SIGNATURE_HEADER: forged}
        ),
        shop.http.post(
            "/payments/webhook",
            content=tampered,  # signed for another amount
            headers={**json_type, SIGNATURE_HEADER: signature(WEBHOOK_SECRET, body)},
        ),
    ]

    for answer in answers:
        assert_problem(answer, 401, "the payment notice's signature is missing or wrong")
    assert shop.run(shop.server.runtime.store.get("faaskit_sagas", saga_id)).data[
        "current_step"
    ] == ("process_payment")
    payment = payment_of(shop, order_id)
    assert payment is not None and payment["status"] == "pending"


def test_a_signed_notice_completes_the_waiting_payment(
    shop: OrderShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    order_id, saga_id = waiting_payment(shop, monkeypatch)
    body = canonical(notice(shop, order_id))
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: signature(WEBHOOK_SECRET, body),
    }

    answer = shop.http.post("/payments/webhook", content=body, headers=headers)
    again = shop.http.post("/payments/webhook", content=body, headers=headers)

    assert answer.status_code == 200, answer.text
    assert again.status_code == 200, again.text  # the same notice twice is applied once
    state = shop.outcome(saga_id)
    assert state.status == "completed", state.failure
    assert state.step("process_payment").result["payment_id"] == f"pay-{order_id}"
    late = canonical(notice(shop, order_id, "declined"))
    headers = {
        "content-type": "application/json",
        SIGNATURE_HEADER: signature(WEBHOOK_SECRET, late),
    }
    assert_problem(shop.http.post("/payments/webhook", content=late, headers=headers), 409)
    shop.view(order_id, "confirmed")


# -- the workflow events ---------------------------------------------------------------


def test_the_workflow_events_carry_the_articles_envelope(shop: OrderShop) -> None:
    good, good_saga = shop.place(order(line("Desk Lamp", 2, 19.99)))
    short, short_saga = shop.place(order(line("Poster 1", 4, 15.0)))
    assert shop.outcome(good_saga).status == "completed"
    assert shop.outcome(short_saga).status == "failed"

    expected = {
        good: ["inventory.check", "inventory.checked", "payment.process", "fulfillment.prepare"],
        short: ["inventory.check", "inventory.check.failed"],
    }
    stored = {m.id: m for m in shop.run(shop.server.runtime.store.messages(limit=1000))}
    for order_id, topics in expected.items():
        received = {e["topic"]: e for e in shop.docs(INBOX) if e["key"] == order_id}
        assert sorted(received) == sorted(topics)
        for topic, envelope in received.items():
            assert envelope["id"] == f"{order_id}-{topic}"
            assert envelope["correlation_id"] == order_id
            assert envelope["data"]["order_id"] == order_id
            message = stored[envelope["id"]]
            assert message.expires_at is not None
            assert round(message.expires_at - message.published_at) == 24 * 3600

    [checked] = [e["data"] for e in shop.docs(INBOX) if e["id"] == f"{good}-inventory.checked"]
    assert checked["all_items_available"] is True
    assert checked["items"] == [
        {
            "product_id": "desk-lamp",
            "requested": 2,
            "available": 10_000,
            "is_available": True,
            "reservation_id": f"{good}:desk-lamp",
        }
    ]
    [failed] = [e["data"] for e in shop.docs(INBOX) if e["id"] == f"{short}-inventory.check.failed"]
    assert failed["all_items_available"] is False
    assert (failed["product"], failed["available"], failed["requested"]) == ("poster-1", 3, 4)
    assert [i["is_available"] for i in failed["items"]] == [False]
    payment = [e["data"] for e in shop.docs(INBOX) if e["id"] == f"{good}-payment.process"]
    assert payment[0]["idempotency_key"] == f"{good_saga}:process_payment:do"
    assert json.dumps(payment[0]["amount"]) == "39.98"


def test_cancelling_a_confirmed_order_gives_back_what_its_saga_took(shop: OrderShop) -> None:
    before = shop.stock("desk-lamp")["stock"]
    order_id, saga_id = shop.place(order())
    assert shop.outcome(saga_id).status == "completed"
    shop.view(order_id, "confirmed")

    cancel = shop.http.post(
        f"/orders/{order_id}/cancel", json={"reason": "found it cheaper"}, headers=shop.customer()
    )

    assert cancel.status_code == 200, cancel.text
    assert shop.stock("desk-lamp") == {**shop.stock("desk-lamp"), "stock": before, "reserved": 0}
    payment = payment_of(shop, order_id)
    assert payment is not None and payment["status"] == "refunded"
    assert len(payment["refunds"]) == 1
    shipment = shop.doc("shipments", f"ship-{order_id}")
    assert shipment is not None and shipment["status"] == "cancelled"
    assert [m["template"] for m in shop.mail()] == ["order-confirmed", "order-cancelled"]
    assert shop.view(order_id, "cancelled")["cancel_reason"] == "found it cheaper"
