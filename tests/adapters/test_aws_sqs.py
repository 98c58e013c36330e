"""The outbox relayed through SQS (moto in server mode) and the Lambda handler's SQS and
schedule events, on both backends: the queue names deliveries, the store decides."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from faaskit import App, Context, Event
from faaskit.adapters.aws import LambdaHandler, UnsupportedEventError, lambda_handler
from faaskit.adapters.aws_sqs import SQSRelay, SQSRelayError, relay_body
from faaskit.config import Settings
from faaskit.runtime.relay import RelayedDelivery
from faaskit.testing import VirtualClock
from tests.adapters.aws_support import LambdaContext, event, http_api_event
from tests.adapters.sqs_support import Queue, RecordingClient

app = App("relayed-over-sqs")
handled: list[str] = []


class NoteIn(BaseModel):
    id: str
    remind_in: float | None = None


@app.post("/notes")
async def add_note(body: NoteIn, ctx: Context) -> dict[str, str]:
    ctx.publish("note.added", {"id": body.id}, key=f"key-{body.id}", message_id=f"note-{body.id}")
    if body.remind_in is not None:
        ctx.schedule(remind, {"id": body.id}, delay=timedelta(seconds=body.remind_in))
    return {"id": body.id}


@app.subscribe("note.added")
async def count_note(event: Event[dict[str, Any]], ctx: Context) -> None:
    handled.append(event.data["id"])


@app.task
async def remind(payload: dict[str, Any], ctx: Context) -> None:
    handled.append(f"reminder-{payload['id']}")


@dataclass
class OverSQS:
    """The app behind one Lambda handler whose relay is an SQS queue on moto."""

    handler: LambdaHandler
    queue: Queue
    client: RecordingClient
    clock: VirtualClock

    def add_note(self, id: str, *, remind_in: float | None = None) -> None:
        answer = self.handler(
            http_api_event("POST", "/notes", body={"id": id, "remind_in": remind_in}),
            LambdaContext(),
        )
        assert answer["statusCode"] < 300, answer

    def sweep(self) -> dict[str, Any]:
        return self.handler({"faaskit": "sweep"}, LambdaContext())

    def pump(self, *, duplicate: bool = False) -> list[list[str]]:
        """Deliver the queue; each batch's failures."""
        return [batch.failed for batch in self.queue.pump(self.handler, duplicate=duplicate)]

    def delays(self, target: str) -> list[int]:
        return [
            entry["DelaySeconds"]
            for entry in self.client.entries
            if json.loads(entry["MessageBody"])["target"] == target
        ]


def over_sqs(
    backend_url: str, tmp_path: Path, queue: Queue, *, relay: Any = None
) -> Iterator[OverSQS]:
    clock = VirtualClock()
    client = RecordingClient(queue.client)
    relay = relay or SQSRelay(queue.url, client=client, clock=clock)
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    handler = lambda_handler(app, settings=settings, relay=relay, clock=clock)
    handled.clear()
    try:
        yield OverSQS(handler, queue, client, clock)
    finally:
        handler.close()


@pytest.fixture
def sqs_app(backend_url: str, tmp_path: Path, queue: Queue) -> Iterator[OverSQS]:
    yield from over_sqs(backend_url, tmp_path, queue)


def test_a_commit_relays_to_the_queue_and_the_queue_event_is_handled_once(
    sqs_app: OverSQS,
) -> None:
    sqs_app.add_note("n1")

    messages = sqs_app.queue.receive()
    assert [json.loads(m["Body"]) for m in messages] == [
        {"message_id": "note-n1", "target": "sub:count_note"}
    ]
    answer = sqs_app.handler(sqs_app.queue.lambda_event(messages), LambdaContext())
    again = sqs_app.handler(sqs_app.queue.lambda_event(messages), LambdaContext())  # redelivered

    assert answer == {"batchItemFailures": []}
    assert again == {"batchItemFailures": []}
    assert handled == ["n1"]
    assert sqs_app.handler.run(sqs_app.handler.runtime.store.pending()) == []


