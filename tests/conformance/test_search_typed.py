"""Search on typed columns answers exactly what search over the documents' JSON answered:
the same hits, totals, order, scores and highlights, on every backend.

A varied corpus (ties in sort keys, missing fields, None, lists, unicode, numbers beside
strings in range and sort fields, booleans) is searched with many generated queries; each
answer is checked twice:

- against an oracle in Python that implements the comparison rules of each backend as the
  old queries applied them (SQLite ``json_extract``: NULL < numbers < text, true is 1;
  PostgreSQL ``data -> field`` as jsonb: null < strings < numbers < booleans < arrays,
  a missing field is SQL NULL) — ids, order and totals;
- against the old query over the documents (``_search_documents``, kept for what the typed
  columns cannot answer) — the whole answer, scores and highlights included.

Then updates and deletes (in the units of work that write them; a unit that fails leaves
the typed columns as they were), and a store opened on a database whose documents were
indexed before typed columns existed.
"""

from __future__ import annotations

import inspect
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from faaskit.cqrs.search import Search, build_query
from faaskit.errors import ConflictError
from faaskit.store import Store, create_store
from faaskit.store.protocol import (
    DeleteDocument,
    InsertDocument,
    SearchPage,
    SearchQuery,
    UpdateDocument,
    Write,
    WriteSet,
)

COLLECTION = "typed_view"
SPEC = Search(
    text=["title", "tags"],
    filters=["status", "owner", "n", "flag"],
    ranges=["n", "created", "price"],
    sort=["n", "title", "created", "price", "status"],
)
TITLES = ["Berlin lamp", "Zürich sofa", "oak desk", "Lamp shade", "Ünal chair", "desk lamp"]
TITLES += ["Paris rug", "müller clock", "berlin oak", "vase", "日本 lamp", "Oak Oak Oak"]
TAGS = [[], ["red"], ["red", "blue"], ["oak", None], ["lampshade"], ["straße", "zürich"]]
STATUSES: list[Any] = ["open", "paid", "shipped", "Paid", None, ["paid"], "ünpaid"]
OWNERS: list[Any] = ["ann", "bob", "Ann", "zoë", "", None]
NS: list[Any] = [1, 2, 2, 3, 3.0, 2.5, -1, 0, 10, "3", "10", "abc", True, False, None, [1, 2]]
NS += [[3], 1e3]
CREATED = ["2026-01-05", "2026-02-01T10:00:00Z", "2026-02-01", "2026-03-15", "2025-12-31"]
CREATED += ["2026-02-01T10:00:00Z", "", "2026-9"]
PRICES: list[Any] = [9.99, 10, 10.0, 0, -5, 100, "12", None, 9.99, 250.5]
MISSING = object()


def document(rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {}
    choices: dict[str, list[Any]] = {
        "title": TITLES,
        "tags": TAGS,
        "status": STATUSES,
        "owner": OWNERS,
        "n": NS,
        "created": CREATED,
        "price": PRICES,
        "flag": [True, False, None, 1, 0, "true"],
    }
    for name, values in choices.items():
        if rng.random() < 0.85:  # missing fields too
            data[name] = rng.choice(values)
    return data


# --- the oracle -----------------------------------------------------------------------------


def sqlite_value(data: dict[str, Any], name: str) -> Any:
    """What ``json_extract(data, '$.name')`` gives, as Python (None: SQL NULL)."""
    value = data.get(name)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, list | dict):
        return orjson.dumps(value).decode()
    return value


def sqlite_key(value: Any) -> tuple[int, Any]:
    """SQLite's order across storage classes: NULL < numbers < text."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, value)


def jsonb_key(value: Any) -> tuple[Any, ...]:
    """jsonb's btree order: null < strings < numbers < booleans < arrays (longer last)."""
    if value is None:
        return (0,)
    if isinstance(value, str):
        return (1, value)
    if isinstance(value, bool):
        return (3, value)
    if isinstance(value, int | float):
        return (2, value)
    assert isinstance(value, list), value
    return (4, len(value), tuple(jsonb_key(item) for item in value))


