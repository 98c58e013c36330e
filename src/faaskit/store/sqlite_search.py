"""Full-text search on SQLite with FTS5 and typed columns beside it (mixed into
:class:`SQLiteStore`; the layout is described in :mod:`faaskit.store.search_sql`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import orjson

from faaskit.store import statements as sql
from faaskit.store.protocol import Document, JSONObject, SearchHit, SearchPage, SearchQuery
from faaskit.store.search_sql import (
    KEY_COLUMNS,
    MAX_KEY_COLUMNS,
    ROWS_DONE,
    TEXT_COLUMNS,
    Layout,
    conditions,
    highlights,
    key_paths,
    order_by,
    padded,
    query_fields,
    shape_indexes,
    typed_conditions,
    typed_order,
)
from faaskit.store.text import dump_json

__all__ = ["SQLiteSearch"]

T = TypeVar("T")

_KEY = "(SELECT rowid FROM faaskit_search_keys WHERE collection = ? AND doc_id = ?)"
_UNINDEX = f"DELETE FROM faaskit_search WHERE rowid = {_KEY}"
# The typed row goes with the key (the faaskit_search_keys_forget trigger).
_FORGET = "DELETE FROM faaskit_search_keys WHERE collection = ? AND doc_id = ?"
_REMEMBER = (
    "INSERT INTO faaskit_search_keys (collection, doc_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
_INDEX = (
    f"INSERT INTO faaskit_search (rowid, {', '.join(TEXT_COLUMNS)})"
    f" VALUES ({_KEY}, {', '.join('?' * len(TEXT_COLUMNS))})"
)
# The document's data is bound as JSON and each typed column reads its field from it with
# the path the collection's layout gives, in this statement: a layout that changed since
# this process last looked is never missed.
_TYPED = (
    f"INSERT INTO faaskit_search_rows (rowid, collection, doc_id, {', '.join(KEY_COLUMNS)})"
    " SELECT k.rowid, k.collection, k.doc_id, "
    + ", ".join(f"json_extract(j.data, l.p{i})" for i in range(MAX_KEY_COLUMNS))
    + " FROM faaskit_search_keys k, (SELECT ? AS data) j, "
    + key_paths(lambda field: f"'$.' || {field}")
    + " WHERE k.collection = ? AND k.doc_id = ? ON CONFLICT (rowid) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in KEY_COLUMNS)
)
_LAYOUT = "SELECT field, slot FROM faaskit_search_columns WHERE collection = ?"
_ADD_COLUMN = "INSERT INTO faaskit_search_columns (collection, field, slot) VALUES (?, ?, ?)"
_ADD_KEYS = (
    "INSERT INTO faaskit_search_keys (collection, doc_id) SELECT collection, id"
    " FROM faaskit_documents WHERE collection = ? ON CONFLICT DO NOTHING"
)
_ADD_ROWS = (
    "INSERT INTO faaskit_search_rows (rowid, collection, doc_id) SELECT rowid, collection, doc_id"
    " FROM faaskit_search_keys WHERE collection = ? ON CONFLICT DO NOTHING"
)
_FTS_OPTIONS = "tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2 3'"
# CROSS JOIN fixes the join order (SQLite's planner does not reorder it): the full-text
# match first, then primary-key lookups. Left to itself, on a database without ANALYZE
# statistics, the planner scans every key of the collection and matches per row.
_JOIN = (
    " FROM faaskit_search s CROSS JOIN faaskit_search_keys k ON k.rowid = s.rowid"
    " CROSS JOIN faaskit_documents d ON d.collection = k.collection AND d.id = k.doc_id"
)
_TYPED_JOIN = " FROM faaskit_search s CROSS JOIN faaskit_search_rows r ON r.rowid = s.rowid"
_DOCUMENTS = " FROM faaskit_documents d"
_MATCHED = "SELECT rowid FROM faaskit_search WHERE faaskit_search MATCH ?"
_MATCH_COUNT = "SELECT COUNT(*) FROM faaskit_search WHERE faaskit_search MATCH ?"
_RANKED = (
    "SELECT rowid, bm25(faaskit_search) FROM faaskit_search WHERE faaskit_search MATCH ?"
    " ORDER BY bm25(faaskit_search)"
)
_IDS = (
    "SELECT rowid, doc_id FROM faaskit_search_keys WHERE rowid IN (SELECT value FROM json_each(?))"
)
_OTHER_COLLECTION = (
    "SELECT 1 FROM faaskit_search_keys WHERE collection < ? OR collection > ? LIMIT 1"
)
_COLUMNS = "d.collection, d.id, d.data, d.version, d.created_at, d.updated_at"
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _field(name: str) -> str:
    return f"json_extract(d.data, '$.{name}')"


def _bind(value: Any) -> tuple[str, Any]:
    if isinstance(value, bool):  # json_extract gives true as 1
        return "?", int(value)
    return "?", value


def _match(words: tuple[str, ...]) -> str:
    # Each word quoted (a phrase of one) with a prefix star: FTS5 syntax cannot be injected.
    return " ".join(f'"{word}"*' for word in words)


def _marks(count: int) -> str:
    return ", ".join(
        f"snippet(faaskit_search, {i}, char(2), char(3), '…', 16)" for i in range(count)
    )


class SQLiteSearch:
    """Needs ``reader`` and ``_write(work)`` from the store it is mixed into."""

    @property
    def reader(self) -> sqlite3.Connection:
        raise NotImplementedError

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
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
            document = dump_json(data or {}).decode()
            statements.append(sql.Statement(_TYPED, (document, collection, collection, id)))
        return statements

    async def prepare_search(self, collection: str, fields: Sequence[str]) -> None:
        """Give a declared collection's filter, range and sort ``fields`` their typed
        columns now (the runtime calls this at start), so no query fills them: filling
        is once per collection and field, and writers wait meanwhile."""
        known: dict[str, dict[str, int]] = self.__dict__.setdefault("_search_layouts", {})
        layout = _layout(self.reader, collection)
        wanted = set(fields)
        full = layout is not None and len(layout) >= MAX_KEY_COLUMNS
        if layout is None or not (wanted <= layout.keys() or full):
            work = partial(_add_columns, collection=collection, fields=sorted(wanted))
            layout = await self._write(work)
        known[collection] = layout

    async def search(self, query: SearchQuery) -> SearchPage:
        layout = await self._typed_layout(query)
        if layout is None:
            return self._search_documents(query)
        return await self._search_typed(query, layout)

    async def _typed_layout(self, query: SearchQuery) -> Layout | None:
        """The typed columns this query can use, or None: answer it from the documents
        (created-at order, or a field that found no free column)."""
        if query.sort_field is None and not query.words:
            return None
        fields = query_fields(query)
        known: dict[str, dict[str, int]] = self.__dict__.setdefault("_search_layouts", {})
        layout = known.get(query.collection)
        if layout is None or not fields <= layout.keys():
            layout = _layout(self.reader, query.collection)
            full = layout is not None and len(layout) >= MAX_KEY_COLUMNS
            if layout is None or not (fields <= layout.keys() or full):
                work = partial(_add_columns, collection=query.collection, fields=sorted(fields))
                layout = await self._write(work)
            known[query.collection] = layout
        return layout if fields <= layout.keys() else None

    async def _shape_indexes(self, query: SearchQuery, layout: Layout) -> tuple[str, str]:
        """``INDEXED BY`` clauses for a query without text: an index of its shape to count
        with and one to page with, made the first time the shape is asked (a file without
        ANALYZE statistics gets poor plans from the planner's guesses). Empty strings
        when the shapes already made reach :data:`MAX_SHAPE_INDEXES`."""
        wanted = [
            (f"faaskit_search_rows_{tag}", cols) for tag, cols in shape_indexes(query, layout)
        ]
        known: set[str] = self.__dict__.setdefault("_search_indexes", set())
        if not all(name in known for name, _ in wanted):
            names = _index_names(self.reader)
            missing = [(name, columns) for name, columns in wanted if name not in names]
            if missing and len(names) + len(missing) <= MAX_SHAPE_INDEXES:
                await self._write(partial(_add_indexes, indexes=missing))
                names = _index_names(self.reader)
            known.update(names)
        if not all(name in known for name, _ in wanted):
            return "", ""
        return tuple(f" INDEXED BY {name}" for name, _ in wanted)  # type: ignore[return-value]

    async def _search_typed(self, query: SearchQuery, layout: Layout) -> SearchPage:
        """Count and page on the typed rows (and the full-text match) alone; documents,
        scores and snippets only for the page. One read transaction: one snapshot."""
        clauses, params = typed_conditions(query, layout, _bind, "r")
        filtered = len(params) > 1  # more than the collection
        match = _match(query.words) if query.words else ""
        if query.words:
            counting = f"{_TYPED_JOIN} WHERE faaskit_search MATCH ? AND " + " AND ".join(clauses)
            counted_params = [match, *params]
        if query.words and query.sort_field is None:  # by relevance: bm25 of every match
            listing, listed_params, rank = counting, counted_params, "bm25(faaskit_search)"
        else:
            # In the sort field's order from an index of the query's shape (each row looked
            # up in the set of matches, built once, when there is text) until the page is
            # full: no sort of every match.
            counted, paged = await self._shape_indexes(query, layout)
            where = " WHERE " + " AND ".join(clauses)
            listing, listed_params, rank = (
                f" FROM faaskit_search_rows r{paged}{where}",
                params,
                "NULL",
            )
            if query.words:
                listing += f" AND r.rowid IN ({_MATCHED})"
                listed_params = [*params, match]
            else:
                counting = f" FROM faaskit_search_rows r{counted}{where}"
                counted_params = params
        order = typed_order(query, layout, "r", rank if rank != "NULL" else None)
        conn = self.reader
        conn.execute("BEGIN")
        try:
            # Text alone: when every full-text row is this collection's, the match counts
            # itself, and by relevance ranks itself, without looking up each match's typed
            # row for its collection.
            alone = (
                query.words
                and not filtered
                and conn.execute(_OTHER_COLLECTION, (query.collection,) * 2).fetchone() is None
            )
            if alone:
                total = conn.execute(_MATCH_COUNT, (match,)).fetchone()[0]
            else:
                total = conn.execute(f"SELECT COUNT(*){counting}", counted_params).fetchone()[0]
            if alone and query.sort_field is None:
                page = _ranked_page(conn, match, query.offset, query.page_size)
            else:
                page = conn.execute(
                    f"SELECT r.rowid, r.doc_id, {rank}{listing}{order} LIMIT ? OFFSET ?",
                    (*listed_params, query.page_size, query.offset),
                ).fetchall()
            documents = _documents(conn, query.collection, [row[1] for row in page])
            scored: dict[int, Sequence[Any]] = {}
            if query.words and page:
                # By relevance the page has its scores (bm25) already; sorted, not yet.
                known = {r[0]: r[2] for r in page} if query.sort_field is None else None
                scored = _snippets(conn, match, len(query.text_fields), [r[0] for r in page], known)
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")
        hits = []
        for rowid, doc_id, _ in page:
            document = documents.get(doc_id)
            if document is None:  # a typed row whose document is gone: not a hit
                continue
            if not query.words:
                hits.append(SearchHit(document, None, {}))
            else:  # bm25: lower is better
                score, *snippets = scored[rowid]
                marked = highlights(query.text_fields, snippets)
                hits.append(SearchHit(document, -float(score), marked))
        return SearchPage(hits, int(total), query.page, query.page_size)

    def _search_documents(self, query: SearchQuery) -> SearchPage:
        """The query over the documents' JSON, for what typed columns cannot answer."""
        clauses, params = conditions(query, _field, _bind)
        if query.words:
            clauses.insert(0, "faaskit_search MATCH ?")
            params.insert(0, _match(query.words))
            source = _JOIN
            columns = f"{_COLUMNS}, bm25(faaskit_search), {_marks(len(query.text_fields))}"
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


def _ranked_page(
    conn: sqlite3.Connection, match: str, offset: int, size: int
) -> list[tuple[int, str, float]]:
    """The page by relevance (bm25, then id) from the full-text table alone: its matches in
    bm25 order (FTS5 ranks them in one pass) are read up to the page's end and every match
    tied with the last of them; only those are looked up for their ids, to break ties."""
    wanted = offset + size
    best: list[tuple[float, int]] = []
    cursor = conn.execute(_RANKED, (match,))
    try:
        for rowid, score in cursor:
            if len(best) >= wanted and score != best[-1][0]:
                break
            best.append((score, rowid))
    finally:
        cursor.close()
    if not best:
        return []
    rowids = orjson.dumps([rowid for _, rowid in best]).decode()
    ids = dict(conn.execute(_IDS, (rowids,)).fetchall())
    ranked = sorted((score, ids[rowid], rowid) for score, rowid in best if rowid in ids)
    return [(rowid, doc_id, score) for score, doc_id, rowid in ranked[offset:wanted]]


def _documents(conn: sqlite3.Connection, collection: str, ids: list[str]) -> dict[str, Document]:
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM faaskit_documents d WHERE d.collection = ? AND d.id IN "
        + sql.in_list(len(ids)),
        (collection, *ids),
    ).fetchall()
    return {row[1]: Document(row[0], row[1], orjson.loads(row[2]), *row[3:6]) for row in rows}


