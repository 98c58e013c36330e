"""Circuit breakers on PostgreSQL (mixed into :class:`PostgresStore`), for :mod:`faaskit.breakers`.

Each operation first reads the breaker's row with one autocommitted ``SELECT``: a closed
breaker's acquire, or a success that finds nothing to reset, ends there. A change runs in
a short transaction of its own: ``INSERT ... ON CONFLICT DO NOTHING`` makes sure the row
exists, ``SELECT ... FOR UPDATE`` locks it and reads its latest committed version, and
the step of :mod:`faaskit.store.breaker_rules` decides what to write. Processes asking at
once queue on the row lock, so exactly one is granted a half-open trial. Its own
connection and transaction: never part of a unit of work.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from faaskit.store import breaker_rules as rules
from faaskit.store.protocol import Breaker, BreakerPermit
from faaskit.store.statements import postgres_placeholders

__all__ = ["PostgresBreakers"]

_SELECT = postgres_placeholders(rules.SELECT)
_LOCK = _SELECT + " FOR UPDATE"
_UPSERT = postgres_placeholders(rules.UPSERT)
_DELETE = postgres_placeholders(rules.DELETE)
_ENSURE = "INSERT INTO faaskit_breakers (name) VALUES (%s) ON CONFLICT DO NOTHING"


async def _row(conn: AsyncConnection[Any], query: str, name: str) -> rules.Row | None:
    found = await (await conn.execute(query, (name,))).fetchone()
    return None if found is None else rules.Row(*found)


class PostgresBreakers:
    """Needs ``pool`` from the store it is mixed into."""

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        raise NotImplementedError

    async def breaker_acquire(
        self, name: str, *, now: float, lease: float, token: str
    ) -> BreakerPermit:
        rules.check_acquire(name, lease, token)
        async with self.pool.connection() as conn:
            permit, written = rules.acquire_step(await _row(conn, _SELECT, name), now, lease, token)
            if written is None:
                return permit
            async with conn.transaction():  # a trial may be due: decide under the row lock
                permit, written = rules.acquire_step(
                    await _row(conn, _LOCK, name), now, lease, token
                )
                if written is not None:
                    await conn.execute(_UPSERT, (name, *written))
            return permit

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

        async with self.pool.connection() as conn:
            if step(await _row(conn, _SELECT, name))[1] is None:
                return None  # nothing to change (a success while all is well: the usual case)
            async with conn.transaction():
                await conn.execute(_ENSURE, (name,))  # a first failure: a row to lock
                moved, written = step(await _row(conn, _LOCK, name))
                if written is not None:
                    await conn.execute(_UPSERT, (name, *written))
            return moved

    async def breakers(self) -> list[Breaker]:
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(rules.LIST)).fetchall()
        return [rules.as_breaker(row[0], rules.Row(*row[1:])) for row in rows]

    async def reset_breaker(self, name: str) -> bool:
        async with self.pool.connection() as conn:
            return (await conn.execute(_DELETE, (name,))).rowcount > 0
