"""Full-text search on PostgreSQL: a tsvector per document and a GIN index (mixed into
:class:`PostgresStore`)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from faaskit.store import statements as sql
from faaskit.store.protocol import Document, JSONObject, SearchHit, SearchPage, SearchQuery
from faaskit.store.search_sql import TEXT_COLUMNS, conditions, highlights, order_by, padded
from faaskit.store.text import dump_json

__all__ = ["PostgresSearch"]

_UNINDEX = "DELETE FROM faaskit_search WHERE collection = ? AND doc_id = ?"
_INDEX = (
    f"INSERT INTO faaskit_search (collection, doc_id, {', '.join(TEXT_COLUMNS)})"
    f" VALUES (?, ?, {', '.join('?' * len(TEXT_COLUMNS))}) ON CONFLICT (collection, doc_id)"
    f" DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in TEXT_COLUMNS)}"
)
_JOIN = (
    " FROM faaskit_search s JOIN faaskit_documents d"
    " ON d.collection = s.collection AND d.id = s.doc_id"
)
_COLUMNS = "d.collection, d.id, d.data, d.version, d.created_at, d.updated_at"
_HEADLINE = "'StartSel=' || chr(2) || ', StopSel=' || chr(3) || ', MaxWords=24, MinWords=8'"


def _field(name: str) -> str:
    # jsonb compares numbers as numbers and strings as strings, like the sort users expect.
    return f"(d.data -> '{name}')"


def _tsquery(words: tuple[str, ...]) -> str:
    # Words are letters and digits only (faaskit.cqrs.search.words): no tsquery syntax.
    return " & ".join(f"{word}:*" for word in words)


class PostgresSearch:
    @property
    def pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        raise NotImplementedError

    @staticmethod
    def index_statements(
        collection: str, id: str, texts: tuple[str, ...] | None, data: JSONObject | None = None
    ) -> list[sql.Statement]:
        if texts is None:
            return [sql.Statement(_UNINDEX, (collection, id))]
        return [sql.Statement(_INDEX, (collection, id, *padded(texts)))]

    async def search(self, query: SearchQuery) -> SearchPage:
        clauses, params = conditions(query, _field, _bind, _contains)
        head: list[Any] = []
        if query.words:
            tsquery = _tsquery(query.words)
            clauses.insert(0, "s.vector @@ to_tsquery('simple', ?)")
            params.insert(0, tsquery)
            marks = ", ".join(
                f"ts_headline('simple', coalesce(s.f{i}, ''), to_tsquery('simple', ?), {_HEADLINE})"
                for i in range(len(query.text_fields))
            )
            columns = f"{_COLUMNS}, ts_rank(s.vector, to_tsquery('simple', ?)), {marks}"
            head = [tsquery] * (1 + len(query.text_fields))
            source, relevance = _JOIN, "7 DESC"  # ts_rank: the 7th column
        else:
            columns, source, relevance = f"{_COLUMNS}, NULL", " FROM faaskit_documents d", None
        where = " WHERE " + " AND ".join(clauses)
        order = order_by(query, _field, relevance)
        counting = sql.postgres_placeholders(f"SELECT COUNT(*){source}{where}")
        listing = sql.postgres_placeholders(
            f"SELECT {columns}{source}{where}{order} LIMIT ? OFFSET ?"
        )
        async with self.pool.connection() as conn:
            row = await (await conn.execute(counting, params)).fetchone()
            total = int(row[0]) if row else 0
            cursor = await conn.execute(listing, (*head, *params, query.page_size, query.offset))
            rows = await cursor.fetchall()
        return SearchPage([_hit(row, query) for row in rows], total, query.page, query.page_size)


def _contains(filters: dict[str, Any]) -> tuple[str, Any]:
    # Containment uses the documents' GIN index (jsonb_path_ops), unlike data -> 'f' = …
    return "d.data @> ?::jsonb", _json(filters)


def _bind(value: Any) -> tuple[str, Any]:
    return "?::jsonb", _json(value)


def _json(value: Any) -> str:

    return dump_json(value).decode()


def _hit(row: Any, query: SearchQuery) -> SearchHit:
    document = Document(row[0], row[1], row[2], row[3], row[4], row[5])
    if row[6] is None:
        return SearchHit(document, None, {})
    return SearchHit(document, float(row[6]), highlights(query.text_fields, row[7:]))
