"""The four kinds of query of the search benchmark (text by relevance, text + filter sorted
by date, filter + range sorted by total, text on a deep page by date) answer, over a
seeded corpus of orders, what a plain Python reading of the documents says they should:
the same totals, the same hits in the same order, the same highlights; on SQLite the
same scores too (FTS5's bm25, computed here from its definition).

The expected answers come from the documents alone, never from a query of the store, so
a change of how the store plans its queries cannot move them.
"""

from __future__ import annotations

import html
import math
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from faaskit.cqrs.search import Search, build_query
from faaskit.store import Store
from faaskit.store.protocol import InsertDocument, SearchPage, SearchQuery, WriteSet

COLLECTION = "orders_view"
SPEC = Search(
    text=["customer_name", "product_names", "shipping_city"],
    filters=["status", "customer_id"],
    ranges=["created_at"],
    sort=["created_at", "total", "status"],
)
FIRST = ("Anna", "Ben", "Carla", "David", "Eva", "Felix")
LAST = ("Schmidt", "Weber", "Wagner", "Becker", "Koch")
CITIES = ("Berlin", "Hamburg", "Munich", "Lisbon", "Porto", "Paris", "Lyon", "Vienna")
PRODUCTS = ("lamp", "lampshade", "desk", "chair", "sofa", "shelf", "rug", "table", "stool")
MATERIALS = ("oak", "walnut", "steel", "linen", "wool", "brass", "glass")
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")
CORPUS = 600


def order(index: int, rng: random.Random) -> dict[str, Any]:
    """An order like the benchmark's; dates repeat (ties broken by id)."""
    return {
        "customer_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "customer_id": f"c{rng.randrange(50)}",
        "product_names": [
            f"{rng.choice(MATERIALS)} {rng.choice(PRODUCTS)}" for _ in range(rng.randint(1, 4))
        ],
        "shipping_city": rng.choice(CITIES),
        "status": rng.choice(STATUSES),
        "created_at": f"2026-{1 + index % 12:02d}-{1 + index % 28:02d}T{index % 7:02d}:00:00Z",
        "total": round(rng.uniform(5, 900), 2),
    }


def corpus() -> dict[str, dict[str, Any]]:
    rng = random.Random(7)
    # Ids not in insertion order, so rowid order and id order differ.
    return {f"order-{(i * 7919) % 10007:05d}": order(i, rng) for i in range(CORPUS)}


# --- the expected answers ------------------------------------------------------------------


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@dataclass(frozen=True)
class Expected:
    total: int
    ids: list[str]
    scores: list[float] | None  # FTS5 bm25 (negated: higher is better), by relevance
    highlights: list[dict[str, str]]


def _found(data: dict[str, Any], words: tuple[str, ...]) -> bool:
    mine = tokens(" ".join(SPEC.texts(data)))
    return all(any(token.startswith(word) for token in mine) for word in words)


def _passes(data: dict[str, Any], query: SearchQuery) -> bool:
    for name, value in query.where.items():
        if data.get(name) != value:
            return False
    for name, (low, high) in query.ranges.items():
        value = data.get(name)
        if (low is not None and value < low) or (high is not None and value > high):
            return False
    return not query.words or _found(data, query.words)


def bm25(documents: dict[str, dict[str, Any]], words: tuple[str, ...]) -> dict[str, float]:
    """FTS5's bm25 of every matching document, negated (as a hit's score): k1 = 1.2,
    b = 0.75, every column weighted 1; a document's length is its tokens in every column;
    idf per phrase (word as a prefix) over every full-text row."""
    k1, b = 1.2, 0.75
    texts = {id: tokens(" ".join(SPEC.texts(data))) for id, data in documents.items()}
    rows = len(texts)
    average = sum(len(t) for t in texts.values()) / rows
    idf = []
    for word in words:
        hits = sum(any(t.startswith(word) for t in mine) for mine in texts.values())
        value = math.log((rows - hits + 0.5) / (hits + 0.5))
        idf.append(value if value > 0 else 1e-6)
    scores = {}
    for id, mine in texts.items():
        if not all(any(t.startswith(word) for t in mine) for word in words):
            continue
        score = 0.0
        for weight, word in zip(idf, words, strict=True):
            freq = sum(t.startswith(word) for t in mine)
            score += weight * (freq * (k1 + 1)) / (freq + k1 * (1 - b + b * len(mine) / average))
        scores[id] = score
    return scores


def marked(data: dict[str, Any], words: tuple[str, ...]) -> dict[str, str]:
    """Each text field with a match, every matching word in <mark> (short fields: the
    whole text is the snippet)."""
    found = {}
    for name, text in zip(SPEC.text, SPEC.texts(data), strict=True):
        parts = re.split(r"([A-Za-z0-9]+)", text)
        hit = False
        for i in range(1, len(parts), 2):
            if any(parts[i].lower().startswith(word) for word in words):
                parts[i] = f"<mark>{parts[i]}</mark>"
                hit = True
        if hit:  # words need no escaping; what separates them may
            found[name] = "".join(
                part if i % 2 else html.escape(part, quote=False) for i, part in enumerate(parts)
            )
    return found


def expected(documents: dict[str, dict[str, Any]], query: SearchQuery) -> Expected:
    ids = [id for id, data in documents.items() if _passes(data, query)]
    scores: dict[str, float] = {}
    if query.sort_field is None:
        scores = bm25(documents, query.words)
        # Ties by id: equal scores are equal here up to rounding of a different sum order.
        ids.sort(key=lambda id: (-round(scores[id], 9), id))
    else:
        field = query.sort_field
        ids.sort(key=lambda id: (documents[id][field], id), reverse=query.descending)
    page = ids[query.offset : query.offset + query.page_size]
    return Expected(
        len(ids),
        page,
        [scores[id] for id in page] if query.sort_field is None else None,
        [marked(documents[id], query.words) for id in page],
    )


