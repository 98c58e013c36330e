"""A running worker hands a handler's follow-on delivery to itself, on every backend: the
commit that writes a chain's next task leases it for the worker, which runs it in the slot
the handler leaves, without a claim of its own; the rest of a fan-out is claimed as usual;
a handler with a concurrency limit is only claimed; and a delivery handed over while the
worker stops is given back at once rather than held until its lease runs out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context, Event
from faaskit.config import Settings
from faaskit.runtime.runtime import Runtime
from faaskit.runtime.worker import Worker
from faaskit.store.protocol import Delivery

app = App("successors")
CHAIN = 6


class Ran(list[str]):
    """What the handlers ran, in order; ``until`` waits for it to satisfy a check."""

    changed: asyncio.Event  # made per test: an Event belongs to one event loop

    def append(self, item: str) -> None:
        super().append(item)
        self.changed.set()

    async def until(self, check: Any, within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while not check():
                self.changed.clear()
                await self.changed.wait()


ran = Ran()
gate: asyncio.Event


@app.task
async def link(payload: dict[str, int], ctx: Context) -> None:
    ran.append(f"link-{payload['n']}")
    if payload["n"] < CHAIN:
        ctx.schedule(link, {"n": payload["n"] + 1}, task_id=f"link-{payload['n'] + 1}")


@app.task
async def fan_out(payload: dict[str, Any], ctx: Context) -> None:
    ran.append("fan_out")
    ctx.publish("fanned", {"from": "fan_out"}, message_id="fanned-1")


@app.subscribe("fanned", name="first")
async def first(event: Event[dict[str, Any]], ctx: Context) -> None:
    ran.append("first")


@app.subscribe("fanned", name="second")
async def second(event: Event[dict[str, Any]], ctx: Context) -> None:
    ran.append("second")


@app.subscribe("fanned", name="third")
async def third(event: Event[dict[str, Any]], ctx: Context) -> None:
    ran.append("third")


@app.task
async def to_limited(payload: dict[str, Any], ctx: Context) -> None:
    ran.append("to_limited")
    ctx.schedule(limited, {}, task_id="limited-1")


@app.task(concurrency=1)
async def limited(payload: dict[str, Any], ctx: Context) -> None:
    ran.append("limited")


@app.task
async def held(payload: dict[str, Any], ctx: Context) -> None:
    ran.append("held")
    await gate.wait()
    ctx.schedule(after_held, {}, task_id="after-held-1")


@app.task
async def after_held(payload: dict[str, Any], ctx: Context) -> None:
    ran.append("after_held")


class Counting:
    """The runtime's worker, with every delivery its claims returned."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.worker = Worker(runtime, poll_interval=0.05)
        self.claimed: list[str] = []
        store_claim = runtime.store.claim

        async def claim(*args: Any, **kwargs: Any) -> list[Delivery]:
            found = await store_claim(*args, **kwargs)
            self.claimed += [d.message.id for d in found]
            return found

        runtime.store.claim = claim  # type: ignore[method-assign]

    async def start(self, task: Any, payload: Any, id: str) -> None:
        async def handler(ctx: Context) -> None:
            ctx.schedule(task, payload, task_id=id)

        ctx = self.runtime.context("start", f"start-{id}")
        await self.runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)

    async def run_until(self, done: Any, within: float = 20.0) -> None:
        stop = asyncio.Event()
        running = asyncio.ensure_future(self.worker.run(stop, grace=5))
        try:
            await ran.until(done, within)
        finally:
            stop.set()
            await running


@pytest.fixture
async def counting(backend_url: str, tmp_path: Path) -> AsyncIterator[Counting]:
    runtime = Runtime(app, Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit"))
    await runtime.start()
    ran.clear()
    ran.changed = asyncio.Event()
    global gate
    gate = asyncio.Event()
    try:
        yield Counting(runtime)
    finally:
        await runtime.stop()


async def test_each_link_of_a_chain_is_handed_to_the_worker_by_the_commit_before_it(
    counting: Counting,
) -> None:
    await counting.start(link, {"n": 1}, "link-1")

    await counting.run_until(lambda: len(ran) == CHAIN)

    assert ran == [f"link-{n}" for n in range(1, CHAIN + 1)]
    assert counting.claimed == ["link-1"]  # links 2..6 came with the commits, not claims
    assert await counting.runtime.store.pending() == []


async def test_one_copy_of_a_fan_out_is_handed_over_and_the_rest_are_claimed(
    counting: Counting,
) -> None:
    await counting.start(fan_out, {}, "fan-1")

    await counting.run_until(lambda: len(ran) == 4)

    assert sorted(ran) == ["fan_out", "first", "second", "third"]
    assert counting.claimed.count("fanned-1") == 2  # two copies claimed, one handed over
    assert await counting.runtime.store.pending() == []


async def test_a_handler_with_a_concurrency_limit_is_claimed_not_handed_over(
    counting: Counting,
) -> None:
    await counting.start(to_limited, {}, "to-limited-1")

    await counting.run_until(lambda: len(ran) == 2)

    assert ran == ["to_limited", "limited"]
    assert counting.claimed == ["to-limited-1", "limited-1"]


async def test_a_delivery_handed_over_while_the_worker_stops_is_given_back(
    counting: Counting,
) -> None:
    await counting.start(held, {}, "held-1")
    stop = asyncio.Event()
    running = asyncio.ensure_future(counting.worker.run(stop, grace=5))
    await ran.until(lambda: ran == ["held"])

    stop.set()  # the worker stops claiming and waits for `held`, which then commits
    await asyncio.sleep(0.05)
    gate.set()
    await running

    assert ran == ["held"]
    pending = await counting.runtime.store.pending()
    assert [(p.message.id, p.leased) for p in pending] == [("after-held-1", False)]
