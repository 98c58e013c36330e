"""Backends behind one protocol; :func:`open_store` picks one from a URL.

Backends import lazily: ``import faaskit`` never loads sqlite3 or psycopg.
"""

from __future__ import annotations

from faaskit.errors import ConfigurationError
from faaskit.store.protocol import Document, Store
from faaskit.store.urls import redacted

__all__ = ["Document", "Store", "create_store"]


def create_store(url: str) -> Store:
    """A store for ``sqlite:///path/app.db`` or ``postgresql://user@host/db`` (not yet opened)."""
    if url.startswith("sqlite:"):
        from faaskit.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("postgresql:", "postgres:")):
        from faaskit.store.postgres import PostgresStore

        return PostgresStore(url)
    raise ConfigurationError(
        f"unsupported database URL {redacted(url)!r}: use sqlite:///path/app.db or postgresql://..."
    )
