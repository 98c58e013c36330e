"""The PostgreSQL store's pool, as serverless environments use it: connections reused
across invocations, one the server closed while the process sat idle (a frozen Lambda
environment, a proxy's idle timeout) replaced before it is handed out, and the pool's size
a checked setting."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest

from faaskit.errors import ConfigurationError
from faaskit.store import postgres
from faaskit.store.postgres import PostgresStore


@pytest.fixture
async def store(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[PostgresStore]:
    monkeypatch.setenv("FAASKIT_POSTGRES_POOL_SIZE", "1")  # as on Lambda
    opened = PostgresStore(postgres_url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


async def backend_pid(store: PostgresStore) -> int:
    async with store.pool.connection() as conn:
        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        return int(row[0])


async def close_from_the_server(postgres_url: str, pid: int) -> None:
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


async def test_warm_invocations_reuse_the_connection(store: PostgresStore) -> None:
    first = await backend_pid(store)
    await store.get("notes", "n1")
    assert await backend_pid(store) == first


async def test_a_connection_closed_while_idle_is_replaced_before_use(
    store: PostgresStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed = await backend_pid(store)
    await close_from_the_server(postgres_url, closed)
    monkeypatch.setattr(postgres, "IDLE_CHECK_SECONDS", 0.0)  # as if it sat idle a while

    assert await store.get("notes", "n1") is None  # answered, on a new connection
    assert await backend_pid(store) != closed


async def test_a_connection_in_steady_use_is_not_checked(
    store: PostgresStore, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the control: without the idle check, the closed connection is handed out and fails
    await close_from_the_server(postgres_url, await backend_pid(store))
    monkeypatch.setattr(postgres, "IDLE_CHECK_SECONDS", 1e9)

    with pytest.raises(psycopg.OperationalError):
        await store.get("notes", "n1")


@pytest.mark.parametrize("size", ["0", "-1", "ten", "1.5", "100000", " "])
async def test_a_pool_size_that_is_not_a_sensible_whole_number_is_a_clear_error(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    monkeypatch.setenv("FAASKIT_POSTGRES_POOL_SIZE", size)
    with pytest.raises(ConfigurationError, match="FAASKIT_POSTGRES_POOL_SIZE"):
        await PostgresStore(postgres_url).open()
