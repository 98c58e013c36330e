"""The search read model: declared fields get a full-text index (SQLite FTS5, PostgreSQL
tsvector + GIN), maintained in the same unit of work as the documents.

    orders_view = app.collection("orders_view", search=Search(
        text=["customer_name", "product_names", "shipping_city"],
        filters=["customer_id", "status"],
        ranges=["created_at"],
        sort=["created_at", "total", "status"],
    ))

    page = await ctx.documents(orders_view).search(
        "berlin lamp", where={"status": "pending"}, ranges={"created_at": ("2026-01-01", None)},
        sort="created_at:desc", page=1, page_size=20,
    )

User text never reaches the query as syntax: it is cut into words and bound as parameters;
filter, range and sort fields come from the declaration's allow-lists.

Filter, range and sort fields are answered from typed columns kept beside the full-text row
(btree-indexed; see :mod:`faaskit.store.search_sql`), written by the same unit of work as
the document. The runtime gives a declared collection's filter, range and sort fields their
columns when it starts (filled from the documents once per collection and field; documents
indexed before typed columns existed are added then), so no query fills them and answers
are the same as over the documents' JSON; a store used without a runtime fills a column
the first time a query needs it. The first query of a new shape (its filters, ranges and
sort) makes an index of that shape, and writers wait while it is made. On PostgreSQL the
search table is vacuumed and analysed after a fill and when it grew by a fifth since (a
bulk load), by the next search. A document written through a collection declared without
``search`` has no search row and is not found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from faaskit.errors import ConfigurationError, ValidationError
from faaskit.store.protocol import MAX_TEXT_FIELDS, SearchHit, SearchPage, SearchQuery

__all__ = [
    "MAX_PAGE",
    "MAX_PAGE_SIZE",
    "MAX_TEXT_FIELDS",
    "Search",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "words",
]

MAX_PAGE_SIZE = 100
MAX_PAGE = 10_000
"""Deeper pages cost a scan of every row before them; with MAX_PAGE_SIZE, at most a million."""
_WORD = re.compile(r"\w+", re.UNICODE)
_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Search:
    """What a collection lets callers search, filter, bound and sort by."""

    text: Sequence[str]
    filters: Sequence[str] = ()
    ranges: Sequence[str] = ()
    sort: Sequence[str] = ("created_at",)

    def __post_init__(self) -> None:
        if not self.text or len(self.text) > MAX_TEXT_FIELDS:
            raise ConfigurationError(f"Search needs 1 to {MAX_TEXT_FIELDS} text fields")
        for name in (*self.text, *self.filters, *self.ranges, *self.sort):
            if not _FIELD.match(name):
                raise ConfigurationError(f"{name!r} is not a field name")

    def texts(self, data: Mapping[str, Any]) -> tuple[str, ...]:
        """The indexed text of a document, one entry per text field (lists joined)."""
        values = []
        for name in self.text:
            value = data.get(name)
            if isinstance(value, list | tuple):
                value = " ".join(str(v) for v in value if v is not None)
            values.append("" if value is None else str(value))
        return tuple(values)


def words(text: str | None) -> tuple[str, ...]:
    """The words of user text: letters and digits only, so no query syntax survives."""
    return tuple(w.lower() for w in _WORD.findall(text or ""))[:16]


def build_query(
    collection: str,
    spec: Search,
    text: str | None,
    *,
    where: Mapping[str, Any] | None,
    ranges: Mapping[str, tuple[Any, Any]] | None,
    sort: str | None,
    page: int,
    page_size: int,
) -> SearchQuery:
    """Check every part against the declaration; ValidationError lists what is wrong."""
    errors: list[dict[str, Any]] = []

    def refuse(loc: str, msg: str) -> None:
        errors.append({"loc": ["query", loc], "msg": msg, "type": "value_error"})

    for name, value in (where or {}).items():
        if name not in spec.filters:
            refuse(name, f"cannot filter by {name!r}; allowed: {', '.join(spec.filters)}")
        elif not isinstance(value, str | int | float | bool):
            refuse(name, "filter values are strings, numbers or booleans")
    for name in ranges or {}:
        if name not in spec.ranges:
            refuse(name, f"no range on {name!r}; allowed: {', '.join(spec.ranges)}")
    sort_field, descending = None, True
    found = words(text)
    if sort:
        name, _, direction = sort.partition(":")
        direction = direction or "asc"
        if name == "relevance":
            sort_field = None
        elif name not in spec.sort:
            refuse("sort", f"cannot sort by {name!r}; allowed: relevance, {', '.join(spec.sort)}")
        else:
            sort_field = name
        if direction not in ("asc", "desc"):
            refuse("sort", "the order is asc or desc, as in created_at:desc")
        descending = direction == "desc"
    elif not found:
        sort_field = spec.sort[0] if spec.sort else None
    if not 1 <= page <= MAX_PAGE:
        refuse("page", f"page is 1 to {MAX_PAGE}")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        refuse("page_size", f"page_size is 1 to {MAX_PAGE_SIZE}")
    if errors:
        raise ValidationError("Invalid search", errors)
    return SearchQuery(
        collection,
        tuple(spec.text),
        found,
        dict(where or {}),
        dict(ranges or {}),
        sort_field,
        descending,
        page,
        page_size,
    )
