"""The event store's reads on SQLite (mixed into :class:`SQLiteStore`); appends are writes
of a unit of work (``statements.APPEND``). One writer means positions commit in order."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import orjson

from faaskit.store import statements as sql
from faaskit.store.protocol import RecordedEvent

__all__ = ["SQLiteEvents"]

T = TypeVar("T")


def recorded(row: Sequence[Any], loads: Callable[[Any], Any] = orjson.loads) -> RecordedEvent:
    return RecordedEvent(row[0], row[1], row[2], row[3], loads(row[4]), loads(row[5]), row[6])


class SQLiteEvents:
    @property
    def reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        raise NotImplementedError

    async def read_stream(
        self, stream: str, *, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]:
        query, params = sql.read_stream_query(stream, from_version, limit)
        return [recorded(row) for row in self.reader.execute(query, params).fetchall()]

    async def read_all(
        self, *, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        query, params = sql.read_all_query(after, limit, types)
        return [recorded(row) for row in self.reader.execute(query, params).fetchall()]

    async def head_position(self) -> int:
        return int(self.reader.execute(sql.HEAD).fetchone()[0])

    async def checkpoint(self, name: str) -> int:
        row = self.reader.execute(sql.CHECKPOINT, (name,)).fetchone()
        return 0 if row is None else int(row[0])

    async def reset_projection(self, name: str, collections: Sequence[str]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if collections:
                names = sql.in_list(len(collections))
                conn.execute(
                    "DELETE FROM faaskit_search WHERE rowid IN (SELECT rowid FROM"
                    " faaskit_search_keys WHERE collection IN " + names + ")",
                    list(collections),
                )
                conn.execute(
                    "DELETE FROM faaskit_search_keys WHERE collection IN " + names,
                    list(collections),
                )
                for statement in sql.DROP_COLLECTIONS:
                    conn.execute(statement + names, list(collections))
            conn.execute(sql.REWIND, (name,))

        await self._write(work)

    async def snapshot(self, stream: str) -> tuple[int, dict[str, Any]] | None:
        row = self.reader.execute(sql.SNAPSHOT, (stream,)).fetchone()
        return None if row is None else (int(row[0]), orjson.loads(row[1]))
