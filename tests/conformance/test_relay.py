"""The outbox relayed to a queue (what SQS, Pub/Sub or Service Bus will carry), on every
backend: the queue names deliveries, the store decides, so a duplicated relay does nothing
twice and a lost one is relayed again by the sweeper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context, Event, ValidationError
from faaskit.config import Settings
from faaskit.runtime.relay import MemoryRelay, RelayedDelivery, sweep
from faaskit.runtime.runtime import Runtime
from faaskit.runtime.worker import Worker
from faaskit.testing import VirtualClock

app = App("relayed")
notes = app.collection("notes")
handled: list[str] = []


@app.subscribe("note.added", ordered=True)
async def count_note(event: Event[dict[str, Any]], ctx: Context) -> None:
    handled.append(event.data["id"])
    ctx.documents(notes).insert(f"seen-{event.data['id']}", {"id": event.data["id"]})


@app.task
async def remind(payload: dict[str, Any], ctx: Context) -> None:
    handled.append(f"reminder-{payload['id']}")


class Relayed:
    """A runtime whose commits are relayed into a MemoryRelay, and a worker that handles
    what the relay names, as a queue-triggered cloud function would."""

    def __init__(self, runtime: Runtime, relay: MemoryRelay, clock: VirtualClock) -> None:
        self.runtime, self.relay, self.clock = runtime, relay, clock
        self.worker = Worker(runtime)

    async def add_note(self, id: str, *, key: str = "k", remind_in: float | None = None) -> None:
        async def handler(ctx: Context) -> None:
            ctx.publish("note.added", {"id": id}, key=key, message_id=f"note-{id}")
            if remind_in is not None:
                ctx.schedule(remind, {"id": id}, delay=timedelta(seconds=remind_in))

        ctx = self.runtime.context("add_note", f"add-{id}")
        await self.runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)

    async def deliver_queued(self) -> list[bool]:
        return [await self.worker.deliver(d.message_id, d.target) for d in self.relay.drain()]


@pytest.fixture
async def relayed(backend_url: str, tmp_path: Path) -> AsyncIterator[Relayed]:
    clock = VirtualClock()
    runtime = Runtime(
        app, Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit"), clock=clock
    )
    relay = MemoryRelay()
    runtime.relay = relay
    await runtime.start()
    handled.clear()
    try:
        yield Relayed(runtime, relay, clock)
    finally:
        await runtime.stop()


async def test_a_commit_relays_each_delivery_it_wrote_and_the_relay_delivers_it(
    relayed: Relayed,
) -> None:
    await relayed.add_note("n1")

    queued = relayed.relay.drain()
    assert [(d.message_id, d.target) for d in queued] == [("note-n1", "sub:count_note")]
    assert [await relayed.worker.deliver(d.message_id, d.target) for d in queued] == [True]
    assert handled == ["n1"]
    assert await relayed.runtime.store.get("notes", "seen-n1") is not None
    assert await relayed.runtime.store.pending() == []  # acked with the handler's writes


async def test_a_duplicated_relay_is_handled_once(relayed: Relayed) -> None:
    relayed.relay.duplicate_next(1)
    await relayed.add_note("n1")

    assert await relayed.deliver_queued() == [True, False]
    assert handled == ["n1"]


async def test_a_lost_relay_is_relayed_again_by_the_sweeper(relayed: Relayed) -> None:
    relayed.relay.lose_next(1)
    await relayed.add_note("n1")
    assert relayed.relay.drain() == []  # lost: nothing handled, the outbox still has it

    assert await sweep(relayed.runtime) == 1
    assert await relayed.deliver_queued() == [True]
    assert handled == ["n1"]
    assert await sweep(relayed.runtime) == 0  # nothing left to relay


async def test_a_delayed_task_is_not_delivered_early_and_the_sweeper_relays_it_when_due(
    relayed: Relayed,
) -> None:
    await relayed.add_note("n1", remind_in=600)  # past what SQS can delay (15 min is its max)
    queued = relayed.relay.drain()
    assert {d.target for d in queued} == {"sub:count_note", "task:remind"}

    outcomes = {d.target: await relayed.worker.deliver(d.message_id, d.target) for d in queued}
    assert outcomes == {"sub:count_note": True, "task:remind": False}  # not due yet: left for later
    assert await sweep(relayed.runtime) == 0

    relayed.clock.advance(timedelta(seconds=601))
    assert await sweep(relayed.runtime) == 1
    assert await relayed.deliver_queued() == [True]
    assert handled == ["n1", "reminder-n1"]


async def test_an_ordered_delivery_waits_for_the_earlier_one_of_its_key(relayed: Relayed) -> None:
    await relayed.add_note("n1")
    await relayed.add_note("n2")
    first, second = relayed.relay.drain()

    assert await relayed.worker.deliver(second.message_id, second.target) is False
    assert await relayed.worker.deliver(first.message_id, first.target) is True
    assert await relayed.worker.deliver(second.message_id, second.target) is True
    assert handled == ["n1", "n2"]


async def test_a_relay_naming_no_delivery_does_nothing(relayed: Relayed) -> None:
    assert await relayed.worker.deliver("no-such-message", "sub:count_note") is False
    with pytest.raises(ValidationError):  # the store's one text rule, not a 500
        await relayed.worker.deliver("note-\x00", "sub:count_note")


async def test_a_failing_relay_never_fails_the_committed_invocation(relayed: Relayed) -> None:
    class Broken:
        async def send(self, deliveries: list[RelayedDelivery]) -> None:
            raise ConnectionError("the queue is down")

    relayed.runtime.relay = Broken()
    await relayed.add_note("n1")  # no exception: the writes committed

    relayed.runtime.relay = relayed.relay
    assert await sweep(relayed.runtime) == 1
    assert await relayed.deliver_queued() == [True]
    assert handled == ["n1"]


async def test_a_claimed_delivery_is_not_relayed_by_the_sweeper(relayed: Relayed) -> None:
    await relayed.add_note("n1")
    (queued,) = relayed.relay.drain()
    store = relayed.runtime.store

    claimed = await store.claim_delivery(
        queued.message_id, queued.target, owner="other", now=relayed.runtime.now(), lease=60
    )

    assert claimed is not None and claimed.attempt == 1
    assert await store.relayable(now=relayed.runtime.now(), limit=10) == []
    assert await relayed.worker.deliver(queued.message_id, queued.target) is False
    relayed.clock.advance(timedelta(seconds=61))  # the lease ran out: it comes back
    assert await store.relayable(now=relayed.runtime.now(), limit=10) == [
        (queued.message_id, queued.target)
    ]
