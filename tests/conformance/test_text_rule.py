"""One text rule on every backend: NUL (U+0000) is refused, on reads and writes alike,
with a ValidationError — never stored on one backend and a 500 on the other."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from faaskit.errors import ValidationError
from faaskit.store import Store
from faaskit.store.protocol import (
    AppendEvents,
    InsertDocument,
    Message,
    NewEvent,
    PublishMessage,
    SearchQuery,
    WriteSet,
)
from faaskit.store.text import NUL_MESSAGE, dump_json

T0 = "2026-01-01T00:00:00+00:00"


def _insert(id: str, data: dict[str, Any]) -> InsertDocument:
    return InsertDocument("notes", id, data, [], T0)


def _message(data: Any, *, topic: str = "note.added", key: str | None = None) -> PublishMessage:
    return PublishMessage(Message("m1", topic, data, key), ())


WRITES: dict[str, Callable[[], Any]] = {
    "document id": lambda: _insert("a\x00b", {"text": "hi"}),
    "document value": lambda: _insert("n1", {"text": "a\x00b"}),
    "nested value": lambda: _insert("n1", {"lines": [{"text": "\x00"}]}),
    "object key": lambda: _insert("n1", {"a\x00": 1}),
    "event payload": lambda: AppendEvents("s-1", [NewEvent("Added", {"x": "\x00"})], None, 0.0),
    "stream name": lambda: AppendEvents("s-\x00", [NewEvent("Added", {})], None, 0.0),
    "message data": lambda: _message({"x": "\x00"}),
    "message key": lambda: _message({}, key="k\x00"),
}


@pytest.mark.parametrize("case", sorted(WRITES))
async def test_a_write_holding_nul_is_refused_and_writes_nothing(store: Store, case: str) -> None:
    with pytest.raises(ValidationError) as refused:
        await store.commit(WriteSet([_insert("kept?", {"text": "fine"}), WRITES[case]()]))

    assert refused.value.detail == NUL_MESSAGE
    assert await store.get("notes", "kept?") is None  # the whole unit of work failed


READS: dict[str, Callable[[Store], Any]] = {
    "get": lambda s: s.get("notes", "a\x00"),
    "get_by_key": lambda s: s.get_by_key("notes", ("email", "\x00")),
    "find": lambda s: s.find("notes", {"text": "a\x00"}),
    "read_stream": lambda s: s.read_stream("s-\x00"),
    "snapshot": lambda s: s.snapshot("s-\x00"),
}


@pytest.mark.parametrize("case", sorted(READS))
async def test_a_read_holding_nul_is_refused(store: Store, case: str) -> None:
    with pytest.raises(ValidationError):
        await READS[case](store)


async def test_a_search_filter_holding_nul_is_refused(store: Store) -> None:
    query = SearchQuery("notes", ("text",), (), {"owner": "\x00"}, {}, None, True, 1, 10)
    with pytest.raises(ValidationError):
        await store.search(query)


async def test_text_without_nul_is_stored_exactly_on_every_backend(store: Store) -> None:
    odd = "\\u0000 is not NUL; 🦄 \u202e\u200b \U0010ffff é"  # a literal backslash-u0000
    await store.commit(WriteSet([_insert("odd", {"text": odd, odd: odd})]))

    doc = await store.get("notes", "odd")

    assert doc is not None
    assert doc.data == {"text": odd, odd: odd}


def test_the_nul_check_on_encoded_json_has_no_false_positive() -> None:
    assert dump_json({"text": "\\u0000"}) == b'{"text":"\\\\u0000"}'
    with pytest.raises(ValidationError):
        dump_json({"text": "\\\x00"})
