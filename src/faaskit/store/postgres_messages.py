"""Messages, timers and dead letters on PostgreSQL (mixed into :class:`PostgresStore`).

Workers claim with ``FOR UPDATE SKIP LOCKED`` so any number of them share the work, and
sleep on ``LISTEN faaskit_deliveries``: a commit that writes deliveries notifies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from faaskit.store import statements as sql
from faaskit.store.protocol import DeadLetter, Delivery, InvocationRecord, Message, Pending
from faaskit.store.rows import (
    dead_letter_from_row,
    delivery_from_row,
    message_from_row,
    pending_from_row,
)
from faaskit.store.text import error_log

__all__ = ["CHANNEL", "CLAIM", "CLAIM_ONE", "NOTIFY", "PostgresMessages", "as_is"]

CHANNEL = "faaskit_deliveries"
NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
CLAIM = (
    "WITH due AS (SELECT d.seq FROM faaskit_deliveries d WHERE d.target = ANY(%s)"
    " AND d.available_at <= %s AND (d.lease_until IS NULL OR d.lease_until < %s)"
    " AND (NOT d.ordered OR NOT EXISTS (SELECT 1 FROM faaskit_deliveries e"
    " WHERE e.target = d.target AND e.key IS NOT DISTINCT FROM d.key AND e.seq < d.seq))"
    " ORDER BY d.available_at, d.seq LIMIT %s FOR UPDATE SKIP LOCKED)"
    " UPDATE faaskit_deliveries f SET lease_owner = %s, lease_until = %s,"
    " attempts = f.attempts + 1 FROM due, faaskit_messages m"
    " WHERE f.seq = due.seq AND m.id = f.message_id"
    " RETURNING f.seq, f.target, f.attempts, f.errors, " + sql.MESSAGE_COLUMNS
)


CLAIM_ONE = (
    "WITH one AS (SELECT d.seq FROM faaskit_deliveries d WHERE d.message_id = %s"
    " AND d.target = %s AND" + sql.postgres_placeholders(sql.CLAIMABLE) + " LIMIT 1"
    " FOR UPDATE SKIP LOCKED)"
    " UPDATE faaskit_deliveries f SET lease_owner = %s, lease_until = %s,"
    " attempts = f.attempts + 1 FROM one, faaskit_messages m"
    " WHERE f.seq = one.seq AND m.id = f.message_id"
    " RETURNING f.seq, f.target, f.attempts, f.errors, " + sql.MESSAGE_COLUMNS
)


def _pg(query: str) -> Any:
    return sql.postgres_placeholders(query)


def as_is(value: Any) -> Any:
    """JSON columns as psycopg decoded them."""
    return value


class PostgresMessages:
    """Needs ``pool`` and ``url`` from the store it is mixed into."""

    url: str
    _listener: AsyncConnection[Any] | None = None

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        raise NotImplementedError

    async def claim(
        self, targets: Sequence[str], *, owner: str, now: float, lease: float, limit: int
    ) -> list[Delivery]:
        if not targets or limit <= 0:
            return []
        params = (list(targets), now, now, limit, owner, now + lease)
        async with self.pool.connection() as conn, conn.transaction():
            rows = await (await conn.execute(CLAIM, params)).fetchall()
        rows.sort(key=lambda row: row[0])
        return [delivery_from_row(row, owner, as_is) for row in rows]

    async def claim_delivery(
        self, message_id: str, target: str, *, owner: str, now: float, lease: float
    ) -> Delivery | None:
        params = (message_id, target, now, now, owner, now + lease)
        async with self.pool.connection() as conn, conn.transaction():
            row = await (await conn.execute(CLAIM_ONE, params)).fetchone()
        return None if row is None else delivery_from_row(row, owner, as_is)

    async def relayable(self, *, now: float, limit: int) -> list[tuple[str, str]]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_pg(sql.RELAYABLE), (now, now, limit))
            return [(row[0], row[1]) for row in await cursor.fetchall()]

    async def retry(
        self,
        delivery: Delivery,
        *,
        available_at: float,
        error: dict[str, Any],
        counted: bool = True,
    ) -> bool:
        errors = error_log([*delivery.errors, error])
        statement = _pg(sql.RETRY if counted else sql.RETRY_UNCOUNTED)
        async with self.pool.connection() as conn, conn.transaction():
            params = (available_at, errors, delivery.seq, delivery.lease_owner)
            cursor = await conn.execute(statement, params)
            await conn.execute(NOTIFY)
            return cursor.rowcount == 1

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        if not deliveries:
            return
        async with self.pool.connection() as conn, conn.transaction():
            for delivery in deliveries:
                await conn.execute(_pg(sql.RELEASE), (delivery.seq, delivery.lease_owner))
            await conn.execute(NOTIFY)

    async def dead_letter(
        self, delivery: Delivery, *, reason: str, error: dict[str, Any] | None, now: float
    ) -> bool:
        errors = error_log([*delivery.errors, *([error] if error else [])])
        async with self.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(_pg(sql.LEASED), (delivery.seq, delivery.lease_owner))
            row = await cursor.fetchone()
            if row is None:
                return False
            message_id, target, key, ordered, attempts = row
            await conn.execute(
                _pg(sql.BURY),
                (delivery.seq, message_id, target, key, ordered, attempts, errors, reason, now),
            )
            await conn.execute(_pg(sql.ACK), (delivery.seq, delivery.lease_owner))
            return True

    async def next_due(self, targets: Sequence[str]) -> float | None:
        if not targets:
            return None
        query = _pg(sql.NEXT_DUE + sql.in_list(len(targets)))
        async with self.pool.connection() as conn:
            row = await (await conn.execute(query, list(targets))).fetchone()
        return None if row is None else row[0]

    async def wait_for_deliveries(self, within: float) -> None:
        if self._listener is None or self._listener.closed:
            self._listener = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
            await self._listener.execute(f"LISTEN {CHANNEL}")
        async for _ in self._listener.notifies(timeout=within, stop_after=1):
            break

    async def close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(psycopg.Error):
                await self._listener.close()
            self._listener = None

    async def pending(self, targets: Sequence[str] | None = None) -> list[Pending]:
        query, params = sql.PENDING, list(targets or [])
        if targets:
            query += " WHERE d.target IN " + sql.in_list(len(targets))
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_pg(query + " ORDER BY d.available_at, d.seq"), params)
            return [pending_from_row(row, as_is) for row in await cursor.fetchall()]

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_pg(sql.DEAD_LETTERS + " ORDER BY d.seq LIMIT ?"), (limit,))
            return [dead_letter_from_row(row, as_is) for row in await cursor.fetchall()]

    async def redrive(self, seqs: Sequence[int] | None, *, now: float) -> int:
        where, params = sql.seq_filter(seqs)
        async with self.pool.connection() as conn, conn.transaction():
            moved = (await conn.execute(_pg(sql.REDRIVE + where), (now, *params))).rowcount
            await conn.execute(_pg(sql.PURGE + where), params)
            await conn.execute(NOTIFY)
        return int(moved)

    async def purge_dead_letters(self, seqs: Sequence[int] | None = None) -> int:
        where, params = sql.seq_filter(seqs)
        async with self.pool.connection() as conn, conn.transaction():
            return int((await conn.execute(_pg(sql.PURGE + where), params)).rowcount)

    async def messages(
        self, *, topic: str | None = None, after: float = 0.0, limit: int = 100
    ) -> list[Message]:
        query, params = sql.messages_query(topic, after, limit)
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_pg(query), params)
            return [message_from_row(row, as_is) for row in await cursor.fetchall()]

    async def backlog(self) -> list[tuple[str, int, float | None, int]]:
        async with self.pool.connection() as conn:
            pending = await (await conn.execute(_pg(sql.BACKLOG))).fetchall()
            dead = await (await conn.execute(_pg(sql.DEAD_BY_TARGET))).fetchall()
        return sql.backlog_rows(pending, dead)

    async def invocations(
        self, *, since: float = 0.0, function: str | None = None, limit: int = 100_000
    ) -> list[InvocationRecord]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_pg(sql.INVOCATION_BATCHES), (since,))
            batches = await cursor.fetchall()
        return sql.records_from_batches(batches, since, function, limit)
