"""Projections: consume the global log in order, update read models, and move a checkpoint
in the same unit of work — so a crash never skips or double-applies an event.

Several workers may run the same projection: each batch's checkpoint move expects the
position it started from, so only one of them commits a batch and the others reload.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from faaskit.errors import ConcurrencyError
from faaskit.records import Frozen, setfield
from faaskit.store.protocol import AdvanceCheckpoint, RecordedEvent

if TYPE_CHECKING:
    from faaskit.runtime.runtime import Runtime
    from faaskit.triggers import Projection

__all__ = ["ProjectionRunner", "Recorded"]

T = TypeVar("T")
logger = logging.getLogger("faaskit.projections")


class Recorded(Frozen, Generic[T]):
    """A domain event as a projection sees it: the model and where it sits in the log."""

    __slots__ = ("data", "type", "stream", "version", "position", "metadata", "recorded_at")  # noqa: RUF023 (fields in order)
    data: T
    type: str
    stream: str
    version: int
    position: int
    metadata: dict[str, Any]
    recorded_at: datetime

    def __init__(
        self,
        data: T,
        type: str,
        stream: str,
        version: int,
        position: int,
        metadata: dict[str, Any],
        recorded_at: datetime,
    ) -> None:
        setfield(self, "data", data)
        setfield(self, "type", type)
        setfield(self, "stream", stream)
        setfield(self, "version", version)
        setfield(self, "position", position)
        setfield(self, "metadata", metadata)
        setfield(self, "recorded_at", recorded_at)


class ProjectionRunner:
    def __init__(self, runtime: Runtime, projection: Projection) -> None:
        self.runtime = runtime
        self.projection = projection
        self.failures = 0
        self._started_from = 0
        """The checkpoint the last step started from."""
        parameters = list(inspect.signature(projection.handler).parameters)
        self._with_context = len(parameters) >= 2
        self._is_async = inspect.iscoroutinefunction(projection.handler)

    @property
    def name(self) -> str:
        return self.projection.name

    async def step(self) -> int:
        """Apply one batch; how many events it applied (0: caught up)."""
        store = self.runtime.store
        checkpoint = self._started_from = await store.checkpoint(self.name)
        # The head is read before the events: every position up to it has committed (the
        # log commits in order), so if none of them is ours, skipping to it is safe. Read
        # after, it could take in an event of ours committed since, and skip that.
        head = await store.head_position()
        events = await store.read_all(
            after=checkpoint, limit=self.projection.batch_size, types=self.projection.event_types
        )
        if not events:
            self.runtime.metrics.gauge("faaskit_projection_lag", self.name, 0)
            if head > checkpoint:  # only other types since: skip ahead
                await self._commit_checkpoint(checkpoint, head)
            return 0
        await self._apply(checkpoint, events)
        head = await store.head_position()
        self.runtime.metrics.gauge("faaskit_projection_lag", self.name, head - events[-1].position)
        return len(events)

    async def catch_up(self) -> int:
        """Apply batches until caught up or a batch fails; how many events."""
        applied = 0
        while True:
            try:
                batch = await self.step()
            except Exception as error:
                if isinstance(error, ConcurrencyError) and await self._checkpoint_moved():
                    continue  # another runner committed this batch: start from its checkpoint
                # Anything else, a conflict of the handler's own writes included, is a
                # failed batch: retrying it at once could spin forever.
                self.failures += 1
                logger.exception("projection %s failed", self.name)
                return applied
            self.failures = 0
            if batch == 0:
                return applied
            applied += batch

    async def run(self, stop: asyncio.Event, *, poll_interval: float = 0.2) -> None:
        """Catch up, then follow the log until ``stop``; back off after failures."""
        while not stop.is_set():
            await self.catch_up()
            delay = poll_interval if not self.failures else min(30.0, 2.0**self.failures)
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except TimeoutError:
                continue

    async def _checkpoint_moved(self) -> bool:
        return await self.runtime.store.checkpoint(self.name) != self._started_from

    async def _apply(self, checkpoint: int, events: list[RecordedEvent]) -> None:
        runtime = self.runtime
        decode = runtime.app.event_types.decode
        moments: dict[float, datetime] = {}  # the events of one unit share their moment
        decoded = []
        for e in events:
            moment = moments.get(e.recorded_at)
            if moment is None:
                moment = moments[e.recorded_at] = datetime.fromtimestamp(e.recorded_at, UTC)
            data = decode(e.type, e.data, e.metadata)
            decoded.append(
                Recorded(data, e.type, e.stream, e.version, e.position, e.metadata, moment)
            )
        ctx = runtime.context(self.name, f"{self.name}:{events[-1].position}", trigger="projection")
        handler = self.projection.handler

        async def apply_batch() -> None:
            for event in decoded:
                arguments = (event, ctx) if self._with_context else (event,)
                if self._is_async:
                    await handler(*arguments)
                else:
                    await asyncio.to_thread(handler, *arguments)

        ctx._uow.add(AdvanceCheckpoint(self.name, checkpoint, events[-1].position))
        await runtime.invoke(ctx, apply_batch, {}, _nothing)

    async def _commit_checkpoint(self, expected: int, position: int) -> None:
        from faaskit.runtime.unit_of_work import UnitOfWork

        unit = UnitOfWork(self.runtime.store, self.runtime.clock)
        unit.add(AdvanceCheckpoint(self.name, expected, position))
        await unit.commit()


def _nothing(result: Any) -> None:
    return None