MAX_SHAPE_INDEXES = 16
"""Indexes of query shapes on faaskit_search_rows, across collections (each costs writes)."""


def _index_names(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'faaskit_search_rows'"
    ).fetchall()
    return {row[0] for row in rows}


def _add_indexes(conn: sqlite3.Connection, *, indexes: list[tuple[str, list[str]]]) -> None:
    for name, columns in indexes:
        conn.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON faaskit_search_rows ({', '.join(columns)})"
        )


def _snippets(
    conn: sqlite3.Connection,
    match: str,
    fields: int,
    rowids: list[int],
    scores: dict[int, Any] | None = None,
) -> dict[int, Sequence[Any]]:
    """The page's scores (unless ``scores`` has them) and snippets: each depends only on
    its own row and the match, so they are the same as in a query over every match."""
    rank = "" if scores is not None else ", bm25(faaskit_search)"
    rows = conn.execute(
        f"SELECT rowid{rank}, {_marks(fields)} FROM faaskit_search"
        # ``+rowid``: not a constraint the full-text table sees, so the match is read once
        # and the page's rows picked from it, instead of a new match per row.
        " WHERE faaskit_search MATCH ? AND +rowid IN " + sql.in_list(len(rowids)),
        (match, *rowids),
    ).fetchall()
    if scores is not None:
        return {row[0]: (scores[row[0]], *row[1:]) for row in rows}
    return {row[0]: row[1:] for row in rows}


