"""faaskit.records: the value classes of the public API behave as the frozen dataclasses
they replace (equality, hash, repr, read-only fields, copies, pattern matching)."""

from __future__ import annotations

import copy
import pickle

import pytest

from faaskit import CORS, JWTAuth, Principal, Response, Route


def handler() -> None:
    return None


def test_equal_values_are_equal_and_hash_alike() -> None:
    assert Route("GET", "/a", handler, "a") == Route("GET", "/a", handler, "a")
    assert hash(Route("GET", "/a", handler, "a")) == hash(Route("GET", "/a", handler, "a"))
    assert Route("GET", "/a", handler, "a") != Route("GET", "/a", handler, "b")
    assert JWTAuth() == JWTAuth() and JWTAuth() != JWTAuth(secret="s" * 32)
    assert CORS(allow_origins=("*",)) != CORS()


def test_a_different_class_is_never_equal() -> None:
    assert Principal("u", frozenset()) != ("u", frozenset(), {})
    assert JWTAuth() != CORS()


def test_fields_are_read_only() -> None:
    principal = Principal("u", frozenset({"a"}))

    with pytest.raises(AttributeError, match="cannot assign to field 'subject'"):
        principal.subject = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del principal.scopes  # type: ignore[misc]


def test_repr_names_every_field_in_order() -> None:
    assert repr(Principal("u", frozenset())) == (
        "Principal(subject='u', scopes=frozenset(), claims={})"
    )
    assert repr(Response(status=204)) == (
        "Response(body=None, status=204, headers={}, media_type=None)"
    )


def test_copies_pickles_and_replaces_keep_the_values() -> None:
    auth = JWTAuth(algorithms=("RS256",), issuer="me", leeway=1.0)

    assert pickle.loads(pickle.dumps(auth)) == auth
    assert copy.copy(auth) == auth and copy.deepcopy(auth) == auth
    changed = auth.__replace__(issuer="you")
    assert changed.issuer == "you" and changed.algorithms == ("RS256",) and auth.issuer == "me"


def test_pattern_matching_by_position() -> None:
    match Principal("u", frozenset({"x"})):
        case Principal(subject, scopes):
            assert (subject, scopes) == ("u", frozenset({"x"}))
        case _:
            pytest.fail("no match")


def test_default_mappings_are_fresh() -> None:
    assert Principal("u", frozenset()).claims is not Principal("v", frozenset()).claims
    assert Response().headers == {}


@pytest.mark.parametrize("name", ["bad name", "", "x\r", "é"])
def test_response_refuses_a_header_name_that_is_not_a_token(name: str) -> None:
    with pytest.raises(ValueError, match="is not an HTTP token"):
        Response(headers={name: "v"})


@pytest.mark.parametrize("value", ["a\r\nb", "a\nb", "a\x00", "a\x7f", "a\x1f"])
def test_response_refuses_a_header_value_that_splits_lines(value: str) -> None:
    with pytest.raises(ValueError, match="not one line of text"):
        Response(headers=[("x-a", value)])


def test_response_keeps_tabs_and_text_in_header_values() -> None:
    assert Response(headers={"x-a": "a\tb é"}).header_items() == [("x-a", "a\tb é")]
