"""What the two search backends share: padding the text fields, the typed columns that hold
filter, range and sort fields, and the clauses over them. Field names here come from the
declaration's allow-lists (checked by ``faaskit.cqrs.search.build_query``, and
``faaskit.cqrs.search.Search``); values are always bound.

Typed columns. Beside each document's full-text row a backend keeps ``k0`` … ``k15``: the
values of the fields a collection is filtered, bounded or sorted by, exactly as the old
queries read them from the document (SQLite: ``json_extract``, untyped, so comparisons and
order are unchanged; PostgreSQL: ``data -> field``, jsonb). Which column holds which field
is recorded per collection in ``faaskit_search_columns`` the first time a query uses the
field (the column is then filled from the documents and indexed); every write reads that
table inside its own statement, so a writer never needs to know the layout and never
writes a stale one. A field that finds no free column, and a query in created-at order,
use the documents as before.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from faaskit.store.protocol import MAX_TEXT_FIELDS, SearchQuery, Store

__all__ = [
    "KEY_COLUMNS",
    "MARK_START",
    "MARK_STOP",
    "MAX_KEY_COLUMNS",
    "ROWS_DONE",
    "TEXT_COLUMNS",
    "conditions",
    "declare_searches",
    "highlights",
    "key_paths",
    "order_by",
    "padded",
    "query_fields",
    "shape_indexes",
    "typed_conditions",
    "typed_order",
]

# The databases mark matches with these control characters; the text around them is then
# HTML-escaped and they become <mark> tags, so stored text can never inject markup.
MARK_START, MARK_STOP = "\x02", "\x03"

TEXT_COLUMNS = tuple(f"f{i}" for i in range(MAX_TEXT_FIELDS))
MAX_KEY_COLUMNS = 16
"""Typed columns per collection: fields filtered, bounded or sorted by (the shop uses 4)."""
KEY_COLUMNS = tuple(f"k{i}" for i in range(MAX_KEY_COLUMNS))
ROWS_DONE = ""
"""The ``field`` (no field has this name) of a collection's row in faaskit_search_columns
that says its documents all have a typed row (written before typed columns existed, or
before the collection was searchable, they are added the first time it is searched)."""

Layout = Mapping[str, int]
"""A collection's typed columns: field name → column number."""


async def declare_searches(store: Store, collections: Iterable[Any]) -> None:
    """Give every searchable collection of ``collections`` (an app's declared
    ``CollectionSpec``) the typed columns of its declared filter, range and sort fields,
    before any query: without this the first query by a field fills its column from the
    documents (writers wait meanwhile)."""
    for spec in collections:
        search = getattr(spec, "search", None)
        if search is not None:
            fields = dict.fromkeys((*search.filters, *search.ranges, *search.sort))
            await store.prepare_search(spec.name, list(fields)[:MAX_KEY_COLUMNS])


def padded(texts: tuple[str, ...]) -> tuple[str | None, ...]:
    return (*texts, *([None] * (MAX_TEXT_FIELDS - len(texts))))


def key_paths(path: Callable[[str], str]) -> str:
    """A one-row subquery ``l`` with ``p0`` … ``p15``: how to reach each typed column's field
    (``path(field)`` of the column's field, NULL for a column not in use) in the layout of
    the collection bound as its one parameter."""
    columns = ", ".join(
        f"max(CASE WHEN slot = {i} THEN {path('field')} END) AS p{i}"
        for i in range(MAX_KEY_COLUMNS)
    )
    return f"(SELECT {columns} FROM faaskit_search_columns WHERE collection = ?) l"


def query_fields(query: SearchQuery) -> set[str]:
    """The fields a query filters, bounds or sorts by (those that need a typed column)."""
    found = {name for name, value in query.where.items() if value is not None}
    found.update(query.ranges)
    if query.sort_field is not None:
        found.add(query.sort_field)
    return found