def test_the_queue_url_in_the_environment_makes_an_sqs_relay(
    backend_url: str, tmp_path: Path, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASKIT_SQS_QUEUE_URL", queue.url)
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    handler = lambda_handler(app, settings=settings)
    handled.clear()
    try:
        handler(http_api_event("POST", "/notes", body={"id": "env"}), LambdaContext())
        relay = handler.runtime.relay

        assert isinstance(relay, SQSRelay) and relay.queue_url == queue.url
        assert [batch.failed for batch in queue.pump(handler)] == [[]]
        assert handled == ["env"]
    finally:
        handler.close()


def test_a_duplicated_sqs_message_is_handled_once(sqs_app: OverSQS) -> None:
    sqs_app.add_note("n1")
    sqs_app.add_note("n2")

    assert all(failed == [] for failed in sqs_app.pump(duplicate=True))
    assert sorted(handled) == ["n1", "n2"]
    assert sum(len(batch.event["Records"]) for batch in sqs_app.queue.rounds) == 4


def test_a_relay_that_raises_is_recovered_by_a_sweep_event(
    backend_url: str, tmp_path: Path, queue: Queue
) -> None:
    class FlakyRelay:
        def __init__(self, inner: SQSRelay) -> None:
            self.inner, self.down = inner, True

        async def send(self, deliveries: list[RelayedDelivery]) -> None:
            if self.down:
                raise ConnectionError("SQS is unreachable")
            await self.inner.send(deliveries)

    flaky = FlakyRelay(SQSRelay(queue.url, client=queue.client))
    for sqs_app in over_sqs(backend_url, tmp_path, queue, relay=flaky):
        flaky.inner.clock = sqs_app.clock
        sqs_app.add_note("n1")  # committed: the failed relay is only logged
        assert queue.receive() == []

        flaky.down = False
        assert sqs_app.sweep()["relayed"] == 1
        assert sqs_app.pump() == [[]]
        assert handled == ["n1"]
        assert sqs_app.sweep()["relayed"] == 0


def test_a_message_lost_from_the_queue_is_recovered_by_a_sweep_event(sqs_app: OverSQS) -> None:
    sqs_app.add_note("n1")
    assert len(sqs_app.queue.bodies()) == 1  # taken off the queue, never delivered

    assert sqs_app.handler(event("rust-example-eventbridge-schedule"))["relayed"] == 1
    assert sqs_app.pump() == [[]]
    assert handled == ["n1"]


def test_a_store_failure_lists_exactly_that_record(
    sqs_app: OverSQS, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sqs_app.handler.runtime.store
    claim = store.claim_delivery

    async def failing_for_n2(message_id: str, target: str, **options: Any) -> Any:
        if message_id == "note-n2":
            raise ConnectionError("the database is unreachable")
        return await claim(message_id, target, **options)

    sqs_app.add_note("n1")
    sqs_app.add_note("n2")
    sqs_app.add_note("n3")
    monkeypatch.setattr(store, "claim_delivery", failing_for_n2)
    batch = sqs_app.queue.once(sqs_app.handler)

    assert batch is not None and len(batch.event["Records"]) == 3
    assert [json.loads(batch.body_of(item))["message_id"] for item in batch.failed] == ["note-n2"]
    assert sorted(handled) == ["n1", "n3"]
    monkeypatch.setattr(store, "claim_delivery", claim)
    assert sqs_app.pump() == [[]]  # SQS brought it back
    assert sorted(handled) == ["n1", "n2", "n3"]


def test_a_failed_handler_is_not_listed_and_its_retry_is_relayed_by_the_sweeper(
    sqs_app: OverSQS,
) -> None:
    sqs_app.handler.runtime.fail_next("count_note")
    sqs_app.add_note("n1")

    assert sqs_app.pump() == [[]]  # rescheduled in the store, not by SQS
    assert handled == []
    sqs_app.clock.advance(timedelta(minutes=10))
    assert sqs_app.sweep()["relayed"] == 1
    assert sqs_app.pump() == [[]]
    assert handled == ["n1"]


def test_a_body_that_is_not_a_relay_body_is_listed_and_logged(
    sqs_app: OverSQS, caplog: pytest.LogCaptureFixture
) -> None:
    reference = event("powertools-sqsEvent")  # "Test message." and {"message": "foo1"}
    sqs_app.queue.send("Test message.")
    sqs_app.add_note("n1")

    with caplog.at_level(logging.ERROR, logger="faaskit.adapters.aws"):
        answer = sqs_app.handler(reference, LambdaContext())
        batch = sqs_app.queue.once(sqs_app.handler)

    assert batch is not None
    assert [m["Body"] for m in sqs_app.queue.receive()] == ["Test message."]  # back, for the DLQ
    assert answer == {
        "batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in reference["Records"]]
    }
    assert [batch.body_of(item) for item in batch.failed] == ["Test message."]
    assert handled == ["n1"]
    assert sum("not a faaskit relay message" in r.getMessage() for r in caplog.records) == 3


def test_a_delayed_task_gets_delay_seconds_and_one_past_900_is_relayed_by_the_sweeper(
    sqs_app: OverSQS,
) -> None:
    sqs_app.add_note("soon", remind_in=300)
    sqs_app.add_note("late", remind_in=3600)

    assert sqs_app.delays("sub:count_note") == [0, 0]
    assert sqs_app.delays("task:remind") == [300, 900]  # SQS delays 15 minutes at most
    assert sqs_app.pump() == [[]]  # the delayed ones are not visible yet
    assert sorted(handled) == ["late", "soon"]

    # After 15 minutes SQS hands over the late reminder: not due, nothing to do.
    (late,) = [e for e in sqs_app.client.entries if e["DelaySeconds"] == 900]
    sqs_app.queue.send(late["MessageBody"])
    sqs_app.clock.advance(timedelta(seconds=900))
    assert sqs_app.pump() == [[]]
    assert "reminder-late" not in handled

    sqs_app.clock.advance(timedelta(seconds=2701))
    assert sqs_app.sweep()["relayed"] == 2  # due: both reminders (moto still delays "soon")
    assert sqs_app.pump() == [[]]
    assert sorted(handled) == ["late", "reminder-late", "reminder-soon", "soon"]
    assert sqs_app.sweep()["relayed"] == 0


def test_scheduled_events_sweep_and_other_events_do_not(sqs_app: OverSQS) -> None:
    rule = event("rust-example-eventbridge-schedule")
    custom = {**event("powertools-eventBridgeEvent"), "detail-type": "Scheduled Event"}

    assert sqs_app.handler(rule)["faaskit"] == "sweep"
    assert sqs_app.handler({"faaskit": "sweep"})["faaskit"] == "sweep"
    with pytest.raises(UnsupportedEventError):
        sqs_app.handler(custom)  # a custom event saying "Scheduled Event" is not a schedule


cron_app = App("crons-over-sqs")
ticks: list[str] = []


@cron_app.cron("*/5 * * * *")
async def every_five_minutes(ctx: Context) -> None:
    ticks.append(ctx.now().isoformat())


def test_sweep_events_drive_the_crons(backend_url: str, tmp_path: Path, queue: Queue) -> None:
    clock = VirtualClock()
    client = RecordingClient(queue.client)
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    relay = SQSRelay(queue.url, client=client, clock=clock)
    handler = lambda_handler(cron_app, settings=settings, relay=relay, clock=clock)
    ticks.clear()
    try:
        assert handler({"faaskit": "sweep"})["relayed"] == 0  # the first tick, stored
        clock.advance(timedelta(minutes=5))
        assert handler({"faaskit": "sweep"})["relayed"] == 1
        assert [batch.failed for batch in queue.pump(handler)] == [[]]
        assert len(ticks) == 1
        assert [e["DelaySeconds"] for e in client.entries][-1] == 300  # the next tick

        clock.advance(timedelta(minutes=5))
        handler({"faaskit": "sweep"})
        queue.pump(handler)
        assert len(ticks) == 2
    finally:
        handler.close()


# -- the relay alone ---------------------------------------------------------------------------


def test_send_batches_ten_entries_a_call(queue: Queue) -> None:
    client = RecordingClient(queue.client)
    relay = SQSRelay(queue.url, client=client)
    deliveries = [RelayedDelivery(f"m{i}", "sub:count_note", 0.0) for i in range(23)]

    asyncio.run(relay.send(deliveries))

    assert [len(call) for call in client.calls] == [10, 10, 3]
    assert sorted(queue.bodies()) == sorted(
        relay_body(f"m{i}", "sub:count_note") for i in range(23)
    )


def test_a_fifo_queue_gets_groups_and_deduplication_ids(
    make_queue: Callable[..., Queue],
) -> None:
    fifo = make_queue(fifo=True)
    client = RecordingClient(fifo.client)
    relay = SQSRelay(fifo.url, client=client)
    ordered = RelayedDelivery("m1", "sub:project", 0.0, key="order-7")
    loose = RelayedDelivery("m2", "sub:count_note", 5e9)
    spaced = RelayedDelivery("m3", "sub:project", 0.0, key="order 8")  # no spaces in a group id

    asyncio.run(relay.send([ordered, loose, spaced]))
    asyncio.run(relay.send([ordered]))  # the same send again: SQS drops it
    first, second, third, repeated = client.entries

    assert (first["MessageGroupId"], second["MessageGroupId"]) == ("order-7", "m2")
    assert len(third["MessageGroupId"]) == 64  # a digest of the key
    assert not any("DelaySeconds" in entry for entry in client.entries)
    assert repeated["MessageDeduplicationId"] == first["MessageDeduplicationId"]
    assert len(fifo.bodies()) == 3


def test_refused_entries_raise_one_error() -> None:
    class Refusing:
        def send_message_batch(self, **arguments: Any) -> dict[str, Any]:
            entries = arguments["Entries"]
            return {
                "Successful": [{"Id": e["Id"]} for e in entries[1:]],
                "Failed": [{"Id": entries[0]["Id"], "Code": "KMS.Throttling", "Message": "slow"}],
            }

    relay = SQSRelay("https://sqs.us-east-1.amazonaws.com/1/q", client=Refusing())
    deliveries = [RelayedDelivery(f"m{i}", "t", 0.0) for i in range(12)]

    with pytest.raises(SQSRelayError, match="refused 2 relayed deliveries") as raised:
        asyncio.run(relay.send(deliveries))
    assert [entry["Id"] for entry in raised.value.failed] == ["0", "10"]
