"""Binding a request to a handler's arguments: faaskit's rules on text from a URL and JSON."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from faaskit import App, MalformedJSONError, ValidationError
from faaskit.http.binding import INT64_MAX, Endpoint, build_endpoint


def endpoint_of(handler: Any, path: str = "/things") -> Endpoint:
    app = App("binding")
    app.post(path)(handler)
    route = app.routes[0]
    from faaskit.http.paths import compile_path

    return build_endpoint(route, compile_path(path)[1])


def refused(endpoint: Endpoint, query: bytes = b"", body: bytes | None = None) -> list[Any]:
    with pytest.raises(ValidationError) as error:
        endpoint.bind({}, query, body, None)  # type: ignore[arg-type]
    return [(e["loc"], e["type"]) for e in error.value.errors]


class Note(BaseModel):
    text: Any


async def take_note(note: Note) -> None: ...


async def search(ids: list[int], page: int = 1, day: date | None = None) -> None: ...


async def bounded(page: Annotated[int, Field(ge=1, le=10)] = 1) -> None: ...


def test_an_int_from_a_url_stays_within_64_bits_in_lists_too() -> None:
    endpoint = endpoint_of(search)
    too_big = str(INT64_MAX + 1).encode()

    assert refused(endpoint, b"ids=1&page=" + too_big)[0] == (["query", "page"], "less_than_equal")
    assert refused(endpoint, b"ids=" + too_big)[0] == (["query", "ids", 0], "less_than_equal")
    arguments = endpoint.bind({}, b"ids=1&ids=" + str(INT64_MAX).encode(), None, None)  # type: ignore[arg-type]
    assert arguments["ids"] == [1, INT64_MAX]


def test_an_int_with_bounds_of_its_own_keeps_them() -> None:
    endpoint = endpoint_of(bounded)

    assert refused(endpoint, b"page=11") == [(["query", "page"], "less_than_equal")]
    assert endpoint.bind({}, b"page=10", None, None)["page"] == 10  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [b"0", b"1700000000", b"-5", b"1.5"])
def test_a_date_from_a_url_is_iso_text_never_a_number(text: bytes) -> None:
    assert refused(endpoint_of(search), b"ids=1&day=" + text) == [(["query", "day"], "value_error")]


def test_nul_in_a_query_value_names_the_parameter() -> None:
    assert refused(endpoint_of(search), b"ids=1&page=1%00")[0] == (["query", "page"], "nul")


def test_nul_deep_in_a_json_body_is_found_past_pythons_recursion_limit() -> None:
    depth = 1020  # orjson parses up to 1024 levels; Python's stack holds about 1000 calls
    body = b'{"text": ' + b"[" * depth + b'"a\\u0000"' + b"]" * depth + b"}"

    errors = refused(endpoint_of(take_note), body=body)

    assert errors == [(["body", "text", *[0] * depth], "nul")]


def test_json_nested_deeper_than_the_parsers_limit_is_malformed() -> None:
    depth = 5000
    body = b'{"text": ' + b"[" * depth + b'"a\\u0000"' + b"]" * depth + b"}"

    with pytest.raises(MalformedJSONError):
        endpoint_of(take_note).bind({}, b"", body, None)  # type: ignore[arg-type]


def test_an_escaped_backslash_before_u0000_is_not_nul() -> None:
    arguments = endpoint_of(take_note).bind({}, b"", b'{"text": "\\\\u0000"}', None)  # type: ignore[arg-type]

    assert arguments["note"].text == "\\u0000"