def _layout(conn: sqlite3.Connection, collection: str) -> dict[str, int] | None:
    """The collection's typed columns, or None before its rows were all added."""
    rows = dict(conn.execute(_LAYOUT, (collection,)).fetchall())
    if ROWS_DONE not in rows:
        return None
    return {field: slot for field, slot in rows.items() if field != ROWS_DONE}


def _add_columns(conn: sqlite3.Connection, *, collection: str, fields: list[str]) -> dict[str, int]:
    """In the writer: give ``fields`` typed columns (filled from the documents, indexed),
    and the first time, add the typed rows of documents indexed before they existed."""
    _add_prefix_index(conn)
    rows: dict[str, int] = dict(conn.execute(_LAYOUT, (collection,)).fetchall())
    fresh = []
    if ROWS_DONE not in rows:
        conn.execute(_ADD_KEYS, (collection,))
        conn.execute(_ADD_ROWS, (collection,))
        conn.execute(_ADD_COLUMN, (collection, ROWS_DONE, -1))
        fresh = [field for field in rows if field != ROWS_DONE]
    used = set(rows.values())
    for field in fields:
        free = next((slot for slot in range(MAX_KEY_COLUMNS) if slot not in used), None)
        if field in rows or free is None or not _FIELD.match(field):
            continue
        conn.execute(_ADD_COLUMN, (collection, field, free))
        rows[field] = free
        used.add(free)
        fresh.append(field)
    if fresh:
        values = ", ".join(f"k{rows[field]} = json_extract(d.data, '$.{field}')" for field in fresh)
        conn.execute(
            f"UPDATE faaskit_search_rows SET {values} FROM faaskit_documents d"
            " WHERE d.collection = faaskit_search_rows.collection"
            " AND d.id = faaskit_search_rows.doc_id AND faaskit_search_rows.collection = ?",
            (collection,),
        )
    return {field: slot for field, slot in rows.items() if field != ROWS_DONE}


def _add_prefix_index(conn: sqlite3.Connection) -> None:
    """A file whose full-text table predates the prefix index gets it: FTS5 cannot add one
    to a table, so the table is rebuilt (same rowids and text, so the same answers)."""
    row = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'faaskit_search'").fetchone()
    if row is None or "prefix" in row[0]:
        return
    columns = ", ".join(TEXT_COLUMNS)
    conn.execute(f"CREATE VIRTUAL TABLE faaskit_search_new USING fts5({columns}, {_FTS_OPTIONS})")
    conn.execute(
        f"INSERT INTO faaskit_search_new (rowid, {columns}) SELECT rowid, {columns}"
        " FROM faaskit_search"
    )
    conn.execute("DROP TABLE faaskit_search")
    conn.execute("ALTER TABLE faaskit_search_new RENAME TO faaskit_search")


def _hit(row: Any, query: SearchQuery) -> SearchHit:
    document = Document(row[0], row[1], orjson.loads(row[2]), row[3], row[4], row[5])
    if row[6] is None:
        return SearchHit(document, None, {})
    return SearchHit(
        document, -float(row[6]), highlights(query.text_fields, row[7:])
    )  # bm25: lower is better