# --- the queries ---------------------------------------------------------------------------


def kinds(rng: random.Random) -> Iterator[tuple[str, SearchQuery]]:
    """The benchmark's four kinds with its parameters drawn, and a few neighbours (a
    word that is a prefix of another word, text + filter by relevance, deep pages)."""

    def query(text: str | None, **options: Any) -> SearchQuery:
        options = {"where": None, "ranges": None, "sort": None, "page": 1, **options}
        return build_query(COLLECTION, SPEC, text, page_size=20, **options)

    for _ in range(6):
        material, product = rng.choice(MATERIALS), rng.choice(PRODUCTS)
        yield "text by relevance", query(f"{material} {product}")
        city, status = rng.choice(CITIES), rng.choice(STATUSES)
        yield "text + filter by date", query(city, where={"status": status}, sort="created_at:desc")
        yield (
            "filter + range by total",
            query(
                None,
                where={"status": status},
                ranges={"created_at": ("2026-03-01", "2026-09-30")},
                sort="total:desc",
            ),
        )
        yield "text, page 5 by date", query(rng.choice(PRODUCTS), sort="created_at:desc", page=5)
    yield "a prefix of two words", query("lamp", sort="created_at:asc", page=2)
    yield "a prefix by relevance", query("lam oak")
    yield "text + filter by relevance", query("berlin", where={"status": "paid"}, page=2)
    yield "relevance, a deep page", query("oak", page=4)
    yield "two filters", query("oak", where={"status": "paid", "customer_id": "c3"})
    yield "nothing found", query("zebra", where={"status": "paid"}, sort="created_at:desc")
    yield "past the last page", query("porto", where={"status": "paid"}, page=40)


# --- the test ------------------------------------------------------------------------------


def answer(page: SearchPage) -> tuple[int, list[str], list[dict[str, str]]]:
    return page.total, [hit.document.id for hit in page.items], [h.highlights for h in page.items]


async def test_each_kind_answers_what_the_documents_say(store: Store, backend_url: str) -> None:
    documents = corpus()
    writes = [
        InsertDocument(
            COLLECTION, id, data, [], "2026-04-01T00:00:00+00:00", None, SPEC.texts(data)
        )
        for id, data in documents.items()
    ]
    for start in range(0, len(writes), 100):
        await store.commit(WriteSet(writes[start : start + 100]))
    sqlite = backend_url.startswith("sqlite")
    checked = set()
    for kind, query in kinds(random.Random(1)):
        page = await store.search(query)
        want = expected(documents, query)
        got_total, got_ids, got_marks = answer(page)
        assert got_total == want.total, (kind, query)
        if want.scores is None or sqlite:
            assert got_ids == want.ids, (kind, query)
            assert got_marks == want.highlights, (kind, query)
        else:  # PostgreSQL ranks with ts_rank: the same hits, best first
            assert set(got_ids) <= set(ids_of(documents, query)), (kind, query)
            ranks = [hit.score for hit in page.items]
            assert ranks == sorted(ranks, reverse=True), (kind, query)  # type: ignore[type-var]
        if want.scores is not None and sqlite:
            assert [hit.score for hit in page.items] == pytest.approx(want.scores), (kind, query)
        for hit in page.items:
            assert hit.document.data == documents[hit.document.id], (kind, query)
        checked.add(kind)
        assert want.total or kind == "nothing found", (kind, query)  # the corpus has hits
    assert len(checked) == 11


def scored(page: SearchPage) -> tuple[int, list[str], list[dict[str, str]], list[Any]]:
    return (*answer(page), [hit.score for hit in page.items])


def ids_of(documents: dict[str, dict[str, Any]], query: SearchQuery) -> list[str]:
    return [id for id, data in documents.items() if _passes(data, query)]


async def test_a_bulk_load_has_its_segments_merged_and_answers_the_same(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many small commits leave the full-text index in many segments; the first search
    after them merges those into one, and every kind answers as the documents say,
    before and after."""
    import sqlite3

    from faaskit.store import create_store, sqlite_search

    path = tmp_path / "bulk.db"
    store = create_store(f"sqlite:///{path}")
    await store.open()
    try:
        documents = corpus()
        writes = [
            InsertDocument(COLLECTION, id, data, [], "2026-04-01", None, SPEC.texts(data))
            for id, data in documents.items()
        ]
        for start in range(0, len(writes), 10):  # 60 commits, a segment each
            await store.commit(WriteSet(writes[start : start + 10]))

        def segments() -> int:
            with sqlite3.connect(path) as conn:
                query = "SELECT count(DISTINCT segid) FROM faaskit_search_idx"
                return int(conn.execute(query).fetchone()[0])

        before = segments()
        assert before > sqlite_search.MAX_SEGMENTS
        monkeypatch.setattr(sqlite_search, "MERGE_AFTER_ROWS", 10 * CORPUS)  # not yet
        first = [scored(await store.search(query)) for _, query in kinds(random.Random(2))]
        assert segments() == before
        monkeypatch.setattr(sqlite_search, "MERGE_AFTER_ROWS", CORPUS // 2)
        second = [scored(await store.search(query)) for _, query in kinds(random.Random(2))]
        assert segments() == 1
        assert first == second  # scores too, to the last bit
        for (_, query), got in zip(kinds(random.Random(2)), second, strict=True):
            want = expected(documents, query)
            assert got[:3] == (want.total, want.ids, want.highlights), query
    finally:
        await store.close()
