"""uvicorn's response-header checks, by lookup for what faaskit sends (server_protocol.py)."""

from __future__ import annotations

import re

from uvicorn.protocols.http import httptools_impl

from faaskit.http.server_protocol import KnownValid

NAME = re.compile(b'[\x00-\x1f\x7f()<>@,;:\\[\\]={} \t\\\\"]')  # uvicorn 0.55's patterns
VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")


def test_uvicorn_checks_by_lookup_once_the_protocol_is_loaded() -> None:
    assert isinstance(httptools_impl.HEADER_RE, KnownValid)
    assert isinstance(httptools_impl.HEADER_VALUE_RE, KnownValid)
    assert httptools_impl.HEADER_RE.search(b"x-content-type-options") is None
    assert httptools_impl.HEADER_RE.search(b"bad name") is not None
    assert httptools_impl.HEADER_VALUE_RE.search(b"no-store") is None
    assert httptools_impl.HEADER_VALUE_RE.search(b"split\r\nset-cookie: x") is not None


def test_what_passes_is_exactly_what_the_pattern_passes() -> None:
    known = [b"nosniff", b"application/json"]
    for pattern in (NAME, VALUE):
        checks = KnownValid(pattern, known)
        for byte in range(256):
            for part in (bytes([byte]), b"nosniff" + bytes([byte]), bytes([byte]) + b"json"):
                assert (checks.search(part) is None) == (pattern.search(part) is None), part
        for part in known:
            assert (checks.search(part) is None) == (pattern.search(part) is None)


def test_a_known_part_that_the_pattern_refuses_is_never_taken_as_valid() -> None:
    checks = KnownValid(VALUE, [b"evil\r\nvalue", b"fine"])
    assert b"evil\r\nvalue" not in checks
    assert checks.search(b"evil\r\nvalue") is not None
    assert checks.search(b"fine") is None
