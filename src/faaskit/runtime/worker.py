"""The worker: claims due deliveries in batches and invokes their handlers.

One loop per process: claim as many deliveries as there are free slots (one claim is one
transaction), run them concurrently, each in its own unit of work that also acks it, so a
batch commits together (each backend's group commit). A handler's commit also leases one
of the deliveries it writes for this worker (a saga's next step, a follow-on message),
which the worker runs at once in the slot the handler frees: a chain of steps costs one
transaction per step, not a claim and a commit.
A failed attempt is rescheduled by ``available_at`` (backoff with jitter) — the worker
never sleeps to retry — and the last one goes to the dead-letter store with every
attempt's error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
import traceback
from typing import Any

from faaskit.cqrs.projections import ProjectionRunner
from faaskit.errors import LeaseLostError, ValidationError, not_before
from faaskit.runtime.handlers import MessageHandler, Trigger, message_handler
from faaskit.runtime.invocation import current_invocation
from faaskit.runtime.relay import PROJECTION_TARGET
from faaskit.runtime.runtime import Runtime
from faaskit.store.protocol import AckDelivery, ClaimWritten, Delivery, PublishMessage

__all__ = ["Worker"]

logger = logging.getLogger("faaskit.worker")
WATCH_INTERVAL = 0.25
LOST_RACE_RETRIES = 5
"""Fast retries, per attempt, of a delivery whose unit of work lost a race at commit
(ConcurrencyError from the store, not from the handler's code) that do not use up the
attempt; past them, a lost race counts like any failure, so a document too hot to win on
cannot loop forever (at most ``(LOST_RACE_RETRIES + 1) * max_attempts`` runs)."""
LOST_RACE_DELAY = 0.02
"""Seconds before the first fast retry (doubled each time, jittered by ±50%)."""
DEADLINE_MARGIN = 2.0
"""Seconds before a platform's deadline (a Lambda's timeout) when a handler still running is
cancelled, so its failure is recorded and retried rather than lost with the environment."""


class Worker:
    """Delivers an app's messages, tasks and cron ticks from the runtime's store."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        concurrency: int = 64,
        lease: float = 60.0,
        poll_interval: float = 1.0,
        rng: random.Random | None = None,
    ) -> None:
        from faaskit.runtime.crons import CronScheduler

        self.runtime = runtime
        self.concurrency = concurrency
        self.lease = lease
        self.poll_interval = poll_interval
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{os.urandom(4).hex()}"
        self.rng = rng or random.Random()
        app = runtime.app
        triggers: list[Trigger] = [*app.subscriptions, *app.tasks.values(), *app.crons.values()]
        self.handlers: dict[str, MessageHandler] = {
            t.target: message_handler(t, app.resources) for t in triggers
        }
        # a handler with a concurrency limit is only claimed by the loop, which counts slots
        self._successors = frozenset(
            target for target, h in self.handlers.items() if h.policy.concurrency is None
        )
        self._handing_over = False
        """Whether a commit may lease its follow-on delivery to this worker (in :meth:`run`
        only: :meth:`run_once` handles one batch, :meth:`deliver` one relayed message)."""
        self._handed_back: list[Delivery] = []
        self._successor: ClaimWritten | None = None
        self._succeeded: set[asyncio.Task[None]] = set()
        """Running handlers whose commit leased a successor for their slot."""
        self._freed = asyncio.Event()
        """Set when a handler ends and leaves its slot free."""
        self.crons = CronScheduler(runtime)
        self.projections = [ProjectionRunner(runtime, p) for p in app.projections.values()]
        self._inflight: dict[str, int] = {}
        self._deadlines: dict[asyncio.Task[Any], float] = {}
        self._overdue: set[asyncio.Task[Any]] = set()
        self._tasks: dict[asyncio.Task[None], Delivery] = {}
        self._catching_up: dict[str, asyncio.Lock] = {}

    @property
    def targets(self) -> list[str]:
        """Targets with a free slot (per-handler concurrency limits respected)."""
        free = []
        for target, handler in self.handlers.items():
            limit = handler.policy.concurrency
            if limit is None or self._inflight.get(target, 0) < limit:
                free.append(target)
        return free

    async def run(self, stop: asyncio.Event, *, grace: float = 30.0) -> None:
        """Deliver until ``stop`` is set; then stop claiming, let in-flight handlers finish
        within ``grace`` seconds and give the rest back."""
        await self.runtime.start()
        await self.crons.ensure_scheduled()
        stopping = asyncio.ensure_future(stop.wait())
        stopping.add_done_callback(self._stop_handing_over)  # at once, not when the loop looks
        followers = [asyncio.ensure_future(runner.run(stop)) for runner in self.projections]
        watchdog = asyncio.ensure_future(self._watch_deadlines())
        if self._successors:  # one per worker: it is immutable
            self._successor = ClaimWritten(self.owner, self._successors, 1, self.lease)
        self._handing_over = True
        try:
            while not stop.is_set():
                claimed = await self._claim_and_start()
                if claimed:
                    continue
                await self._idle(stopping)
        finally:
            self._handing_over = False
            stopping.cancel()
            await asyncio.gather(*followers, return_exceptions=True)
            await self._shutdown(grace)
            watchdog.cancel()

    async def run_once(self) -> int:
        """Claim one batch of due deliveries and handle all of it; how many were handled."""
        await self.crons.ensure_scheduled()
        projected = 0
        for runner in self.projections:
            projected += await runner.catch_up()
        deliveries = await self._claim()
        if deliveries:
            watchdog = asyncio.ensure_future(self._watch_deadlines())
            try:
                await asyncio.gather(*(self._handle(d) for d in deliveries))
            finally:
                watchdog.cancel()
        return len(deliveries) + projected

    async def deliver(self, message_id: str, target: str) -> bool:
        """Claim the delivery a relayed queue message names and handle it (its ack in the
        handler's unit of work); False when there is nothing to do — already handled,
        leased by another, not due yet, or behind an earlier message of its key (the
        sweeper relays those again)."""
        await self.runtime.start()
        if target.startswith(PROJECTION_TARGET):
            return await self._catch_up(target.removeprefix(PROJECTION_TARGET))
        budget = _platform_budget()
        if budget is not None and budget <= 0:  # too little time left: the sweeper relays it
            return False
        delivery = await self.runtime.store.claim_delivery(
            message_id,
            target,
            owner=self.owner,
            now=self.runtime.now(),
            lease=self._lease(target, budget),
        )
        if delivery is None:
            return False
        watchdog = asyncio.ensure_future(self._watch_deadlines())
        try:
            await self._handle(delivery, budget)
        finally:
            watchdog.cancel()
        return True

    def _lease(self, target: str, budget: float | None) -> float:
        """How long a relayed delivery is held: just past the longest its handler may run
        (its timeout, or the platform's deadline, whichever comes first), so it is never
        taken from a handler still running, and no longer than that once an environment
        that died with it is gone; the worker's lease when neither bounds it."""
        handler = self.handlers.get(target)
        timeout = handler.policy.timeout if handler is not None else None
        bounds = [b for b in (timeout, budget) if b is not None]
        return min(bounds) + 2 * DEADLINE_MARGIN if bounds else self.lease

    async def _catch_up(self, projection: str) -> bool:
        """A relayed nudge: catch ``projection`` up with the event log (False: the app has
        no such projection any more; the nudge is dropped, there is nothing to keep)."""
        for runner in self.projections:
            if runner.name == projection:
                # one catch-up per runner at a time: nudges of one batch arrive together
                lock = self._catching_up.setdefault(projection, asyncio.Lock())
                async with lock:
                    await runner.catch_up()
                return True
        logger.warning("a nudge for an unknown projection", extra={"fields": {"name": projection}})
        return False

    async def _claim(self) -> list[Delivery]:
        free = self.concurrency - len(self._tasks)
        targets = self.targets
        if free <= 0 or not targets:
            return []
        return await self.runtime.store.claim(
            targets, owner=self.owner, now=self.runtime.now(), lease=self.lease, limit=free
        )

    async def _claim_and_start(self) -> int:
        asked = self.concurrency - len(self._tasks)
        self._freed.clear()
        deliveries = await self._claim()
        for delivery in deliveries:
            self._start(delivery)
        if not self._tasks or (deliveries and len(deliveries) >= asked):
            return len(deliveries)  # idle, or a full batch: more may be due at once
        # The batch came back short (or empty, or every slot is busy): nothing more can be
        # claimed now, so claiming again at once would find nothing. Wait for a slot to
        # free — a handler that finished without handing its slot to a successor: others
        # may have left work behind meanwhile — or for deliveries announced by a commit,
        # another process's or a handler's here whose follow-on it did not lease itself.
        if asked <= 0:  # every slot busy: only a handler finishing frees one
            await asyncio.wait(list(self._tasks), return_when=asyncio.FIRST_COMPLETED)
            return -1
        announced = asyncio.ensure_future(
            self.runtime.store.wait_for_deliveries(self.poll_interval)
        )
        freed = asyncio.ensure_future(self._freed.wait())
        try:
            await asyncio.wait([announced, freed], return_when=asyncio.FIRST_COMPLETED)
        finally:
            announced.cancel()
            freed.cancel()
        return len(deliveries) or -1

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.ensure_future(self._handle(delivery))
        self._tasks[task] = delivery
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if task in self._succeeded:  # its slot went to the delivery its commit leased
            self._succeeded.discard(task)
        else:
            self._freed.set()

    async def _idle(self, stopping: asyncio.Future[Any]) -> None:
        timeout = self.poll_interval
        due = await self.runtime.store.next_due(list(self.handlers))
        if due is not None:
            timeout = max(0.0, min(timeout, due - self.runtime.now()))
        if timeout <= 0:
            return
        waiting = asyncio.ensure_future(self.runtime.store.wait_for_deliveries(timeout))
        await asyncio.wait([waiting, stopping], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()

    async def _shutdown(self, grace: float) -> None:
        if self._tasks:
            _, late = await asyncio.wait(list(self._tasks), timeout=grace)
            unfinished = [self._tasks[task] for task in late if task in self._tasks]
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            await self.runtime.store.release(unfinished)
        handed_back, self._handed_back = self._handed_back, []
        await self.runtime.store.release(handed_back)

    def _stop_handing_over(self, _: object = None) -> None:
        self._handing_over = False

    def _successor_claim(self) -> ClaimWritten | None:
        """What a handler's commit leases for this worker, to run in the slot the handler
        leaves (so the worker never runs more than its concurrency): one delivery the
        handler writes. (Leasing the next due one instead, when it writes none, was
        measured: 64 one-row claims in a batch cost far more than the loop's one claim of
        64.)"""
        return self._successor if self._handing_over else None

    def _take_over(self, claimed: list[Delivery]) -> None:
        """Run what a commit leased for this worker; when it is stopping, give it back."""
        for delivery in claimed:
            if not self._handing_over:
                self._handed_back.append(delivery)
                continue
            current = asyncio.current_task()
            if current is not None:
                self._succeeded.add(current)
            self._start(delivery)

    async def _handle(self, delivery: Delivery, budget: float | None = None) -> None:
        handler = self.handlers.get(delivery.target)
        if handler is None:  # code changed under a stored message: keep it, visibly
            await self._bury(delivery, "no handler", None)
            return
        target = delivery.target
        self._inflight[target] = self._inflight.get(target, 0) + 1
        try:
            await self._attempt(handler, delivery, budget)
        finally:
            self._inflight[target] -= 1

    async def _attempt(
        self, handler: MessageHandler, delivery: Delivery, budget: float | None = None
    ) -> None:
        """One attempt; ``budget`` is the seconds the platform leaves the handler, if it
        says (the handler is cancelled then, like at its own timeout)."""
        runtime = self.runtime
        message = delivery.message
        now = runtime.now()
        if message.expires_at is not None and message.expires_at <= now:
            runtime.metrics.count("faaskit_messages_expired", handler.name)
            await self._bury(delivery, "expired", None)
            return
        ctx = runtime.context(
            handler.name,
            f"{message.id}:{handler.name}",
            correlation_id=message.correlation_id,
            headers=message.headers,  # a traceparent among them continues its trace
            trigger=handler.kind,
        )
        try:
            arguments = handler.arguments(delivery, ctx)
        except ValidationError as error:
            await self._bury(delivery, "invalid payload", _error_record(delivery, error, now))
            return
        for parameter, resource in handler.resources:
            arguments[parameter] = await runtime.resources.get(resource)
        ctx._uow.add(AckDelivery(delivery.seq, delivery.lease_owner))
        ctx._uow.write_set.claim = self._successor_claim()
        next_tick = self.crons.next_tick_write(handler.trigger, message, now)
        if next_tick is not None:
            ctx._uow.add(next_tick)
        task = asyncio.current_task()
        allowed = handler.policy.timeout
        if budget is not None and (allowed is None or budget < allowed):
            allowed = budget
        if allowed is not None and task is not None:
            # the ctx knows too: faaskit.retry waits no longer than the handler may run
            self._deadlines[task] = ctx._timeout_at = time.monotonic() + allowed
        try:
            try:
                await runtime.invoke(ctx, handler.handler, arguments, _no_render)
            finally:
                # before recording a failure: the watchdog must not cancel that too
                if task is not None:
                    self._deadlines.pop(task, None)
                self._take_over(ctx._uow.claimed)  # committed, even if what followed failed
        except asyncio.CancelledError:
            if task is None or task not in self._overdue:
                raise  # shutting down: the lease runs out and the message comes back
            task.uncancel()
            self._overdue.discard(task)
            if ctx._uow.committed:  # cancelled after its commit (relaying): it succeeded
                return
            await self._failed(handler, delivery, TimeoutError(), now, next_tick)
        except LeaseLostError:
            logger.warning(
                "lease lost; another worker has the message",
                extra={"fields": {"message_id": message.id, "function": handler.name}},
            )
        except Exception as error:
            if ctx._uow.lost_race and await self._lost_race(handler, delivery, error, now):
                return
            await self._failed(handler, delivery, error, now, next_tick)

    async def _lost_race(
        self, handler: MessageHandler, delivery: Delivery, error: BaseException, now: float
    ) -> bool:
        """Retry a unit that lost a race at commit soon, without counting the attempt,
        while fast retries remain; False when they are used up (it counts then)."""
        used = 0  # fast retries since the last attempt that counted
        for earlier in reversed(delivery.errors):
            if earlier.get("counted") is not False:
                break
            used += 1
        if used >= LOST_RACE_RETRIES:
            return False
        record = {**_error_record(delivery, error, now), "counted": False}
        logger.info(
            "attempt %s lost a race at commit; again soon, not counted: %s",
            delivery.attempt,
            record["error"],
            extra={"fields": {"message_id": delivery.message.id, "function": handler.name}},
        )
        due = self.runtime.now() + LOST_RACE_DELAY * 2**used * self.rng.uniform(0.5, 1.5)
        if await self.runtime.store.retry(delivery, available_at=due, error=record, counted=False):
            await self._relay_retry(delivery, due)
        return True

    async def _watch_deadlines(self) -> None:
        """Cancel handlers past their timeout. One watchdog per worker is much cheaper than
        a timer per message; a timeout is enforced within WATCH_INTERVAL."""
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            now = time.monotonic()
            for task, deadline in list(self._deadlines.items()):
                if deadline <= now and task not in self._overdue:
                    self._overdue.add(task)
                    task.cancel()

    async def _failed(
        self,
        handler: MessageHandler,
        delivery: Delivery,
        error: BaseException,
        now: float,
        next_tick: PublishMessage | None,
    ) -> None:
        record = _error_record(delivery, error, now)
        logger.warning(
            "attempt %s of %s failed: %s",
            delivery.attempt,
            handler.policy.max_attempts,
            record["error"],
            extra={"fields": {"message_id": delivery.message.id, "function": handler.name}},
        )
        if delivery.attempt >= handler.policy.max_attempts:
            await self._bury(delivery, "max attempts", record)
            if next_tick is not None:  # a failed tick must not stop the schedule
                await self.crons.schedule(next_tick)
            return
        delay = not_before(error, handler.policy.backoff.delay(delivery.attempt, self.rng))
        if await self.runtime.store.retry(delivery, available_at=now + delay, error=record):
            await self._relay_retry(delivery, now + delay)

    async def _relay_retry(self, delivery: Delivery, available_at: float) -> None:
        """On a cloud queue, relay the retry when it is scheduled (SQS and Service Bus
        hold it until it is due); else it waits for the sweeper's next round."""
        relay = self.runtime.relay
        if relay is None:
            return
        from faaskit.runtime.relay import RelayedDelivery

        message = delivery.message
        ordered = bool(getattr(self.handlers[delivery.target].trigger, "ordered", False))
        # an ordered delivery keeps its key (a FIFO group, a session); no other gets one
        key = message.key if ordered else None
        retry = RelayedDelivery(message.id, delivery.target, available_at, key)
        try:
            await relay.send([retry])
        except Exception:  # the retry is in the store; the sweeper relays it
            logger.warning("relaying a retry failed; the sweeper will", exc_info=True)

    async def _bury(self, delivery: Delivery, reason: str, record: dict[str, Any] | None) -> None:
        buried = await self.runtime.store.dead_letter(
            delivery, reason=reason, error=record, now=self.runtime.now()
        )
        if buried:
            self.runtime.metrics.count("faaskit_dead_letters", delivery.target)
            logger.error(
                "dead-lettered: %s",
                reason,
                extra={"fields": {"message_id": delivery.message.id, "target": delivery.target}},
            )


def _platform_budget() -> float | None:
    """Seconds a handler may run before the platform's deadline (less a margin to record
    its failure), when the invocation under way has one (Lambda's remaining time)."""
    invocation = current_invocation.get()
    if invocation is None or invocation.deadline is None:
        return None
    return invocation.deadline - time.time() - DEADLINE_MARGIN


def _no_render(result: Any) -> None:
    return None


def _error_record(delivery: Delivery, error: BaseException, now: float) -> dict[str, Any]:
    if isinstance(error, TimeoutError):
        text = "TimeoutError: the handler did not finish within its timeout"
    else:
        text = f"{type(error).__name__}: {error}"
    from faaskit.secrets.redaction import redact  # stored and shown: no secret values

    return {
        "attempt": delivery.attempt,
        "at": now,
        "error": redact(text),
        "traceback": redact("".join(traceback.format_exception(error))),
    }
