"""PubSubRelay: delivery names published as Pub/Sub data, ordering keys for ordered
deliveries, nothing sent before it is due, refused publishes reported (and their ordering
keys resumed); the functions' default relay from FAASKIT_PUBSUB_TOPIC; the HTTP
function relaying its commits; imports that stay light."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
import pytest

from faaskit.adapters.gcp import http_function
from faaskit.adapters.gcp_events import event_function
from faaskit.adapters.gcp_pubsub import PubSubRelay, PubSubRelayError
from faaskit.config import Settings
from faaskit.errors import ConfigurationError
from faaskit.runtime.relay import RelayedDelivery
from faaskit.testing import VirtualClock
from tests.adapters.gcp_events_support import RELAY_TOPIC, RecordingPublisher, recording_app


def run(relay: PubSubRelay, deliveries: list[RelayedDelivery]) -> None:
    import asyncio

    asyncio.run(relay.send(deliveries))


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


def now(clock: VirtualClock) -> float:
    return clock.now().timestamp()


def test_each_delivery_is_published_as_its_relay_body(clock: VirtualClock) -> None:
    client = RecordingPublisher()
    relay = PubSubRelay(RELAY_TOPIC, client=client, clock=clock)

    run(
        relay,
        [
            RelayedDelivery("m-1", "sub:a", now(clock)),
            RelayedDelivery("m-2", "sub:b", now(clock), key="order-7"),
        ],
    )

    assert [(p.topic, json.loads(p.data), p.ordering_key) for p in client.published] == [
        (RELAY_TOPIC, {"message_id": "m-1", "target": "sub:a"}, ""),
        (RELAY_TOPIC, {"message_id": "m-2", "target": "sub:b"}, "order-7"),
    ]


def test_an_ordering_key_longer_than_pubsub_takes_becomes_a_digest(clock: VirtualClock) -> None:
    client = RecordingPublisher()
    relay = PubSubRelay(RELAY_TOPIC, client=client, clock=clock)

    run(relay, [RelayedDelivery("m-1", "sub:a", now(clock), key="k" * 2000)])

    (published,) = client.published
    assert len(published.ordering_key) == 64 and published.ordering_key != "k" * 64


def test_a_delivery_not_due_is_not_sent(clock: VirtualClock) -> None:
    client = RecordingPublisher()
    relay = PubSubRelay(RELAY_TOPIC, client=client, clock=clock)
    later = now(clock) + 300

    run(
        relay, [RelayedDelivery("m-1", "sub:a", later), RelayedDelivery("m-2", "sub:b", now(clock))]
    )
    clock.advance(timedelta(seconds=300))
    run(relay, [RelayedDelivery("m-1", "sub:a", later)])

    assert [json.loads(p.data)["message_id"] for p in client.published] == ["m-2", "m-1"]


def test_refused_publishes_are_reported_and_their_keys_resumed(clock: VirtualClock) -> None:
    client = RecordingPublisher()
    relay = PubSubRelay(RELAY_TOPIC, client=client, clock=clock)
    client.fail_next(2)

    with pytest.raises(PubSubRelayError, match="did not accept 2") as raised:
        run(
            relay,
            [
                RelayedDelivery("m-1", "sub:a", now(clock), key="order-1"),
                RelayedDelivery("m-2", "sub:a", now(clock)),
                RelayedDelivery("m-3", "sub:a", now(clock)),
            ],
        )

    assert [d.message_id for d, _ in raised.value.failed] == ["m-1", "m-2"]
    assert client.resumed == [(RELAY_TOPIC, "order-1")]
    assert [json.loads(p.data)["message_id"] for p in client.published] == ["m-3"]


def test_the_topic_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAASKIT_PUBSUB_TOPIC", " projects/p/topics/t ")

    assert PubSubRelay(client=RecordingPublisher()).topic == "projects/p/topics/t"


@pytest.mark.parametrize("topic", ["", "faaskit-relay", "projects/p/subscriptions/s"])
def test_a_topic_that_is_not_a_topic_path_is_a_configuration_error(
    topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAASKIT_PUBSUB_TOPIC", raising=False)

    with pytest.raises(ConfigurationError, match="projects/PROJECT/topics/TOPIC"):
        PubSubRelay(topic or None)


def test_the_real_client_is_made_on_first_use_with_message_ordering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:1")  # no credentials needed
    relay = PubSubRelay(RELAY_TOPIC)

    client = relay.client

    assert type(client).__name__ == "PublisherClient"
    assert client.publisher_options.enable_message_ordering is True
    assert relay.client is client


@pytest.mark.parametrize("make", [http_function, event_function])
def test_the_functions_relay_to_the_topic_in_the_environment(
    make: Any, backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    monkeypatch.setenv("FAASKIT_PUBSUB_TOPIC", RELAY_TOPIC)
    with_topic = make(recording_app(), settings=settings)
    with_topic.start()  # the relay is chosen when the process starts
    monkeypatch.delenv("FAASKIT_PUBSUB_TOPIC")
    without = make(recording_app(), settings=settings)
    try:
        relay = with_topic.runtime.relay
        assert isinstance(relay, PubSubRelay) and relay.topic == RELAY_TOPIC
        assert without.runtime.relay is None
    finally:
        with_topic.close()
        without.close()


def test_the_http_function_relays_its_commits(backend_url: str, tmp_path: Path) -> None:
    from shop import app

    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    client = RecordingPublisher()
    function = http_function(app, settings=settings, relay=PubSubRelay(RELAY_TOPIC, client=client))
    try:
        with flask.Flask("ff").test_request_context(
            "/register",
            method="POST",
            data=json.dumps({"email": "relay@example.com", "name": "Re Lay"}),
            content_type="application/json",
        ):
            answer = function(flask.request)
    finally:
        function.close()

    assert answer.status_code == 201, answer.get_data()
    assert "sub:schedule_user_onboarding" in [p.names()["target"] for p in client.published]


def test_importing_the_pubsub_modules_loads_no_sdk_nor_store(tmp_path: Path) -> None:
    from tests.unit.test_import_hygiene import loaded_after

    modules = loaded_after(
        "import faaskit.adapters.gcp_events, faaskit.adapters.gcp_pubsub", tmp_path
    )

    assert "faaskit.adapters.gcp_events" in modules
    heavy = {"flask", "functions_framework", "cloudevents", "psycopg", "sqlite3", "grpc"}
    assert not heavy & modules
    # ("google" and "google.cloud" are namespace packages that site's .pth files load)
    assert not [name for name in modules if name.startswith("google.cloud.pubsub")]
