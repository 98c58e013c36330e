"""Fresh faaskit stores for one run — a SQLite file or a PostgreSQL schema dropped after —
and plain-SQL reads of what faaskit wrote into them (counts and timestamps)."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SQLITE = "SQLite"
POSTGRES = "PostgreSQL"


@dataclass
class Database:
    """One fresh store: the URL faaskit opens and a connection of our own to read it."""

    kind: str
    url: str
    _conn: Any = field(default=None, repr=False)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """``sql`` with ``?`` placeholders, on either backend."""
        if self.kind == POSTGRES:
            sql = sql.replace("?", "%s")
        return list(self._conn.execute(sql, params).fetchall())

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def number(self, name: str) -> str:
        """A top-level number of a document's JSON, as SQL."""
        if self.kind == POSTGRES:
            return f"(data->>'{name}')::float8"
        return f"json_extract(data, '$.{name}')"

    def documents(self, collection: str) -> int:
        return int(
            self.scalar(
                "SELECT count(*) FROM faaskit_documents WHERE collection = ?", (collection,)
            )
        )


@contextmanager
def sqlite(folder: Path) -> Iterator[Database]:
    """``sqlite:///folder/bench.db``, the folder emptied first."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    path = folder / "bench.db"
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    try:
        yield Database(SQLITE, f"sqlite:///{path}", conn)
    finally:
        conn.close()


@contextmanager
def postgres(url: str) -> Iterator[Database]:
    """A fresh schema for one run, dropped after; the URL selects it for every connection."""
    import psycopg

    schema = f"faaskit_bench_{uuid.uuid4().hex[:8]}"
    separator = "&" if "?" in url else "?"
    scoped = f"{url}{separator}options=-csearch_path%3D{schema}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        with psycopg.connect(scoped, autocommit=True) as conn:
            yield Database(POSTGRES, scoped, conn)
    finally:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")
