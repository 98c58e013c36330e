"""Retries, cron ticks and platform deadlines when deliveries arrive through a relay (a
cloud queue), on every backend: a retry is relayed when it is scheduled, the next cron
tick when it is written, and a handler near its platform's deadline is cancelled in time
for its failure to be recorded, its lease held just past that deadline."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context, Event
from faaskit.config import Settings
from faaskit.runtime.invocation import Invocation, current_invocation
from faaskit.runtime.relay import MemoryRelay, RelayedDelivery
from faaskit.runtime.runtime import Runtime
from faaskit.runtime.worker import DEADLINE_MARGIN, Worker
from faaskit.testing import VirtualClock
from faaskit.triggers import Backoff

app = App("relayed-retries")
attempts: list[str] = []
slow_seconds = 30.0


@app.task(max_attempts=3, backoff=Backoff(10.0, 10.0))
async def flaky(payload: dict[str, Any], ctx: Context) -> None:
    attempts.append(payload["id"])
    if len(attempts) < 2:
        raise RuntimeError("the first attempt fails")


@app.task(max_attempts=2, backoff=Backoff(10.0, 10.0), timeout=None)
async def slow(payload: dict[str, Any], ctx: Context) -> None:
    attempts.append(payload["id"])
    await asyncio.sleep(slow_seconds)


release: asyncio.Event  # made per test: an Event belongs to one event loop


@app.task(timeout=300)
async def long_report(payload: dict[str, Any], ctx: Context) -> None:
    """A long task (as crons are by default): runs until the test releases it."""
    attempts.append(payload["id"])
    await release.wait()


@app.task(timeout=5)
async def short(payload: dict[str, Any], ctx: Context) -> None:
    attempts.append(payload["id"])
    await release.wait()


@app.task(timeout=0.3)
async def quick(payload: dict[str, Any], ctx: Context) -> None:
    attempts.append(payload["id"])
    ctx.publish("quick.done", {"id": payload["id"]})  # so its commit has something to relay


@app.subscribe("quick.done")
async def after_quick(event: Event[dict[str, Any]], ctx: Context) -> None:
    pass


@app.subscribe("keyed")
async def keyed_unordered(event: Event[dict[str, Any]], ctx: Context) -> None:
    raise RuntimeError("fails once, to be retried")


@app.subscribe("keyed", ordered=True)
async def keyed_ordered(event: Event[dict[str, Any]], ctx: Context) -> None:
    raise RuntimeError("fails once, to be retried")


@app.cron("*/5 * * * *")
async def every_five_minutes(ctx: Context) -> None:
    attempts.append("tick")


class Ceiling(random.Random):
    """Backoff without the jitter: every retry waits its whole ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Relayed:
    def __init__(self, runtime: Runtime, relay: MemoryRelay, clock: VirtualClock) -> None:
        self.runtime, self.relay, self.clock = runtime, relay, clock
        self.worker = Worker(runtime, rng=Ceiling())

    async def schedule(self, task: Any, id: str) -> RelayedDelivery:
        async def handler(ctx: Context) -> None:
            ctx.schedule(task, {"id": id})

        ctx = self.runtime.context("schedule", f"schedule-{id}")
        await self.runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)
        (queued,) = self.relay.drain()
        return queued


@pytest.fixture
async def relayed(backend_url: str, tmp_path: Path) -> AsyncIterator[Relayed]:
    clock = VirtualClock()
    runtime = Runtime(
        app, Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit"), clock=clock
    )
    relay = MemoryRelay()
    runtime.relay = relay
    await runtime.start()
    attempts.clear()
    global release
    release = asyncio.Event()
    try:
        yield Relayed(runtime, relay, clock)
    finally:
        await runtime.stop()


def platform_deadline(seconds: float) -> None:
    """The invocation's deadline ``seconds`` from now, as the Lambda adapter sets it (in the
    test's own task context: nothing leaks into another test)."""
    current_invocation.set(Invocation(False, None, time.time() + seconds))


