"""What the order saga's end-to-end tests share: the shop on a live server whose payment
provider posts its signed notices back to that server over HTTP, and helpers that place
orders and read what the saga left in the store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import pytest

from faaskit.sagas import SagaState, saga_result
from shop.access import SCOPES_BY_ACCESS
from tests.e2e.order_support import address, line
from tests.e2e.shop_support import ShopClient

T = TypeVar("T")
WEBHOOK_SECRET = "test-webhook-secret"
QUICK_PROVIDER = {
    "SHOP_PAYMENT_DELAY": "0.1",  # the provider answers a tenth of a second later
    "SHOP_PAYMENT_TIMEOUT": "1",  # an unanswered charge is tried again after a second
    "FAASKIT_SECRET_SHOP_PAYMENT_WEBHOOK": WEBHOOK_SECRET,
}


def quick_provider(monkeypatch: pytest.MonkeyPatch, server_url: str) -> dict[str, str]:
    """The provider's switches for tests (in this process's environment); the same as a
    mapping, for worker processes."""
    env = {**QUICK_PROVIDER, "SHOP_PAYMENT_WEBHOOK_URL": f"{server_url}/payments/webhook"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def order(
    *lines: dict[str, Any], method: str = "card", country: str = "DE", city: str = "Berlin"
) -> dict[str, Any]:
    items = list(lines) or [line("Desk Lamp", 2, 19.99)]
    return {
        "items": items,
        "total": round(sum(i["quantity"] * i["unit_price"] for i in items), 2),
        "shipping_address": address(city, country=country),
        "payment_method": method,
    }


class OrderShop(ShopClient):
    """The shop over HTTP, and its store read on the server's event loop."""

    @property
    def admin(self) -> dict[str, str]:
        return self.bearer(*SCOPES_BY_ACCESS["admin"], subject="the-admin")

    def customer(self, subject: str = "cust-1") -> dict[str, str]:
        return self.bearer("orders:read", "orders:write", subject=subject)

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 90) -> T:
        runtime = self.server.runtime
        return asyncio.run_coroutine_threadsafe(work, runtime.loop).result(timeout=timeout)

    def place(self, body: dict[str, Any], subject: str = "cust-1") -> tuple[str, str]:
        """Place an order (asserts the 202); its id and its saga's id."""
        response = self.http.post("/orders", json=body, headers=self.customer(subject))
        assert response.status_code == 202, response.text
        accepted = response.json()
        return accepted["order_id"], accepted["saga_id"]

    def outcome(self, saga_id: str, within: float = 60) -> SagaState:
        """The saga once it stopped (completed, failed, compensated, compensation_failed)."""
        return self.run(saga_result(self.server.runtime, saga_id, within=within), within + 10)

    def doc(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        found = self.run(self.server.runtime.store.get(collection, doc_id))
        return None if found is None else dict(found.data)

    def docs(self, collection: str, **where: Any) -> list[dict[str, Any]]:
        found = self.run(self.server.runtime.store.find(collection, where))
        return [{"id": d.id, **d.data} for d in found]

    def stock(self, product_id: str) -> dict[str, Any]:
        response = self.http.get(f"/inventory/{product_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def set_stock(self, product_id: str, stock: int) -> None:
        response = self.http.put(
            f"/inventory/{product_id}", json={"stock": stock}, headers=self.admin
        )
        assert response.status_code == 200, response.text

    def view(self, order_id: str, status: str, within: float = 20) -> dict[str, Any]:
        """``GET /orders/{id}`` once the read model shows ``status`` (the projection runs
        in the background); AssertionError with the last answer after ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            response = self.http.get(f"/orders/{order_id}", headers=self.admin)
            if response.status_code == 200 and response.json()["status"] == status:
                body: dict[str, Any] = response.json()
                return body
            assert time.monotonic() < deadline, f"still {response.status_code} {response.text}"
            time.sleep(0.05)

    def until(self, check: Callable[[], T | None], what: str, within: float = 20) -> T:
        """``check()``'s first answer that is not None, polled; AssertionError naming
        ``what`` after ``within`` seconds."""
        deadline = time.monotonic() + within
        while (found := check()) is None:
            assert time.monotonic() < deadline, f"waited {within}s for {what}"
            time.sleep(0.05)
        return found

    def mail(self, template: str | None = None) -> list[dict[str, Any]]:
        response = self.http.get("/mailbox", headers=self.admin)
        assert response.status_code == 200, response.text
        return [m for m in response.json() if template is None or m["template"] == template]
