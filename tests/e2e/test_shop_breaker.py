"""The shop's payment provider behind its circuit breaker, over real HTTP on both backends:
while the provider is down, ``BREAKER_FAILURES`` failed charges open the breaker and the
payment steps after them fail fast (no call reaches the provider) and are retried when it
lets a trial through; once the provider is back, one trial charge closes it and orders
are confirmed again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from faaskit.runtime.worker import Worker
from shop import payments
from tests.conftest import LiveServer
from tests.e2e.saga_shop_support import OrderShop, order, quick_provider

RECOVERY = 1.0
"""The breaker's recovery timeout here (the shop's default is 3 s)."""


@pytest.fixture
def shop(backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[OrderShop]:
    from shop import app

    monkeypatch.setattr(payments.provider_breaker, "recovery_timeout", RECOVERY)
    server = LiveServer(app, backend_url, tmp_path / ".faaskit")
    server.runtime.add_service(Worker(server.runtime, poll_interval=0.05).run)
    quick_provider(monkeypatch, server.url)
    with server:
        client = OrderShop(server)
        yield client
        client.close()


def switch(shop: OrderShop, **switches: bool) -> None:
    answer = shop.http.put("/payments/provider", json=switches, headers=shop.admin)
    assert answer.status_code == 200, answer.text


def payment_errors(shop: OrderShop, saga_id: str) -> list[str]:
    state = shop.outcome(saga_id)
    return [failure["error"] for failure in state.step("process_payment").failures]


def test_the_breaker_opens_while_the_provider_is_down_and_closes_when_it_is_back(
    shop: OrderShop,
) -> None:
    switch(shop, charges_available=False)
    sagas = [shop.place(order())[1] for _ in range(2)]  # 4 attempts each: 8 tries in all

    outcomes = [shop.outcome(saga_id) for saga_id in sagas]

    assert [state.status for state in outcomes] == ["compensated", "compensated"]
    errors = [error for saga_id in sagas for error in payment_errors(shop, saga_id)]
    reached = [e for e in errors if "the payment provider is down" in e]
    refused = [e for e in errors if "circuit breaker open" in e]
    assert len(reached) + len(refused) == len(errors) == 8, errors
    # the opening five, and at most one trial per recovery timeout after that
    assert payments.BREAKER_FAILURES <= len(reached) < len(errors), errors
    breaker = shop.run(payments.provider_breaker.state(shop.server.runtime))
    assert breaker.state in ("open", "half_open") and breaker.opens >= 1
    shown = shop.http.get("/payments/provider", headers=shop.admin).json()
    assert shown["charges_available"] is False and shown["breaker"]["opens"] == breaker.opens

    switch(shop, charges_available=True)
    order_id, saga_id = shop.place(order())

    assert shop.outcome(saga_id).status == "completed"
    assert shop.run(payments.provider_breaker.state(shop.server.runtime)).state == "closed"
    shop.view(order_id, "confirmed")
    moved = shop.server.runtime.metrics.breakers.transitions  # what /metrics shows
    assert moved[("payment-provider", "closed")] == 1
    assert moved[("payment-provider", "open")] == breaker.opens