async def test_a_failed_attempt_is_relayed_again_when_its_retry_is_scheduled(
    relayed: Relayed,
) -> None:
    queued = await relayed.schedule(flaky, "f1")
    started = relayed.runtime.now()

    assert await relayed.worker.deliver(queued.message_id, queued.target) is True
    assert attempts == ["f1"]  # failed; the store holds the retry, due after the backoff

    (retry,) = relayed.relay.drain()
    assert (retry.message_id, retry.target) == (queued.message_id, queued.target)
    assert retry.available_at == pytest.approx(started + 10.0)
    (pending,) = await relayed.runtime.store.pending()
    assert pending.available_at == pytest.approx(retry.available_at)
    # the queue may bring it back early (SQS rounds, a FIFO queue does not delay): not yet
    assert await relayed.worker.deliver(retry.message_id, retry.target) is False

    relayed.clock.advance(timedelta(seconds=11))
    assert await relayed.worker.deliver(retry.message_id, retry.target) is True
    assert attempts == ["f1", "f1"]
    assert await relayed.runtime.store.pending() == []
    assert relayed.relay.drain() == []  # succeeded: nothing more to relay


async def test_the_next_cron_tick_is_relayed_when_it_is_scheduled(relayed: Relayed) -> None:
    await relayed.worker.crons.ensure_scheduled()
    (first,) = relayed.relay.drain()
    assert first.target == "cron:every_five_minutes"
    assert first.available_at > relayed.runtime.now()

    relayed.clock.advance(timedelta(seconds=first.available_at - relayed.runtime.now() + 1))
    assert await relayed.worker.deliver(first.message_id, first.target) is True
    assert attempts == ["tick"]

    (following,) = relayed.relay.drain()  # written with the tick's ack, relayed at commit
    assert following.target == first.target
    assert following.available_at == pytest.approx(first.available_at + 300)


async def test_a_handler_still_running_near_the_platform_deadline_is_cancelled_and_retried(
    relayed: Relayed,
) -> None:
    queued = await relayed.schedule(slow, "s1")
    platform_deadline(DEADLINE_MARGIN + 0.5)  # the handler gets half a second

    began = time.monotonic()
    assert await relayed.worker.deliver(queued.message_id, queued.target) is True
    assert time.monotonic() - began < slow_seconds  # cancelled long before it would finish
    assert attempts == ["s1"]

    (retry,) = relayed.relay.drain()  # recorded as a failed attempt, and relayed
    assert retry.target == "task:slow"
    (pending,) = [p for p in await relayed.runtime.store.pending() if p.target == "task:slow"]
    assert (pending.attempts, pending.leased) == (1, False)
    assert await relayed.runtime.store.dead_letters() == []


async def test_a_delivery_arriving_too_close_to_the_deadline_is_left_for_the_sweeper(
    relayed: Relayed,
) -> None:
    queued = await relayed.schedule(slow, "s2")
    platform_deadline(DEADLINE_MARGIN / 2)

    assert await relayed.worker.deliver(queued.message_id, queued.target) is False
    assert attempts == []
    (pending,) = await relayed.runtime.store.pending()
    assert pending.attempts == 0  # not claimed: no attempt spent


async def test_the_lease_lasts_until_just_past_the_platform_deadline(
    relayed: Relayed,
) -> None:
    global slow_seconds
    queued = await relayed.schedule(slow, "s3")
    platform_deadline(300.0)  # a long function: more than the worker's 60 s lease
    seen: list[bool] = []
    slow_seconds = 0.5

    async def claim_meanwhile() -> None:
        await asyncio.sleep(0.2)
        relayed.clock.advance(timedelta(seconds=120))  # past 60 s, before the deadline
        other = Worker(relayed.runtime)
        token = current_invocation.set(None)
        try:
            seen.append(await other.deliver(queued.message_id, queued.target))
        finally:
            current_invocation.reset(token)

    try:
        outcome, _ = await asyncio.gather(
            relayed.worker.deliver(queued.message_id, queued.target), claim_meanwhile()
        )
    finally:
        slow_seconds = 30.0
    assert outcome is True
    assert seen == [False]  # still leased by the first: no second run
    assert attempts == ["s3"]


