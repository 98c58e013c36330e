"""Full-text search on SQLite with FTS5 (mixed into :class:`SQLiteStore`)."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from faaskit.store import statements as sql
from faaskit.store.protocol import Document, JSONObject, SearchHit, SearchPage, SearchQuery
from faaskit.store.search_sql import TEXT_COLUMNS, conditions, highlights, order_by, padded

__all__ = ["SQLiteSearch"]

_KEY = "(SELECT rowid FROM faaskit_search_keys WHERE collection = ? AND doc_id = ?)"
_UNINDEX = f"DELETE FROM faaskit_search WHERE rowid = {_KEY}"
_FORGET = "DELETE FROM faaskit_search_keys WHERE collection = ? AND doc_id = ?"
_REMEMBER = (
    "INSERT INTO faaskit_search_keys (collection, doc_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
_INDEX = (
    f"INSERT INTO faaskit_search (rowid, {', '.join(TEXT_COLUMNS)})"
    f" VALUES ({_KEY}, {', '.join('?' * len(TEXT_COLUMNS))})"
)
# CROSS JOIN fixes the join order (SQLite's planner does not reorder it): the full-text
# match first, then primary-key lookups. Left to itself, on a database without ANALYZE
# statistics, the planner scans every key of the collection and matches per row.
_JOIN = (
    " FROM faaskit_search s CROSS JOIN faaskit_search_keys k ON k.rowid = s.rowid"
    " CROSS JOIN faaskit_documents d ON d.collection = k.collection AND d.id = k.doc_id"
)
_DOCUMENTS = " FROM faaskit_documents d"
_COLUMNS = "d.collection, d.id, d.data, d.version, d.created_at, d.updated_at"


def _field(name: str) -> str:
    return f"json_extract(d.data, '$.{name}')"


def _bind(value: Any) -> tuple[str, Any]:
    if isinstance(value, bool):  # json_extract gives true as 1
        return "?", int(value)
    return "?", value


def _match(words: tuple[str, ...]) -> str:
    # Each word quoted (a phrase of one) with a prefix star: FTS5 syntax cannot be injected.
    return " ".join(f'"{word}"*' for word in words)


class SQLiteSearch:
    @property
    def reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    @staticmethod
    def index_statements(
        collection: str, id: str, texts: tuple[str, ...] | None, data: JSONObject | None = None
    ) -> list[sql.Statement]:
        statements = [sql.Statement(_UNINDEX, (collection, id))]
        if texts is None:
            statements.append(sql.Statement(_FORGET, (collection, id)))
        else:
            statements.append(sql.Statement(_REMEMBER, (collection, id)))
            statements.append(sql.Statement(_INDEX, (collection, id, *padded(texts))))
        return statements

    async def search(self, query: SearchQuery) -> SearchPage:
        clauses, params = conditions(query, _field, _bind)
        if query.words:
            clauses.insert(0, "faaskit_search MATCH ?")
            params.insert(0, _match(query.words))
            source = _JOIN
            marks = ", ".join(
                f"snippet(faaskit_search, {i}, char(2), char(3), '…', 16)"
                for i in range(len(query.text_fields))
            )
            columns = f"{_COLUMNS}, bm25(faaskit_search), {marks}"
            relevance: str | None = "bm25(faaskit_search)"
        else:
            source, columns, relevance = _DOCUMENTS, f"{_COLUMNS}, NULL", None
        where = " WHERE " + " AND ".join(clauses)
        total = self.reader.execute(f"SELECT COUNT(*){source}{where}", params).fetchone()[0]
        rows = self.reader.execute(
            f"SELECT {columns}{source}{where}{order_by(query, _field, relevance)} LIMIT ? OFFSET ?",
            (*params, query.page_size, query.offset),
        ).fetchall()
        return SearchPage([_hit(row, query) for row in rows], total, query.page, query.page_size)


def _hit(row: Any, query: SearchQuery) -> SearchHit:
    document = Document(row[0], row[1], orjson.loads(row[2]), row[3], row[4], row[5])
    if row[6] is None:
        return SearchHit(document, None, {})
    return SearchHit(
        document, -float(row[6]), highlights(query.text_fields, row[7:])
    )  # bm25: lower is better
