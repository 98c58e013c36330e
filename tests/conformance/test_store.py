"""The store protocol, proved on every backend (``backend_url``: SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from faaskit.documents import CollectionSpec
from faaskit.errors import ConcurrencyError, ConflictError, NotFoundError
from faaskit.store import Store, create_store
from faaskit.store.protocol import DeleteDocument, InsertDocument, UpdateDocument, Write, WriteSet

USERS = CollectionSpec("users", unique=("email",), casefold=frozenset({"email"}))
T0 = "2026-01-01T00:00:00+00:00"
T1 = "2026-01-01T00:00:01+00:00"
T2 = "2026-01-01T00:00:02+00:00"


def insert(
    id: str,
    data: Mapping[str, Any],
    *,
    spec: CollectionSpec = USERS,
    at: str = T0,
    conflict: str | None = None,
) -> InsertDocument:
    return InsertDocument(spec.name, id, dict(data), spec.keys(data), at, conflict)


def update(
    id: str,
    data: Mapping[str, Any],
    *,
    spec: CollectionSpec = USERS,
    at: str = T1,
    expected_version: int | None = None,
) -> UpdateDocument:
    return UpdateDocument(spec.name, id, dict(data), spec.keys(data), at, expected_version)


async def commit(store: Store, *writes: Write) -> None:
    await store.commit(WriteSet(list(writes)))


# --- get and insert-if-absent ------------------------------------------------------------


async def test_inserted_document_is_returned_by_get_with_version_one(store: Store) -> None:
    await commit(store, insert("u1", {"email": "Ann@Example.com", "age": 31, "tags": ["a"]}))

    doc = await store.get("users", "u1")

    assert doc is not None
    assert (doc.collection, doc.id, doc.version) == ("users", "u1", 1)
    assert doc.data == {"email": "Ann@Example.com", "age": 31, "tags": ["a"]}
    assert (doc.created_at, doc.updated_at) == (T0, T0)


async def test_get_of_missing_document_returns_none(store: Store) -> None:
    assert await store.get("users", "nobody") is None


async def test_same_id_in_two_collections_are_two_documents(store: Store) -> None:
    other = CollectionSpec("teams")
    await commit(store, insert("x", {"kind": "user"}), insert("x", {"kind": "team"}, spec=other))

    user, team = await store.get("users", "x"), await store.get("teams", "x")

    assert user is not None and user.data == {"kind": "user"}
    assert team is not None and team.data == {"kind": "team"}


async def test_insert_of_existing_id_raises_conflict_and_keeps_the_first(store: Store) -> None:
    await commit(store, insert("u1", {"name": "first"}))

    with pytest.raises(ConflictError, match="taken"):
        await commit(store, insert("u1", {"name": "second"}, conflict="taken"))

    doc = await store.get("users", "u1")
    assert doc is not None and doc.data == {"name": "first"}


async def test_empty_write_set_commits_nothing(store: Store) -> None:
    await store.commit(WriteSet())

    assert await store.find("users", {}) == []


async def test_committed_documents_survive_reopening_the_store(backend_url: str) -> None:
    first = create_store(backend_url)
    await first.open()
    await first.open()  # idempotent
    await commit(first, insert("u1", {"email": "ann@example.com"}))
    await first.close()

    second = create_store(backend_url)
    await second.open()
    try:
        doc = await second.get("users", "u1")
    finally:
        await second.close()
    assert doc is not None and doc.data == {"email": "ann@example.com"}


async def test_reset_deletes_documents_and_frees_keys(store: Store) -> None:
    await commit(store, insert("u1", {"email": "ann@example.com"}))

    await store.reset()

    assert await store.get("users", "u1") is None
    await commit(store, insert("u2", {"email": "ann@example.com"}))


# --- update and delete ---------------------------------------------------------------------


async def test_update_replaces_data_and_bumps_version(store: Store) -> None:
    await commit(store, insert("u1", {"email": "ann@example.com", "name": "Ann"}))

    await commit(store, update("u1", {"email": "ann@example.com", "name": "Anna"}, at=T1))
    await commit(store, update("u1", {"email": "ann@example.com"}, at=T2))

    doc = await store.get("users", "u1")
    assert doc is not None
    assert doc.data == {"email": "ann@example.com"}
    assert (doc.version, doc.created_at, doc.updated_at) == (3, T0, T2)


async def test_update_with_current_expected_version_succeeds(store: Store) -> None:
    await commit(store, insert("u1", {"n": 1}))

    await commit(store, update("u1", {"n": 2}, expected_version=1))
    await commit(store, update("u1", {"n": 3}, expected_version=2))

    doc = await store.get("users", "u1")
    assert doc is not None and (doc.version, doc.data) == (3, {"n": 3})


async def test_update_with_stale_expected_version_raises_concurrency_error(store: Store) -> None:
    await commit(store, insert("u1", {"n": 1}))
    await commit(store, update("u1", {"n": 2}, expected_version=1))

    with pytest.raises(ConcurrencyError):
        await commit(store, update("u1", {"n": 99}, expected_version=1))

    doc = await store.get("users", "u1")
    assert doc is not None and (doc.version, doc.data) == (2, {"n": 2})


@pytest.mark.parametrize("expected_version", [None, 1], ids=["unversioned", "versioned"])
async def test_update_of_missing_document_raises_not_found(
    store: Store, expected_version: int | None
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await commit(store, update("ghost", {"n": 1}, expected_version=expected_version))

    assert not isinstance(caught.value, ConcurrencyError)
    assert await store.get("users", "ghost") is None


async def test_delete_removes_the_document(store: Store) -> None:
    await commit(store, insert("u1", {"n": 1}), insert("u2", {"n": 2}))

    await commit(store, DeleteDocument("users", "u1"))

    assert await store.get("users", "u1") is None
    assert await store.get("users", "u2") is not None


@pytest.mark.parametrize("expected_version", [None, 1], ids=["unversioned", "versioned"])
async def test_delete_of_missing_document_raises_not_found(
    store: Store, expected_version: int | None
) -> None:
    with pytest.raises(NotFoundError):
        await commit(store, DeleteDocument("users", "ghost", expected_version))


async def test_delete_with_stale_expected_version_raises_concurrency_error(store: Store) -> None:
    await commit(store, insert("u1", {"n": 1}))
    await commit(store, update("u1", {"n": 2}))

    with pytest.raises(ConcurrencyError):
        await commit(store, DeleteDocument("users", "u1", expected_version=1))
    await commit(store, DeleteDocument("users", "u1", expected_version=2))

    assert await store.get("users", "u1") is None


# --- unique keys ---------------------------------------------------------------------------


async def test_unique_value_is_refused_for_a_second_document(store: Store) -> None:
    await commit(store, insert("u1", {"email": "ann@example.com"}))

    with pytest.raises(ConflictError, match="User already exists"):
        await commit(
            store, insert("u2", {"email": "ann@example.com"}, conflict="User already exists")
        )

    assert await store.get("users", "u2") is None


async def test_casefolded_unique_value_is_refused_in_another_case(store: Store) -> None:
    await commit(store, insert("u1", {"email": "Ann@Example.COM"}))

    with pytest.raises(ConflictError):
        await commit(store, insert("u2", {"email": "aNN@example.com"}))

    holder = await store.get_by_key("users", USERS.key("email", "ANN@EXAMPLE.com"))
    assert holder is not None
    assert (holder.id, holder.data["email"]) == ("u1", "Ann@Example.COM")


async def test_unique_value_without_casefold_is_case_sensitive(store: Store) -> None:
    handles = CollectionSpec("handles", unique=("handle",))
    await commit(store, insert("h1", {"handle": "Ann"}, spec=handles))

    await commit(store, insert("h2", {"handle": "ann"}, spec=handles))

    holder = await store.get_by_key("handles", handles.key("handle", "ann"))
    assert holder is not None and holder.id == "h2"


async def test_get_by_key_of_unknown_value_returns_none(store: Store) -> None:
    await commit(store, insert("u1", {"email": "ann@example.com"}))

    assert await store.get_by_key("users", ("email", "bob@example.com")) is None
    assert await store.get_by_key("teams", ("email", "ann@example.com")) is None


async def test_unique_values_are_per_collection(store: Store) -> None:
    admins = CollectionSpec("admins", unique=("email",), casefold=frozenset({"email"}))

    await commit(
        store,
        insert("u1", {"email": "ann@example.com"}),
        insert("a1", {"email": "ann@example.com"}, spec=admins),
    )

    assert await store.get("admins", "a1") is not None


async def test_unique_value_is_freed_by_delete(store: Store) -> None:
    await commit(store, insert("u1", {"email": "ann@example.com"}))
    await commit(store, DeleteDocument("users", "u1"))

    await commit(store, insert("u2", {"email": "ANN@example.com"}))

    holder = await store.get_by_key("users", ("email", "ann@example.com"))
    assert holder is not None and holder.id == "u2"


async def test_update_that_changes_a_unique_value_frees_the_old_one(store: Store) -> None:
    await commit(store, insert("u1", {"email": "old@example.com"}))

    await commit(store, update("u1", {"email": "new@example.com"}))
    await commit(store, insert("u2", {"email": "old@example.com"}))

    with pytest.raises(ConflictError):
        await commit(store, insert("u3", {"email": "NEW@example.com"}))
    holder = await store.get_by_key("users", ("email", "new@example.com"))
    assert holder is not None and holder.id == "u1"


async def test_update_that_keeps_its_unique_value_succeeds(store: Store) -> None:
    await commit(store, insert("u1", {"email": "ann@example.com", "name": "Ann"}))

    await commit(store, update("u1", {"email": "Ann@example.com", "name": "Anna"}))

    holder = await store.get_by_key("users", ("email", "ann@example.com"))
    assert holder is not None and holder.data["name"] == "Anna"


async def test_update_to_a_taken_unique_value_raises_conflict_and_changes_nothing(
    store: Store,
) -> None:
    await commit(
        store,
        insert("u1", {"email": "ann@example.com"}),
        insert("u2", {"email": "bob@example.com"}),
    )

    with pytest.raises(ConflictError):
        await commit(store, update("u2", {"email": "ANN@example.com"}))

    doc = await store.get("users", "u2")
    assert doc is not None and (doc.version, doc.data) == (1, {"email": "bob@example.com"})
    holder = await store.get_by_key("users", ("email", "bob@example.com"))
    assert holder is not None and holder.id == "u2"


async def test_document_without_the_unique_field_takes_no_key(store: Store) -> None:
    await commit(store, insert("u1", {"name": "no email"}), insert("u2", {"email": None}))

    await commit(store, insert("u3", {"name": "no email either"}))

    assert len(await store.find("users", {})) == 3


# --- find ----------------------------------------------------------------------------------


async def _people(store: Store) -> None:
    people = CollectionSpec("people")
    await commit(
        store,
        insert("p1", {"name": "ann", "age": 30, "active": True, "team": "red"}, spec=people, at=T0),
        insert("p2", {"name": "bob", "age": 40, "active": False, "team": None}, spec=people, at=T1),
        insert("p3", {"name": "cat", "age": 30, "active": True}, spec=people, at=T2),
        insert("x1", {"name": "ann", "age": 30, "active": True}, spec=CollectionSpec("other")),
    )


async def _ids(store: Store, equals: Mapping[str, Any], limit: int | None = None) -> list[str]:
    return [doc.id for doc in await store.find("people", equals, limit=limit)]


@pytest.mark.parametrize(
    ("equals", "expected"),
    [
        ({}, ["p1", "p2", "p3"]),
        ({"name": "ann"}, ["p1"]),
        ({"age": 30}, ["p1", "p3"]),
        ({"age": 30.0}, ["p1", "p3"]),
        ({"active": True}, ["p1", "p3"]),
        ({"active": False}, ["p2"]),
        ({"team": None}, ["p2", "p3"]),
        ({"team": "red", "age": 30}, ["p1"]),
        ({"age": 30, "active": True, "name": "cat"}, ["p3"]),
        ({"name": "nobody"}, []),
        ({"missing_field": None}, ["p1", "p2", "p3"]),
    ],
    ids=[
        "all",
        "str",
        "int",
        "float-equals-int",
        "bool-true",
        "bool-false",
        "none-matches-missing",
        "two-fields",
        "three-fields",
        "no-match",
        "absent-field-is-none",
    ],
)
async def test_find_matches_top_level_fields_by_equality(
    store: Store, equals: dict[str, Any], expected: list[str]
) -> None:
    await _people(store)

    assert await _ids(store, equals) == expected


async def test_find_compares_json_types_exactly(store: Store) -> None:
    flags = CollectionSpec("flags")
    await commit(
        store,
        insert("bool", {"v": True}, spec=flags),
        insert("int", {"v": 1}, spec=flags),
        insert("str", {"v": "1"}, spec=flags),
        insert("zero", {"v": 0}, spec=flags),
        insert("false", {"v": False}, spec=flags),
    )

    async def ids(value: Any) -> list[str]:
        return [doc.id for doc in await store.find("flags", {"v": value})]

    assert await ids(True) == ["bool"]
    assert await ids(1) == ["int"]
    assert await ids("1") == ["str"]
    assert await ids(False) == ["false"]
    assert await ids(0) == ["zero"]


async def test_find_limit_returns_the_oldest_matches(store: Store) -> None:
    await _people(store)

    assert await _ids(store, {}, limit=2) == ["p1", "p2"]
    assert await _ids(store, {"age": 30}, limit=1) == ["p1"]


async def test_find_orders_by_creation_time_then_id(store: Store) -> None:
    logs = CollectionSpec("logs")
    await commit(
        store,
        insert("c", {"n": 1}, spec=logs, at=T2),
        insert("b", {"n": 1}, spec=logs, at=T0),
        insert("a", {"n": 1}, spec=logs, at=T1),
        insert("d", {"n": 1}, spec=logs, at=T0),
    )
    await commit(store, update("b", {"n": 1}, spec=logs, at=T2))  # updates keep their place

    assert [doc.id for doc in await store.find("logs", {"n": 1})] == ["b", "d", "a", "c"]


# --- atomicity and concurrency -------------------------------------------------------------


async def test_write_set_that_fails_halfway_leaves_nothing(store: Store) -> None:
    await commit(
        store,
        insert("u0", {"email": "taken@example.com"}),
        insert("u8", {"n": 8}),
        insert("u9", {"n": 9}),
    )

    with pytest.raises(ConflictError):
        await commit(
            store,
            insert("u1", {"email": "ann@example.com"}),
            update("u9", {"n": 10}),
            DeleteDocument("users", "u8"),
            insert("u2", {"email": "taken@example.com"}),
            insert("u3", {"email": "cat@example.com"}),
        )

    assert await store.get("users", "u1") is None
    assert await store.get("users", "u3") is None
    assert await store.get("users", "u8") is not None
    u9 = await store.get("users", "u9")
    assert u9 is not None and (u9.version, u9.data) == (1, {"n": 9})
    # and every key it took was given back
    await commit(store, insert("u4", {"email": "ann@example.com"}))


async def test_write_set_failing_on_a_missing_document_leaves_nothing(store: Store) -> None:
    await commit(store, insert("u1", {"n": 1}))

    with pytest.raises(NotFoundError):
        await commit(store, update("u1", {"n": 2}), DeleteDocument("users", "ghost"))

    doc = await store.get("users", "u1")
    assert doc is not None and doc.data == {"n": 1}


async def test_failed_write_set_does_not_undo_concurrent_good_ones(store: Store) -> None:
    await commit(store, insert("u0", {"email": "taken@example.com"}))
    good = [commit(store, insert(f"g{i}", {"email": f"g{i}@example.com"})) for i in range(10)]
    bad = [
        commit(
            store,
            insert(f"b{i}", {"email": f"b{i}@example.com"}),
            insert(f"c{i}", {"email": "taken@example.com"}),
        )
        for i in range(10)
    ]

    outcomes = await asyncio.gather(*good, *bad, return_exceptions=True)

    assert outcomes[:10] == [None] * 10
    assert all(isinstance(outcome, ConflictError) for outcome in outcomes[10:])
    ids = sorted(doc.id for doc in await store.find("users", {}))
    assert ids == sorted(["u0", *(f"g{i}" for i in range(10))])


async def test_concurrent_commits_of_one_unique_email_have_exactly_one_winner(
    store: Store,
) -> None:
    attempts = [
        commit(store, insert(f"u{i}", {"email": f"{'ANN' if i % 2 else 'ann'}@example.com"}))
        for i in range(20)
    ]

    outcomes = await asyncio.gather(*attempts, return_exceptions=True)

    winners = [i for i, outcome in enumerate(outcomes) if outcome is None]
    assert len(winners) == 1
    assert all(isinstance(o, ConflictError) for o in outcomes if o is not None)
    assert [doc.id for doc in await store.find("users", {})] == [f"u{winners[0]}"]


async def test_concurrent_versioned_updates_have_exactly_one_winner(store: Store) -> None:
    await commit(store, insert("u1", {"n": 0}))

    outcomes = await asyncio.gather(
        *(commit(store, update("u1", {"n": i}, expected_version=1)) for i in range(1, 11)),
        return_exceptions=True,
    )

    assert outcomes.count(None) == 1
    assert all(isinstance(o, ConcurrencyError) for o in outcomes if o is not None)
    doc = await store.get("users", "u1")
    assert doc is not None and doc.version == 2


_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from faaskit.errors import ConflictError
    from faaskit.store import create_store
    from faaskit.store.protocol import InsertDocument, WriteSet

    async def main(url: str, name: str, count: int) -> None:
        store = create_store(url)
        await store.open()
        try:
            for i in range(count):
                doc = InsertDocument("items", f"{name}-{i}", {"by": name}, [], f"t{i:04}")
                await store.commit(WriteSet([doc]))
            claim = InsertDocument(
                "claims", name, {"email": "x@example.com"}, [("email", "x@example.com")], "t"
            )
            try:
                await store.commit(WriteSet([claim]))
                print("won")
            except ConflictError:
                print("lost")
        finally:
            await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


def test_sqlite_file_is_shared_safely_by_two_processes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    count = 200

    processes = [
        subprocess.Popen(
            [sys.executable, str(script), url, name, str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    results = [process.communicate(timeout=60) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], results
    assert sorted(out.strip() for out, _ in results) == ["lost", "won"]

    async def count_items() -> tuple[int, int]:
        store = create_store(url)
        await store.open()
        try:
            by_a = await store.find("items", {"by": "a"})
            by_b = await store.find("items", {"by": "b"})
            return len(by_a), len(by_b)
        finally:
            await store.close()

    assert asyncio.run(count_items()) == (count, count)