async def test_without_a_platform_deadline_the_lease_lasts_as_long_as_the_handler_may_run(
    relayed: Relayed,
) -> None:
    """Google and Azure give no deadline: a 300 s task is not taken from the instance
    still running it once the worker's 60 s lease would have run out."""
    queued = await relayed.schedule(long_report, "r1")
    seen: list[bool] = []

    async def claim_meanwhile() -> None:
        await asyncio.sleep(0.1)
        relayed.clock.advance(timedelta(seconds=120))
        seen.append(await Worker(relayed.runtime).deliver(queued.message_id, queued.target))
        release.set()

    outcome, _ = await asyncio.gather(
        relayed.worker.deliver(queued.message_id, queued.target), claim_meanwhile()
    )
    assert (outcome, seen, attempts) == (True, [False], ["r1"])


async def test_under_a_long_deadline_a_short_handler_holds_its_delivery_only_as_long_as_it_may_run(
    relayed: Relayed,
) -> None:
    """An environment that dies mid-handler (OOM) frees the delivery after the handler's
    timeout, not after the whole 15-minute Lambda."""
    queued = await relayed.schedule(short, "s5")
    platform_deadline(900.0)
    seen: list[bool] = []

    async def claim_after_the_handler_timeout() -> None:
        await asyncio.sleep(0.1)
        relayed.clock.advance(timedelta(seconds=5 + 2 * DEADLINE_MARGIN + 1))
        seen.append(await Worker(relayed.runtime).deliver(queued.message_id, queued.target))
        release.set()

    await asyncio.gather(
        relayed.worker.deliver(queued.message_id, queued.target), claim_after_the_handler_timeout()
    )
    assert seen == [True]  # the lease had run out: another environment took it
    assert attempts == ["s5", "s5"]


async def test_a_cancel_while_relaying_after_the_commit_is_not_a_failed_attempt(
    relayed: Relayed, caplog: pytest.LogCaptureFixture
) -> None:
    queued = await relayed.schedule(quick, "q1")

    class SlowRelay(MemoryRelay):
        async def send(self, deliveries: Any) -> None:
            await asyncio.sleep(1.0)  # past the handler's 0.3 s timeout

    relayed.runtime.relay = SlowRelay()

    worker = relayed.worker
    with caplog.at_level("WARNING", logger="faaskit.worker"):
        assert await worker.deliver(queued.message_id, queued.target) is True

    assert attempts == ["q1"]
    assert [r for r in caplog.records if "failed" in r.getMessage()] == []
    assert await relayed.runtime.store.pending(["task:quick"]) == []
    assert await relayed.runtime.store.dead_letters() == []


async def test_a_retry_is_relayed_with_its_key_only_when_its_delivery_is_ordered(
    relayed: Relayed,
) -> None:
    async def handler(ctx: Context) -> None:
        ctx.publish("keyed", {}, key="customer-7")

    ctx = relayed.runtime.context("publish", "publish-keyed")
    await relayed.runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)
    first = {d.target: d for d in relayed.relay.drain()}
    for delivery in first.values():
        assert await relayed.worker.deliver(delivery.message_id, delivery.target) is True

    retries = {d.target: d.key for d in relayed.relay.drain()}
    assert retries == {"sub:keyed_unordered": None, "sub:keyed_ordered": "customer-7"}


async def test_each_sweep_round_mends_a_broken_chain_of_cron_ticks(relayed: Relayed) -> None:
    from faaskit.runtime.relay import sweep_round

    worker = relayed.worker
    worker.crons._ensured = True  # an instance that scheduled its crons long ago
    assert await relayed.runtime.store.pending(["cron:every_five_minutes"]) == []

    await sweep_round(worker)
    (tick,) = await relayed.runtime.store.pending(["cron:every_five_minutes"])
    assert tick.available_at > relayed.runtime.now()
