"""The scale-out backend: PostgreSQL through psycopg 3 and a connection pool.

Any number of HTTP and worker processes on any number of machines share one database.
Each unit of work is one transaction; uniqueness is enforced by primary keys, so two
processes racing to insert the same email cannot both win.
"""

from __future__ import annotations

import os
import time
import weakref
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.abc import Buffer
from psycopg.types.json import set_json_loads
from psycopg.types.string import StrDumperUnknown
from psycopg_pool import AsyncConnectionPool

from faaskit.errors import ConfigurationError
from faaskit.store import statements as sql
from faaskit.store.postgres_breakers import PostgresBreakers
from faaskit.store.postgres_commits import GroupCommitter
from faaskit.store.postgres_events import PostgresEvents
from faaskit.store.postgres_limits import PostgresLimits
from faaskit.store.postgres_messages import PostgresMessages
from faaskit.store.postgres_search import PostgresSearch
from faaskit.store.protocol import CommitOutcome, Document, UniqueKey, WriteSet
from faaskit.store.text import dump_json, nul_error
from faaskit.store.urls import redacted

__all__ = ["PostgresStore"]

_SCHEMA = Path(__file__).with_name("postgres.sql")
_SCHEMA_LOCK = zlib.crc32(b"faaskit.schema")
_GET = sql.postgres_placeholders(sql.GET)
_GET_BY_KEY = sql.postgres_placeholders(sql.GET_BY_KEY)
_EXISTS = sql.postgres_placeholders(sql.EXISTS)


class PostgresStore(
    PostgresMessages, PostgresEvents, PostgresSearch, PostgresLimits, PostgresBreakers
):
    """``postgresql://user@host:5432/db``; pool size from ``FAASKIT_POSTGRES_POOL_SIZE`` (10).

    Connections are opened once and reused by every later invocation of the process (a warm
    Lambda environment's included); one idle for a while is checked before reuse."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._committer = GroupCommitter(lambda: self.pool.connection())

    async def open(self) -> None:
        if self._pool is not None:
            return
        size = pool_size()
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=size,
            open=False,
            configure=_configure,
            check=_check_if_idle,
            reset=_stamp_returned,
            timeout=30,
        )
        try:
            await pool.open(wait=True, timeout=10)
        except Exception as error:
            await pool.close()
            raise ConfigurationError(
                f"cannot connect to PostgreSQL at {redacted(self.url)}: "
                f"{str(error).replace(self.url, redacted(self.url))}"
            ) from error
        async with pool.connection() as conn, conn.transaction():
            # Several processes may start at once; one creates the schema, the others wait.
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            await _ensure_schema(conn)
        self._pool = pool

    async def close(self) -> None:
        await self.close_listener()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        if self._pool is None:
            raise ConfigurationError("the PostgreSQL store is not open: call `await store.open()`")
        return self._pool

    async def get(self, collection: str, id: str) -> Document | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_GET, (collection, id))
            return _document(await cursor.fetchone())

    async def get_by_key(self, collection: str, key: UniqueKey) -> Document | None:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(_GET_BY_KEY, (collection, collection, *key))
            return _document(await cursor.fetchone())

    async def find(
        self, collection: str, equals: Mapping[str, Any], *, limit: int | None = None
    ) -> list[Document]:
        query = [sql.SELECT_DOCUMENT, " WHERE collection = %s"]
        params: list[Any] = [collection]
        present = {field: value for field, value in equals.items() if value is not None}
        if present:  # containment uses the GIN index and compares JSON types exactly
            query.append(" AND data @> %s::jsonb")
            params.append(dump_json(present).decode())
        for field in (field for field, value in equals.items() if value is None):
            query.append(" AND data->>%s IS NULL")
            params.append(field)
        query.append(" ORDER BY created_at, id")
        if limit is not None:
            query.append(" LIMIT %s")
            params.append(limit)
        async with self.pool.connection() as conn:
            cursor = await conn.execute("".join(query), params)
            return [_document(row) for row in await cursor.fetchall()]  # type: ignore[misc]

    async def count_by(self, collection: str, field: str) -> dict[str, int]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(
                "SELECT data->>%s, COUNT(*) FROM faaskit_documents WHERE collection = %s"
                " GROUP BY 1",
                (field, collection),
            )
            rows = await cursor.fetchall()
        return {value: count for value, count in rows if value is not None}

    async def commit(self, write_set: WriteSet) -> CommitOutcome:
        if not write_set:
            return CommitOutcome()
        statements = sql.compile_write_set(
            write_set,
            json_param=bytes.decode,
            index=self.index_statements,
        )
        return await self._committer.commit(write_set, statements)

    async def reset(self) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            for statement in sql.RESET:
                await conn.execute(statement)


class _NulRefusingDumper(StrDumperUnknown):
    """faaskit's one text rule (no NUL, :mod:`faaskit.store.text`) on every parameter: a
    ValidationError, not PostgreSQL's "cannot be converted to text" as a 500."""

    def dump(self, obj: str) -> Buffer | None:
        if "\x00" in obj:
            raise nul_error()
        return super().dump(obj)