@dataclass
class Oracle:
    """The corpus as stored (data, created-at) and which documents have full-text rows."""

    backend: str
    documents: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    unindexed: set[str] = field(default_factory=set)

    def value(self, data: dict[str, Any], name: str) -> Any:
        if self.backend == "sqlite":
            return sqlite_value(data, name)
        return data.get(name, MISSING)

    def key(self, value: Any) -> tuple[Any, ...]:
        return sqlite_key(value) if self.backend == "sqlite" else jsonb_key(value)

    def compare(self, value: Any, bound: Any) -> int | None:
        """-1, 0 or 1; None where SQL says NULL (a missing value never compares)."""
        if self.backend == "sqlite":
            bound = int(bound) if isinstance(bound, bool) else bound
            if value is None:
                return None
        elif value is MISSING:
            return None
        mine, theirs = self.key(value), self.key(bound)
        return (mine > theirs) - (mine < theirs)

    def matches(self, data: dict[str, Any], query: SearchQuery) -> bool:
        for name, wanted in query.where.items():
            if wanted is not None and self.compare(self.value(data, name), wanted) != 0:
                return False
        for name, (low, high) in query.ranges.items():
            value = self.value(data, name)
            above, below = self.compare(value, low), self.compare(value, high)
            if low is not None and (above is None or above < 0):
                return False
            if high is not None and (below is None or below > 0):
                return False
        if query.words:
            tokens = re.findall(r"\w+", " ".join(SPEC.texts(data)).lower())
            return all(any(token.startswith(word) for token in tokens) for word in query.words)
        return True

    def sort_key(self, id: str, query: SearchQuery) -> tuple[Any, ...]:
        data, created_at = self.documents[id]
        if query.sort_field is None:
            return (created_at, id)
        value = self.value(data, query.sort_field)
        if self.backend == "sqlite":
            return (self.key(value), id)
        # PostgreSQL: SQL NULL (a missing field) sorts after every value ascending.
        return ((1,) if value is MISSING else (0, self.key(value)), id)

    def answer(self, query: SearchQuery) -> tuple[int, list[str] | None, set[str]]:
        """(total, the page's ids in order — None when the order is relevance —, every
        matching id)."""
        found = [
            id
            for id, (data, _) in self.documents.items()
            if self.matches(data, query) and not (query.words and id in self.unindexed)
        ]
        if query.words and query.sort_field is None:
            return len(found), None, set(found)
        found.sort(key=lambda id: self.sort_key(id, query), reverse=query.descending)
        return len(found), found[query.offset : query.offset + query.page_size], set(found)


# --- queries --------------------------------------------------------------------------------

TEXTS = [None, None, "lamp", "oak", "berlin lamp", "zürich", "la", "oak oak", "nothing"]
TEXTS += ["ünal", "日本", "red", "müller", "d"]
WHERES: list[dict[str, Any]] = [{}, {}, {"status": "paid"}, {"status": "Paid", "owner": "ann"}]
WHERES += [{"n": 3}, {"n": True}, {"n": "3"}, {"flag": True}, {"flag": 1}, {"flag": False}]
WHERES += [{"owner": ""}, {"status": '["paid"]'}, {"n": 2.5}, {"owner": "zoë"}]
RANGES: list[dict[str, tuple[Any, Any]]] = [{}, {}, {"n": (2, 3)}, {"n": ("3", None)}]
RANGES += [{"n": (None, 2)}, {"created": ("2026-02", "2026-03")}, {"price": (9.99, 100)}]
RANGES += [{"price": (None, "12")}, {"n": (False, True)}, {"n": (None, None)}]
RANGES += [{"created": ("", None), "price": (0, None)}]
SORTS = [None, "n:asc", "n:desc", "title", "title:desc", "created:desc", "price:asc"]
SORTS += ["status:asc", "relevance", "price:desc"]
PAGES = [(1, 5), (2, 5), (1, 100), (3, 7), (9, 10)]


def queries(seed: int, count: int) -> Iterator[SearchQuery]:
    rng = random.Random(seed)
    for _ in range(count):
        page, size = rng.choice(PAGES)
        yield build_query(
            COLLECTION,
            SPEC,
            rng.choice(TEXTS),
            where=rng.choice(WHERES),
            ranges=rng.choice(RANGES),
            sort=rng.choice(SORTS),
            page=page,
            page_size=size,
        )


def described(page: SearchPage) -> tuple[int, list[tuple[Any, ...]]]:
    return page.total, [
        (hit.document.id, hit.score, hit.highlights, hit.document.data) for hit in page.items
    ]


async def old_answer(store: Store, query: SearchQuery) -> SearchPage:
    """The query over the documents' JSON: what search answered before typed columns."""
    found = store._search_documents(query)  # type: ignore[attr-defined]
    return await found if inspect.isawaitable(found) else found  # type: ignore[no-any-return]


