"""``WriteSet.claim`` on every backend: a commit leases, in its own transaction, what it
publishes for the committing worker — due now, to one of its targets, head of its key,
at most its limit — and nothing else; what it leases no other claim finds until the
lease runs out, and it is acknowledged like any claimed delivery. A unit that fails
leases nothing."""

from __future__ import annotations

import pytest

from faaskit.errors import ConflictError
from faaskit.store import Store
from faaskit.store.protocol import (
    AckDelivery,
    ClaimWritten,
    InsertDocument,
    Message,
    NewDelivery,
    PublishMessage,
    Write,
    WriteSet,
)

NOW = 1_000.0
OWNER = "worker-a"


def publish(
    id: str,
    *targets: str,
    at: float = NOW,
    key: str | None = None,
    ordered: bool = False,
    deduplicate: bool = False,
) -> PublishMessage:
    message = Message(id, "topic", {"n": id}, key=key, published_at=NOW)
    deliveries = [NewDelivery(target, at, ordered) for target in targets]
    return PublishMessage(message, deliveries, deduplicate)


def claiming(
    *writes: Write, targets: tuple[str, ...] = ("task:next",), limit: int = 1, lease: float = 30.0
) -> WriteSet:
    claim = ClaimWritten(OWNER, frozenset(targets), limit, lease, now=NOW)
    return WriteSet(list(writes), claim)


async def test_a_commit_leases_the_delivery_it_writes_for_its_worker(store: Store) -> None:
    outcome = await store.commit(claiming(publish("m1", "task:next")))

    assert [(d.message.id, d.target, d.attempt, d.lease_owner) for d in outcome.claimed] == [
        ("m1", "task:next", 1, OWNER)
    ]
    assert outcome.claimed[0].message.data == {"n": "m1"}
    # leased: no other worker claims it while the lease holds, and it is not announced
    assert not outcome.announced
    assert await store.claim(["task:next"], owner="b", now=NOW + 1, lease=30, limit=10) == []
    pending = await store.pending(["task:next"])
    assert [(p.message.id, p.leased, p.attempts) for p in pending] == [("m1", True, 1)]


async def test_a_leased_delivery_is_acknowledged_like_any_claimed_one(store: Store) -> None:
    claimed = (await store.commit(claiming(publish("m1", "task:next")))).claimed[0]

    await store.commit(WriteSet([AckDelivery(claimed.seq, claimed.lease_owner)]))

    assert await store.pending(["task:next"]) == []


async def test_its_lease_runs_out_like_any_other(store: Store) -> None:
    await store.commit(claiming(publish("m1", "task:next"), lease=5))

    again = await store.claim(["task:next"], owner="b", now=NOW + 6, lease=30, limit=10)

    assert [(d.message.id, d.attempt, d.lease_owner) for d in again] == [("m1", 2, "b")]


async def test_only_due_deliveries_to_its_targets_within_its_limit(store: Store) -> None:
    outcome = await store.commit(
        claiming(
            publish("later", "task:next", at=NOW + 1),
            publish("elsewhere", "task:other"),
            publish("fan", "task:next", "task:also", "task:third"),
            publish("over", "task:next"),
            targets=("task:next", "task:also"),
            limit=2,
        )
    )

    assert sorted((d.message.id, d.target) for d in outcome.claimed) == [
        ("fan", "task:also"),
        ("fan", "task:next"),
    ]
    assert outcome.deliveries == 6 and outcome.announced  # the rest wait for a claim
    left = await store.claim(
        ["task:next", "task:also", "task:other", "task:third"],
        owner="b",
        now=NOW,
        lease=30,
        limit=10,
    )
    assert sorted((d.message.id, d.target) for d in left) == [
        ("elsewhere", "task:other"),
        ("fan", "task:third"),
        ("over", "task:next"),
    ]


async def test_an_ordered_delivery_behind_an_earlier_one_of_its_key_is_not_leased(
    store: Store,
) -> None:
    await store.commit(WriteSet([publish("first", "sub:ordered", key="k", ordered=True)]))

    outcome = await store.commit(
        claiming(
            publish("second", "sub:ordered", key="k", ordered=True),
            publish("other-key", "sub:ordered", key="j", ordered=True),
            targets=("sub:ordered",),
            limit=5,
        )
    )

    assert [d.message.id for d in outcome.claimed] == ["other-key"]


async def test_a_failed_unit_leases_nothing(store: Store) -> None:
    await store.commit(WriteSet([InsertDocument("c", "d1", {}, (), "2026-01-01", None)]))

    with pytest.raises(ConflictError):
        await store.commit(
            claiming(
                publish("m1", "task:next"),
                InsertDocument("c", "d1", {}, (), "2026-01-01", None),
            )
        )

    assert await store.pending(["task:next"]) == []
    other = await store.commit(claiming(publish("m2", "task:next")))
    assert [d.message.id for d in other.claimed] == ["m2"]


async def test_without_a_claim_nothing_is_leased(store: Store) -> None:
    outcome = await store.commit(WriteSet([publish("m1", "task:next")]))

    assert outcome.claimed == [] and outcome.announced
    claimed = await store.claim(["task:next"], owner="b", now=NOW, lease=30, limit=10)
    assert [d.message.id for d in claimed] == ["m1"]
