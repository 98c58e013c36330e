"""Full-text search on PostgreSQL: a tsvector per document with a GIN index, and typed
columns beside it (mixed into :class:`PostgresStore`; the layout is described in
:mod:`faaskit.store.search_sql`)."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

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

__all__ = ["PostgresSearch"]

_UNINDEX = "DELETE FROM faaskit_search WHERE collection = ? AND doc_id = ?"
# The document's data is bound as jsonb and each typed column reads its field from it with
# the name the collection's layout gives, in this statement: a layout that changed since
# this process last looked is never missed (a layout change locks out writers meanwhile).
_INDEX = (
    f"INSERT INTO faaskit_search (collection, doc_id, {', '.join(TEXT_COLUMNS)},"
    f" {', '.join(KEY_COLUMNS)}) SELECT ?::text, ?::text, "
    + ", ".join(["?::text"] * len(TEXT_COLUMNS))
    + ", "
    + ", ".join(f"j.data -> l.p{i}" for i in range(MAX_KEY_COLUMNS))
    + " FROM (SELECT ?::jsonb AS data) j, "
    + key_paths(lambda field: field)
    + " ON CONFLICT (collection, doc_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*TEXT_COLUMNS, *KEY_COLUMNS))
)
_LAYOUT = "SELECT field, slot FROM faaskit_search_columns WHERE collection = %s"
_SHAPES = (
    "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    " AND tablename = 'faaskit_search' AND indexname LIKE 'faaskit\\_search\\_shape\\_%'"
)
MAX_SHAPE_INDEXES = 16
"""Indexes of query shapes on faaskit_search, across collections (each costs writes)."""
_GROWTH = (
    "SELECT relpages, pg_relation_size(oid) / current_setting('block_size')::int"
    " FROM pg_class WHERE oid = 'faaskit_search'::regclass"
)
STATISTICS_EVERY = 10.0
"""Seconds between two looks at whether faaskit_search grew since its last vacuum."""
_ADD_COLUMN = "INSERT INTO faaskit_search_columns (collection, field, slot) VALUES (%s, %s, %s)"
_ADD_ROWS = (
    "INSERT INTO faaskit_search (collection, doc_id) SELECT collection, id"
    " FROM faaskit_documents WHERE collection = %s ON CONFLICT DO NOTHING"
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


def _headlines(table: str, count: int) -> str:
    return ", ".join(
        f"ts_headline('simple', coalesce({table}.f{i}, ''), to_tsquery('simple', ?), {_HEADLINE})"
        for i in range(count)
    )


def _lexeme(value: str, slot: int) -> str:
    """The word that stands for a typed column's value (``value``: SQL of a jsonb) in a
    keyed vector: ``=slot:`` and the md5 of the value's text, numbers without trailing
    zeros so that values jsonb finds equal (1 and 1.0) give the same word. No query word
    can match it (they start with a letter or digit); two values with one word would cost
    nothing but rows that the filter, kept beside the match, drops."""
    text = (
        f"CASE jsonb_typeof({value}) WHEN 'number' THEN trim_scale(({value})::numeric)::text"
        f" ELSE ({value})::text END"
    )
    return f"('={slot}:' || coalesce(md5({text}), ''))"


def equal_slots(query: SearchQuery, layout: Layout) -> list[int]:
    """The typed columns of a query's equality filters."""
    return sorted({layout[name] for name, value in query.where.items() if value is not None})


def keyed_vector(slots: Sequence[int], table: str = "") -> str:
    """The text vector with a word for the value of each of ``slots``' columns: a GIN
    index over it answers text and equality filters together (one lookup of the matches,
    not a bitmap of every row with the filter's value ANDed with the text's)."""
    prefix = f"{table}." if table else ""
    words = ", ".join(_lexeme(f"{prefix}k{slot}", slot) for slot in slots)
    return f"({prefix}vector || array_to_tsvector(ARRAY[{words}]))"


def keyed_index(slots: Sequence[int]) -> tuple[str, str]:
    """(name, statement) of the GIN index over the keyed vector of ``slots``."""
    name = "faaskit_search_shape_t" + "".join(f"e{slot}" for slot in slots)
    vector = keyed_vector(slots)
    return name, f"CREATE INDEX IF NOT EXISTS {name} ON faaskit_search USING GIN ({vector})"


_QUOTE = "''''"  # SQL for a single quote: the word quoted as one tsquery lexeme


