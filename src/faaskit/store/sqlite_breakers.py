"""Circuit breakers on SQLite (mixed into :class:`SQLiteStore`), for :mod:`faaskit.breakers`.

Each operation first reads the breaker's row on the reader connection: a closed breaker's
acquire, or a success that finds nothing to reset, ends there (microseconds, no write).
Only a change goes to the writer thread, whose transactions begin ``IMMEDIATE`` (the
file's write lock): it reads the row again there and applies the step of
:mod:`faaskit.store.breaker_rules`, so of any number of processes asking at once exactly
one is granted a half-open trial. Like the rate limits, it goes through the group commit
in its own savepoint, never inside a unit of work: a failure counted stays counted when
the invocation that saw it rolls back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from faaskit.store import breaker_rules as rules
from faaskit.store.protocol import Breaker, BreakerPermit

if TYPE_CHECKING:
    import sqlite3

__all__ = ["SQLiteBreakers"]

T = TypeVar("T")


def _row(conn: sqlite3.Connection, name: str) -> rules.Row | None:
    found = conn.execute(rules.SELECT, (name,)).fetchone()
    return None if found is None else rules.Row(*found)


class SQLiteBreakers:
    """Needs ``reader`` and ``_write(work)`` from the store it is mixed into."""

    @property
    def reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def breaker_acquire(
        self, name: str, *, now: float, lease: float, token: str
    ) -> BreakerPermit:
        rules.check_acquire(name, lease, token)
        permit, written = rules.acquire_step(_row(self.reader, name), now, lease, token)
        if written is None:
            return permit

        def work(conn: sqlite3.Connection) -> BreakerPermit:
            permit, written = rules.acquire_step(_row(conn, name), now, lease, token)
            if written is not None:
                conn.execute(rules.UPSERT, (name, *written))
            return permit

        return await self._write(work)

    async def breaker_record(
        self,
        name: str,
        *,
        failed: bool,
        now: float,
        threshold: int,
        recovery_timeout: float,
        token: str | None = None,
        error: str | None = None,
    ) -> str | None:
        rules.check_record(name, threshold, recovery_timeout)

        def step(row: rules.Row | None) -> tuple[str | None, rules.Row | None]:
            return rules.record_step(
                row,
                failed=failed,
                now=now,
                threshold=threshold,
                recovery_timeout=recovery_timeout,
                token=token,
                error=error,
            )

        if step(_row(self.reader, name))[1] is None:
            return None  # nothing to change (a success while all is well: the usual case)

        def work(conn: sqlite3.Connection) -> str | None:
            moved, written = step(_row(conn, name))
            if written is not None:
                conn.execute(rules.UPSERT, (name, *written))
            return moved

        return await self._write(work)

    async def breakers(self) -> list[Breaker]:
        rows = self.reader.execute(rules.LIST).fetchall()
        return [rules.as_breaker(row[0], rules.Row(*row[1:])) for row in rows]

    async def reset_breaker(self, name: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(rules.DELETE, (name,)).rowcount > 0

        return await self._write(work)
