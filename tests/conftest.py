"""Shared fixtures: every backend for the conformance suite, and a live HTTP server.

``backend_url`` is parametrized over SQLite and PostgreSQL. PostgreSQL tests use a fresh
schema each (so tests never see each other's data) at ``FAASKIT_TEST_POSTGRES_URL``
(default ``postgresql://postgres@127.0.0.1:5432/test``); with no server they skip with one
line, unless ``FAASKIT_REQUIRE_POSTGRES=1`` (CI), where they fail instead.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

POSTGRES_URL = os.environ.get(
    "FAASKIT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("FAASKIT_REQUIRE_POSTGRES") == "1"
_postgres_error: str | None = None
_postgres_checked = False


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    global _postgres_checked, _postgres_error
    if not _postgres_checked:
        _postgres_checked = True
        try:
            import psycopg

            with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except Exception as error:
            _postgres_error = (
                f"PostgreSQL at {POSTGRES_URL} is not reachable: {error}".splitlines()[0]
            )
    return _postgres_error


def _postgres_schema_url() -> Iterator[str]:
    reason = postgres_unavailable()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL of a fresh, empty store, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"
    else:
        yield from _postgres_schema_url()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (for tests that are PostgreSQL-only)."""
    yield from _postgres_schema_url()


@pytest.fixture
def faaskit_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch ``.faaskit`` directory (keys, SQLite file) for one test."""
    home = tmp_path / ".faaskit"
    monkeypatch.setenv("FAASKIT_HOME", str(home))
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """An app served by uvicorn on a real loopback port, in a background thread."""

    def __init__(self, app: Any, database_url: str, data_dir: Path) -> None:
        import uvicorn

        from faaskit.config import Settings
        from faaskit.http.gateway import Gateway, create_asgi_app
        from faaskit.runtime.runtime import Runtime
        from faaskit.serving import uvicorn_config

        self.runtime = Runtime(app, Settings.load(database_url=database_url, data_dir=data_dir))
        asgi = create_asgi_app(app, self.runtime)
        self.gateway: Gateway = asgi
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # the limits and settings of every server faaskit starts
        config = uvicorn_config(asgi, host="127.0.0.1", port=self.port, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)

    def token(self, subject: str, scopes: list[str] | tuple[str, ...] = (), **kwargs: Any) -> str:
        """A valid bearer token signed with the app's key."""
        return self.runtime.tokens.mint(subject, scopes, **kwargs)


@pytest.fixture
def live_server(backend_url: str, tmp_path: Path):
    """``live_server(app)`` serves ``app`` over real HTTP on the parametrized backend."""
    servers: list[LiveServer] = []

    def serve(app: Any) -> LiveServer:
        server = LiveServer(app, backend_url, tmp_path / ".faaskit").__enter__()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.__exit__(None, None, None)