def _keyed_match(query: SearchQuery, layout: Layout) -> tuple[str, list[Any]]:
    """The clause (over ``s``) that finds the text and equality filters in the keyed
    vector, and its parameters: the text's tsquery and each filter's value."""
    slots = equal_slots(query, layout)
    value = {layout[n]: v for n, v in query.where.items() if v is not None}
    words = " && ".join(
        f"(SELECT ({_QUOTE} || {_lexeme('v.j', slot)} || {_QUOTE})::tsquery"
        " FROM (SELECT ?::jsonb AS j) v)"
        for slot in slots
    )
    text, found = _matching(query)
    clause = f"{keyed_vector(slots, 's')} @@ ({text} && {words})"
    return clause, [*found, *(_json(value[slot]) for slot in slots)]


def _unindexed(clauses: list[str]) -> list[str]:
    """Equality clauses the keyed vector's index answered already, checked in the row only:
    left indexable, the planner ANDs the index of each filter's every row with the
    keyed vector's matches, which costs more than it saves."""
    return [f"({clause}) IS TRUE" if " = " in clause else clause for clause in clauses]


_PLAIN_WORD = re.compile(r"^[a-z0-9]{1,64}$")
"""A word that PostgreSQL's parser keeps as it is, one lexeme (``word:*`` its prefix)."""
_TERMS = "FROM faaskit_search_terms WHERE collection = ? AND term >= ? AND term < ?"


def _counted_by_terms(
    count: str, collection: str, word: str, params: Sequence[Any]
) -> tuple[str, list[Any]]:
    """The count of one word's matches: when a single term starts with the word, its rows
    in faaskit_search_terms (an index-only scan: each is one document); otherwise
    ``count``, the statement that checks every match's row. The words' range in byte
    order is where a tsquery prefix finds them (``term`` sorts as "C")."""
    span = _span(collection, word)
    statement = (
        f"CASE WHEN (SELECT min(term) {_TERMS}) = (SELECT max(term) {_TERMS})"
        f" THEN (SELECT COUNT(*) {_TERMS}) ELSE ({count}) END"
    )
    return statement, [*span, *span, *span, *params]


def _matching(query: SearchQuery) -> tuple[str, list[Any]]:
    """SQL of the tsquery that finds a query's matches, and its parameters: each word's
    prefix (``word:*``), except that a plain word that is the one term of the collection
    that starts with it (in faaskit_search_terms) is matched as that term: the same
    matches, found by the GIN index without collecting every term that starts with the
    word into a bitmap first. Scores and headlines keep the prefix query."""
    parts: list[str] = []
    params: list[Any] = []
    for word in query.words:
        if not _PLAIN_WORD.match(word):
            parts.append("to_tsquery('simple', ?)")
            params.append(f"{word}:*")
            continue
        parts.append(
            "(SELECT CASE WHEN min(term) = max(term) AND min(term) = ?"
            f" THEN to_tsquery('simple', ?) ELSE to_tsquery('simple', ?) END {_TERMS})"
        )
        params += [word, word, f"{word}:*", *_span(query.collection, word)]
    return "(" + " && ".join(parts) + ")", params


