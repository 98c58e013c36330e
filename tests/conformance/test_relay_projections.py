"""Projections when the outbox is relayed to a cloud queue, on every backend: a commit that
appends events relays a nudge to each projection that follows them, so the read model
catches up now rather than at the sweeper's next round; a duplicated or lost nudge changes
nothing (each event is applied once, and the sweep catches up all the same)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from faaskit import App, Context
from faaskit.config import Settings
from faaskit.cqrs.projections import Recorded
from faaskit.runtime.relay import (
    PROJECTION_TARGET,
    MemoryRelay,
    relay_body,
    relayed_names,
    sweep_round,
)
from faaskit.runtime.runtime import Runtime
from faaskit.runtime.worker import Worker
from faaskit.testing import VirtualClock

app = App("relayed-projections")
counts = app.collection("counts")


@app.event_type
class Added(BaseModel):
    n: int


@app.event_type
class Ignored(BaseModel):
    n: int


@app.projection("totals", events=[Added], collections=[counts])
async def add_up(event: Recorded[Added], ctx: Context) -> None:
    docs = ctx.documents(counts)
    doc = await docs.get("total")
    if doc is None:
        docs.insert("total", {"sum": event.data.n, "applied": 1})
    else:
        docs.update(
            "total", {"sum": doc.data["sum"] + event.data.n, "applied": doc.data["applied"] + 1}
        )


class Relayed:
    def __init__(self, runtime: Runtime, relay: MemoryRelay) -> None:
        self.runtime, self.relay = runtime, relay
        self.worker = Worker(runtime)

    async def append(self, *events: BaseModel) -> None:
        async def handler(ctx: Context) -> None:
            ctx.events.append("numbers", list(events), expected_version=None)

        ctx = self.runtime.context("append", "append")
        await self.runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)

    async def total(self) -> dict[str, int] | None:
        doc = await self.runtime.store.get("counts", "total")
        return None if doc is None else dict(doc.data)


@pytest.fixture
async def relayed(backend_url: str, tmp_path: Path) -> AsyncIterator[Relayed]:
    runtime = Runtime(
        app,
        Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit"),
        clock=VirtualClock(),
    )
    relay = MemoryRelay()
    runtime.relay = relay
    await runtime.start()
    try:
        yield Relayed(runtime, relay)
    finally:
        await runtime.stop()


async def test_appending_events_relays_a_nudge_that_catches_the_projection_up(
    relayed: Relayed,
) -> None:
    await relayed.append(Added(n=2), Added(n=3))

    (nudge,) = relayed.relay.drain()
    assert nudge.target == PROJECTION_TARGET + "totals"
    assert await relayed.total() is None  # nothing ran it yet

    # through the queue's body, as a cloud function receives it
    message_id, target = relayed_names(relay_body(nudge.message_id, nudge.target))
    assert await relayed.worker.deliver(message_id, target) is True
    assert await relayed.total() == {"sum": 5, "applied": 2}


async def test_a_duplicated_nudge_applies_nothing_twice(relayed: Relayed) -> None:
    relayed.relay.duplicate_next(1)
    await relayed.append(Added(n=4))

    nudges = relayed.relay.drain()
    assert len(nudges) == 2
    assert [await relayed.worker.deliver(n.message_id, n.target) for n in nudges] == [True, True]
    assert await relayed.total() == {"sum": 4, "applied": 1}


async def test_a_lost_nudge_is_made_good_by_the_sweep(relayed: Relayed) -> None:
    relayed.relay.lose_next(1)
    await relayed.append(Added(n=7))
    assert relayed.relay.drain() == []

    await sweep_round(relayed.worker)
    assert await relayed.total() == {"sum": 7, "applied": 1}


async def test_events_no_projection_follows_relay_no_nudge(relayed: Relayed) -> None:
    await relayed.append(Ignored(n=1))
    assert relayed.relay.drain() == []


async def test_a_nudge_for_a_projection_the_app_no_longer_has_is_dropped(
    relayed: Relayed,
) -> None:
    assert await relayed.worker.deliver("nudge:old", PROJECTION_TARGET + "gone") is False
