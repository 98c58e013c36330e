"""Token buckets on SQLite (mixed into :class:`SQLiteStore`), for :mod:`faaskit.ratelimit`.

A take is a read-modify-write of one row. It runs in the writer thread, whose transactions
begin ``IMMEDIATE`` (the file's write lock), so no other connection or process can read the
row between our read and our write: no lost update. It goes through the group commit in
its own savepoint, never inside a unit of work, so a handler that fails keeps it spent.

The step itself (:func:`take_from`) and its constants are the definition both backends
follow; :mod:`faaskit.store.postgres_limits` spells the same step as one SQL statement.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, TypeVar

from faaskit.store.protocol import bucket_key

if TYPE_CHECKING:
    import sqlite3

__all__ = [
    "IDLE_GRACE",
    "PURGE_EVERY",
    "PURGE_LIMIT",
    "TOLERANCE",
    "SQLiteLimits",
    "Taken",
    "check_take",
    "take_from",
]

T = TypeVar("T")

TOLERANCE = 1e-6
"""Tokens short that still count as there: waiting exactly the answered seconds must
succeed even when float arithmetic lands a hair below ``cost``."""
PURGE_EVERY = 256
"""Each store instance purges old buckets on its first take and every this many takes
after; short-lived processes (a cloud function) still purge on their first take."""
PURGE_LIMIT = 500
"""Rows one purge deletes at most: a purge stays a cheap, bounded index range scan."""
IDLE_GRACE = 3600.0
"""Seconds a bucket stays stored after it is full again. A missing row reads as a full
bucket, so deleting it sooner would be correct too; keeping hot buckets saves churn."""

_SELECT = "SELECT tokens, updated_at FROM faaskit_rate_limits WHERE bucket = ?"
_UPSERT = (
    "INSERT INTO faaskit_rate_limits (bucket, tokens, updated_at, full_at) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (bucket) DO UPDATE SET tokens = excluded.tokens,"
    " updated_at = excluded.updated_at, full_at = excluded.full_at"
)
_PURGE = (
    "DELETE FROM faaskit_rate_limits WHERE bucket IN"
    " (SELECT bucket FROM faaskit_rate_limits WHERE full_at < ? LIMIT ?)"
)


class Taken(NamedTuple):
    """A bucket after a take: its new row, and the seconds to wait (0.0: taken)."""

    tokens: float
    updated_at: float
    full_at: float
    wait: float


def take_from(
    row: tuple[float, float] | None,
    capacity: float,
    refill_per_second: float,
    cost: float,
    now: float,
) -> Taken:
    """The token-bucket step: refill ``row`` (tokens, updated_at; None is full) up to
    ``now``, then take ``cost`` if it is there. A clock behind the row's time refills
    nothing rather than draining (processes' clocks differ a little)."""
    if row is None:
        tokens, updated_at = capacity, now
    else:
        elapsed = max(now - row[1], 0.0)
        tokens, updated_at = min(capacity, row[0] + elapsed * refill_per_second), max(row[1], now)
    if tokens + TOLERANCE < cost:
        full_at = updated_at + (capacity - tokens) / refill_per_second
        return Taken(tokens, updated_at, full_at, (cost - tokens) / refill_per_second)
    tokens = max(tokens - cost, 0.0)
    return Taken(tokens, updated_at, updated_at + (capacity - tokens) / refill_per_second, 0.0)


def check_take(capacity: float, refill_per_second: float, cost: float) -> None:
    """ValueError for a bucket or cost that makes no sense (a caller's bug, not input)."""
    if not (capacity > 0 and refill_per_second > 0 and cost > 0):
        raise ValueError(
            "take_tokens needs capacity, refill_per_second and cost above 0, got"
            f" {capacity!r}, {refill_per_second!r} and {cost!r}"
        )


class SQLiteLimits:
    """Needs ``_write(work)`` from the store it is mixed into."""

    _takes_to_purge = 0  # per instance once set: the first take purges

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def take_tokens(
        self, bucket: str, capacity: float, refill_per_second: float, cost: float, now: float
    ) -> float:
        check_take(capacity, refill_per_second, cost)
        if cost > capacity:
            return math.inf  # never there: nothing to read or write
        key = bucket_key(bucket)
        purge = self._takes_to_purge <= 0
        self._takes_to_purge = PURGE_EVERY if purge else self._takes_to_purge - 1

        def work(conn: sqlite3.Connection) -> float:
            taken = take_from(
                conn.execute(_SELECT, (key,)).fetchone(), capacity, refill_per_second, cost, now
            )
            if taken.wait == 0.0:  # a refusal changes nothing, so it writes nothing
                conn.execute(_UPSERT, (key, taken.tokens, taken.updated_at, taken.full_at))
            if purge:
                conn.execute(_PURGE, (now - IDLE_GRACE, PURGE_LIMIT))
            return taken.wait

        return await self._write(work)