def _span(collection: str, word: str) -> list[str]:
    """The parameters of :data:`_TERMS`: the range of terms that start with ``word``."""
    return [collection, word, word[:-1] + chr(ord(word[-1]) + 1)]


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
        document = dump_json(data or {}).decode()
        params = (collection, id, *padded(texts), document, collection)
        return [sql.Statement(_INDEX, params)]

    async def prepare_search(self, collection: str, fields: Sequence[str]) -> None:
        """Give a declared collection's filter, range and sort ``fields`` their typed
        columns now (the runtime calls this at start), so no query fills them: filling
        is once per collection and field, and writers wait meanwhile."""
        known: dict[str, dict[str, int]] = self.__dict__.setdefault("_search_layouts", {})
        async with self.pool.connection() as conn:
            layout = _layout(await (await conn.execute(_LAYOUT, (collection,))).fetchall())
        wanted = set(fields)
        full = layout is not None and len(layout) >= MAX_KEY_COLUMNS
        if layout is None or not (wanted <= layout.keys() or full):
            layout = await self._add_columns(collection, sorted(wanted))
        known[collection] = layout

    async def search(self, query: SearchQuery) -> SearchPage:
        await self._keep_statistics()
        layout = await self._typed_layout(query)
        if layout is None:
            return await self._search_documents(query)
        return await self._search_typed(query, layout)

    async def _keep_statistics(self) -> None:
        """Every :data:`STATISTICS_EVERY` seconds: when the search table grew by more than
        a fifth since it was last vacuumed or analysed (a bulk load), vacuum and analyse it
        now rather than when autovacuum comes by: the planner needs the new statistics
        to use the GIN index, and counts need all-visible pages. The size on disk is
        current at once (the statistics views lag behind writes)."""
        now = time.monotonic()
        if now < self.__dict__.get("_statistics_at", 0.0):
            return
        self.__dict__["_statistics_at"] = now + STATISTICS_EVERY
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_GROWTH)).fetchone()
        if row is not None and row[1] > 1.2 * max(row[0], 0) + 128:
            await _vacuum(self.pool)

    async def _typed_layout(self, query: SearchQuery) -> Layout | None:
        """The typed columns this query can use, or None: answer it from the documents
        (created-at order, or a field that found no free column)."""
        if query.sort_field is None and not query.words:
            return None
        fields = query_fields(query)
        known: dict[str, dict[str, int]] = self.__dict__.setdefault("_search_layouts", {})
        layout = known.get(query.collection)
        if layout is None or not fields <= layout.keys():
            async with self.pool.connection() as conn:
                layout = _layout(
                    await (await conn.execute(_LAYOUT, (query.collection,))).fetchall()
                )
            full = layout is not None and len(layout) >= MAX_KEY_COLUMNS
            if layout is None or not (fields <= layout.keys() or full):
                layout = await self._add_columns(query.collection, sorted(fields))
            known[query.collection] = layout
        return layout if fields <= layout.keys() else None

    async def _add_columns(self, collection: str, fields: list[str]) -> dict[str, int]:
        """Give ``fields`` typed columns (filled from the documents, indexed, vacuumed and
        analysed), and the first time, add the rows of documents indexed before they
        existed."""
        async with self.pool.connection() as conn, conn.transaction():
            # Writers read the layout inside their statements; this lock waits for those
            # in flight and holds back new ones, so none writes a row with the old layout
            # after the columns are filled. It also makes concurrent callers take turns.
            await conn.execute("LOCK TABLE faaskit_search IN SHARE ROW EXCLUSIVE MODE")
            # Filling a column is once per collection and field, not a query: a
            # statement_timeout meant for queries (in the URL) must not cut it off.
            await conn.execute("SET LOCAL statement_timeout = 0")
            rows: dict[str, int] = dict(
                await (await conn.execute(_LAYOUT, (collection,))).fetchall()
            )
            fresh: list[str] = []
            first = ROWS_DONE not in rows
            touched = 0  # rows added or filled: a vacuum after them (none on an empty one)
            if first:
                touched += (await conn.execute(_ADD_ROWS, (collection,))).rowcount
                await conn.execute(_ADD_COLUMN, (collection, ROWS_DONE, -1))
                fresh = [field for field in rows if field != ROWS_DONE]
            used = set(rows.values())
            for field in fields:
                free = next((slot for slot in range(MAX_KEY_COLUMNS) if slot not in used), None)
                if field in rows or free is None:
                    continue
                await conn.execute(_ADD_COLUMN, (collection, field, free))
                rows[field] = free
                used.add(free)
                fresh.append(field)
            if fresh:
                values = ", ".join(f"k{rows[field]} = d.data -> %s" for field in fresh)
                filled = await conn.execute(
                    f"UPDATE faaskit_search s SET {values} FROM faaskit_documents d"
                    " WHERE d.collection = s.collection AND d.id = s.doc_id AND s.collection = %s",
                    (*fresh, collection),
                )
                touched += filled.rowcount
                for field in fresh:
                    slot = rows[field]
                    await conn.execute(
                        f"CREATE INDEX IF NOT EXISTS faaskit_search_k{slot}"
                        f" ON faaskit_search (collection, k{slot}, doc_id)"
                    )
        if touched > 0:
            await _vacuum(self.pool)
        return {field: slot for field, slot in rows.items() if field != ROWS_DONE}

    async def _search_typed(self, query: SearchQuery, layout: Layout) -> SearchPage:
        """One statement (one snapshot, one round trip): the count and the page by id on
        the search table alone; documents and headlines only for the page."""
        keyed = await self._shape_indexes(query, layout)
        if query.sort_field is None:
            statement, bound = _relevance_statement(query, layout, keyed)
        else:
            statement, bound = _sorted_statement(query, layout, keyed)
        async with self.pool.connection() as conn:
            # Never prepared: a prepared statement gets a generic plan after its first
            # executions, one for every filter value and every word, and the counts
            # and walks then go through the wrong indexes (3-4x slower on the orders).
            cursor = await conn.execute(statement, bound, prepare=False)
            rows = await cursor.fetchall()
        total = int(rows[0][0]) if rows else 0
        # A row without a document: an empty page, or a search row whose document is gone.
        hits = [_hit(row[1:], query) for row in rows if row[2] is not None]
        return SearchPage(hits, total, query.page, query.page_size)

    async def _shape_indexes(self, query: SearchQuery, layout: Layout) -> bool:
        """Indexes of the shape of a query, made the first time the shape is asked. In a
        sort order: the count without text is then an index-only scan, the page a walk
        of the sort order within the equality filters that checks the ranges in the
        index (the text, if any, in the row). Text with equality filters: a GIN index of
        the keyed vector (:func:`keyed_vector`) finds the matches of both at once. No
        more than :data:`MAX_SHAPE_INDEXES`. True when the query can use the keyed
        vector's index."""
        wanted: list[tuple[str, str]] = []
        if query.sort_field is not None:
            shapes = shape_indexes(query, layout)
            wanted = [
                (
                    f"faaskit_search_shape_{tag}",
                    f"CREATE INDEX IF NOT EXISTS faaskit_search_shape_{tag}"
                    f" ON faaskit_search ({', '.join(columns)})",
                )
                for tag, columns in (shapes[1:] if query.words else shapes)  # text: by GIN
                if not _made_already(columns)
            ]
        slots = equal_slots(query, layout)
        keyed = keyed_index(slots) if query.words and slots else None
        if keyed is not None:
            wanted.append(keyed)
        known: set[str] = self.__dict__.setdefault("_search_indexes", set())
        if not all(name in known for name, _ in wanted):
            async with self.pool.connection() as conn:
                names = {row[0] for row in await (await conn.execute(_SHAPES)).fetchall()}
                missing = [(name, made) for name, made in wanted if name not in names]
                if missing and len(names) + len(missing) <= MAX_SHAPE_INDEXES:
                    async with conn.transaction():
                        # One maker at a time (IF NOT EXISTS races otherwise); writers wait.
                        await conn.execute("LOCK TABLE faaskit_search IN SHARE ROW EXCLUSIVE MODE")
                        await conn.execute("SET LOCAL statement_timeout = 0")
                        for _, made in missing:
                            await conn.execute(made)
                        if keyed is not None and keyed in missing:
                            # The planner's estimates of the new expression's matches.
                            await conn.execute("ANALYZE faaskit_search")
                    names.update(name for name, _ in missing)
            known.update(names)
        return keyed is not None and keyed[0] in known

    async def _search_documents(self, query: SearchQuery) -> SearchPage:
        """The query over the documents' JSON, for what typed columns cannot answer."""
        clauses, params = conditions(query, _field, _bind, _contains)
        head: list[Any] = []
        if query.words:
            tsquery = _tsquery(query.words)
            clauses.insert(0, "s.vector @@ to_tsquery('simple', ?)")
            params.insert(0, tsquery)
            marks = _headlines("s", len(query.text_fields))
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