async def check(store: Store, oracle: Oracle, seed: int, count: int = 160) -> None:
    relevance_pages = 0
    for query in queries(seed, count):
        page = await store.search(query)
        total, ids, matching = oracle.answer(query)
        got = [hit.document.id for hit in page.items]
        assert page.total == total, query
        if ids is None:
            relevance_pages += bool(got)
            assert set(got) <= matching and len(got) == min(
                query.page_size, max(0, total - query.offset)
            ), query
        else:
            assert got == ids, query
        for hit in page.items:
            assert hit.document.data == oracle.documents[hit.document.id][0]
        assert described(page) == described(await old_answer(store, query)), query
    assert relevance_pages  # the generated queries did rank some pages by relevance


# --- the corpus and its writes -----------------------------------------------------------


def stamp(index: int) -> str:
    # Ties in created-at too: documents two apart share a timestamp.
    return f"2026-04-01T00:00:{index // 2:02d}+00:00"


def insert(id: str, data: dict[str, Any], at: str) -> InsertDocument:
    return InsertDocument(COLLECTION, id, data, [], at, None, SPEC.texts(data))


def update(id: str, data: dict[str, Any], at: str) -> UpdateDocument:
    return UpdateDocument(COLLECTION, id, data, [], at, None, None, SPEC.texts(data))


def delete(id: str) -> DeleteDocument:
    return DeleteDocument(COLLECTION, id, None, True)


async def commit(store: Store, writes: list[Write]) -> None:
    await store.commit(WriteSet(writes))


async def seeded(store: Store, oracle: Oracle, count: int = 90) -> None:
    rng = random.Random(11)
    writes: list[Write] = []
    for index in range(count):
        id = f"d{rng.randrange(1000):03d}-{index}"
        data = document(rng)
        writes.append(insert(id, data, stamp(index)))
        oracle.documents[id] = (data, stamp(index))
        if len(writes) == 25:
            await commit(store, writes)
            writes = []
    await commit(store, writes)


async def changed(store: Store, oracle: Oracle) -> None:
    """Updates that move filter, range and sort values, and deletes, in shared units."""
    rng = random.Random(5)
    ids = sorted(oracle.documents)
    writes: list[Write] = []
    updated = rng.sample(ids, 30)
    for id in updated:
        data = document(rng)
        writes.append(update(id, data, "2026-05-01T00:00:00+00:00"))
        oracle.documents[id] = (data, oracle.documents[id][1])
    for id in rng.sample(sorted(set(ids) - set(updated)), 12):
        writes.append(delete(id))
        del oracle.documents[id]
    rng.shuffle(writes)
    for start in range(0, len(writes), 7):
        await commit(store, writes[start : start + 7])


# --- the tests ------------------------------------------------------------------------------


