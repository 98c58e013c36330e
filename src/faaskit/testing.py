"""Test an app in-process: the real runtime and worker, a fresh store, a virtual clock.

    async with AppHarness(app) as h:
        await h.http.post("/users", json={...}, headers=h.auth("admin", "users:write"))
        await h.drain()                         # deliver everything due now
        await h.advance(timedelta(minutes=5))   # fire what falls due meanwhile, in order
        assert h.published("user.registered")
        h.fail_next("send_welcome", times=2)

By default the store is a fresh SQLite file in a temporary folder; pass ``database_url``
for another (the project's own suite runs on PostgreSQL too).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from faaskit.app import App
from faaskit.config import Settings
from faaskit.store.protocol import DeadLetter, Message, Pending

if TYPE_CHECKING:
    from faaskit.sagas.state import SagaState

__all__ = ["AppHarness", "VirtualClock"]

DEFAULT_START = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def _due_moment(due: float) -> datetime:
    """A moment on the clock's microsecond grid, at or just after ``due`` (epoch seconds),
    whose timestamp is not below ``due``: rounding ``due * 1e6`` up is not enough, as the
    product loses the float's last bits (about one due time in 170 came out early)."""
    moment = datetime.fromtimestamp(due, UTC)
    while moment.timestamp() < due:
        moment += timedelta(microseconds=1)
    return moment


class VirtualClock:
    """A clock that moves only when told."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("the virtual clock needs a timezone-aware start")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment < self._now:
            raise ValueError("the virtual clock does not go backwards")
        self._now = moment

    def advance(self, delta: timedelta) -> None:
        self.set(self._now + delta)


class AppHarness:
    """An app running in-process against a fresh store, driven by a virtual clock."""

    def __init__(
        self,
        app: App,
        *,
        database_url: str | None = None,
        start: datetime = DEFAULT_START,
        data_dir: str | Path | None = None,
    ) -> None:
        from faaskit.runtime.runtime import Runtime
        from faaskit.runtime.worker import Worker

        self._scratch = Path(tempfile.mkdtemp(prefix="faaskit-test-")) if data_dir is None else None
        home = Path(data_dir) if data_dir is not None else self._scratch
        assert home is not None
        url = database_url or f"sqlite:///{home / 'app.db'}"
        self.clock = VirtualClock(start)
        self.runtime = Runtime(
            app, Settings.load(database_url=url, data_dir=home, metrics="public"), clock=self.clock
        )
        self.worker = Worker(self.runtime)
        self.app = app
        self.http: Any = None

    async def __aenter__(self) -> AppHarness:
        import httpx

        from faaskit.http.gateway import create_asgi_app

        await self.runtime.start()
        transport = httpx.ASGITransport(app=create_asgi_app(self.app, self.runtime))
        self.http = httpx.AsyncClient(transport=transport, base_url="http://faaskit.test")
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.http.aclose()
        await self.runtime.stop()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def now(self) -> datetime:
        return self.clock.now()

    def auth(self, subject: str, *scopes: str) -> dict[str, str]:
        """An Authorization header with a token for ``subject`` and ``scopes``."""
        return {"authorization": f"Bearer {self.runtime.tokens.mint(subject, scopes)}"}

    async def drain(self, max_rounds: int = 1000) -> int:
        """Deliver everything due at the current virtual time, until quiet; how many."""
        handled = 0
        for _ in range(max_rounds):
            batch = await self.worker.run_once()
            if batch == 0:
                return handled
            handled += batch
        raise RuntimeError(f"still busy after {max_rounds} rounds: a message loop?")

    async def advance(self, delta: timedelta) -> int:
        """Move the clock by ``delta``, stopping at each due time on the way, so a task due
        in 5 minutes runs at +5 minutes and what it schedules is timed from then."""
        end = self.clock.now() + delta
        handled = await self.drain()
        while True:
            due = await self.runtime.store.next_due(list(self.worker.handlers))
            if due is None or due > end.timestamp():
                break
            moment = _due_moment(due)
            if moment > self.clock.now():
                self.clock.set(moment)
            batch = await self.drain()
            if batch == 0 and moment <= self.clock.now():
                raise RuntimeError(f"a delivery is due at {moment} but none could be claimed")
            handled += batch
        self.clock.set(end)
        return handled + await self.drain()

    def fail_next(self, function: str, times: int = 1, error: BaseException | None = None) -> None:
        """Make ``function``'s next ``times`` attempts fail."""
        self.runtime.fail_next(function, times, error)

    async def published(self, topic: str | None = None) -> list[Message]:
        """Every message published so far (oldest first), tasks excluded."""
        messages = await self.runtime.store.messages(topic=topic, limit=100_000)
        return [m for m in messages if not m.topic.startswith(("task:", "cron:"))]

    async def scheduled(self, task: str | None = None) -> list[Pending]:
        """Deliveries not yet handled (tasks, retries, cron ticks, subscriber copies)."""
        pending = await self.runtime.store.pending()
        if task is None:
            return pending
        return [p for p in pending if p.target == f"task:{task}"]

    async def saga(self, saga_id: str) -> SagaState:
        """A saga's committed state (AssertionError when there is no such saga)."""
        from faaskit.sagas import get_saga

        state = await get_saga(self.runtime, saga_id)
        assert state is not None, f"no saga {saga_id!r}"
        return state

    async def dead_letters(self) -> list[DeadLetter]:
        return await self.runtime.store.dead_letters(limit=100_000)
