"""Single-valued event headers read into the request (faaskit/adapters/aws_events.py):
the usual lowercase ones, and the odd ones an event may still carry — names that differ
only in case, values that are not text, a content-length that is not the body's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from faaskit.adapters.aws_events import http_request
from tests.adapters.aws_support import http_api_event


def read(headers: dict[str, Any], **shape: Any) -> dict[str, str]:
    return http_request(http_api_event("POST", "/x", headers=headers, **shape)).headers


def test_lowercase_headers_are_a_copy_the_event_keeps_apart_from() -> None:
    shaped = http_api_event("GET", "/x", headers={"accept": "application/json"})
    pristine = copy.deepcopy(shaped)

    request = http_request(shaped)
    request.headers["x-request-id"] = "set by the adapter"

    assert request.headers["accept"] == "application/json"
    assert shaped == pristine


@pytest.mark.parametrize(
    ("sent", "read_as"),
    [
        ({"X-Tag": "a", "x-tag": "b"}, {"x-tag": "a, b"}),
        ({"Cookie": "a=1", "cookie": "b=2"}, {"cookie": "a=1; b=2"}),
        ({"x-none": None, "X-Number": 42}, {"x-number": "42"}),
        ({"X-Name": "caf\u00e9", "X-Tag": "a", "x-tag": "b"}, {"x-name": "caf\u00c3\u00a9"}),
    ],
)
def test_names_differing_in_case_and_values_not_text(
    sent: dict[str, Any], read_as: dict[str, str]
) -> None:
    got = read(sent)

    assert {name: got[name] for name in read_as} == read_as
    assert "x-none" not in got


def test_lowercase_names_with_text_off_the_wire() -> None:
    got = read({"x-name": "caf\u00e9", "x-plain": "ok"})

    assert got["x-name"] == "caf\u00e9".encode().decode("latin-1")
    assert got["x-plain"] == "ok"


def test_content_length_is_the_decoded_bodys() -> None:
    with_body = read({"content-length": "999"}, body={"a": 1})
    without = read({"Content-Length": "999"})

    assert with_body["content-length"] == str(len(b'{"a": 1}'))
    assert "content-length" not in without
