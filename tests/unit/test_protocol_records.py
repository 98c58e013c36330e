"""The store protocol's slotted records behave as the dataclasses they replace did: the
same positional and keyword construction and defaults, equality by class and fields, a
readable repr, pattern matching by position; :class:`Document` stays frozen."""

from __future__ import annotations

import pytest

from faaskit.store.protocol import (
    AppendEvents,
    CommitOutcome,
    Document,
    InsertDocument,
    Message,
    NewDelivery,
    NewEvent,
    PublishMessage,
    RecordedEvent,
    UpdateDocument,
    WriteSet,
)


def test_fields_take_positions_keywords_and_defaults() -> None:
    message = Message("m-1", "orders.placed", {"n": 1}, correlation_id="c")
    assert (message.key, message.headers, message.causation_id) == (None, {}, None)
    assert (message.published_at, message.expires_at) == (0.0, None)
    assert Message("m-2", "t", {}).headers is not Message("m-3", "t", {}).headers
    insert = InsertDocument("users", "u1", {"a": 1}, [], "now", if_absent=True)
    assert (insert.conflict_message, insert.search, insert.if_absent) == (None, None, True)
    update = UpdateDocument(collection="c", id="i", data={}, keys=(), at="t", expected_version=2)
    assert (update.expected_version, update.conflict_message, update.search) == (2, None, None)
    assert NewDelivery("sub:x", 1.0).ordered is False
    assert PublishMessage(message, []).deduplicate is False
    assert NewEvent("Placed", {"a": 1}).metadata == {}
    outcome = CommitOutcome()
    assert (outcome.deliveries, outcome.deduplicated, outcome.claimed) == (0, 0, [])
    assert CommitOutcome().claimed is not outcome.claimed
    assert WriteSet().writes == [] and WriteSet().claim is None and not WriteSet()


def test_records_compare_by_class_and_fields() -> None:
    event = NewEvent("Placed", {"a": 1}, {"v": 1})
    assert event == NewEvent("Placed", {"a": 1}, {"v": 1})
    assert event != NewEvent("Placed", {"a": 2}, {"v": 1})
    assert event != ("Placed", {"a": 1}, {"v": 1})
    append = AppendEvents("s", [event], 0, 1.0)
    assert append == AppendEvents("s", [NewEvent("Placed", {"a": 1}, {"v": 1})], 0, 1.0)
    recorded = RecordedEvent(1, "s", 1, "Placed", {}, {}, 2.0)
    assert recorded == RecordedEvent(1, "s", 1, "Placed", {}, {}, 2.0)
    assert hash(NewDelivery("sub:x", 1.0)) == hash(NewDelivery("sub:x", 1.0))
    with pytest.raises(TypeError):
        hash(WriteSet())  # appended to: not hashable


def test_repr_names_every_field() -> None:
    assert (
        repr(NewEvent("Placed", {"a": 1})) == "NewEvent(type='Placed', data={'a': 1}, metadata={})"
    )
    assert repr(CommitOutcome(deliveries=2)) == (
        "CommitOutcome(deliveries=2, deduplicated=0, claimed=[])"
    )


def test_records_match_by_position() -> None:
    match RecordedEvent(7, "order-1", 3, "Placed", {"a": 1}, {}, 0.0):
        case RecordedEvent(position, stream, version):
            assert (position, stream, version) == (7, "order-1", 3)
        case _:
            pytest.fail("no match")


def test_a_document_is_frozen() -> None:
    document = Document("users", "u1", {"a": 1}, 1, "c", "u")
    with pytest.raises(AttributeError):
        document.version = 2
    assert document == Document("users", "u1", {"a": 1}, 1, "c", "u")
    assert "version=1" in repr(document)
