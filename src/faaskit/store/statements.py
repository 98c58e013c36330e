"""The SQL both backends share, written once with ``?`` placeholders.

A unit of work's write set compiles to a list of :class:`Statement`; a backend runs them
in order inside one transaction (SQLite: one savepoint of a group commit) and turns a
statement that touched no row into the error the statement names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson

from faaskit.errors import ConcurrencyError, ConflictError, FaaskitError, NotFoundError
from faaskit.store.protocol import (
    DeleteDocument,
    InsertDocument,
    UniqueKey,
    UpdateDocument,
    Write,
    WriteSet,
)

__all__ = ["Statement", "compile_write_set", "not_found", "postgres_placeholders"]

SELECT_DOCUMENT = (
    "SELECT collection, id, data, version, created_at, updated_at FROM faaskit_documents"
)
GET = SELECT_DOCUMENT + " WHERE collection = ? AND id = ?"
GET_BY_KEY = (
    SELECT_DOCUMENT + " WHERE collection = ? AND id = (SELECT id FROM faaskit_document_keys"
    " WHERE collection = ? AND field = ? AND value = ?)"
)
INSERT = (
    "INSERT INTO faaskit_documents (collection, id, data, version, created_at, updated_at)"
    " VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_KEY = (
    "INSERT INTO faaskit_document_keys (collection, field, value, id) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
DELETE_KEYS = "DELETE FROM faaskit_document_keys WHERE collection = ? AND id = ?"
UPDATE = (
    "UPDATE faaskit_documents SET data = ?, version = version + 1, updated_at = ?"
    " WHERE collection = ? AND id = ?"
)
DELETE = "DELETE FROM faaskit_documents WHERE collection = ? AND id = ?"
EXISTS = "SELECT 1 FROM faaskit_documents WHERE collection = ? AND id = ?"
AND_VERSION = " AND version = ?"
RESET = ("DELETE FROM faaskit_document_keys", "DELETE FROM faaskit_documents")


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: tuple[Any, ...]
    if_no_row: Callable[[], FaaskitError] | None = None
    """The error to raise when the statement changed no row (None: zero rows are fine)."""
    if_missing: tuple[str, str] | None = None
    """(collection, id) of a versioned update or delete: when it changed no row, the backend
    runs :data:`EXISTS` with these, and a document that is gone raises :func:`not_found`
    instead of ``if_no_row`` (a stale version)."""


def not_found(collection: str, id: str) -> NotFoundError:
    return NotFoundError(f"{collection} {id!r} not found")


def postgres_placeholders(sql: str) -> str:
    """``?`` to psycopg's ``%s`` (our SQL has no literal question marks)."""
    return sql.replace("?", "%s")


def compile_write_set(
    write_set: WriteSet, *, json_param: Callable[[bytes], Any]
) -> list[Statement]:
    """Statements that apply ``write_set``; ``json_param`` adapts encoded JSON per backend."""
    statements: list[Statement] = []
    for write in write_set.writes:
        statements.extend(_compile(write, json_param))
    return statements


def _compile(write: Write, json_param: Callable[[bytes], Any]) -> Iterator[Statement]:
    if isinstance(write, InsertDocument):
        message = write.conflict_message
        yield Statement(
            INSERT,
            (write.collection, write.id, json_param(orjson.dumps(write.data)), write.at, write.at),
            lambda: ConflictError(message or f"{write.collection} {write.id!r} already exists"),
        )
        yield from _insert_keys(write.collection, write.id, write.keys, message)
    elif isinstance(write, UpdateDocument):
        params: tuple[Any, ...] = (
            json_param(orjson.dumps(write.data)),
            write.at,
            write.collection,
            write.id,
        )
        sql = UPDATE
        if write.expected_version is not None:
            sql += AND_VERSION
            params += (write.expected_version,)
        yield _versioned(sql, params, write.collection, write.id, write.expected_version)
        yield Statement(DELETE_KEYS, (write.collection, write.id))
        yield from _insert_keys(write.collection, write.id, write.keys, write.conflict_message)
    else:
        assert isinstance(write, DeleteDocument)
        sql, params = DELETE, (write.collection, write.id)
        if write.expected_version is not None:
            sql += AND_VERSION
            params += (write.expected_version,)
        yield _versioned(sql, params, write.collection, write.id, write.expected_version)
        yield Statement(DELETE_KEYS, (write.collection, write.id))


def _insert_keys(
    collection: str, id: str, keys: Sequence[UniqueKey], message: str | None
) -> Iterator[Statement]:
    for field, value in keys:
        detail = message or f"a {collection} document with this {field} already exists"
        yield Statement(INSERT_KEY, (collection, field, value, id), partial(ConflictError, detail))


def _versioned(
    sql: str, params: tuple[Any, ...], collection: str, id: str, expected_version: int | None
) -> Statement:
    if expected_version is None:
        return Statement(sql, params, lambda: not_found(collection, id))
    return Statement(
        sql,
        params,
        lambda: ConcurrencyError(
            f"{collection} {id!r} changed since version {expected_version}; reload and retry"
        ),
        (collection, id),
    )
