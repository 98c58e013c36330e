"""Cron ticks as deliveries: each tick is a message whose id names the tick, so however
many workers schedule it, it is stored — and run — once.

Handling a tick schedules the next one in the same unit of work; the next tick is the
first after *now*, so ticks missed while nothing ran fire once, not once each.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from faaskit.runtime.runtime import Runtime
from faaskit.runtime.unit_of_work import UnitOfWork
from faaskit.store.protocol import Message, NewDelivery, PublishMessage
from faaskit.triggers import Cron

__all__ = ["CronScheduler", "next_tick"]


def next_tick(schedule: str, after: float) -> float:
    """The first tick of ``schedule`` (UTC) strictly after ``after`` (epoch seconds)."""
    from croniter import croniter

    start = datetime.fromtimestamp(after, UTC)
    return float(croniter(schedule, start).get_next(float))


class CronScheduler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._ensured = False

    async def ensure_scheduled(self, *, again: bool = False) -> None:
        """Schedule the next tick of every cron that has none pending (once per worker;
        ``again``: look once more, as each round of a cloud's sweeper does, so a chain of
        ticks broken while the store was down is mended by a long-lived instance too)."""
        crons = list(self.runtime.app.crons.values())
        if (self._ensured and not again) or not crons:
            return
        self._ensured = True
        pending = {p.target for p in await self.runtime.store.pending([c.target for c in crons])}
        now = self.runtime.now()
        for cron in crons:
            if cron.target not in pending:
                await self.schedule(tick_write(cron, next_tick(cron.schedule, now)))

    def next_tick_write(self, trigger: Any, message: Message, now: float) -> PublishMessage | None:
        """For a cron tick being handled: the write that schedules the following tick."""
        if not isinstance(trigger, Cron):
            return None
        tick = float(message.data.get("tick_at", now)) if isinstance(message.data, dict) else now
        return tick_write(trigger, next_tick(trigger.schedule, max(now, tick)))

    async def schedule(self, write: PublishMessage) -> None:
        unit = UnitOfWork(self.runtime.store, self.runtime.clock)
        unit.add(write)
        await unit.commit()
        if self.runtime.relay is not None:  # a cloud queue holds the tick until it is due
            from faaskit.runtime.relay import relay_after_commit

            await relay_after_commit(self.runtime, unit.write_set)


def tick_write(cron: Cron, tick: float) -> PublishMessage:
    message = Message(
        id=f"{cron.target}:{int(tick)}",
        topic=cron.target,
        data={"tick": datetime.fromtimestamp(tick, UTC).isoformat(), "tick_at": tick},
        published_at=tick,
    )
    return PublishMessage(message, [NewDelivery(cron.target, tick)], deduplicate=True)