def shape_indexes(query: SearchQuery, layout: Layout) -> list[tuple[str, list[str]]]:
    """(name suffix, columns) of the count and page indexes of a query's shape without
    text: its equality columns first, then (count) its range columns or (page) its sort
    column and the id, then its range columns, so both are answered from the index alone
    (SQLite names them after faaskit_search_rows, PostgreSQL after faaskit_search)."""
    equal = sorted({layout[n] for n, v in query.where.items() if v is not None})
    ranged = sorted(
        {layout[n] for n, (low, high) in query.ranges.items() if (low, high) != (None, None)}
    )
    sort = layout[query.sort_field] if query.sort_field is not None else None
    tag = "".join(f"e{i}" for i in equal)
    bounds = "".join(f"r{i}" for i in ranged)
    keys = [f"k{i}" for i in equal]
    ranges = [f"k{i}" for i in ranged]
    ordered = [] if sort is None or sort in equal else [f"k{sort}"]
    count = (f"c{tag}{bounds}", ["collection", *keys, *ranges])
    if not equal and not ranged:
        count = ("by_id", ["collection", "doc_id"])
    page_tag = f"{tag}s{sort}" if ordered else tag
    page = (f"p{page_tag}{bounds}", ["collection", *keys, *ordered, "doc_id", *ranges])
    return [count, page]


def typed_conditions(
    query: SearchQuery, layout: Layout, bind: Callable[[Any], tuple[str, Any]], table: str
) -> tuple[list[str], list[Any]]:
    """``{table}.collection = ?`` plus equality filters and ranges over the typed columns;
    ``bind(value)`` gives the placeholder and parameter for a value (jsonb on PostgreSQL).
    The same comparisons the documents' values had: None skips a filter or a bound."""
    clauses, params = [f"{table}.collection = ?"], [query.collection]
    for name, operator, value in _bounds(query.where, query.ranges):
        placeholder, param = bind(value)
        clauses.append(f"{table}.k{layout[name]} {operator} {placeholder}")
        params.append(param)
    return clauses, params


def _bounds(
    where: Mapping[str, Any], ranges: Mapping[str, tuple[Any, Any]]
) -> Iterator[tuple[str, str, Any]]:
    """``(field, operator, value)`` of every equality filter and range bound that is set
    (None skips a filter or a bound)."""
    bounds = [(name, "=", value) for name, value in where.items()]
    for name, (low, high) in ranges.items():
        bounds += [(name, ">=", low), (name, "<=", high)]
    return ((name, op, value) for name, op, value in bounds if value is not None)


def typed_order(query: SearchQuery, layout: Layout, table: str, relevance: str | None) -> str:
    """The old order over the typed columns: by relevance then id (ascending), or by the
    sort field then id, both in the asked direction. Needs a sort field or relevance."""
    if query.sort_field is None:
        assert relevance is not None
        return f" ORDER BY {relevance}, {table}.doc_id"
    direction = "DESC" if query.descending else "ASC"
    column = f"{table}.k{layout[query.sort_field]}"
    return f" ORDER BY {column} {direction}, {table}.doc_id {direction}"


def conditions(
    query: SearchQuery,
    field: Callable[[str], str],
    bind: Callable[[Any], tuple[str, Any]],
    contains: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
) -> tuple[list[str], list[Any]]:
    """``d.collection = ?`` plus equality filters and ranges over ``field(name)``;
    ``bind(value)`` gives the placeholder and parameter for a value (JSON on PostgreSQL);
    ``contains(filters)``, when given, turns all equality filters into one clause.
    (The documents' own values: for queries the typed columns cannot answer.)"""
    clauses, params = ["d.collection = ?"], [query.collection]
    equal = {name: value for name, value in query.where.items() if value is not None}
    if contains is not None and equal:
        clause, param = contains(equal)
        clauses.append(clause)
        params.append(param)
        equal = {}
    for name, operator, value in _bounds(equal, query.ranges):
        placeholder, param = bind(value)
        clauses.append(f"{field(name)} {operator} {placeholder}")
        params.append(param)
    return clauses, params


def order_by(query: SearchQuery, field: Callable[[str], str], relevance: str | None) -> str:
    direction = "DESC" if query.descending else "ASC"
    if query.sort_field is None and relevance is not None:
        return f" ORDER BY {relevance}, d.id"
    column = field(query.sort_field) if query.sort_field else "d.created_at"
    return f" ORDER BY {column} {direction}, d.id {direction}"


def highlights(fields: Sequence[str], snippets: Sequence[str | None]) -> dict[str, str]:
    """Escaped snippets with ``<mark>`` around matches, for the fields that matched."""
    marked = {}
    for name, snippet in zip(fields, snippets, strict=False):
        if snippet and MARK_START in snippet:
            escaped = html.escape(snippet, quote=False)
            marked[name] = escaped.replace(MARK_START, "<mark>").replace(MARK_STOP, "</mark>")
    return marked