def _made_already(columns: list[str]) -> bool:
    """The primary key (collection, doc_id), a column's own index (collection, kN, doc_id),
    made when the column was filled, or the start of one of them."""
    return columns[2:] in ([], ["doc_id"])


async def _vacuum(pool: AsyncConnectionPool[AsyncConnection[Any]]) -> None:
    """After a fill: the planner needs statistics of the filled columns and the text
    vectors; the fill's UPDATE left a dead version of every row (in every index), the
    GIN index's pending list holds what was indexed since the last vacuum, and only a
    vacuum marks pages all-visible so that counts are index-only scans. Outside a
    transaction (VACUUM cannot run in one), without the URL's statement_timeout."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            await conn.execute("SET statement_timeout = 0")
            await conn.execute("VACUUM (ANALYZE) faaskit_search, faaskit_search_terms")
        finally:
            await conn.execute("RESET statement_timeout")
            await conn.set_autocommit(False)


def _sorted_statement(
    query: SearchQuery, layout: Layout, keyed: bool = False
) -> tuple[str, tuple[Any, ...]]:
    """In a sort field's order: the count (without text, an index-only scan of the shape's
    count index; with text, the GIN index, of the keyed vector when ``keyed``) beside the
    page, a walk of the sort order (the shape's page index) that checks each row until
    the page is full; then the page's documents, and with text its ranks and headlines."""
    assert query.sort_field is not None  # no text and no sort field: over the documents
    clauses, params = typed_conditions(query, layout, _bind, "s")
    fields = len(query.text_fields) if query.words else 0
    tsquery = _tsquery(query.words) if query.words else ""
    counted, counted_params = clauses, params
    if keyed:
        match, matched = _keyed_match(query, layout)
        counted, counted_params = [match, *_unindexed(clauses)], [*matched, *params]
    if query.words:
        if not keyed:
            text, found = _matching(query)
            counted, counted_params = [f"s.vector @@ {text}", *clauses], [*found, *params]
        clauses = ["s.vector @@ to_tsquery('simple', ?)", *clauses]
        params = [tsquery, *params]
        texts = ", " + ", ".join(f"s.f{i}" for i in range(fields))
        score, marks = "ts_rank(p.vector, to_tsquery('simple', ?))", ", " + _headlines("p", fields)
        texts += ", s.vector"
    else:
        texts, score, marks = "", "NULL::real", ""
        counted, counted_params = clauses, params
    where = " WHERE " + " AND ".join(clauses)
    direction = "DESC" if query.descending else "ASC"
    page = (
        f"SELECT s.collection, s.doc_id, s.k{layout[query.sort_field]} AS sort_key{texts}"
        f" FROM faaskit_search s{where}{typed_order(query, layout, 's', None)} LIMIT ? OFFSET ?"
    )
    count = f"SELECT COUNT(*) FROM faaskit_search s WHERE {' AND '.join(counted)}"
    word = query.words[0] if len(query.words) == 1 and len(params) == 2 else None
    if word is not None and _PLAIN_WORD.match(word):  # one word, no filters, no ranges
        count, counted_params = _counted_by_terms(count, query.collection, word, counted_params)
    statement = sql.postgres_placeholders(
        f"SELECT t.total, {_COLUMNS}, {score}{marks} FROM (SELECT ({count}) AS total) t"
        f" LEFT JOIN ({page}) p ON true"
        " LEFT JOIN faaskit_documents d ON d.collection = p.collection AND d.id = p.doc_id"
        f" ORDER BY p.sort_key {direction}, p.doc_id {direction}"
    )
    head = [tsquery] * (1 + fields) if query.words else []
    return statement, (*head, *counted_params, *params, query.page_size, query.offset)


def _relevance_statement(
    query: SearchQuery, layout: Layout, keyed: bool = False
) -> tuple[str, tuple[Any, ...]]:
    """By relevance: the matches are read once (the GIN index, of the keyed vector when
    ``keyed``, each match checked in its row) with their rank, then counted and sorted
    for the page (two passes checked and read every match twice); texts, headlines and
    documents for the page only."""
    clauses, params = typed_conditions(query, layout, _bind, "s")
    tsquery = _tsquery(query.words)
    fields = len(query.text_fields)
    if keyed:
        match, matched = _keyed_match(query, layout)
        clauses = _unindexed(clauses)
    else:
        text, matched = _matching(query)
        match = f"s.vector @@ {text}"
    where = f" WHERE {match} AND " + " AND ".join(clauses)
    statement = sql.postgres_placeholders(
        "WITH m AS MATERIALIZED (SELECT s.doc_id,"
        f" ts_rank(s.vector, to_tsquery('simple', ?)) AS score FROM faaskit_search s{where})"
        f" SELECT t.total, {_COLUMNS}, p.score, {_headlines('s', fields)}"
        " FROM (SELECT COUNT(*) AS total FROM m) t"
        " LEFT JOIN (SELECT * FROM m ORDER BY m.score DESC, m.doc_id LIMIT ? OFFSET ?) p ON true"
        " LEFT JOIN faaskit_search s ON s.collection = ? AND s.doc_id = p.doc_id"
        " LEFT JOIN faaskit_documents d ON d.collection = ? AND d.id = p.doc_id"
        " ORDER BY p.score DESC, p.doc_id"
    )
    bound = (
        tsquery,
        *matched,
        *params,
        *([tsquery] * fields),
        query.page_size,
        query.offset,
        query.collection,
        query.collection,
    )
    return statement, bound


def _layout(rows: list[tuple[Any, ...]]) -> dict[str, int] | None:
    """A collection's typed columns, or None before its rows were all added."""
    found: dict[str, int] = dict(rows)
    if ROWS_DONE not in found:
        return None
    return {field: slot for field, slot in found.items() if field != ROWS_DONE}


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
