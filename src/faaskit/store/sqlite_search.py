"""Full-text search on SQLite with FTS5 and typed columns beside it (mixed into
:class:`SQLiteStore`; the layout is described in :mod:`faaskit.store.search_sql`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import orjson

from faaskit.store import sqlite_fts as fts
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
_TYPED_JOIN = " FROM faaskit_search s CROSS JOIN faaskit_search_rows r{index} ON r.rowid = s.rowid"
_DOCUMENTS = " FROM faaskit_documents d"
_MATCHED = "SELECT rowid FROM faaskit_search WHERE faaskit_search MATCH ?"
_MATCH_COUNT = "SELECT COUNT(*) FROM faaskit_search WHERE faaskit_search MATCH ?"
_LISTED = "SELECT value FROM json_each(?)"
# Rows ever given a full-text key (AUTOINCREMENT: it only grows), and the index's segments.
_WRITTEN = "SELECT max(rowid) FROM faaskit_search_keys"
_SEGMENTS = "SELECT count(DISTINCT segid) FROM faaskit_search_idx"
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
    # (The query over the documents; typed queries use ``fts.match``.)
    return " ".join(f'"{word}"*' for word in words)


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
        if query.words:
            await self._merge_segments()
        layout = await self._typed_layout(query)
        if layout is None:
            return self._search_documents(query)
        return await self._search_typed(query, layout)

    async def _merge_segments(self) -> None:
        """After a bulk load the full-text index is many segments (each commit writes one,
        and FTS5 merges them only gradually), and every term of a query is looked up in
        each: when the table had a fifth more rows written since this process last
        looked, and has more than :data:`MAX_SEGMENTS` segments, the writer merges them
        into one (FTS5's optimize: the same rows, terms and statistics, so the same
        answers; about a third of a second per 100,000 short documents, once)."""
        written = self.reader.execute(_WRITTEN).fetchone()[0] or 0
        seen: int = self.__dict__.get("_search_written", 0)
        if written < max(MERGE_AFTER_ROWS, seen + seen // 5):
            return
        self.__dict__["_search_written"] = written
        segments = self.reader.execute(_SEGMENTS).fetchone()[0]
        if segments > MAX_SEGMENTS:
            await self._write(_optimize)

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

    async def _indexes(self, wanted: list[tuple[str, list[str]]]) -> list[str]:
        """``INDEXED BY`` clauses for the ``(name suffix, columns)`` indexes of a query's
        shape (:func:`~faaskit.store.search_sql.shape_indexes`), made the first time the
        shape is asked (a file without ANALYZE statistics gets poor plans from the
        planner's guesses). Empty strings when the shapes already made reach
        :data:`MAX_SHAPE_INDEXES`."""
        named = [(f"faaskit_search_rows_{tag}", columns) for tag, columns in wanted]
        known: set[str] = self.__dict__.setdefault("_search_indexes", set())
        if not all(name in known for name, _ in named):
            names = _index_names(self.reader)
            missing = [(name, columns) for name, columns in named if name not in names]
            if missing and len(names) + len(missing) <= MAX_SHAPE_INDEXES:
                await self._write(partial(_add_indexes, indexes=missing))
                names = _index_names(self.reader)
            known.update(names)
        if not all(name in known for name, _ in named):
            return [""] * len(named)
        return [f" INDEXED BY {name}" for name, _ in named]

    async def _search_typed(self, query: SearchQuery, layout: Layout) -> SearchPage:
        """Count and page on the typed rows (and the full-text match) alone; documents,
        scores and snippets only for the page. One read transaction: one snapshot."""
        clauses, params = typed_conditions(query, layout, _bind, "r")
        shapes = shape_indexes(query, layout)  # [to count with, to page with]
        seekable = _seekable(query)
        if query.words and query.sort_field is None:  # by relevance: no page index
            shapes = shapes[:1] if seekable else []
        counted, paged, *_ = [*await self._indexes(shapes), "", ""]
        where = (" AND ".join(clauses), params)
        conn = self.reader
        conn.execute("BEGIN")
        try:
            scored: dict[int, Sequence[Any]] = {}
            if query.words:
                seek = counted if seekable else ""
                page, total, scored = _text_page(conn, query, layout, where, seek, paged)
            else:
                page, total = _filtered_page(conn, query, layout, where, counted, paged)
            documents = _documents(conn, query.collection, [row[1] for row in page])
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
            columns = f"{_COLUMNS}, bm25(faaskit_search), {fts.marks(len(query.text_fields))}"
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


def _seekable(query: SearchQuery) -> bool:
    """Text with equality filters and no bounds: each match's typed row is looked up in
    the count index of the query's shape, (collection, filters…) and its rowid, without
    reading the row (a narrower b-tree than the rows', and no row for a match that fails
    the filters)."""
    equal = any(value is not None for value in query.where.values())
    bounded = any(bounds != (None, None) for bounds in query.ranges.values())
    return bool(query.words) and equal and not bounded


Where = tuple[str, list[Any]]
"""The typed conditions over ``r`` joined by AND, and their parameters."""
Page = list[tuple[int, str, Any]]
"""(rowid, document id, bm25 or None) of the page's rows, in order."""


def _filtered_page(
    conn: sqlite3.Connection,
    query: SearchQuery,
    layout: Layout,
    where: Where,
    counted: str,
    paged: str,
) -> tuple[Page, int]:
    """Without text: count from the count index, page in the sort order of the page index."""
    clause, params = where
    count = f"SELECT COUNT(*) FROM faaskit_search_rows r{counted} WHERE {clause}"
    total = conn.execute(count, params).fetchone()[0]
    page = conn.execute(
        f"SELECT r.rowid, r.doc_id, NULL FROM faaskit_search_rows r{paged} WHERE {clause}"
        f"{typed_order(query, layout, 'r', None)} LIMIT ? OFFSET ?",
        (*params, query.page_size, query.offset),
    ).fetchall()
    return page, int(total)


def _text_page(
    conn: sqlite3.Connection,
    query: SearchQuery,
    layout: Layout,
    where: Where,
    seek: str,
    paged: str,
) -> tuple[Page, int, dict[int, Sequence[Any]]]:
    """With text: the page, the total, and the page's scores and snippets by rowid."""
    expression, plain = fts.match(conn, query.words)
    # Text alone: when every full-text row is this collection's, the match counts itself,
    # and by relevance ranks itself, without looking up each match's typed row for its
    # collection.
    alone = (
        len(where[1]) == 1  # the collection, no filter
        and conn.execute(_OTHER_COLLECTION, (query.collection,) * 2).fetchone() is None
    )
    if alone and query.sort_field is None:
        page, total = fts.ranked_page(conn, expression, query.offset, query.page_size)
    elif alone:
        total = int(conn.execute(_MATCH_COUNT, (expression,)).fetchone()[0])
        page = _sorted(conn, query, layout, where, paged, _MATCHED, expression) if total else []
    else:
        total, passing = _passing(conn, expression, where, seek)
        if not total:
            page = []
        elif query.sort_field is None:
            page = conn.execute(
                f"SELECT s.rowid, r.doc_id, bm25(faaskit_search){_TYPED_JOIN.format(index='')}"
                " WHERE faaskit_search MATCH ? AND +s.rowid IN (SELECT value FROM json_each(?))"
                f"{typed_order(query, layout, 'r', 'bm25(faaskit_search)')} LIMIT ? OFFSET ?",
                (expression, passing, query.page_size, query.offset),
            ).fetchall()
        else:
            page = _sorted(conn, query, layout, where, paged, _LISTED, passing)
    scored: dict[int, Sequence[Any]] = {}
    if page:
        # By relevance the page has its scores (bm25) already; sorted, not yet.
        known = {row[0]: row[2] for row in page} if query.sort_field is None else None
        rowids = [row[0] for row in page]
        scored = fts.snippets(conn, expression, plain, len(query.text_fields), rowids, known)
    return page, total, scored


def _passing(conn: sqlite3.Connection, expression: str, where: Where, seek: str) -> tuple[int, str]:
    """How many matches pass the filters, and their rowids (a JSON array). With an index
    that lists the rows passing the filters in rowid order (equality filters: the count
    index of the query's shape), the match and that list are merged as two sorted lists;
    else each match's typed row is looked up by its rowid."""
    clause, params = where
    if seek:
        passing = (
            f"SELECT rowid FROM faaskit_search WHERE faaskit_search MATCH ? INTERSECT"
            f" SELECT r.rowid FROM faaskit_search_rows r{seek} WHERE {clause} ORDER BY 1"
        )
        found = f"SELECT COUNT(*), json_group_array(rowid) FROM ({passing})"
    else:
        found = (
            f"SELECT COUNT(*), json_group_array(r.rowid){_TYPED_JOIN.format(index='')}"
            f" WHERE faaskit_search MATCH ? AND {clause}"
        )
    total, rowids = conn.execute(found, (expression, *params)).fetchone()
    return int(total), str(rowids)


def _sorted(
    conn: sqlite3.Connection,
    query: SearchQuery,
    layout: Layout,
    where: Where,
    paged: str,
    matched: str,
    param: str,
) -> Page:
    """In the sort field's order from the page index, each row looked up in the set of
    matches (``matched`` with its one parameter, built once) until the page is full: no
    sort of every match."""
    clause, params = where
    return conn.execute(
        f"SELECT r.rowid, r.doc_id, NULL FROM faaskit_search_rows r{paged}"
        f" WHERE {clause} AND r.rowid IN ({matched}){typed_order(query, layout, 'r', None)}"
        " LIMIT ? OFFSET ?",
        (*params, param, query.page_size, query.offset),
    ).fetchall()


def _documents(conn: sqlite3.Connection, collection: str, ids: list[str]) -> dict[str, Document]:
    if not ids:
        return {}
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM faaskit_documents d WHERE d.collection = ? AND d.id IN "
        + sql.in_list(len(ids)),
        (collection, *ids),
    ).fetchall()
    return {row[1]: Document(row[0], row[1], orjson.loads(row[2]), *row[3:6]) for row in rows}


MAX_SEGMENTS = 8
"""Segments of the full-text index past which a search after a bulk load merges them."""
MERGE_AFTER_ROWS = 1_000
"""Full-text rows written before their segments are worth merging."""
MAX_SHAPE_INDEXES = 16
"""Indexes of query shapes on faaskit_search_rows, across collections (each costs writes)."""


def _optimize(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO faaskit_search (faaskit_search) VALUES ('optimize')")


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
