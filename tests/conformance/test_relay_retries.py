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

from faaskit import App, Context
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
