"""A unit's messages published with new ids go to the store in a few multi-row statements
(one insert of messages and one of deliveries per chunk), on every backend: every message
and every delivery is written once, in publish order (ordered keys are delivered in that
order), a deduplicated publish between them keeps its place and is still dropped exactly,
and one id already stored fails the whole unit."""

from __future__ import annotations

from typing import Any

import pytest

from faaskit.errors import ConflictError
from faaskit.store import Store
from faaskit.store.protocol import (
    AckDelivery,
    InsertDocument,
    Message,
    NewDelivery,
    PublishMessage,
    Write,
    WriteSet,
)
from faaskit.store.statements import MESSAGES_PER_STATEMENT, compile_write_set

MANY = MESSAGES_PER_STATEMENT * 2 + 7
"""Enough messages for two full chunks and a partial one."""


def publish(
    id: str, *, key: str | None = None, deduplicate: bool = False, fan_out: int = 2
) -> PublishMessage:
    message = Message(id, "topic", {"id": id}, key=key, published_at=1.0)
    deliveries = [NewDelivery(f"task:t{n}", 1.0, ordered=key is not None) for n in range(fan_out)]
    return PublishMessage(message, deliveries, deduplicate)


def compiled(writes: list[Write]) -> list[Any]:
    return compile_write_set(WriteSet(writes), json_param=bytes.decode, index=lambda *_: [])


def test_many_new_messages_compile_to_a_few_statements() -> None:
    statements = compiled([publish(f"m{n}") for n in range(MANY)])

    # per chunk of messages, one insert of the messages and the deliveries in chunks too
    assert len(statements) <= 3 + 6
    assert sum(s.deliveries for s in statements) == MANY * 2
    assert sum(s.rows for s in statements if s.deliveries == 0) == MANY


async def test_a_unit_s_many_messages_are_each_stored_once_with_their_deliveries(
    store: Store,
) -> None:
    outcome = await store.commit(WriteSet([publish(f"m{n}") for n in range(MANY)]))

    assert outcome.deliveries == MANY * 2
    stored = sorted(m.id for m in await store.messages(limit=10_000))
    assert stored == sorted(f"m{n}" for n in range(MANY))
    pending = await store.pending(["task:t0", "task:t1"])
    assert sorted((p.target, p.message.id) for p in pending) == sorted(
        (f"task:t{t}", f"m{n}") for n in range(MANY) for t in range(2)
    )


async def test_ordered_messages_of_a_key_are_claimed_in_publish_order(store: Store) -> None:
    writes: list[Write] = [publish(f"m{n:04}", key=f"k{n % 3}", fan_out=1) for n in range(MANY)]
    writes.insert(100, publish("dedup-in-between", key="k1", deduplicate=True, fan_out=1))
    await store.commit(WriteSet(writes))

    seen: dict[str, list[str]] = {}
    while True:
        leased = await store.claim(["task:t0"], owner="w", limit=64, lease=30.0, now=2.0)
        if not leased:
            break
        for delivery in leased:
            seen.setdefault(delivery.message.key or "", []).append(delivery.message.id)
        await store.commit(WriteSet([AckDelivery(d.seq, "w") for d in leased]))

    expected: dict[str, list[str]] = {}
    for write in writes:
        assert isinstance(write, PublishMessage)
        expected.setdefault(write.message.key or "", []).append(write.message.id)
    assert seen == expected


async def test_a_deduplicated_publish_among_new_ones_is_dropped_exactly(store: Store) -> None:
    await store.commit(WriteSet([publish("old", deduplicate=True)]))
    writes: list[Write] = [publish(f"a{n}") for n in range(10)]
    writes += [publish("old", deduplicate=True)] + [publish(f"b{n}") for n in range(10)]

    outcome = await store.commit(WriteSet(writes))

    assert outcome.deduplicated == 1
    ids = [m.id for m in await store.messages(limit=100)]
    assert ids.count("old") == 1 and len(ids) == 21
    old = [p for p in await store.pending(["task:t0", "task:t1"]) if p.message.id == "old"]
    assert len(old) == 2  # the first publish's deliveries, none added


@pytest.mark.parametrize("where", [0, 150, MANY - 1])
async def test_one_id_already_stored_fails_the_whole_unit(store: Store, where: int) -> None:
    await store.commit(WriteSet([publish("taken")]))
    writes: list[Write] = [publish(f"m{n}") for n in range(MANY)]
    writes[where] = publish("taken")
    writes.append(InsertDocument("things", "beside", {}, (), "2026-01-01T00:00:00+00:00"))

    with pytest.raises(ConflictError, match="already exists"):
        await store.commit(WriteSet(writes))

    assert [m.id for m in await store.messages(limit=10_000)] == ["taken"]
    assert len(await store.pending(["task:t0", "task:t1"])) == 2
    assert await store.get("things", "beside") is None


async def test_a_duplicate_with_more_deliveries_than_a_statement_holds_drops_them_all(
    store: Store,
) -> None:
    fan_out = MESSAGES_PER_STATEMENT + 44
    targets = [f"task:t{n}" for n in range(fan_out)]
    first = await store.commit(WriteSet([publish("wide", deduplicate=True, fan_out=fan_out)]))
    again = await store.commit(WriteSet([publish("wide", deduplicate=True, fan_out=fan_out)]))

    assert (first.deliveries, again.deliveries, again.deduplicated) == (fan_out, 0, 1)
    assert len(await store.pending(targets)) == fan_out
