"""The shop on Lambda with its outbox relayed through SQS (moto in server mode), on both
backends: a registration's welcome and onboarding emails go out exactly once — also when
SQS delivers every message twice and when relays are lost — and an order placed is
projected by the sweep, as Lambda's poller and a one-minute schedule would drive it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from faaskit.adapters.aws import lambda_handler
from faaskit.adapters.aws_sqs import SQSRelay
from faaskit.config import Settings
from faaskit.testing import VirtualClock
from tests.adapters.relay_support import LosingRelay
from tests.adapters.sqs_support import Queue, RecordingClient
from tests.adapters.test_aws_shop import ShopOverLambda
from tests.e2e.order_support import line, order_body
from tests.e2e.shop_support import PASSWORD

MAILBOX_SCOPES = ("users:write", "users:staff")


@dataclass
class ShopOverSQS:
    shop: ShopOverLambda
    queue: Queue
    client: RecordingClient
    clock: VirtualClock
    duplicate: bool

    def deliver(self) -> None:
        """What Lambda's poller and the schedule do: pump the queue, sweep, pump again."""
        for _ in range(5):
            failed = [
                f
                for batch in self.queue.pump(self.shop.handler, duplicate=self.duplicate)
                for f in batch.failed
            ]
            assert failed == []
            if self.shop.handler({"faaskit": "sweep"})["relayed"] == 0:
                return
        raise AssertionError("still relaying after 5 sweeps")

    def later(self, delta: timedelta) -> None:
        self.clock.advance(delta)
        self.deliver()

    def mailbox(self, to: str) -> list[dict[str, Any]]:
        token = self.shop.handler.runtime.tokens.mint("staff-1", MAILBOX_SCOPES)
        status, letters = self.shop.request("GET", "/mailbox", params={"to": to}, token=token)
        assert status == 200, letters
        return list(letters)

    def relayed_targets(self) -> list[str]:
        return [json.loads(e["MessageBody"])["target"] for e in self.client.entries]


@pytest.fixture(params=["relayed", "duplicated", "lossy"])
def shop(
    request: pytest.FixtureRequest, backend_url: str, tmp_path: Path, queue: Queue
) -> Iterator[ShopOverSQS]:
    from shop import app

    clock = VirtualClock()
    client = RecordingClient(queue.client)
    relay: Any = SQSRelay(queue.url, client=client, clock=clock)
    if request.param == "lossy":
        relay = LosingRelay(relay)
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    handler = lambda_handler(app, settings=settings, relay=relay, clock=clock)
    try:
        yield ShopOverSQS(
            ShopOverLambda(handler, "v2"), queue, client, clock, request.param == "duplicated"
        )
    finally:
        handler.close()


def test_a_registration_sends_each_email_exactly_once(shop: ShopOverSQS) -> None:
    email = "welcome@example.com"
    status, body = shop.shop.request("POST", "/register", body={"email": email, "name": "Wel Come"})
    assert status == 201, body

    shop.deliver()  # user.registered → the subscriber schedules both emails
    assert shop.mailbox(email) == []  # nothing due yet
    shop.later(timedelta(minutes=5, seconds=1))
    after_welcome = [letter["template"] for letter in shop.mailbox(email)]
    shop.later(timedelta(days=3))
    shop.later(timedelta(minutes=30))  # and nothing more arrives later

    assert after_welcome == ["welcome"]
    assert sorted(letter["template"] for letter in shop.mailbox(email)) == [
        "onboarding-reminder",
        "welcome",
    ]
    targets = shop.relayed_targets()
    for target in ("sub:schedule_user_onboarding", "task:send_welcome_email"):
        assert target in targets
    relay = shop.shop.handler.runtime.relay
    if isinstance(relay, LosingRelay):
        assert {d.target for d in relay.lost} >= {"task:send_welcome_email"}
    if shop.duplicate:
        handed = [r["body"] for batch in shop.queue.rounds for r in batch.event["Records"]]
        assert len(handed) > len(set(handed))  # the handler did see duplicates


def test_an_order_is_projected_and_found_through_the_relay(shop: ShopOverSQS) -> None:
    over = shop.shop
    staff = over.handler.runtime.tokens.mint("staff-1", ("users:read", *MAILBOX_SCOPES))
    new_user = {"email": "buyer@example.com", "name": "Buy Er", "password": PASSWORD}
    _, created = over.request("POST", "/users", body=new_user, token=staff)
    over.request("POST", f"/users/{created['id']}/activate", token=staff)
    credentials = {"email": "buyer@example.com", "password": PASSWORD}
    _, issued = over.request("POST", "/auth/token", body=credentials)
    token = issued["access_token"]

    placed, accepted = over.request(
        "POST", "/orders", body=order_body(line("Brass Lamp", 2, 15.5)), token=token
    )
    shop.deliver()  # the sweep catches the read model up
    found, page = over.request("GET", "/orders", params={"q": "brass"}, token=token)

    assert placed == 202, accepted
    assert found == 200, page
    assert [item["order_id"] for item in page["items"]] == [accepted["order_id"]]
    letters = shop.mailbox("buyer@example.com")
    assert [letter["template"] for letter in letters] == ["activated"]


def test_an_order_is_found_as_soon_as_the_queue_is_pumped(shop: ShopOverSQS) -> None:
    """The order's events relay a nudge to the read model's projection: no sweep needed
    (unless that nudge was lost: then the sweep makes it good)."""
    over = shop.shop
    staff = over.handler.runtime.tokens.mint("staff-1", ("users:read", *MAILBOX_SCOPES))
    new_user = {"email": "quick@example.com", "name": "Qui Ck", "password": PASSWORD}
    _, created = over.request("POST", "/users", body=new_user, token=staff)
    over.request("POST", f"/users/{created['id']}/activate", token=staff)
    credentials = {"email": "quick@example.com", "password": PASSWORD}
    _, issued = over.request("POST", "/auth/token", body=credentials)
    token = issued["access_token"]

    placed, accepted = over.request(
        "POST", "/orders", body=order_body(line("Quick Lamp", 1, 9.5)), token=token
    )
    assert placed == 202, accepted
    shop.queue.pump(over.handler, duplicate=shop.duplicate)  # the queue only, no sweep
    found, page = over.request("GET", "/orders", params={"q": "quick"}, token=token)
    assert found == 200, page

    relay = over.handler.runtime.relay
    lost = isinstance(relay, LosingRelay) and any(
        d.target.startswith("projection:") for d in relay.lost
    )
    if lost:
        assert page["items"] == []
        shop.deliver()
        _, page = over.request("GET", "/orders", params={"q": "quick"}, token=token)
    else:
        assert "projection:orders_view" in shop.relayed_targets()
    assert [item["order_id"] for item in page["items"]] == [accepted["order_id"]]
