"""``InsertDocument(if_absent=True)`` on every backend: an id already stored is left as it
is and the rest of the unit commits (``ON CONFLICT DO NOTHING``); a new id inserts as
usual; a unique key another document holds still fails the whole unit; two racing units
inserting one id both commit and one document results."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from faaskit.documents import CollectionSpec
from faaskit.errors import ConflictError
from faaskit.store import Store
from faaskit.store.protocol import InsertDocument, SearchQuery, Write, WriteSet

USERS = CollectionSpec("users", unique=("email",), casefold=frozenset({"email"}))
T0 = "2026-01-01T00:00:00+00:00"
T1 = "2026-01-01T00:00:01+00:00"


def insert(
    id: str,
    data: Mapping[str, Any],
    *,
    at: str = T0,
    if_absent: bool = False,
    search: tuple[str, ...] | None = None,
) -> InsertDocument:
    keys = USERS.keys(data)
    return InsertDocument("users", id, dict(data), keys, at, None, search, if_absent)


async def commit(store: Store, *writes: Write) -> int:
    """Commit ``writes`` as one unit; how many messages it counted as deduplicated."""
    return (await store.commit(WriteSet(list(writes)))).deduplicated


async def test_an_absent_id_is_inserted_with_its_keys(store: Store) -> None:
    await commit(store, insert("u1", {"email": "Ann@x.io"}, if_absent=True))

    doc = await store.get("users", "u1")
    assert doc is not None and (doc.data, doc.version) == ({"email": "Ann@x.io"}, 1)
    by_key = await store.get_by_key("users", ("email", "ann@x.io"))
    assert by_key is not None and by_key.id == "u1"


async def test_an_existing_id_is_left_as_it_is_and_the_rest_of_the_unit_commits(
    store: Store,
) -> None:
    await commit(store, insert("u1", {"email": "ann@x.io", "name": "first"}))

    deduplicated = await commit(
        store,
        insert("u1", {"email": "bob@x.io", "name": "second"}, at=T1, if_absent=True),
        insert("u2", {"email": "cat@x.io"}, at=T1),
    )

    kept = await store.get("users", "u1")
    assert kept is not None
    assert (kept.data, kept.version, kept.updated_at) == (
        {"email": "ann@x.io", "name": "first"},
        1,
        kept.created_at,
    )
    assert await store.get("users", "u2") is not None
    assert deduplicated == 0  # a dropped insert is not a deduplicated message
    # the stored document keeps its key; the dropped insert's key was never taken
    holder = await store.get_by_key("users", ("email", "ann@x.io"))
    assert holder is not None and holder.id == "u1"
    assert await store.get_by_key("users", ("email", "bob@x.io")) is None
    await commit(store, insert("u3", {"email": "bob@x.io"}))


async def test_a_new_id_whose_unique_key_is_taken_still_fails_the_whole_unit(
    store: Store,
) -> None:
    await commit(store, insert("u1", {"email": "ann@x.io"}))

    with pytest.raises(ConflictError):
        await commit(
            store,
            insert("u9", {"email": "other@x.io"}),
            insert("u2", {"email": "ANN@x.io"}, if_absent=True),
        )

    assert await store.get("users", "u2") is None
    assert await store.get("users", "u9") is None  # the unit failed as a whole


async def test_a_dropped_insert_leaves_the_stored_documents_search_text(store: Store) -> None:
    await commit(store, insert("u1", {"email": "ann@x.io"}, search=("apple",)))

    await commit(
        store,
        insert("u1", {"email": "ann@x.io"}, if_absent=True, search=("banana",)),
        insert("u2", {"email": "bob@x.io"}, if_absent=True, search=("cherry",)),
    )

    async def found(word: str) -> list[str]:
        query = SearchQuery("users", ("text",), (word,), {}, {}, None, True, 1, 10)
        return [hit.document.id for hit in (await store.search(query)).items]

    assert await found("apple") == ["u1"]
    assert await found("banana") == []
    assert await found("cherry") == ["u2"]


async def test_two_racing_units_inserting_one_id_both_commit_and_one_document_results(
    store: Store,
) -> None:
    for round in range(5):
        id = f"race-{round}"
        racers = [
            commit(
                store,
                insert(id, {"by": who}, if_absent=True),
                insert(f"{id}-{who}", {"by": who}),
            )
            for who in ("a", "b")
        ]
        await asyncio.gather(*racers)  # neither raises

        doc = await store.get("users", id)
        assert doc is not None and doc.version == 1 and doc.data["by"] in ("a", "b")
        for who in ("a", "b"):
            assert await store.get("users", f"{id}-{who}") is not None
