"""Token buckets on PostgreSQL (mixed into :class:`PostgresStore`), for :mod:`faaskit.ratelimit`.

A take is one autocommitted ``INSERT ... ON CONFLICT (bucket) DO UPDATE``: the update
locks the bucket's row and computes from its latest committed version (even under READ
COMMITTED), so two processes taking at once queue on the row and neither's take is lost.
It is the step of :func:`faaskit.store.sqlite_limits.take_from`, spelled in SQL. Its own
statement and connection: never part of a unit of work.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from faaskit.store.protocol import bucket_key
from faaskit.store.sqlite_limits import (
    IDLE_GRACE,
    PURGE_EVERY,
    PURGE_LIMIT,
    TOLERANCE,
    check_take,
    take_from,
)

__all__ = ["PostgresLimits"]

logger = logging.getLogger("faaskit.store")

# The bucket's tokens refilled up to now (``b`` is the stored row), whether cost is there,
# what is left after the take and the later of the two clocks (see take_from).
_AVAILABLE = "LEAST(%(capacity)s, b.tokens + GREATEST(%(now)s - b.updated_at, 0) * %(rate)s)"
_ENOUGH = f"{_AVAILABLE} + %(tolerance)s >= %(cost)s"
_LEFT = f"GREATEST({_AVAILABLE} - %(cost)s, 0)"
_LATER = "GREATEST(b.updated_at, %(now)s)"

# A refusal changes only last_wait (no indexed column, so a cheap HOT update); it is the
# answer RETURNING hands back, since RETURNING sees only the new row.
_TAKE = (
    "INSERT INTO faaskit_rate_limits AS b (bucket, tokens, updated_at, full_at, last_wait)"
    " VALUES (%(bucket)s, %(tokens)s, %(now)s, %(full_at)s, 0)"
    " ON CONFLICT (bucket) DO UPDATE SET"
    f" tokens = CASE WHEN {_ENOUGH} THEN {_LEFT} ELSE b.tokens END,"
    f" updated_at = CASE WHEN {_ENOUGH} THEN {_LATER} ELSE b.updated_at END,"
    f" full_at = CASE WHEN {_ENOUGH}"
    f" THEN {_LATER} + (%(capacity)s - {_LEFT}) / %(rate)s ELSE b.full_at END,"
    f" last_wait = CASE WHEN {_ENOUGH} THEN 0 ELSE (%(cost)s - {_AVAILABLE}) / %(rate)s END"
    " RETURNING last_wait"
)
# SKIP LOCKED: a bucket being taken from right now is not old; FOR UPDATE re-checks full_at
# on its latest version, so a bucket refreshed since our snapshot is not deleted.
_PURGE = (
    "DELETE FROM faaskit_rate_limits WHERE bucket IN (SELECT bucket FROM faaskit_rate_limits"
    " WHERE full_at < %s LIMIT %s FOR UPDATE SKIP LOCKED)"
)


class PostgresLimits:
    """Needs ``pool`` from the store it is mixed into."""

    _takes_to_purge = 0  # per instance once set: the first take purges

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        raise NotImplementedError

    async def take_tokens(
        self, bucket: str, capacity: float, refill_per_second: float, cost: float, now: float
    ) -> float:
        check_take(capacity, refill_per_second, cost)
        if cost > capacity:
            return math.inf  # never there: nothing to read or write
        capacity, rate, cost, now = (
            float(capacity),
            float(refill_per_second),
            float(cost),
            float(now),
        )  # floats bind as float8: the arithmetic stays in double precision
        first = take_from(None, capacity, rate, cost, now)  # the row when none is stored yet
        params = {
            "bucket": bucket_key(bucket),
            "capacity": capacity,
            "rate": rate,
            "cost": cost,
            "now": now,
            "tolerance": TOLERANCE,
            "tokens": first.tokens,
            "full_at": first.full_at,
        }
        purge = self._takes_to_purge <= 0
        self._takes_to_purge = PURGE_EVERY if purge else self._takes_to_purge - 1
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_TAKE, params)).fetchone()
            if purge:
                await self._purge(conn, now)
        assert row is not None  # an upsert always returns its row
        return float(row[0])

    async def _purge(self, conn: AsyncConnection[Any], now: float) -> None:
        try:
            await conn.execute(_PURGE, (now - IDLE_GRACE, PURGE_LIMIT))
        except psycopg.Error:
            # The take is committed; old rows wait for the next purge. A failure here must
            # not turn a granted request into an error.
            logger.warning("could not purge old rate-limit buckets", exc_info=True)
