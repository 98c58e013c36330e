"""A worker's claimed batch commits together and each unit still fails alone, on every
backend: forty deliveries claimed at once, one of whose units fails at commit (its
document's id is taken), commit the other thirty-nine exactly once, in few transactions,
while the failing one is retried by its own policy and then dead-lettered with every
attempt's error — and ordered messages of one key are still handled one at a time, in
order, when they arrive in batches."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context, Event
from faaskit.config import Settings
from faaskit.runtime.runtime import Runtime
from faaskit.runtime.worker import Worker
from faaskit.triggers import Backoff

app = App("batched")
things = app.collection("things")
MESSAGES = 40
handled: list[str] = []
changed: asyncio.Event  # made per test: an Event belongs to one event loop


@app.subscribe("thing", max_attempts=2, backoff=Backoff(0.01, 0.01))
async def keep(event: Event[dict[str, Any]], ctx: Context) -> None:
    handled.append(event.data["id"])
    changed.set()
    ctx.documents(things).insert(event.data["id"], {"n": event.data["n"]})


@app.subscribe("step", ordered=True)
async def in_order(event: Event[dict[str, Any]], ctx: Context) -> None:
    handled.append(f"{event.key}:{event.data['n']}")
    changed.set()
    doc = await ctx.documents(things).get(event.key or "")
    seen = [] if doc is None else doc.data["seen"]
    data = {"seen": [*seen, event.data["n"]]}
    if doc is None:
        ctx.documents(things).insert(event.key or "", data)
    else:
        ctx.documents(things).update(event.key or "", data, expected_version=doc.version)


@pytest.fixture
async def runtime(backend_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(app, Settings.load(database_url=backend_url, data_dir=tmp_path / "home"))
    await runtime.start()
    handled.clear()
    global changed
    changed = asyncio.Event()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def invoke(runtime: Runtime, work: Any) -> None:
    ctx = runtime.context("test", f"test-{id(work)}")
    await runtime.invoke(ctx, work, {"ctx": ctx}, lambda result: result)


async def run_until(runtime: Runtime, done: Any, within: float = 20.0) -> None:
    stop = asyncio.Event()
    running = asyncio.ensure_future(Worker(runtime, poll_interval=0.05).run(stop, grace=5))
    try:
        async with asyncio.timeout(within):
            while not await done():
                changed.clear()
                with contextlib.suppress(TimeoutError):  # a retry or a dead letter: look
                    await asyncio.wait_for(changed.wait(), 0.2)
    finally:
        stop.set()
        await running


async def test_one_failing_unit_of_a_batch_is_retried_and_the_rest_commit_once(
    runtime: Runtime,
) -> None:
    async def seed(ctx: Context) -> None:
        ctx.documents(things).insert("t13", {"n": -1})  # message 13's id is taken

    async def publish(ctx: Context) -> None:
        for n in range(MESSAGES):
            ctx.publish("thing", {"id": f"t{n}", "n": n}, message_id=f"m{n}")

    await invoke(runtime, seed)
    await invoke(runtime, publish)
    committer = getattr(runtime.store, "_committer", None)
    before = None if committer is None else committer.transactions

    async def settled() -> bool:
        return len(await runtime.store.dead_letters()) == 1

    await run_until(runtime, settled)

    docs = {d.id: d for d in await runtime.store.find("things", {})}
    assert sorted(docs) == sorted(f"t{n}" for n in range(MESSAGES))
    assert docs["t13"].data == {"n": -1}  # the seed's, untouched
    assert all(d.version == 1 for d in docs.values())  # each written once
    assert sorted(handled) == sorted([f"t{n}" for n in range(MESSAGES)] + ["t13"])  # 13 twice
    [dead] = await runtime.store.dead_letters()
    assert dead.message.id == "m13" and dead.attempts == 2
    assert [e["attempt"] for e in dead.errors] == [1, 2]
    assert all("ConflictError" in e["error"] for e in dead.errors)
    assert await runtime.store.pending() == []
    if committer is not None and before is not None:  # batched, not one per delivery
        assert committer.transactions - before < MESSAGES // 2


async def test_ordered_messages_of_a_key_keep_their_order_in_batches(runtime: Runtime) -> None:
    async def publish(ctx: Context) -> None:
        for n in range(12):
            for key in ("a", "b", "c"):
                ctx.publish("step", {"n": n}, key=key, message_id=f"{key}{n}")

    await invoke(runtime, publish)

    async def done() -> bool:
        return len(handled) >= 36

    await run_until(runtime, done)

    for key in ("a", "b", "c"):
        doc = await runtime.store.get("things", key)
        assert doc is not None and doc.data["seen"] == list(range(12))
        assert [h for h in handled if h.startswith(f"{key}:")] == [f"{key}:{n}" for n in range(12)]
