"""What the two search backends share: padding the text fields and the filter, range and
sort clauses over the documents' JSON. Field names here come from the declaration's
allow-lists (checked by ``faaskit.cqrs.search.build_query``); values are always bound."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any

from faaskit.store.protocol import MAX_TEXT_FIELDS, SearchQuery

__all__ = [
    "MARK_START",
    "MARK_STOP",
    "TEXT_COLUMNS",
    "conditions",
    "highlights",
    "order_by",
    "padded",
]

# The databases mark matches with these control characters; the text around them is then
# HTML-escaped and they become <mark> tags, so stored text can never inject markup.
MARK_START, MARK_STOP = "\x02", "\x03"

TEXT_COLUMNS = tuple(f"f{i}" for i in range(MAX_TEXT_FIELDS))


def padded(texts: tuple[str, ...]) -> tuple[str | None, ...]:
    return (*texts, *([None] * (MAX_TEXT_FIELDS - len(texts))))


def conditions(
    query: SearchQuery,
    field: Callable[[str], str],
    bind: Callable[[Any], tuple[str, Any]],
    contains: Callable[[dict[str, Any]], tuple[str, Any]] | None = None,
) -> tuple[list[str], list[Any]]:
    """``d.collection = ?`` plus equality filters and ranges over ``field(name)``;
    ``bind(value)`` gives the placeholder and parameter for a value (JSON on PostgreSQL);
    ``contains(filters)``, when given, turns all equality filters into one clause."""
    clauses, params = ["d.collection = ?"], [query.collection]
    equal = {name: value for name, value in query.where.items() if value is not None}
    if contains is not None and equal:
        clause, param = contains(equal)
        clauses.append(clause)
        params.append(param)
        equal = {}
    bounds = [(name, "=", value) for name, value in equal.items()]
    for name, (low, high) in query.ranges.items():
        bounds += [(name, ">=", low), (name, "<=", high)]
    for name, operator, value in bounds:
        if value is None:
            continue
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