POOL_SIZE_VARIABLE = "FAASKIT_POSTGRES_POOL_SIZE"
IDLE_CHECK_SECONDS = 30.0
"""A pooled connection idle longer than this is checked (one round trip) before it is
handed out: a serverless environment frozen between invocations, or a proxy's idle
timeout, leaves connections the server has closed meanwhile."""

_returned_at: weakref.WeakKeyDictionary[AsyncConnection[Any], float] = weakref.WeakKeyDictionary()


def pool_size() -> int:
    """The most connections a store opens: ``FAASKIT_POSTGRES_POOL_SIZE`` (10; 1 or 2 suit
    a Lambda environment, which runs one invocation at a time)."""
    text = (os.environ.get(POOL_SIZE_VARIABLE) or "10").strip()
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        raise ConfigurationError(f"{POOL_SIZE_VARIABLE}={text!r}: use a whole number, 1 to 1000")
    return int(text)


async def _stamp_returned(conn: AsyncConnection[Any]) -> None:
    _returned_at[conn] = time.monotonic()


async def _check_if_idle(conn: AsyncConnection[Any]) -> None:
    """Check a connection that sat idle (the pool discards it and hands out another when the
    check fails); a connection in steady use costs nothing."""
    returned = _returned_at.get(conn)
    if returned is not None and time.monotonic() - returned < IDLE_CHECK_SECONDS:
        return
    await AsyncConnectionPool.check_connection(conn)


async def _configure(conn: AsyncConnection[Any]) -> None:
    _returned_at[conn] = time.monotonic()  # just opened: no check needed before first use
    set_json_loads(orjson.loads, conn)
    conn.adapters.register_dumper(str, _NulRefusingDumper)
    await conn.set_autocommit(True)


async def _ensure_schema(conn: AsyncConnection[Any]) -> None:
    """Run the schema script unless this version of it already ran. Re-running it while
    other workers write is not harmless: CREATE INDEX IF NOT EXISTS still takes a SHARE
    lock on its table, and deadlocks with their transactions."""
    script = _SCHEMA.read_text()
    version = zlib.crc32(script.encode())
    row = await (await conn.execute("SELECT to_regclass('faaskit_schema')")).fetchone()
    if row is not None and row[0] is not None:
        current = await (await conn.execute("SELECT version FROM faaskit_schema")).fetchone()
        if current is not None and current[0] == version:
            return
    await conn.execute(script)
    await conn.execute("CREATE TABLE IF NOT EXISTS faaskit_schema (version BIGINT NOT NULL)")
    await conn.execute("DELETE FROM faaskit_schema")
    await conn.execute("INSERT INTO faaskit_schema (version) VALUES (%s)", (version,))


def _document(row: tuple[Any, ...] | None) -> Document | None:
    if row is None:
        return None
    return Document(row[0], row[1], row[2], row[3], row[4], row[5])
