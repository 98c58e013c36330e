"""The tantivy side of the search benchmark: the embedded full-text engine a user would pick
instead, on the same orders (``cqrs.order_document`` with the same seed) and the same four
query kinds with the same random choices, each answering what faaskit's search answers: the
total count, a page of 20 documents, and highlights of the text fields for that page.

Run from ``cqrs.py search`` right after faaskit's queries, in the same process, so the two
are measured in one run on the same machine load.

- text fields (customer name, product names, city): the default tokenizer (lowercase),
  positions, stored for highlights; every query word is a prefix ("lam" finds "lamp") and
  every word must match in some text field, as faaskit's search does.
- status, customer id: raw (untokenized) terms; created_at: a date fast field; total: a
  float fast field; the id stored.
- The string range faaskit applies (``"2026-03-01" <= created_at <= "2026-09-30"`` on ISO
  strings with a time) is the date range [2026-03-01, 2026-09-30) here: the same documents.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import tantivy

TEXT = ("customer_name", "product_names", "shipping_city")
PAGE_SIZE = 20
_WORD = re.compile(r"\w+", re.UNICODE)


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    for name in TEXT:
        builder.add_text_field(name, stored=True)
    builder.add_text_field("status", tokenizer_name="raw", fast=True)
    builder.add_text_field("customer_id", tokenizer_name="raw", fast=True)
    builder.add_date_field("created_at", indexed=True, fast=True)
    builder.add_float_field("total", indexed=True, fast=True)
    return builder.build()


def _date(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class TantivySearch:
    """An in-memory tantivy index of the orders and the four query kinds over it."""

    def __init__(self) -> None:
        self.schema = _schema()
        self.index = tantivy.Index(self.schema)

    def load(self, documents: list[tuple[str, dict[str, Any]]]) -> float:
        """Index ``documents`` in one writer and commit; the seconds it took."""
        started = time.perf_counter()
        writer = self.index.writer(heap_size=128_000_000)
        for id, data in documents:
            writer.add_document(
                tantivy.Document(
                    id=id,
                    customer_name=data["customer_name"],
                    product_names=list(data["product_names"]),
                    shipping_city=data["shipping_city"],
                    status=data["status"],
                    customer_id=data["customer_id"],
                    created_at=_date(data["created_at"]),
                    total=float(data["total"]),
                )
            )
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()
        return time.perf_counter() - started

    def _text(self, text: str) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """Each word a prefix in any text field; every word must match."""
        clauses = []
        for word in _WORD.findall(text.lower()):
            fields = [
                (tantivy.Occur.Should, tantivy.Query.phrase_prefix_query(self.schema, f, [word]))
                for f in TEXT
            ]
            clauses.append((tantivy.Occur.Must, tantivy.Query.boolean_query(fields)))
        return clauses

    def _marked(self, text: str) -> list[tuple[tantivy.Occur, tantivy.Query]]:
        """What highlights mark: the query words as terms (tantivy's snippets do not take
        the terms of a prefix query; the benchmark's words are whole words)."""
        return [
            (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, f, word))
            for word in _WORD.findall(text.lower())
            for f in TEXT
        ]

    def _status(self, status: str) -> tuple[tantivy.Occur, tantivy.Query]:
        return tantivy.Occur.Must, tantivy.Query.term_query(self.schema, "status", status)

    def search(
        self,
        clauses: list[tuple[tantivy.Occur, tantivy.Query]],
        *,
        order_by: str | None = None,
        page: int = 1,
        text: str | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """The total and the page: each hit's stored fields and highlights of ``text``."""
        query = tantivy.Query.boolean_query(clauses)
        searcher = self.index.searcher()
        offset = (page - 1) * PAGE_SIZE
        if order_by is None:
            found = searcher.search(query, PAGE_SIZE, count=True, offset=offset)
        else:
            found = searcher.search(
                query,
                PAGE_SIZE,
                count=True,
                order_by_field=order_by,
                offset=offset,
                order=tantivy.Order.Desc,
            )
        marked = tantivy.Query.boolean_query(self._marked(text)) if text else None
        generators = (
            [tantivy.SnippetGenerator.create(searcher, marked, self.schema, f) for f in TEXT]
            if marked is not None
            else []
        )
        hits = []
        for _, address in found.hits:
            document = searcher.doc(address)
            marks = {}
            for name, generator in zip(TEXT, generators, strict=False):
                snippet = generator.snippet_from_doc(document)
                if snippet.highlighted():
                    marks[name] = snippet.to_html()
            hits.append({"id": document["id"][0], "highlights": marks})
        return int(found.count or 0), hits


QUERIES: dict[str, Callable[[TantivySearch, random.Random], tuple[int, list[dict[str, Any]]]]] = {}


def _queries() -> None:
    from cqrs import CITIES, MATERIALS, PRODUCTS, STATUSES

    def relevance(t: TantivySearch, rng: random.Random) -> tuple[int, list[dict[str, Any]]]:
        text = f"{rng.choice(MATERIALS)} {rng.choice(PRODUCTS)}"
        return t.search(t._text(text), text=text)

    def text_filter(t: TantivySearch, rng: random.Random) -> tuple[int, list[dict[str, Any]]]:
        city = rng.choice(CITIES)
        clauses = [*t._text(city), t._status(rng.choice(STATUSES))]
        return t.search(clauses, order_by="created_at", text=city)

    def filter_range(t: TantivySearch, rng: random.Random) -> tuple[int, list[dict[str, Any]]]:
        dates = tantivy.Query.range_query(
            t.schema,
            "created_at",
            tantivy.FieldType.Date,
            datetime(2026, 3, 1, tzinfo=UTC),
            datetime(2026, 9, 30, tzinfo=UTC),
            include_lower=True,
            include_upper=False,
        )
        clauses = [t._status(rng.choice(STATUSES)), (tantivy.Occur.Must, dates)]
        return t.search(clauses, order_by="total")

    def page_five(t: TantivySearch, rng: random.Random) -> tuple[int, list[dict[str, Any]]]:
        product = rng.choice(PRODUCTS)
        return t.search(t._text(product), order_by="created_at", page=5, text=product)

    QUERIES.update(
        {
            "text (2 words, by relevance)": relevance,
            "text + filter, sorted by date": text_filter,
            "filter + range, sorted by total": filter_range,
            "text, page 5 by date": page_five,
        }
    )


def run(documents: list[tuple[str, dict[str, Any]]], queries: int) -> dict[str, Any]:
    """Index ``documents``, then ``queries`` mixed queries in the order and with the random
    choices of faaskit's run (``cqrs.query_all``); latencies in ms per kind."""
    if not QUERIES:
        _queries()
    engine = TantivySearch()
    found: dict[str, Any] = {"index_seconds": engine.load(documents)}
    rng = random.Random(1)
    kinds = list(QUERIES)
    latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
    hits: dict[str, int] = {kind: 0 for kind in kinds}
    for index in range(queries):
        kind = kinds[index % len(kinds)]
        started = time.perf_counter()
        total, _ = QUERIES[kind](engine, rng)
        latencies[kind].append((time.perf_counter() - started) * 1e3)
        hits[kind] += total
    found.update(latencies=latencies, timeouts={kind: 0 for kind in kinds}, hits=hits)
    return found
