"""Relaying the outbox to a cloud queue: the queue carries names of deliveries, never the
truth about them.

After an invocation commits, the runtime hands its relay a :class:`RelayedDelivery` for
each delivery the invocation wrote (the message id, the target, when it is due). A cloud
function triggered by that queue message calls :meth:`faaskit.runtime.worker.Worker.deliver`,
which claims the delivery in the store and runs its handler with the ack in one unit of
work. So a duplicated relay finds the delivery claimed or done and does nothing; a lost one
is relayed again by :func:`sweep`, which a schedule runs; and a relay that fails never
fails the invocation whose writes already committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from faaskit.errors import BadRequestError
from faaskit.ids import new_id
from faaskit.store.protocol import AppendEvents, PublishMessage, WriteSet

if TYPE_CHECKING:
    from faaskit.runtime.runtime import Runtime
    from faaskit.runtime.worker import Worker

__all__ = [
    "PROJECTION_TARGET",
    "ForeignMessageError",
    "MemoryRelay",
    "Relay",
    "RelayedDelivery",
    "projection_nudges",
    "relay_body",
    "relayed_deliveries",
    "relayed_names",
    "sweep",
    "sweep_round",
]

logger = logging.getLogger("faaskit.relay")


@dataclass(frozen=True, slots=True)
class RelayedDelivery:
    """What a queue message names: one delivery, by message and target."""

    message_id: str
    target: str
    available_at: float
    key: str | None = None
    """The ordering key of an ordered delivery (a FIFO queue's message group), if known."""


class ForeignMessageError(BadRequestError):
    """A queue message on a relay queue that does not name a faaskit delivery."""

    title = "Not a faaskit relay message"


def relay_body(message_id: str, target: str) -> str:
    """The body of the queue message that names one delivery, on every cloud's queue."""
    return json.dumps({"message_id": message_id, "target": target}, separators=(",", ":"))


def relayed_names(body: Any) -> tuple[str, str]:
    """The (message id, target) a relay body (text or bytes) names; ForeignMessageError
    for anything else."""
    try:
        named = json.loads(body) if isinstance(body, str | bytes | bytearray) else None
    except ValueError:
        named = None
    if isinstance(named, dict):
        message_id, target = named.get("message_id"), named.get("target")
        if isinstance(message_id, str) and isinstance(target, str) and message_id and target:
            return message_id, target
    raise ForeignMessageError("the queue message body does not name a faaskit delivery")


class Relay(Protocol):
    """Sends delivery names to a queue (SQS, Pub/Sub, Service Bus, or a test's queue)."""

    async def send(self, deliveries: Sequence[RelayedDelivery]) -> None: ...


PROJECTION_TARGET = "projection:"
"""The target prefix of a relayed nudge: ``projection:orders_view`` asks the function the
queue triggers to catch that projection up with the event log (no delivery to claim:
catching up twice, or at once in two places, applies each event once all the same)."""


def projection_nudges(runtime: Runtime, write_set: WriteSet) -> list[RelayedDelivery]:
    """One nudge for each projection that follows an event ``write_set`` appended, so the
    read model catches up now rather than at the sweeper's next round."""
    appended = {
        event.type
        for write in write_set.writes
        if isinstance(write, AppendEvents)
        for event in write.events
    }
    if not appended:
        return []
    now = runtime.now()
    nudge_id = f"nudge:{new_id()}"
    return [
        RelayedDelivery(nudge_id, PROJECTION_TARGET + projection.name, now)
        for projection in runtime.app.projections.values()
        if appended.intersection(projection.event_types)
    ]


def relayed_deliveries(write_set: WriteSet) -> list[RelayedDelivery]:
    """The deliveries a committed write set created (a deduplicated publish names the
    deliveries of the message it repeats, which a claim then finds done: harmless)."""
    return [
        RelayedDelivery(
            write.message.id,
            delivery.target,
            delivery.available_at,
            write.message.key if delivery.ordered else None,
        )
        for write in write_set.writes
        if isinstance(write, PublishMessage)
        for delivery in write.deliveries
    ]


async def relay_after_commit(runtime: Runtime, write_set: WriteSet) -> None:
    """Relay what ``write_set`` created; a failure is logged, never raised: the outbox
    holds the deliveries, and the sweeper relays them again."""
    relay = runtime.relay
    if relay is None:
        return
    deliveries = relayed_deliveries(write_set)
    if runtime.app.projections:
        deliveries += projection_nudges(runtime, write_set)
    if not deliveries:
        return
    try:
        await relay.send(deliveries)
    except Exception:
        logger.warning(
            "relay failed; the sweeper will relay again",
            exc_info=True,
            extra={"fields": {"deliveries": len(deliveries)}},
        )


async def sweep(runtime: Runtime, *, limit: int = 500) -> int:
    """Relay again every delivery that is due and not leased (its relay was lost, or it
    was a task delayed past what the queue can delay); how many were relayed."""
    relay = runtime.relay
    if relay is None:
        return 0
    now = runtime.now()
    names = await runtime.store.relayable(now=now, limit=limit)
    if names:
        await relay.send([RelayedDelivery(message_id, target, now) for message_id, target in names])
    return len(names)


async def sweep_round(worker: Worker) -> dict[str, Any]:
    """One scheduled round of a cloud's sweeper (a schedule calls it, every minute say):
    the first tick of any cron that has none, relays of what is due and unleased (lost
    relays, tasks delayed past what the queue can delay, retries, cron ticks), and the
    projections caught up with the event log. With no relay (no queue configured), the
    round delivers what is due itself instead."""
    runtime = worker.runtime
    await runtime.start()
    if runtime.relay is None:
        return {"faaskit": "sweep", "relayed": 0, "handled": await worker.run_once()}
    await worker.crons.ensure_scheduled(again=True)
    relayed = await sweep(runtime)
    projected = 0
    for runner in worker.projections:
        projected += await runner.catch_up()
    return {"faaskit": "sweep", "relayed": relayed, "projected": projected}


class MemoryRelay:
    """A relay into an in-process queue: tests, and the laptop's stand-in for a cloud
    queue. ``lose_next`` and ``duplicate_next`` rehearse what a real queue may do."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[RelayedDelivery] = asyncio.Queue()
        self.sent = 0
        self._lose = 0
        self._duplicate = 0

    def lose_next(self, count: int = 1) -> None:
        self._lose += count

    def duplicate_next(self, count: int = 1) -> None:
        self._duplicate += count

    async def send(self, deliveries: Sequence[RelayedDelivery]) -> None:
        for delivery in deliveries:
            self.sent += 1
            if self._lose > 0:
                self._lose -= 1
                continue
            self.queue.put_nowait(delivery)
            if self._duplicate > 0:
                self._duplicate -= 1
                self.queue.put_nowait(delivery)

    def drain(self) -> list[RelayedDelivery]:
        """Everything queued so far, in order, taken off the queue."""
        taken = []
        while not self.queue.empty():
            taken.append(self.queue.get_nowait())
        return taken
