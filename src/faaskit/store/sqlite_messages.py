"""Messages, timers and dead letters on SQLite (mixed into :class:`SQLiteStore`).

Claims are writes, so they go through the group-commit writer like every unit of work;
workers of the same process wake on an in-process event, other processes on the poll.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from faaskit.store import statements as sql
from faaskit.store.protocol import DeadLetter, Delivery, InvocationRecord, Message, Pending
from faaskit.store.rows import (
    dead_letter_from_row,
    delivery_from_row,
    message_from_row,
    pending_from_row,
)
from faaskit.store.text import error_log

__all__ = ["CLAIM", "CLAIM_ONE", "SQLiteMessages", "with_messages"]

T = TypeVar("T")
CROSS_PROCESS_POLL = 0.02

CLAIM = (
    "UPDATE faaskit_deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
    " WHERE seq IN (SELECT d.seq FROM faaskit_deliveries d WHERE d.target IN {targets}"
    " AND d.available_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)"
    " AND (d.ordered = 0 OR NOT EXISTS (SELECT 1 FROM faaskit_deliveries e"
    " WHERE e.target = d.target AND e.key IS d.key AND e.seq < d.seq))"
    " ORDER BY d.available_at, d.seq LIMIT ?)"
    " RETURNING seq, target, attempts, errors, message_id"
)


CLAIM_ONE = (
    "UPDATE faaskit_deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
    " WHERE seq = (SELECT d.seq FROM faaskit_deliveries d WHERE d.message_id = ?"
    " AND d.target = ? AND" + sql.CLAIMABLE + " LIMIT 1)"
    " RETURNING seq, target, attempts, errors, message_id"
)


def with_messages(conn: sqlite3.Connection, rows: list[Any], owner: str) -> list[Delivery]:
    """Claimed rows (``seq, target, attempts, errors, message_id``) with their messages."""
    if not rows:
        return []
    ids = list({row[4] for row in rows})
    messages = {
        row[0]: row
        for row in conn.execute(
            "SELECT "
            + sql.MESSAGE_COLUMNS
            + " FROM faaskit_messages m WHERE m.id IN "
            + sql.in_list(len(ids)),
            ids,
        )
    }
    rows.sort(key=lambda row: row[0])
    return [delivery_from_row((*row[:4], *messages[row[4]]), owner, orjson.loads) for row in rows]


class SQLiteMessages:
    """Needs ``reader``, ``_write(work)`` and ``_wake`` from the store it is mixed into."""

    _wake: asyncio.Event

    @property
    def reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    def _notify(self) -> None:
        self._wake.set()

    async def claim(
        self, targets: Sequence[str], *, owner: str, now: float, lease: float, limit: int
    ) -> list[Delivery]:
        if not targets or limit <= 0:
            return []
        claim = CLAIM.format(targets=sql.in_list(len(targets)))

        def work(conn: sqlite3.Connection) -> list[Delivery]:
            rows = conn.execute(claim, (owner, now + lease, *targets, now, now, limit)).fetchall()
            return with_messages(conn, rows, owner)

        return await self._write(work)

    async def claim_delivery(
        self, message_id: str, target: str, *, owner: str, now: float, lease: float
    ) -> Delivery | None:
        def work(conn: sqlite3.Connection) -> list[Delivery]:
            params = (owner, now + lease, message_id, target, now, now)
            return with_messages(conn, conn.execute(CLAIM_ONE, params).fetchall(), owner)

        claimed = await self._write(work)
        return claimed[0] if claimed else None

    async def relayable(self, *, now: float, limit: int) -> list[tuple[str, str]]:
        rows = self.reader.execute(sql.RELAYABLE, (now, now, limit)).fetchall()
        return [(row[0], row[1]) for row in rows]

    async def retry(
        self,
        delivery: Delivery,
        *,
        available_at: float,
        error: dict[str, Any],
        counted: bool = True,
    ) -> bool:
        errors = error_log([*delivery.errors, error])
        statement = sql.RETRY if counted else sql.RETRY_UNCOUNTED

        def work(conn: sqlite3.Connection) -> bool:
            params = (available_at, errors, delivery.seq, delivery.lease_owner)
            return conn.execute(statement, params).rowcount == 1

        retried = await self._write(work)
        self._notify()
        return retried

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            for delivery in deliveries:
                conn.execute(sql.RELEASE, (delivery.seq, delivery.lease_owner))

        if deliveries:
            await self._write(work)
            self._notify()

    async def dead_letter(
        self, delivery: Delivery, *, reason: str, error: dict[str, Any] | None, now: float
    ) -> bool:
        errors = error_log([*delivery.errors, *([error] if error else [])])

        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(sql.LEASED, (delivery.seq, delivery.lease_owner)).fetchone()
            if row is None:
                return False
            message_id, target, key, ordered, attempts = row
            conn.execute(
                sql.BURY,
                (delivery.seq, message_id, target, key, ordered, attempts, errors, reason, now),
            )
            conn.execute(sql.ACK, (delivery.seq, delivery.lease_owner))
            return True

        return await self._write(work)

    async def next_due(self, targets: Sequence[str]) -> float | None:
        if not targets:
            return None
        row = self.reader.execute(sql.NEXT_DUE + sql.in_list(len(targets)), targets).fetchone()
        return None if row is None else row[0]

    async def wait_for_deliveries(self, within: float) -> None:
        # In-process commits set the event; another process's commit shows as a new
        # `PRAGMA data_version`, a read of shared memory cheap enough to poll every 20 ms.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        version = self.reader.execute("PRAGMA data_version").fetchone()[0]
        while (remaining := deadline - loop.time()) > 0:
            try:
                await asyncio.wait_for(self._wake.wait(), min(remaining, CROSS_PROCESS_POLL))
            except TimeoutError:
                if self.reader.execute("PRAGMA data_version").fetchone()[0] != version:
                    return
                continue
            self._wake.clear()
            return

    async def pending(self, targets: Sequence[str] | None = None) -> list[Pending]:
        query, params = sql.PENDING, list(targets or [])
        if targets:
            query += " WHERE d.target IN " + sql.in_list(len(targets))
        rows = self.reader.execute(query + " ORDER BY d.available_at, d.seq", params).fetchall()
        return [pending_from_row(row, orjson.loads) for row in rows]

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        rows = self.reader.execute(sql.DEAD_LETTERS + " ORDER BY d.seq LIMIT ?", (limit,))
        return [dead_letter_from_row(row, orjson.loads) for row in rows.fetchall()]

    async def redrive(self, seqs: Sequence[int] | None, *, now: float) -> int:
        where, params = sql.seq_filter(seqs)

        def work(conn: sqlite3.Connection) -> int:
            moved = conn.execute(sql.REDRIVE + where, (now, *params)).rowcount
            conn.execute(sql.PURGE + where, params)
            return int(moved)

        moved = await self._write(work)
        self._notify()
        return moved

    async def purge_dead_letters(self, seqs: Sequence[int] | None = None) -> int:
        where, params = sql.seq_filter(seqs)
        return await self._write(lambda conn: int(conn.execute(sql.PURGE + where, params).rowcount))

    async def messages(
        self, *, topic: str | None = None, after: float = 0.0, limit: int = 100
    ) -> list[Message]:
        query, params = sql.messages_query(topic, after, limit)
        rows = self.reader.execute(query, params)
        return [message_from_row(row, orjson.loads) for row in rows.fetchall()]

    async def backlog(self) -> list[tuple[str, int, float | None, int]]:
        pending = self.reader.execute(sql.BACKLOG).fetchall()
        return sql.backlog_rows(pending, self.reader.execute(sql.DEAD_BY_TARGET).fetchall())

    async def invocations(
        self, *, since: float = 0.0, function: str | None = None, limit: int = 100_000
    ) -> list[InvocationRecord]:
        batches = self.reader.execute(sql.INVOCATION_BATCHES, (since,)).fetchall()
        return sql.records_from_batches(batches, since, function, limit)
