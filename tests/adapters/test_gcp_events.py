"""The Pub/Sub CloudEvent function, in-process through functions-framework's own Flask app
(its conversion of each shape), on both backends: relayed deliveries handled once, sweeps,
notifications from other topics published once whichever id field names them, the
reference events, and every unreadable or unwanted event refused (a 500: Pub/Sub
redelivers), never acknowledged silently."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from faaskit.adapters.gcp_events import (
    EventFunction,
    ForeignMessageError,
    MalformedMessageError,
    UnsubscribedTopicError,
    UnsupportedEventError,
    event_function,
)
from faaskit.adapters.gcp_messages import pubsub_message
from faaskit.adapters.gcp_pubsub import PubSubRelay
from faaskit.config import Settings
from faaskit.testing import VirtualClock
from tests.adapters.gcp_events_support import (
    RELAY_TOPIC,
    SHAPES,
    SUBSCRIPTION,
    SWEEP,
    Message,
    Push,
    RecordingPublisher,
    Spool,
    cloud_event,
    envelope,
    fixture,
    framework_client,
    post,
    publish,
    read_runs,
    recording_app,
    serve,
    shaped,
    stored,
    topic_path,
)

GCF_TEST = topic_path("gcf-test")


@pytest.fixture
def settings(backend_url: str, tmp_path: Path) -> Settings:
    return Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def function(
    settings: Settings, publisher: RecordingPublisher, clock: VirtualClock
) -> Iterator[EventFunction]:
    relay = PubSubRelay(RELAY_TOPIC, client=publisher, clock=clock)
    made = event_function(recording_app(), settings=settings, relay=relay, clock=clock)
    yield made
    made.close()


@pytest.fixture
def client(function: EventFunction, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    return framework_client(function, tmp_path, monkeypatch)


def runs(function: EventFunction) -> list[dict[str, Any]]:
    return function.run(stored(function.runtime, "runs"))


def push_relayed(client: Any, publisher: RecordingPublisher, shape: str = "push") -> int:
    """Push every message the relay published so far (and forget them); how many."""
    taken, publisher.published = publisher.published, []
    for published in taken:
        status, body = post(client, shaped(published.as_message(), shape))
        assert status == 200, body
    return len(taken)


def raw(body: Any, path: str = f"/{RELAY_TOPIC}") -> Push:
    return Push(path, {"Content-Type": "application/json"}, json.dumps(body).encode())


# -- relayed deliveries, notifications and sweeps in every shape ------------------------------


@pytest.mark.parametrize("shape", SHAPES)
def test_a_relayed_delivery_is_handled_once_in_every_shape(
    shape: str, function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    publish(function.runtime, "things", {"n": 1}, key="thing-1")
    (relayed,) = publisher.published
    message = relayed.as_message()

    first = post(client, shaped(message, shape))
    again = post(client, shaped(message, shape))  # Pub/Sub delivers at least once

    assert (first[0], again[0]) == (200, 200)
    assert relayed.topic == RELAY_TOPIC and relayed.ordering_key == "thing-1"
    assert relayed.names()["target"] == "sub:on_thing"
    assert [(r["data"], r["handler"], r["key"]) for r in runs(function)] == [
        ({"n": 1}, "on_thing", "thing-1")
    ]


@pytest.mark.parametrize("shape", SHAPES)
def test_a_notification_is_published_once_in_every_shape(
    shape: str, function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    message = Message(b'{"colour": "brass"}', attributes={"origin": "billing"}, topic=GCF_TEST)

    statuses = [post(client, shaped(message, shape))[0] for _ in range(2)]
    push_relayed(client, publisher)

    assert statuses == [200, 200]
    (run,) = runs(function)
    assert run["message_id"] == f"pubsub:{GCF_TEST}:{message.message_id}"
    assert (run["topic"], run["data"], run["headers"]) == (
        "gcf-test",
        {"colour": "brass"},
        {"origin": "billing"},
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_a_sweep_in_every_shape_relays_what_was_lost(
    shape: str, function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    publisher.fail_next(1)  # the relay after the commit is lost
    publish(function.runtime, "things", {"n": 2})
    assert publisher.published == []

    status, _ = post(client, shaped(Message(SWEEP), shape))
    pushed = push_relayed(client, publisher)

    assert status == 200 and pushed == 1
    assert [r["data"] for r in runs(function)] == [{"n": 2}]


def test_a_sweep_answers_what_it_did(
    function: EventFunction, publisher: RecordingPublisher
) -> None:
    publisher.fail_next(1)
    publish(function.runtime, "things", {"n": 3})

    answer = function(cloud_event(Message(SWEEP)))

    assert answer == {"faaskit": "sweep", "relayed": 1, "projected": 0}


def test_without_a_relay_a_sweep_delivers_what_is_due_itself(settings: Settings) -> None:
    function = event_function(recording_app(), settings=settings)
    try:
        publish(function.runtime, "things", {"n": 4})
        answer = function(cloud_event(Message(SWEEP)))
        assert answer["handled"] == 1
        assert [r["data"] for r in runs(function)] == [{"n": 4}]
    finally:
        function.close()


# -- the duplicate id fields -------------------------------------------------------------------


@pytest.mark.parametrize("ids", ["both", "camel", "snake", "neither"])
@pytest.mark.parametrize("shape", ["binary", "structured"])
def test_either_id_field_names_the_message(
    ids: str, shape: str, function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    # "neither": only the CloudEvent's id (the same message id) is left
    message = Message(b"plain text", topic=GCF_TEST)

    first = post(client, shaped(message, shape, ids=ids))
    other = post(client, shaped(message, shape, ids="both" if ids != "both" else "snake"))
    push_relayed(client, publisher)

    assert (first[0], other[0]) == (200, 200)
    (run,) = runs(function)  # the second spelling named the same message: dropped
    assert (run["message_id"], run["data"]) == (
        f"pubsub:{GCF_TEST}:{message.message_id}",
        "plain text",
    )


def test_messageId_wins_over_message_id_and_the_event_id() -> None:
    event = cloud_event(Message(b"x", message_id="event-id"))
    event.data["message"].update(messageId="camel", message_id="snake")

    assert pubsub_message(event).message_id == "camel"
    del event.data["message"]["messageId"]
    assert pubsub_message(event).message_id == "snake"


def test_a_raw_push_with_only_message_id_is_refused_by_the_framework(client: Any) -> None:
    # functions-framework reads a raw push only with messageId; otherwise it answers 400
    # (Pub/Sub redelivers it): refused, not acknowledged
    status, _ = post(client, raw(envelope(Message(b"x", topic=GCF_TEST), ids="snake")))

    assert status == 400


# -- reference events ----------------------------------------------------------------------------


def test_the_conformance_structured_event_is_published_on_its_topic(
    function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    event = fixture("conformance-pubsub_text-cloudevent-input")
    push = Push("/", {"Content-Type": "application/cloudevents+json"}, json.dumps(event).encode())

    status, _ = post(client, push)
    push_relayed(client, publisher)

    assert status == 200
    (run,) = runs(function)
    assert (run["topic"], run["data"], run["headers"]) == (
        "gcf-test",
        "test message 3",
        {"attr1": "attr1-value"},
    )
    assert run["message_id"] == (
        "pubsub:projects/sample-project/topics/gcf-test:aaaaaa-1111-bbbb-2222-cccccccccccc"
    )


def test_the_conformance_legacy_event_is_published_like_its_cloudevent(
    function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    legacy = fixture("conformance-legacy_pubsub-legacy-input")
    expected = pubsub_message(fixture("conformance-legacy_pubsub-cloudevent-output"))

    status, _ = post(client, raw(legacy, "/"))
    push_relayed(client, publisher)

    assert status == 200
    assert expected.topic == "projects/sample-project/topics/gcf-test"
    assert expected.data == b"This is a sample message"
    (run,) = runs(function)
    assert (run["topic"], run["data"], run["headers"]) == (
        "gcf-test",
        "This is a sample message",
        {"attribute1": "value1"},
    )
    assert run["message_id"] == f"pubsub:{expected.topic}:{expected.message_id}"


@pytest.mark.parametrize("shape", ["push", "binary"])
def test_the_google_cloudevents_message_published_data(
    shape: str, function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    data = fixture("cloudevents-MessagePublishedData-text")
    topic = "projects/my-project/topics/gcf-test"
    if shape == "push":
        push = raw(data, f"/{topic}")
    else:
        headers = {
            "ce-specversion": "1.0",
            "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
            "ce-source": f"//pubsub.googleapis.com/{topic}",
            "ce-id": "message-id",
            "Content-Type": "application/json",
        }
        push = Push("/", headers, json.dumps(data).encode())

    status, _ = post(client, push)
    push_relayed(client, publisher)

    assert status == 200
    assert [(r["data"], r["message_id"]) for r in runs(function)] == [
        ("test message 3", f"pubsub:{topic}:message-id")
    ]


def test_a_storage_event_is_refused(function: EventFunction, client: Any) -> None:
    event = fixture("conformance-storage-cloudevent-input")
    push = Push("/", {"Content-Type": "application/cloudevents+json"}, json.dumps(event).encode())

    status, _ = post(client, push)
    with pytest.raises(UnsupportedEventError, match=r"storage\.object\.v1\.finalized"):
        function(event)

    assert status == 500
    assert runs(function) == []


def test_a_binary_storage_event_is_refused(client: Any) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.storage.object.v1.finalized",
        "ce-source": "//storage.googleapis.com/projects/_/buckets/some-bucket",
        "ce-id": "1",
        "Content-Type": "application/json",
    }
    body = json.dumps(fixture("cloudevents-StorageObjectData-simple")).encode()

    assert post(client, Push("/", headers, body))[0] == 500


def test_a_scheduler_event_sweeps_only_when_it_says_so(
    function: EventFunction, publisher: RecordingPublisher
) -> None:
    from cloudevents.http import CloudEvent

    attributes = {
        "type": "google.cloud.scheduler.job.v1.executed",
        "source": "//cloudscheduler.googleapis.com/projects/p/locations/l/jobs/sweep",
        "id": "job-run-1",
    }
    publisher.fail_next(1)
    publish(function.runtime, "things", {"n": 5})

    swept = function(CloudEvent(attributes, {"customData": base64.b64encode(SWEEP).decode()}))
    with pytest.raises(UnsubscribedTopicError, match="does not name its topic"):
        function(CloudEvent(attributes, fixture("cloudevents-SchedulerJobData-simple")))

    assert swept["relayed"] == 1


# -- refused: a typed error, a 500, never a silent acknowledgement --------------------------------

NOT_JSON_BINARY = Push(
    "/",
    {
        "ce-specversion": "1.0",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-source": f"//pubsub.googleapis.com/{GCF_TEST}",
        "ce-id": "m-1",
        "Content-Type": "text/plain",
    },
    b"hello, not JSON",
)


def _with_message(**message: Any) -> dict[str, Any]:
    return {"message": {"messageId": "m-2", **message}, "subscription": SUBSCRIPTION}


REFUSED = {
    "invalid base64": (
        raw(_with_message(data="no base64!"), f"/{GCF_TEST}"),
        MalformedMessageError,
    ),
    "base64 cut short": (raw(_with_message(data="YWJjZ"), f"/{GCF_TEST}"), MalformedMessageError),
    "data not JSON": (NOT_JSON_BINARY, MalformedMessageError),
    "missing message": (
        Push(
            "/",
            {"Content-Type": "application/cloudevents+json"},
            json.dumps(
                {
                    "specversion": "1.0",
                    "type": "google.cloud.pubsub.topic.v1.messagePublished",
                    "source": f"//pubsub.googleapis.com/{GCF_TEST}",
                    "id": "m-3",
                    "data": {"subscription": SUBSCRIPTION},
                }
            ).encode(),
        ),
        MalformedMessageError,
    ),
    "neither JSON nor text": (
        shaped(Message(b"\xff\xfe\x00binary", topic=GCF_TEST), "binary"),
        MalformedMessageError,
    ),
    "no subscriber": (
        shaped(Message(b"{}", topic=topic_path("nobody-listens")), "binary"),
        UnsubscribedTopicError,
    ),
    "unknown topic": (raw(envelope(Message(b"{}")), "/"), UnsubscribedTopicError),
    "foreign on the relay topic": (
        shaped(Message(b'{"hello": 1}', topic=RELAY_TOPIC), "push"),
        ForeignMessageError,
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_an_event_it_cannot_take_is_a_500_and_stores_nothing(
    case: str, function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    push, _ = REFUSED[case]

    status, _ = post(client, push)

    assert status == 500
    assert publisher.published == []  # no notification, no relay
    assert runs(function) == []


def test_each_refusal_is_a_typed_error(function: EventFunction) -> None:
    from cloudevents.http import from_http

    for case, (push, error) in REFUSED.items():
        if case == "unknown topic":  # functions-framework's conversion of a raw push
            event = cloud_event(Message(b"{}"), source="//pubsub.googleapis.com/")
        else:
            headers = push.headers
            if push.path != "/":  # a raw push: as the framework converts it
                headers = {
                    "ce-specversion": "1.0",
                    "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
                    "ce-source": f"//pubsub.googleapis.com{push.path}",
                    "ce-id": "m-2",
                    "Content-Type": "application/json",
                }
            event = from_http(headers, push.body)
        with pytest.raises(error):
            function(event)


def test_something_other_than_a_cloudevent_is_refused(function: EventFunction) -> None:
    with pytest.raises(UnsupportedEventError, match="expected a CloudEvent"):
        function("hello")


# -- failures ------------------------------------------------------------------------------------


def test_an_unreachable_store_is_a_500_and_the_redelivery_is_handled(
    function: EventFunction, client: Any, publisher: RecordingPublisher, monkeypatch: Any
) -> None:
    publish(function.runtime, "things", {"n": 6})
    (relayed,) = publisher.published
    store = function.runtime.store

    async def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("the database is unreachable")

    monkeypatch.setattr(store, "claim_delivery", unreachable)
    refused = post(client, shaped(relayed.as_message(), "binary"))
    with pytest.raises(ConnectionError):
        function(cloud_event(relayed.as_message()))
    monkeypatch.undo()
    redelivered = post(client, shaped(relayed.as_message(), "binary"))

    assert (refused[0], redelivered[0]) == (500, 200)
    assert [r["data"] for r in runs(function)] == [{"n": 6}]


def test_a_failing_handler_is_not_an_error_and_the_sweep_retries_it(
    function: EventFunction, client: Any, publisher: RecordingPublisher, clock: VirtualClock
) -> None:
    publish(function.runtime, "flaky", {"n": 7})
    function.runtime.fail_next("on_flaky")

    failed = push_relayed(client, publisher)
    clock.advance(timedelta(minutes=10))  # past the retry's backoff
    status, _ = post(client, shaped(Message(SWEEP), "push"))
    retried = push_relayed(client, publisher)

    assert (failed, status, retried) == (1, 200, 1)
    assert [(r["data"], r["attempt"]) for r in runs(function)] == [({"n": 7}, 2)]


def test_a_delivery_not_due_is_not_relayed_until_a_sweep_finds_it_due(
    function: EventFunction, client: Any, publisher: RecordingPublisher, clock: VirtualClock
) -> None:
    publish(function.runtime, "things", {"n": 8}, delay=timedelta(minutes=5))
    early = len(publisher.published)
    post(client, shaped(Message(SWEEP), "push"))
    still_early = len(publisher.published)
    clock.advance(timedelta(minutes=5))
    post(client, shaped(Message(SWEEP), "push"))

    assert (early, still_early) == (0, 0)
    assert push_relayed(client, publisher) == 1
    assert [r["data"] for r in runs(function)] == [{"n": 8}]


def test_only_the_first_event_of_the_process_is_cold(
    function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    publish(function.runtime, "things", {"n": 9})
    publish(function.runtime, "things", {"n": 10})

    push_relayed(client, publisher)

    assert sorted((r["data"]["n"], r["cold_start"]) for r in runs(function)) == [
        (9, True),
        (10, False),
    ]


def test_topics_map_a_topic_or_subscription_to_a_faaskit_topic(
    settings: Settings, publisher: RecordingPublisher
) -> None:
    relay = PubSubRelay(RELAY_TOPIC, client=publisher)
    function = event_function(
        recording_app(),
        settings=settings,
        relay=relay,
        topics={"billing-events": "gcf-test", "faaskit-relay-push": "things"},
    )
    try:
        by_topic = function(cloud_event(Message(b"1", topic=topic_path("billing-events"))))
        by_subscription = function(
            cloud_event(Message(b"2"), source="//pubsub.googleapis.com/")  # topic unknown
        )
        assert (by_topic["topic"], by_subscription["topic"]) == ("gcf-test", "things")
    finally:
        function.close()


# -- end to end through the functions-framework server -------------------------------------------

SERVED_MAIN_PY = """
import os
from pathlib import Path

