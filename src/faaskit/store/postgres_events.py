"""The event store's reads on PostgreSQL (mixed into :class:`PostgresStore`).

Appending transactions take :data:`LOG_LOCK` first (see ``PostgresStore.commit``), so
positions become visible in order and ``position > checkpoint`` never skips a late commit.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from faaskit.store import statements as sql
from faaskit.store.protocol import RecordedEvent

__all__ = ["LOG_LOCK", "PostgresEvents"]

LOG_LOCK = zlib.crc32(b"faaskit.events")
_pg = sql.postgres_placeholders


def recorded(row: Sequence[Any]) -> RecordedEvent:
    return RecordedEvent(row[0], row[1], row[2], row[3], row[4], row[5], row[6])


class PostgresEvents:
    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        raise NotImplementedError

    async def _rows(self, query: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self.pool.connection() as conn:
            return await (await conn.execute(_pg(query), params)).fetchall()

    async def read_stream(
        self, stream: str, *, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        query, params = sql.read_stream_query(stream, from_version, limit)
        return [recorded(row) for row in await self._rows(query, params)]

    async def read_all(
        self, *, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        query, params = sql.read_all_query(after, limit, types)
        return [recorded(row) for row in await self._rows(query, params)]

    async def head_position(self) -> int:
        return int((await self._rows(sql.HEAD))[0][0])

    async def checkpoint(self, name: str) -> int:
        rows = await self._rows(sql.CHECKPOINT, (name,))
        return int(rows[0][0]) if rows else 0

    async def reset_projection(self, name: str, collections: Sequence[str]) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            if collections:
                await conn.execute(
                    _pg(
                        "DELETE FROM faaskit_search WHERE collection IN "
                        + sql.in_list(len(collections))
                    ),
                    list(collections),
                )
                for statement in sql.DROP_COLLECTIONS:
                    query = _pg(statement + sql.in_list(len(collections)))
                    await conn.execute(query, list(collections))
            await conn.execute(_pg(sql.REWIND), (name,))

    async def snapshot(self, stream: str) -> tuple[int, dict[str, Any]] | None:
        rows = await self._rows(sql.SNAPSHOT, (stream,))
        return (int(rows[0][0]), rows[0][1]) if rows else None
