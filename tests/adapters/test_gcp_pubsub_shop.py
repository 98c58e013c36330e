"""The shop on Google Cloud Functions with its outbox relayed through Pub/Sub, on both
backends: a registration's welcome and onboarding emails go out exactly once — also when
every push is duplicated and when relays are lost and only the sweep brings them back.

In-process, the HTTP function takes Flask requests and the event function sits behind
functions-framework's own app (its conversion of every push shape), on a virtual clock.
End to end, both run in real functions-framework servers (gunicorn): the test registers
over HTTP, reads what the PubSubRelay published (a recording PublisherClient in the
server writes it to a spool file), pushes it to the event function's server as Pub/Sub
push bodies, and moves the servers' clock (a file) to make the emails due."""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
import httpx
import pytest

from faaskit.adapters.gcp import HttpFunction, http_function
from faaskit.adapters.gcp_events import event_function
from faaskit.adapters.gcp_pubsub import PubSubRelay
from faaskit.config import Settings
from faaskit.runtime.runtime import Runtime
from faaskit.testing import VirtualClock
from tests.adapters.gcp_events_support import (
    RELAY_TOPIC,
    SHAPES,
    SWEEP,
    FileClock,
    Message,
    Published,
    RecordingPublisher,
    Spool,
    framework_client,
    post,
    serve,
    shaped,
)

MAILBOX_SCOPES = ("users:write", "users:staff")
MODES = ["relayed", "duplicated", "lossy"]


@dataclass
class ShopOverPubSub:
    """Drives the shop as Pub/Sub and Cloud Scheduler would: push what was published,
    push a sweep, push what the sweep relayed, until a sweep relays nothing."""

    request: Callable[..., tuple[int, Any]]
    take: Callable[[], list[Published]]
    push: Callable[[Published, int], None]
    sweep: Callable[[], None]
    advance: Callable[[timedelta], None]
    token: Callable[[str, tuple[str, ...]], str]
    mode: str
    pushed: list[str] = field(default_factory=list)
    lost: list[Published] = field(default_factory=list)
    relayed: list[Published] = field(default_factory=list)

    def pump(self) -> int:
        """Push what was published since; how many were published (lost ones too)."""
        taken = 0
        while batch := self.take():
            taken += len(batch)
            for published in batch:
                self.relayed.append(published)
                if self.mode == "lossy" and len(self.relayed) % 2:
                    self.lost.append(published)  # Pub/Sub never pushes it
                    continue
                for _ in range(2 if self.mode == "duplicated" else 1):
                    self.push(published, len(self.pushed))
                    self.pushed.append(published.message_id)
        return taken

    def deliver(self) -> None:
        self.pump()
        for _ in range(8):
            self.sweep()
            if self.pump() == 0:
                return
        raise AssertionError("still relaying after 8 sweeps")

    def later(self, delta: timedelta) -> None:
        self.advance(delta)
        self.deliver()

    def mailbox(self, to: str) -> list[str]:
        status, letters = self.request(
            "GET", f"/mailbox?to={to}", token=self.token("staff-1", MAILBOX_SCOPES)
        )
        assert status == 200, letters
        return sorted(letter["template"] for letter in letters)


def registration_sends_each_email_exactly_once(shop: ShopOverPubSub) -> None:
    email = "welcome@example.com"
    status, body = shop.request("POST", "/register", body={"email": email, "name": "Wel Come"})
    assert status == 201, body

    shop.deliver()  # user.registered → the subscriber schedules both emails
    before = shop.mailbox(email)
    shop.later(timedelta(minutes=5, seconds=1))
    after_welcome = shop.mailbox(email)
    shop.later(timedelta(days=3))
    shop.later(timedelta(minutes=30))  # and nothing more arrives later
    shop.deliver()

    assert before == []  # nothing due yet: nothing relayed before its time
    assert after_welcome == ["welcome"]
    assert shop.mailbox(email) == ["onboarding-reminder", "welcome"]
    targets = [published.names()["target"] for published in shop.relayed]
    for target in (
        "sub:schedule_user_onboarding",
        "task:send_welcome_email",
        "task:send_onboarding_followup",
    ):
        assert target in targets
    if shop.mode == "lossy":
        assert shop.lost  # and every lost one was relayed again by a sweep
        assert {p.names()["target"] for p in shop.lost} <= set(targets)
    if shop.mode == "duplicated":
        assert len(shop.pushed) == 2 * len(set(shop.pushed))


# -- in-process --------------------------------------------------------------------------------