def backend_of(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


async def test_answers_match_the_oracle_and_the_old_query(store: Store, backend_url: str) -> None:
    oracle = Oracle(backend_of(backend_url))
    await seeded(store, oracle)

    await check(store, oracle, seed=1)


async def test_updates_and_deletes_move_the_typed_columns_in_their_unit(
    store: Store, backend_url: str
) -> None:
    oracle = Oracle(backend_of(backend_url))
    await seeded(store, oracle)
    await check(store, oracle, seed=2, count=60)  # the typed columns exist now

    await changed(store, oracle)
    # Another collection's documents share the full-text table: never counted here.
    other = {"title": "oak lamp berlin zürich", "n": 2, "status": "paid"}
    texts = SPEC.texts(other)
    await commit(store, [InsertDocument("other_view", "o1", other, [], stamp(0), None, texts)])

    await check(store, oracle, seed=3)


async def test_a_failed_unit_leaves_the_typed_columns_as_they_were(
    store: Store, backend_url: str
) -> None:
    oracle = Oracle(backend_of(backend_url))
    await seeded(store, oracle)
    await check(store, oracle, seed=4, count=40)
    first, second = sorted(oracle.documents)[:2]
    moved = {"title": "moved lamp", "status": "paid", "n": 999, "price": 1}

    with pytest.raises(ConflictError):  # the update, then an insert of an id that exists
        await commit(store, [update(first, moved, "2026-06-01"), insert(second, {}, "x")])

    page = await store.search(build_query(COLLECTION, SPEC, None, **_by_n(999)))
    assert page.total == 0
    await check(store, oracle, seed=5, count=80)


def _by_n(n: int) -> dict[str, Any]:
    return {"where": {"n": n}, "ranges": None, "sort": "n:asc", "page": 1, "page_size": 20}


async def test_a_database_indexed_before_typed_columns_is_searched_the_same(
    backend_url: str,
) -> None:
    """A document indexed before typed columns existed (no typed row, or no search row at
    all: written before its collection was searchable) is found as before: the first
    search of the collection adds and fills the rows."""
    oracle = Oracle(backend_of(backend_url))
    store = create_store(backend_url)
    await store.open()
    try:
        await seeded(store, oracle)
        plain = {"title": "plain lamp", "n": 2, "status": "paid"}
        await commit(store, [InsertDocument(COLLECTION, "plain", plain, [], stamp(0))])
        oracle.documents["plain"] = (plain, stamp(0))
        oracle.unindexed.add("plain")
    finally:
        await store.close()
    await _forget_typed_columns(backend_url)

    reopened = create_store(backend_url)
    await reopened.open()
    try:
        await check(reopened, oracle, seed=6)
        assert (await reopened.search(_text("plain"))).total == 0  # no full-text row
        by_status = build_query(COLLECTION, SPEC, None, **_by_n(2))
        assert "plain" in [hit.document.id for hit in (await reopened.search(by_status)).items]
    finally:
        await reopened.close()


@pytest.mark.parametrize("other_collection", [False, True])
async def test_relevance_ties_are_broken_by_id_across_pages(
    store: Store, other_collection: bool
) -> None:
    """Many matches with the same score, written in an order unlike their ids: every page
    by relevance lists them by id, as the old query did, whether or not the full-text
    rows are all this collection's; and queries in a sort order with text and filters
    too (the shape of the text + filter and deep text pages of the benchmarks)."""
    rng = random.Random(3)
    ids = [f"t{n:03d}" for n in rng.sample(range(200), 40)]
    writes: list[Write] = []
    for index, id in enumerate(ids):
        title = "oak lamp" if index % 4 else "oak lamp lamp"  # two scores, many ties
        data = {"title": title, "status": "paid" if index % 3 else "open", "n": index % 5}
        writes.append(insert(id, data, stamp(index)))
    if other_collection:
        other = "other_view"
        data = {"title": "oak lamp"}
        writes.append(InsertDocument(other, "t000", data, [], stamp(0), None, ("oak lamp", "")))
    await commit(store, writes)
    for text, where, sort in [
        ("oak", None, None),
        ("lamp oak", None, None),
        ("oak", {"status": "paid"}, None),
        ("oak", {"status": "paid"}, "n:desc"),
        ("lamp", None, "created:desc"),
    ]:
        seen: list[str] = []
        for page in range(1, 8):
            query = build_query(
                COLLECTION, SPEC, text, where=where, ranges=None, sort=sort, page=page, page_size=7
            )
            found = await store.search(query)
            assert described(found) == described(await old_answer(store, query)), query
            seen += [hit.document.id for hit in found.items]
        assert len(seen) == len(set(seen)) == found.total, (text, where, sort)
        if sort is None:
            scores = [hit.score for hit in found.items if hit.score is not None]
            assert len(scores) == len(found.items) and scores == sorted(scores, reverse=True)


def _text(text: str) -> SearchQuery:
    return build_query(
        COLLECTION, SPEC, text, where=None, ranges=None, sort=None, page=1, page_size=20
    )


async def _forget_typed_columns(url: str) -> None:
    """Make the database look as it did before typed columns (and, on SQLite, before the
    full-text table had its prefix index)."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            columns = ", ".join(f"f{i}" for i in range(8))
            conn.executescript(
                "DELETE FROM faaskit_search_rows; DELETE FROM faaskit_search_columns;"
                f" CREATE VIRTUAL TABLE old_search USING fts5({columns},"
                " tokenize = 'unicode61 remove_diacritics 2');"
                f" INSERT INTO old_search (rowid, {columns}) SELECT rowid, {columns}"
                " FROM faaskit_search; DROP TABLE faaskit_search;"
                " ALTER TABLE old_search RENAME TO faaskit_search;"
            )
            assert (
                "prefix"
                not in conn.execute(
                    "SELECT sql FROM sqlite_master WHERE name = 'faaskit_search'"
                ).fetchone()[0]
            )
        finally:
            conn.close()
        return
    import psycopg

    nulls = ", ".join(f"k{i} = NULL" for i in range(16))
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as pg:
        await pg.execute(f"UPDATE faaskit_search SET {nulls}")
        await pg.execute("DELETE FROM faaskit_search_columns")
