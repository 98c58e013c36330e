"""The shop on Azure Functions with its outbox relayed through Service Bus, on both
backends: requests through the registered HTTP function, every relayed
``azure.servicebus.ServiceBusMessage`` handed back to the registered Service Bus function
as the ``azure.functions.ServiceBusMessage`` the worker decodes, and the sweep timer
firing. A registration's welcome and onboarding emails go out exactly once — also when
every message is delivered twice and when relays are lost — and an order placed is
projected by the sweep."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest

from faaskit.adapters.azure import FUNCTION_NAME, SERVICEBUS_FUNCTION, SWEEP_FUNCTION, function_app
from faaskit.adapters.azure_servicebus import ServiceBusRelay
from faaskit.config import Settings
from faaskit.testing import VirtualClock
from tests.adapters.relay_support import LosingRelay
from tests.adapters.servicebus_support import (
    InvocationContext,
    Queue,
    RecordingSender,
    timer_request,
)
from tests.adapters.test_azure_http import request
from tests.e2e.order_support import line, order_body
from tests.e2e.shop_support import PASSWORD

STAFF_SCOPES = ("users:read", "users:write", "users:staff")


@dataclass
class ShopOverServiceBus:
    functions: dict[str, func.Function]
    sender: RecordingSender
    queue: Queue
    clock: VirtualClock
    duplicate: bool
    served: int = 0

    def user(self, name: str) -> Any:
        return self.functions[name].get_user_function()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        token: str | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = b""
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        target = f"{path}?{urlencode(params)}" if params else path
        self.served += 1
        response = await self.user(FUNCTION_NAME)(
            req=request(method, target, headers=headers, body=data),
            context=InvocationContext(FUNCTION_NAME, f"http-{self.served}"),
        )
        text = response.get_body()
        return response.status_code, json.loads(text) if text else None

    async def token(self) -> str:
        await self.user(FUNCTION_NAME).faaskit_handler.start()
        return str(
            self.user(FUNCTION_NAME).faaskit_handler.runtime.tokens.mint("staff-1", STAFF_SCOPES)
        )

    async def deliver(self) -> None:
        """What the host does: hand the queue to the Service Bus function, fire the timer,
        again until the timer relays nothing."""
        sweeper = self.user(SWEEP_FUNCTION).faaskit_handler
        for _ in range(5):
            assert (
                await self.queue.pump(self.user(SERVICEBUS_FUNCTION), duplicate=self.duplicate)
                == []
            )
            swept = await sweeper.handle(timer_request(), InvocationContext(SWEEP_FUNCTION))
            if swept["relayed"] == 0:
                return
        raise AssertionError("still relaying after 5 sweeps")

    async def later(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        await self.deliver()

    async def mailbox(self, to: str) -> list[dict[str, Any]]:
        status, letters = await self.request(
            "GET", "/mailbox", params={"to": to}, token=await self.token()
        )
        assert status == 200, letters
        return list(letters)

    async def close(self) -> None:
        await self.user(FUNCTION_NAME).faaskit_handler.close()


@pytest.fixture(params=["relayed", "duplicated", "lossy"])
async def shop(
    request: pytest.FixtureRequest, backend_url: str, tmp_path: Path
) -> AsyncIterator[ShopOverServiceBus]:
    from shop import app

    clock = VirtualClock()
    queue = Queue(clock)
    sender = RecordingSender(queue)
    relay: Any = ServiceBusRelay("shop", sender=sender, clock=clock)
    if request.param == "lossy":
        relay = LosingRelay(relay)
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    functions = function_app(app, settings=settings, servicebus=True, relay=relay, clock=clock)
    shaped = ShopOverServiceBus(
        {f.get_function_name(): f for f in functions.get_functions()},
        sender,
        queue,
        clock,
        request.param == "duplicated",
    )
    try:
        yield shaped
    finally:
        await shaped.close()


async def test_a_registration_sends_each_email_exactly_once(shop: ShopOverServiceBus) -> None:
    email = "welcome@example.com"
    status, body = await shop.request(
        "POST", "/register", body={"email": email, "name": "Wel Come"}
    )
    assert status == 201, body

    await shop.deliver()  # user.registered → the subscriber schedules both emails
    assert await shop.mailbox(email) == []  # nothing due yet
    await shop.later(timedelta(minutes=5, seconds=1))
    after_welcome = [letter["template"] for letter in await shop.mailbox(email)]
    await shop.later(timedelta(days=3))
    await shop.later(timedelta(minutes=30))  # and nothing more arrives later

    assert after_welcome == ["welcome"]
    assert sorted(letter["template"] for letter in await shop.mailbox(email)) == [
        "onboarding-reminder",
        "welcome",
    ]
    targets = shop.sender.targets()
    for target in ("sub:schedule_user_onboarding", "task:send_welcome_email"):
        assert target in targets
    relay = shop.user(FUNCTION_NAME).faaskit_handler.runtime.relay
    if isinstance(relay, LosingRelay):
        assert {d.target for d in relay.lost} >= {"task:send_welcome_email"}
    else:  # the emails were relayed scheduled, 5 minutes and 3 days ahead
        scheduled = [m for m in shop.sender.sent if m.scheduled_enqueue_time_utc is not None]
        assert len(scheduled) == 2
    if shop.duplicate:
        handed = [message.message_id for message in shop.queue.handed]
        assert len(handed) > len(set(handed))  # the function did see duplicates


async def test_an_order_is_projected_and_found_through_the_relay(
    shop: ShopOverServiceBus,
) -> None:
    staff = await shop.token()
    new_user = {"email": "buyer@example.com", "name": "Buy Er", "password": PASSWORD}
    _, created = await shop.request("POST", "/users", body=new_user, token=staff)
    await shop.request("POST", f"/users/{created['id']}/activate", token=staff)
    credentials = {"email": "buyer@example.com", "password": PASSWORD}
    _, issued = await shop.request("POST", "/auth/token", body=credentials)
    token = issued["access_token"]

    placed, accepted = await shop.request(
        "POST", "/orders", body=order_body(line("Brass Lamp", 2, 15.5)), token=token
    )
    await shop.deliver()  # the timer's sweep catches the read model up
    found, page = await shop.request("GET", "/orders", params={"q": "brass"}, token=token)

    assert placed == 202, accepted
    assert found == 200, page
    assert [item["order_id"] for item in page["items"]] == [accepted["order_id"]]
    letters = await shop.mailbox("buyer@example.com")
    assert [letter["template"] for letter in letters] == ["activated"]