def _flask_request(
    function: HttpFunction, method: str, path: str, body: Any, token: str | None
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = None if body is None else json.dumps(body)
    with flask.Flask("ff").test_request_context(
        path, method=method, headers=headers, data=data, content_type="application/json"
    ):
        answer = function(flask.request)
    text = answer.get_data()
    return answer.status_code, json.loads(text) if text else None


@pytest.fixture(params=MODES)
def in_process(
    request: pytest.FixtureRequest,
    backend_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ShopOverPubSub]:
    from shop import app

    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    clock = VirtualClock()
    publisher = RecordingPublisher()
    http = http_function(
        app,
        settings=settings,
        clock=clock,
        relay=PubSubRelay(RELAY_TOPIC, client=publisher, clock=clock),
    )
    events = event_function(
        app,
        settings=settings,
        clock=clock,
        relay=PubSubRelay(RELAY_TOPIC, client=publisher, clock=clock),
    )
    client = framework_client(events, tmp_path, monkeypatch)

    def take() -> list[Published]:
        taken, publisher.published = publisher.published, []
        return taken

    def push(published: Published, index: int) -> None:
        # every shape functions-framework converts, in turn
        status, body = post(client, shaped(published.as_message(), SHAPES[index % len(SHAPES)]))
        assert status == 200, body

    def sweep() -> None:
        status, body = post(client, shaped(Message(SWEEP), "push"))
        assert status == 200, body

    try:
        yield ShopOverPubSub(
            request=lambda method, path, *, body=None, token=None: _flask_request(
                http, method, path, body, token
            ),
            take=take,
            push=push,
            sweep=sweep,
            advance=clock.advance,
            token=lambda subject, scopes: http.runtime.tokens.mint(subject, scopes),
            mode=request.param,
        )
    finally:
        http.close()
        events.close()


def test_a_registration_sends_each_email_exactly_once(in_process: ShopOverPubSub) -> None:
    registration_sends_each_email_exactly_once(in_process)


# -- end to end through two functions-framework servers ---------------------------------------

MAIN_PY = """
import os
from pathlib import Path

import functions_framework

from faaskit.adapters.gcp import http_function
from faaskit.adapters.gcp_events import event_function
from faaskit.adapters.gcp_pubsub import PubSubRelay
from shop import app
from tests.adapters.gcp_events_support import FileClock, RecordingPublisher

clock = FileClock(Path(os.environ["FAASKIT_TEST_CLOCK"]))
spool = RecordingPublisher(Path(os.environ["FAASKIT_TEST_SPOOL"]))
relay = PubSubRelay(client=spool, clock=clock)  # the topic: FAASKIT_PUBSUB_TOPIC

handler = functions_framework.http(http_function(app, relay=relay, clock=clock))
events = functions_framework.cloud_event(event_function(app, relay=relay, clock=clock))
"""


@pytest.fixture(params=["duplicated", "lossy"])
def over_http(
    request: pytest.FixtureRequest, backend_url: str, tmp_path: Path
) -> Iterator[ShopOverPubSub]:
    from shop import app

    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    source = tmp_path / "fn" / "main.py"
    source.parent.mkdir()
    source.write_text(textwrap.dedent(MAIN_PY))
    clock = FileClock(tmp_path / "clock.txt")
    spool = Spool(tmp_path / "published.jsonl")
    env = {
        "FAASKIT_DATABASE_URL": settings.database_url,
        "FAASKIT_HOME": str(settings.data_dir),
        "FAASKIT_PUBSUB_TOPIC": RELAY_TOPIC,
        "FAASKIT_TEST_CLOCK": str(clock.path),
        "FAASKIT_TEST_SPOOL": str(spool.path),
    }
    runtime = Runtime(app, settings)  # the servers' key file: its tokens verify there
    servers = contextlib.ExitStack()
    with servers:
        shop_url = servers.enter_context(serve(source, "handler", env, tmp_path)).url
        events_url = servers.enter_context(serve(source, "events", env, tmp_path)).url
        shop = servers.enter_context(httpx.Client(base_url=shop_url, timeout=30))
        pushes = servers.enter_context(httpx.Client(base_url=events_url, timeout=30))
        yield from _over(runtime, shop, pushes, clock, spool, request.param)


def _over(
    runtime: Runtime,
    shop: httpx.Client,
    pushes: httpx.Client,
    clock: FileClock,
    spool: Spool,
    mode: str,
) -> Iterator[ShopOverPubSub]:

    def http_request(
        method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = shop.request(method, path, json=body, headers=headers)
        return response.status_code, response.json() if response.content else None

    def push(published: Published, index: int) -> None:
        status, body = post(pushes, shaped(published.as_message(), "push"))
        assert status == 200, body

    def sweep() -> None:
        status, body = post(pushes, shaped(Message(SWEEP), "push"))
        assert status == 200, body

    yield ShopOverPubSub(
        request=http_request,
        take=spool.take,
        push=push,
        sweep=sweep,
        advance=clock.advance,
        token=runtime.tokens.mint,
        mode=mode,
    )


def test_a_registration_over_functions_framework_sends_each_email_once(
    over_http: ShopOverPubSub,
) -> None:
    registration_sends_each_email_exactly_once(over_http)