import functions_framework

from faaskit.adapters.gcp_events import event_function
from faaskit.adapters.gcp_pubsub import PubSubRelay
from tests.adapters.gcp_events_support import RecordingPublisher, recording_app

relay = PubSubRelay(client=RecordingPublisher(Path(os.environ["FAASKIT_TEST_SPOOL"])))
events = functions_framework.cloud_event(event_function(recording_app(), relay=relay))
"""


def test_every_shape_through_the_functions_framework_server(
    settings: Settings, tmp_path: Path
) -> None:
    import httpx

    source = tmp_path / "fn" / "main.py"
    source.parent.mkdir()
    source.write_text(SERVED_MAIN_PY)
    spool = Spool(tmp_path / "published.jsonl")
    env = {
        "FAASKIT_DATABASE_URL": settings.database_url,
        "FAASKIT_HOME": str(settings.data_dir),
        "FAASKIT_PUBSUB_TOPIC": RELAY_TOPIC,
        "FAASKIT_TEST_SPOOL": str(spool.path),
    }
    notes = {
        shape: Message(json.dumps({"shape": shape}).encode(), topic=GCF_TEST) for shape in SHAPES
    }
    storage = fixture("conformance-storage-cloudevent-input")
    with (
        serve(source, "events", env, tmp_path) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        published = [post(client, shaped(notes[s], s))[0] for s in SHAPES for _ in range(2)]
        relayed = spool.take()
        handled = [
            post(client, shaped(r.as_message(), SHAPES[i % len(SHAPES)]))[0]
            for i, r in enumerate(relayed)
            for _ in range(2)
        ]
        swept = [post(client, shaped(Message(SWEEP), shape))[0] for shape in SHAPES]
        refused = post(
            client,
            Push(
                "/", {"Content-Type": "application/cloudevents+json"}, json.dumps(storage).encode()
            ),
        )[0]

    assert published == [200] * 10 and swept == [200] * 5
    assert len({r.names()["message_id"] for r in relayed}) == 5  # one message per note
    assert handled == [200] * 2 * len(relayed)
    assert refused == 500
    found = read_runs(recording_app(), settings)
    assert sorted((r["data"]["shape"], r["message_id"]) for r in found) == sorted(
        (shape, f"pubsub:{notes[shape].topic}:{notes[shape].message_id}") for shape in SHAPES
    )
    assert all(r["headers"] == {} and r["topic"] == "gcf-test" for r in found)


def test_a_process_forked_after_start_up_starts_afresh(
    function: EventFunction, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import os

    parent = function._process.start()
    real_pid = os.getpid()
    monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)  # as gunicorn's forked worker

    child = function.runtime
    function.close()  # the child's

    assert child is not parent.runtime and not child.started
    # a real fork leaves the parent's loop thread behind; here it still runs: stop it
    asyncio.run_coroutine_threadsafe(parent.runtime.stop(), parent.loop).result()
    parent.loop.call_soon_threadsafe(parent.loop.stop)
    parent.thread.join(timeout=10)
    parent.loop.close()


def test_a_message_of_another_topic_that_looks_like_a_relay_body_is_published(
    function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    """Only the relay topic carries delivery names: the user's data with "message_id" and
    "target" fields is a notification like any other, never taken for a delivery."""
    look_alike = b'{"message_id": "order-17", "target": "warehouse-3", "amount": 3}'
    status, _ = post(client, shaped(Message(look_alike, topic=GCF_TEST), "push"))
    push_relayed(client, publisher)

    assert status == 200
    (run,) = runs(function)
    assert run["data"] == {"message_id": "order-17", "target": "warehouse-3", "amount": 3}


def test_the_same_message_id_on_two_topics_is_two_messages(
    function: EventFunction, client: Any, publisher: RecordingPublisher
) -> None:
    """A messageId is unique within its topic only: one of another topic is not a duplicate."""
    other = topic_path("gcf-other")
    function.topics = {**function.topics, other: "gcf-test"}
    first = Message(b'"one"', topic=GCF_TEST, message_id="42")
    second = Message(b'"two"', topic=other, message_id="42")
    statuses = [post(client, shaped(m, "push"))[0] for m in (first, second)]
    push_relayed(client, publisher)

    assert statuses == [200, 200]
    assert sorted(r["data"] for r in runs(function)) == ["one", "two"]
