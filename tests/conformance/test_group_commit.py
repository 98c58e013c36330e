"""Units of work that commit at the same time share one transaction, on every backend
(SQLite: the writer thread's group commit; PostgreSQL: the store's group committer), and
each still commits or fails alone: a stale version, a taken id, a lost lease or a
duplicate message id fails (or is dropped from) only its own unit, every other unit of
the batch commits exactly once, and a unit cancelled before its batch starts never
commits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from faaskit.errors import ConcurrencyError, ConflictError, LeaseLostError, ValidationError
from faaskit.store import Store, create_store
from faaskit.store.protocol import (
    AckDelivery,
    AppendEvents,
    InsertDocument,
    Message,
    NewDelivery,
    NewEvent,
    PublishMessage,
    UpdateDocument,
    Write,
    WriteSet,
)

AT = "2026-01-01T00:00:00+00:00"
UNITS = 40


def insert(id: str, data: dict[str, Any] | None = None) -> InsertDocument:
    return InsertDocument("things", id, data or {"id": id}, (), AT)


def update(id: str, data: dict[str, Any], expected: int) -> UpdateDocument:
    return UpdateDocument("things", id, data, (), AT, expected_version=expected)


def publish(id: str, *, deduplicate: bool = True) -> PublishMessage:
    message = Message(id, "topic", {"id": id}, published_at=1.0)
    return PublishMessage(message, [NewDelivery("task:t", 1.0)], deduplicate)


async def together(store: Store, units: list[list[Write]]) -> list[Any]:
    """Commit ``units`` at once (each its own unit of work): their outcomes or errors."""
    return await asyncio.gather(
        *(store.commit(WriteSet(list(writes))) for writes in units), return_exceptions=True
    )


def transactions(store: Store) -> int | None:
    """Batch transactions the PostgreSQL committer has run (None on SQLite)."""
    committer = getattr(store, "_committer", None)
    return None if committer is None else committer.transactions


async def test_units_committing_at_once_share_a_transaction(store: Store) -> None:
    before = transactions(store)

    outcomes = await together(store, [[insert(f"d{n}")] for n in range(UNITS)])

    assert not [o for o in outcomes if isinstance(o, BaseException)]
    assert len(await store.find("things", {})) == UNITS
    if before is not None:  # the first commits alone, the rest wait and go together
        used = transactions(store)
        assert used is not None and used - before < UNITS // 4


async def test_a_failing_unit_fails_alone_and_every_other_commits_once(store: Store) -> None:
    await store.commit(WriteSet([insert("taken"), insert("versioned", {"v": 0})]))
    units: list[list[Write]] = [[insert(f"d{n}"), publish(f"m{n}")] for n in range(UNITS)]
    units[7] = [insert("d7"), insert("taken")]  # the id is taken: ConflictError
    units[19] = [insert("d19"), update("versioned", {"v": 1}, expected=5)]  # stale
    units[33] = [insert("d33"), AckDelivery(10_000, "nobody")]  # a lease it does not hold

    outcomes = await together(store, units)

    assert isinstance(outcomes[7], ConflictError)
    assert type(outcomes[19]) is ConcurrencyError
    assert isinstance(outcomes[33], LeaseLostError)
    failed = {7, 19, 33}
    assert all(not isinstance(o, BaseException) for n, o in enumerate(outcomes) if n not in failed)
    ids = sorted(d.id for d in await store.find("things", {}))
    expected = [f"d{n}" for n in range(UNITS) if n not in failed] + ["taken", "versioned"]
    assert ids == sorted(expected)  # a failed unit's other writes are not there either
    assert all(d.version == 1 for d in await store.find("things", {}))  # each written once
    versioned = await store.get("things", "versioned")
    assert versioned is not None and versioned.data == {"v": 0}
    published = sorted(m.id for m in await store.messages(limit=1000))
    assert published == sorted(f"m{n}" for n in range(UNITS) if n not in failed)
    assert len(await store.pending(["task:t"])) == UNITS - len(failed)


async def test_the_same_message_id_twice_in_a_batch_is_stored_once(store: Store) -> None:
    units: list[list[Write]] = [[publish(f"m{n}")] for n in range(UNITS)]
    units[5] = [publish("twice")]
    units[25] = [publish("twice"), insert("beside-the-duplicate")]

    outcomes = await together(store, units)

    assert [o.deduplicated for o in outcomes if not isinstance(o, BaseException)].count(1) == 1
    assert outcomes[5].deduplicated + outcomes[25].deduplicated == 1
    assert [m.id for m in await store.messages(limit=1000)].count("twice") == 1
    twice = [p for p in await store.pending(["task:t"]) if p.message.id == "twice"]
    assert len(twice) == 1  # its deliveries dropped with it, the other unit's write kept
    assert await store.get("things", "beside-the-duplicate") is not None


async def test_the_same_message_id_without_deduplication_fails_only_its_unit(
    store: Store,
) -> None:
    await store.commit(WriteSet([publish("old")]))
    units: list[list[Write]] = [[insert(f"d{n}")] for n in range(UNITS)]
    units[3] = [insert("d3"), publish("old", deduplicate=False)]

    outcomes = await together(store, units)

    assert isinstance(outcomes[3], ConflictError)
    assert await store.get("things", "d3") is None
    assert len(await store.find("things", {})) == UNITS - 1


@pytest.fixture
async def postgres_store(postgres_url: str) -> AsyncIterator[Store]:
    """PostgreSQL only: SQLite's writer thread takes a unit as soon as it is queued, and
    its one writer per file makes any lock the whole database's."""
    store = create_store(postgres_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_a_unit_cancelled_before_its_batch_starts_never_commits(
    postgres_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = postgres_store
    committer = store._committer  # type: ignore[attr-defined]
    gate, in_flight = asyncio.Event(), asyncio.Event()
    connect = committer.connect

    @contextlib.asynccontextmanager
    async def held_first() -> AsyncIterator[Any]:
        in_flight.set()
        await gate.wait()  # the first batch holds here, as on a slow lock
        async with connect() as conn:
            yield conn

    monkeypatch.setattr(committer, "connect", held_first)
    first = asyncio.ensure_future(store.commit(WriteSet([insert("first")])))
    await in_flight.wait()
    monkeypatch.setattr(committer, "connect", connect)
    late = asyncio.ensure_future(store.commit(WriteSet([insert("cancelled")])))
    after = asyncio.ensure_future(store.commit(WriteSet([insert("after")])))
    await asyncio.sleep(0)  # both wait for the batch in flight
    late.cancel()
    with pytest.raises(asyncio.CancelledError):
        await late
    gate.set()

    await asyncio.gather(first, after)
    assert await store.get("things", "cancelled") is None
    assert sorted(d.id for d in await store.find("things", {})) == ["after", "first"]


async def test_grouped_units_keep_each_unit_s_own_order(store: Store) -> None:
    """Many disjoint units at once, each changing a unique key (its old key deleted, the
    new one inserted) and appending several events to its own stream: each unit's
    statements run in its order, whatever the grouping across units."""
    emails = [("email", f"old{n}@x.io") for n in range(UNITS)]
    first = [[InsertDocument("people", f"p{n}", {"n": n}, [emails[n]], AT)] for n in range(UNITS)]
    assert not [o for o in await together(store, first) if isinstance(o, BaseException)]

    units: list[list[Write]] = []
    for n in range(UNITS):
        new_key = [("email", f"new{n}@x.io")]
        events = [NewEvent("Noted", {"i": i}) for i in range(3)]
        units.append(
            [
                UpdateDocument("people", f"p{n}", {"n": n, "v": 2}, new_key, AT),
                AppendEvents(f"stream-{n}", events, None, 1.0),
                AppendEvents(f"stream-{n}", [NewEvent("Noted", {"i": 3})], None, 1.0),
            ]
        )
    outcomes = await together(store, units)

    assert not [o for o in outcomes if isinstance(o, BaseException)]
    for n in range(UNITS):
        new = await store.get_by_key("people", ("email", f"new{n}@x.io"))
        assert new is not None and new.id == f"p{n}" and new.data == {"n": n, "v": 2}
        assert await store.get_by_key("people", ("email", f"old{n}@x.io")) is None
        stream = await store.read_stream(f"stream-{n}")
        assert [(e.version, e.data["i"]) for e in stream] == [(1, 0), (2, 1), (3, 2), (4, 3)]


async def test_a_unit_stuck_on_another_process_s_lock_does_not_hold_the_rest_up(
    postgres_store: Store, postgres_url: str
) -> None:
    store = postgres_store
    import psycopg

    holder = await psycopg.AsyncConnection.connect(postgres_url)  # an open transaction
    try:
        await holder.execute(
            "INSERT INTO faaskit_documents (collection, id, data, version, created_at,"
            " updated_at) VALUES ('things', 'held', '{}', 1, 'x', 'x')"
        )
        stuck = asyncio.ensure_future(store.commit(WriteSet([insert("held")])))
        await asyncio.sleep(0.05)  # its transaction waits on the holder's row

        async with asyncio.timeout(10):  # committed beside it, not after it
            await store.commit(WriteSet([insert("beside")]))
        assert not stuck.done()
        assert await store.get("things", "beside") is not None
    finally:
        await holder.rollback()
        await holder.close()
    await stuck
    assert await store.get("things", "held") is not None


async def test_one_worker_s_acks_in_a_batch_fail_only_where_the_lease_was_lost(
    store: Store,
) -> None:
    await store.commit(WriteSet([publish(f"m{n}") for n in range(UNITS)]))
    leased = await store.claim(["task:t"], owner="w", now=2.0, lease=30.0, limit=UNITS)
    assert len(leased) == UNITS
    stolen = leased[11]
    await store.commit(WriteSet([AckDelivery(stolen.seq, "w")]))  # acked already: gone
    units: list[list[Write]] = [
        [insert(f"d{n}"), AckDelivery(delivery.seq, "w")] for n, delivery in enumerate(leased)
    ]

    outcomes = await together(store, units)

    assert isinstance(outcomes[11], LeaseLostError)
    assert all(not isinstance(o, BaseException) for n, o in enumerate(outcomes) if n != 11)
    assert sorted(d.id for d in await store.find("things", {})) == sorted(
        f"d{n}" for n in range(UNITS) if n != 11
    )
    assert await store.pending(["task:t"]) == []


async def test_a_nul_in_one_unit_s_document_fails_only_that_unit(store: Store) -> None:
    """Grouped document inserts (one statement on PostgreSQL) still refuse a NUL, and only
    the unit that wrote it fails."""
    units: list[list[Write]] = [[insert(f"d{n}")] for n in range(UNITS)]
    units[9] = [insert("d9", {"name": "a\x00b"})]

    outcomes = await together(store, units)

    assert isinstance(outcomes[9], ValidationError)
    assert all(not isinstance(o, BaseException) for n, o in enumerate(outcomes) if n != 9)
    assert sorted(d.id for d in await store.find("things", {})) == sorted(
        f"d{n}" for n in range(UNITS) if n != 9
    )


async def test_if_absent_inserts_of_stored_ids_in_a_batch_skip_only_themselves(
    store: Store,
) -> None:
    await store.commit(WriteSet([insert("kept", {"v": "first"})]))
    units: list[list[Write]] = [
        [InsertDocument("things", f"d{n}", {"n": n}, (), AT, if_absent=True)] for n in range(UNITS)
    ]
    units[4] = [
        InsertDocument("things", "kept", {"v": "second"}, (), AT, if_absent=True),
        insert("beside-kept"),
    ]

    outcomes = await together(store, units)

    assert not [o for o in outcomes if isinstance(o, BaseException)]
    kept = await store.get("things", "kept")
    assert kept is not None and kept.data == {"v": "first"}
    assert await store.get("things", "beside-kept") is not None
    assert len(await store.find("things", {})) == UNITS + 1  # d4 gave way to kept and beside-kept


def _traced(store: Store) -> list[str]:
    """The SQL the SQLite writer runs from now on (its connection's trace callback)."""
    traced: list[str] = []
    store._writer._conn.set_trace_callback(traced.append)  # type: ignore[attr-defined]
    return traced


async def test_sqlite_commits_disjoint_units_together_without_a_savepoint_each(
    tmp_path: Path,
) -> None:
    """(A unit of one statement goes alone: SQLite undoes it by itself, and grouping it
    would only add Python.)"""
    store = create_store(f"sqlite:///{tmp_path / 'app.db'}")
    await store.open()
    try:
        traced = _traced(store)
        outcomes = await together(
            store, [[insert(f"d{n}"), publish(f"m{n}")] for n in range(UNITS)]
        )
        assert not [o for o in outcomes if isinstance(o, BaseException)]
        assert "SAVEPOINT together" in traced  # at least one batch went optimistically
        assert "SAVEPOINT unit" not in traced
        assert not [s for s in traced if s.startswith("ROLLBACK")]

        traced.clear()
        units: list[list[Write]] = [[insert(f"e{n}"), publish(f"me{n}")] for n in range(UNITS)]
        units[-1] = [insert("e-last"), insert("d0")]  # taken: the batch is redone unit by unit
        outcomes = await together(store, units)
        assert isinstance(outcomes[-1], ConflictError)
        assert "ROLLBACK TO together" in traced and "SAVEPOINT unit" in traced
        assert len(await store.find("things", {})) == 2 * UNITS - 1  # each once, e-last not
    finally:
        await store.close()
