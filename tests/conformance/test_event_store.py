"""The event store and aggregates, proved on every backend (``backend_url``).

Streams and the global log, optimistic concurrency (in the store, in a handler and over
HTTP), atomicity with the invocation's other writes, upcasting of old event shapes, and
snapshots. Handlers run through the real runtime (:class:`faaskit.testing.AppHarness`);
no test relies on timing: races are forced with a gate, or retried until they settle.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pydantic import BaseModel

from faaskit import App, ConcurrencyError, ConfigurationError, ConflictError, Context
from faaskit.cqrs.aggregate import Aggregate
from faaskit.cqrs.projections import ProjectionRunner, Recorded
from faaskit.store.protocol import AppendEvents, NewEvent, RecordedEvent, WriteSet
from faaskit.testing import AppHarness

T = TypeVar("T")
_invocations = itertools.count(1)

app = App("event_store_tests")
receipts = app.collection("receipts")
items_view = app.collection("items_view")


@app.event_type
class Noted(BaseModel):
    text: str


@app.event_type
class Incremented(BaseModel):
    by: int
    tag: str = ""


@app.event_type(version=2)
class ItemAdded(BaseModel):
    """v1 was ``{"name": str}``; v2 renamed it to ``title`` and added ``quantity``."""

    title: str
    quantity: int


@app.upcaster("ItemAdded", from_version=1)
def item_added_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    return {"title": data["name"], "quantity": 1}


@app.event_type(version=3)
class PriceSet(BaseModel):
    """Stored as v1 and v2 in the past; only the v2 → v3 upcaster exists."""

    cents: int


@app.upcaster("PriceSet", from_version=2)
def price_set_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    return {"cents": round(data["euros"] * 100)}


class Counter(Aggregate):
    stream_prefix = "counter"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.total = 0
        self.tags: list[str] = []

    def when(self, event: Any) -> None:
        if isinstance(event, Incremented):
            self.total += event.by
            self.tags.append(event.tag)

    def increment(self, by: int, tag: str = "") -> None:
        self.emit(Incremented(by=by, tag=tag))


class SnapshottedCounter(Counter):
    stream_prefix = "counter"  # the same stream, read with snapshots
    snapshot_every = 3


class Basket(Aggregate):
    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.lines: list[tuple[str, int]] = []

    def when(self, event: Any) -> None:
        if isinstance(event, ItemAdded):
            self.lines.append((event.title, event.quantity))


@app.projection("items", events=[ItemAdded], collections=[items_view])
async def project_items(event: Recorded[ItemAdded], ctx: Context) -> None:
    ctx.documents(items_view).insert(
        str(event.position), {"title": event.data.title, "quantity": event.data.quantity}
    )


class Gate:
    """Holds the first ``parties`` invocations after they load, until all have loaded."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.all_loaded = asyncio.Event()

    async def pass_(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.all_loaded.set()
        await asyncio.wait_for(self.all_loaded.wait(), timeout=10)


GATE: Gate | None = None


class NotesBody(BaseModel):
    texts: list[str]
    expected_version: int | None = None
    receipt: str | None = None
    fail: bool = False


class IncrementBody(BaseModel):
    by: int = 1
    tag: str = ""


@app.post("/streams/{stream}")
async def append_notes(stream: str, body: NotesBody, ctx: Context) -> dict[str, int]:
    """Append ``texts`` as Noted events; optionally write a receipt document, or fail."""
    ctx.events.append(
        stream, [Noted(text=t) for t in body.texts], expected_version=body.expected_version
    )
    if body.receipt is not None:
        ctx.documents(receipts).insert(body.receipt, {"stream": stream})
    if body.fail:
        raise RuntimeError("the handler failed after appending")
    return {"appended": len(body.texts)}


@app.post("/counters/{counter_id}/increment")
async def increment(counter_id: str, body: IncrementBody, ctx: Context) -> dict[str, int]:
    counters = ctx.aggregates(Counter)
    counter = await counters.load(counter_id) or Counter(counter_id)
    if GATE is not None:
        await GATE.pass_()
    counter.increment(body.by, body.tag)
    counters.save(counter)
    return {"version": counter.version, "total": counter.total}


@pytest.fixture
async def harness(backend_url: str, tmp_path: Path) -> AsyncIterator[AppHarness]:
    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path / "h") as h:
        yield h


async def invoke(h: AppHarness, work: Callable[[Context], Awaitable[T]], name: str = "t") -> T:
    """Run ``work(ctx)`` as one invocation (one unit of work) through the runtime."""
    runtime = h.runtime
    ctx = runtime.context(name, f"{name}-{next(_invocations)}")

    async def handler() -> T:
        return await work(ctx)

    return await runtime.invoke(ctx, handler, {}, lambda result: result)


async def append(
    h: AppHarness, stream: str, texts: list[str], expected_version: int | None = None
) -> None:
    async def work(ctx: Context) -> None:
        ctx.events.append(stream, [Noted(text=t) for t in texts], expected_version=expected_version)

    await invoke(h, work)


async def read(h: AppHarness, stream: str, from_version: int = 1) -> list[tuple[int, str]]:
    events = await h.runtime.store.read_stream(stream, from_version=from_version)
    return [(e.version, e.data["text"]) for e in events]


async def store_append(
    h: AppHarness,
    stream: str,
    type: str,
    data: dict[str, Any],
    *,
    schema_version: int,
    expected_version: int | None = None,
) -> None:
    """Write an event straight through the store, as an older release of the app did."""
    event = NewEvent(type, data, {"schema_version": schema_version})
    write = AppendEvents(stream, [event], expected_version, h.runtime.now())
    await h.runtime.store.commit(WriteSet([write]))


# --- streams and the global log -----------------------------------------------------------


async def test_appended_events_read_back_in_order_with_versions_and_metadata(
    harness: AppHarness,
) -> None:
    await append(harness, "notes-1", ["a", "b"], expected_version=0)
    await append(harness, "notes-1", ["c"], expected_version=2)

    async def read_models(ctx: Context) -> list[tuple[RecordedEvent, Any]]:
        return await ctx.events.read("notes-1")

    events = await invoke(harness, read_models)

    assert [(e.version, model) for e, model in events] == [
        (1, Noted(text="a")),
        (2, Noted(text="b")),
        (3, Noted(text="c")),
    ]
    first = events[0][0]
    assert (first.stream, first.type) == ("notes-1", "Noted")
    assert first.metadata["schema_version"] == 1
    assert first.metadata["correlation_id"] and first.metadata["causation_id"]
    assert first.recorded_at == pytest.approx(harness.runtime.now())
    assert await harness.runtime.store.read_stream("no-such-stream") == []


async def test_reading_from_a_version_returns_that_event_and_the_later_ones(
    harness: AppHarness,
) -> None:
    await append(harness, "notes-1", ["a", "b", "c", "d"], expected_version=0)

    assert await read(harness, "notes-1", from_version=3) == [(3, "c"), (4, "d")]
    assert await read(harness, "notes-1", from_version=5) == []
    limited = await harness.runtime.store.read_stream("notes-1", from_version=2, limit=2)
    assert [e.version for e in limited] == [2, 3]


async def test_global_log_lists_every_stream_in_commit_order_with_increasing_positions(
    harness: AppHarness,
) -> None:
    store = harness.runtime.store
    assert await store.head_position() == 0
    assert await store.read_all() == []
    await append(harness, "s-a", ["a1", "a2"])
    await append(harness, "s-b", ["b1"])
    await append(harness, "s-a", ["a3"])
    await store_append(harness, "s-c", "ItemAdded", {"title": "x", "quantity": 2}, schema_version=2)

    log = await store.read_all()

    assert [(e.stream, e.version) for e in log] == [
        ("s-a", 1),
        ("s-a", 2),
        ("s-b", 1),
        ("s-a", 3),
        ("s-c", 1),
    ]
    positions = [e.position for e in log]
    assert positions == sorted(set(positions))
    assert await store.head_position() == positions[-1]
    tail = await store.read_all(after=positions[1], limit=2)
    assert [e.position for e in tail] == positions[2:4]
    only_items = await store.read_all(types=["ItemAdded"])
    assert [(e.stream, e.type) for e in only_items] == [("s-c", "ItemAdded")]
    assert await store.read_all(after=positions[-1]) == []


# --- optimistic concurrency -----------------------------------------------------------------


async def test_stale_expected_version_raises_concurrency_error_and_writes_nothing(
    harness: AppHarness,
) -> None:
    store = harness.runtime.store
    await append(harness, "notes-1", ["a", "b"], expected_version=0)
    head = await store.head_position()

    with pytest.raises(ConcurrencyError, match="not at version 1"):
        await append(harness, "notes-1", ["late-1", "late-2"], expected_version=1)

    assert await read(harness, "notes-1") == [(1, "a"), (2, "b")]
    assert await store.head_position() == head
    await append(harness, "notes-1", ["c"], expected_version=2)  # the current one works
    assert await read(harness, "notes-1") == [(1, "a"), (2, "b"), (3, "c")]


async def test_expected_version_ahead_of_the_stream_raises_concurrency_error(
    harness: AppHarness,
) -> None:
    await append(harness, "notes-1", ["a"], expected_version=0)

    with pytest.raises(ConcurrencyError):
        await append(harness, "notes-1", ["b"], expected_version=5)

    assert await read(harness, "notes-1") == [(1, "a")]


async def test_expected_version_zero_on_an_existing_stream_fails(harness: AppHarness) -> None:
    await append(harness, "notes-1", ["first"], expected_version=0)

    with pytest.raises(ConcurrencyError):
        await append(harness, "notes-1", ["again"], expected_version=0)

    assert await read(harness, "notes-1") == [(1, "first")]


async def test_stale_expected_version_over_http_is_a_409_problem_and_writes_nothing(
    harness: AppHarness,
) -> None:
    http = harness.http
    created = await http.post("/streams/notes-1", json={"texts": ["a"], "expected_version": 0})
    assert created.status_code == 200, created.text

    stale = await http.post(
        "/streams/notes-1", json={"texts": ["b"], "expected_version": 0, "receipt": "r1"}
    )

    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    assert "reload and retry" in stale.json()["detail"]
    assert await read(harness, "notes-1") == [(1, "a")]
    assert await harness.runtime.store.get("receipts", "r1") is None  # nothing of it


async def test_handler_that_appends_then_raises_leaves_nothing(harness: AppHarness) -> None:
    response = await harness.http.post(
        "/streams/notes-1", json={"texts": ["a", "b"], "receipt": "r1", "fail": True}
    )

    assert response.status_code == 500
    assert await read(harness, "notes-1") == []
    assert await harness.runtime.store.head_position() == 0
    assert await harness.runtime.store.get("receipts", "r1") is None


async def test_events_commit_atomically_with_the_invocations_document_writes(
    harness: AppHarness,
) -> None:
    http, store = harness.http, harness.runtime.store
    ok = await http.post("/streams/notes-1", json={"texts": ["a"], "receipt": "r1"})
    assert ok.status_code == 200
    assert await read(harness, "notes-1") == [(1, "a")]
    assert await store.get("receipts", "r1") is not None

    # The document write fails (a taken id): the events of the same invocation are dropped.
    taken = await http.post("/streams/notes-2", json={"texts": ["b"], "receipt": "r1"})
    assert taken.status_code == 409
    assert await read(harness, "notes-2") == []

    # The append fails (a stale version): the document of the same invocation is dropped.
    stale = await http.post(
        "/streams/notes-1", json={"texts": ["c"], "expected_version": 0, "receipt": "r2"}
    )
    assert stale.status_code == 409
    assert await store.get("receipts", "r2") is None
    assert [(e.stream, e.version) for e in await store.read_all()] == [("notes-1", 1)]


async def test_two_commands_racing_on_one_aggregate_one_wins_the_other_gets_409(
    harness: AppHarness,
) -> None:
    global GATE
    http = harness.http
    assert (await http.post("/counters/c1/increment", json={"by": 1})).status_code == 200
    GATE = Gate(parties=2)  # both commands load version 1 before either saves
    try:
        first, second = await asyncio.gather(
            http.post("/counters/c1/increment", json={"by": 10, "tag": "x"}),
            http.post("/counters/c1/increment", json={"by": 100, "tag": "y"}),
        )
    finally:
        GATE = None

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    winner, loser = (first, second) if first.status_code == 200 else (second, first)
    assert winner.json()["version"] == 2
    assert loser.json()["title"] == "Concurrent Modification"
    events = await harness.runtime.store.read_stream("counter-c1")
    assert [e.version for e in events] == [1, 2]
    won_tag = events[1].data["tag"]

    # The loser reloads and retries: its event lands after the winner's, none is lost.
    lost_tag, lost_by = ("y", 100) if won_tag == "x" else ("x", 10)
    retry = await http.post("/counters/c1/increment", json={"by": lost_by, "tag": lost_tag})
    assert retry.json() == {"version": 3, "total": 111}
    events = await harness.runtime.store.read_stream("counter-c1")
    assert [(e.version, e.data["tag"]) for e in events] == [(1, ""), (2, won_tag), (3, lost_tag)]


async def test_two_contexts_saving_one_aggregate_loaded_at_the_same_version_conflict(
    harness: AppHarness,
) -> None:
    runtime = harness.runtime
    await invoke(harness, _increment_once)
    one, two = runtime.context("a", "inv-a"), runtime.context("b", "inv-b")
    loaded = [await ctx.aggregates(Counter).get("c1") for ctx in (one, two)]
    assert [c.version for c in loaded] == [1, 1]
    for ctx, counter in zip((one, two), loaded, strict=True):
        counter.increment(5)
        ctx.aggregates(Counter).save(counter)

    await one._uow.commit()
    with pytest.raises(ConcurrencyError):
        await two._uow.commit()

    events = await runtime.store.read_stream("counter-c1")
    assert [(e.version, e.data["by"]) for e in events] == [(1, 1), (2, 5)]


async def _increment_once(ctx: Context) -> None:
    counters = ctx.aggregates(Counter)
    counter = await counters.load("c1") or Counter("c1")
    counter.increment(1)
    counters.save(counter)


def test_threads_racing_over_live_http_lose_no_event(
    live_server: Callable[[App], Any], backend_url: str
) -> None:
    """Six client threads increment one counter over real HTTP, retrying each 409: every
    increment lands exactly once, with versions 1..30 and no gap."""
    server = live_server(app)
    threads_count, per_thread = 6, 5
    conflicts: list[int] = []
    failures: list[str] = []

    def client(number: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for i in range(per_thread):
                for _ in range(200):
                    response = http.post(
                        "/counters/shared/increment", json={"by": 1, "tag": f"t{number}-{i}"}
                    )
                    if response.status_code == 200:
                        break
                    if response.status_code != 409:
                        failures.append(response.text)
                        return
                    conflicts.append(number)
                else:
                    failures.append(f"t{number}-{i} never got through")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []

    async def stream() -> list[RecordedEvent]:
        async with AppHarness(app, database_url=backend_url) as h:
            return await h.runtime.store.read_stream("counter-shared")

    events = asyncio.run(stream())
    total = threads_count * per_thread
    assert [e.version for e in events] == list(range(1, total + 1))
    tags = sorted(e.data["tag"] for e in events)
    assert tags == sorted(f"t{n}-{i}" for n in range(threads_count) for i in range(per_thread))


# --- upcasting ------------------------------------------------------------------------------


async def test_upcaster_reads_a_stored_v1_event_as_the_v2_model(harness: AppHarness) -> None:
    await store_append(harness, "basket-b1", "ItemAdded", {"name": "lamp"}, schema_version=1)
    await store_append(
        harness, "basket-b1", "ItemAdded", {"title": "desk", "quantity": 3}, schema_version=2
    )

    async def read_models(ctx: Context) -> list[Any]:
        return [model for _, model in await ctx.events.read("basket-b1")]

    async def load_basket(ctx: Context) -> Basket:
        return await ctx.aggregates(Basket).get("b1")

    assert await invoke(harness, read_models) == [
        ItemAdded(title="lamp", quantity=1),
        ItemAdded(title="desk", quantity=3),
    ]
    assert (await invoke(harness, load_basket)).lines == [("lamp", 1), ("desk", 3)]
    stored = await harness.runtime.store.read_stream("basket-b1")
    assert stored[0].data == {"name": "lamp"}  # upcasting reads; it never rewrites the log

    await harness.drain()  # the projection sees the v2 model too
    documents = await harness.runtime.store.find("items_view", {})
    assert sorted((d.data["title"], d.data["quantity"]) for d in documents) == [
        ("desk", 3),
        ("lamp", 1),
    ]


async def test_new_events_are_stored_with_the_current_schema_version(
    harness: AppHarness,
) -> None:
    async def add(ctx: Context) -> None:
        ctx.events.append("basket-b1", [ItemAdded(title="lamp", quantity=2)], expected_version=0)

    await invoke(harness, add)

    (stored,) = await harness.runtime.store.read_stream("basket-b1")
    assert stored.metadata["schema_version"] == 2
    assert stored.data == {"title": "lamp", "quantity": 2}


async def test_event_stored_in_a_version_without_upcaster_is_a_clear_error(
    harness: AppHarness,
) -> None:
    await store_append(harness, "price-p1", "PriceSet", {"euros": 2.5}, schema_version=2)
    await store_append(harness, "price-p2", "PriceSet", {"amount": "2,50"}, schema_version=1)

    async def read_models(ctx: Context, stream: str) -> list[Any]:
        return [model for _, model in await ctx.events.read(stream)]

    assert await invoke(harness, lambda ctx: read_models(ctx, "price-p1")) == [PriceSet(cents=250)]
    with pytest.raises(ConfigurationError, match=r"PriceSet v1 is stored but no upcaster"):
        await invoke(harness, lambda ctx: read_models(ctx, "price-p2"))


async def test_projection_stops_at_an_event_it_cannot_upcast_and_does_not_skip_it(
    backend_url: str, tmp_path: Path
) -> None:
    # An app where ItemAdded v1 has no upcaster: its runner must fail, not move on.
    strict = App("strict_upcasting")
    strict.event_type(ItemAdded, version=2)
    strict.collection("items_view")
    strict.projection("items", events=[ItemAdded], collections=["items_view"])(project_items)
    async with AppHarness(strict, database_url=backend_url, data_dir=tmp_path / "h") as h:
        await store_append(h, "basket-b1", "ItemAdded", {"name": "lamp"}, schema_version=1)
        runner = ProjectionRunner(h.runtime, strict.projections["items"])

        assert await runner.catch_up() == 0

        assert runner.failures == 1
        assert await h.runtime.store.checkpoint("items") == 0
        assert await h.runtime.store.find("items_view", {}) == []


# --- snapshots --------------------------------------------------------------------------------


async def test_snapshot_is_saved_every_n_events_and_loading_reads_only_later_events(
    harness: AppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = harness.runtime.store

    async def bump(ctx: Context, by: int = 1, times: int = 1) -> None:
        counters = ctx.aggregates(SnapshottedCounter)
        counter = await counters.load("c1") or SnapshottedCounter("c1")
        for _ in range(times):
            counter.increment(by, tag=str(counter.version + 1))
        counters.save(counter)

    for _ in range(2):
        await invoke(harness, bump)
    assert await store.snapshot("counter-c1") is None
    await invoke(harness, bump)  # version 3: the first snapshot
    assert await store.snapshot("counter-c1") == (
        3,
        {"id": "c1", "version": 3, "total": 3, "tags": ["1", "2", "3"]},
    )
    await invoke(harness, lambda ctx: bump(ctx, by=10, times=4))  # 3 → 7 crosses 6
    snapshot = await store.snapshot("counter-c1")
    assert snapshot is not None and snapshot[0] == 7
    assert snapshot[1]["total"] == 43

    await invoke(harness, bump)  # version 8: no snapshot due
    reads: list[int] = []
    read_stream = store.read_stream

    async def spy(stream: str, *, from_version: int = 1, limit: int | None = None) -> Any:
        reads.append(from_version)
        return await read_stream(stream, from_version=from_version, limit=limit)

    monkeypatch.setattr(store, "read_stream", spy)

    async def load(ctx: Context, kind: type[Counter]) -> Counter:
        return await ctx.aggregates(kind).get("c1")

    with_snapshot = await invoke(harness, lambda ctx: load(ctx, SnapshottedCounter))
    assert reads == [8]  # only the event after the snapshot at version 7
    from_scratch = await invoke(harness, lambda ctx: load(ctx, Counter))
    assert reads == [8, 1]
    for counter in (with_snapshot, from_scratch):
        assert (counter.version, counter.total) == (8, 44)
        assert counter.tags == [str(n) for n in range(1, 9)]


async def test_snapshot_is_not_saved_when_the_append_fails(harness: AppHarness) -> None:
    runtime = harness.runtime

    async def bump(ctx: Context, by: int, times: int) -> None:
        counters = ctx.aggregates(SnapshottedCounter)
        counter = await counters.load("c1") or SnapshottedCounter("c1")
        for _ in range(times):
            counter.increment(by)
        counters.save(counter)

    await invoke(harness, lambda ctx: bump(ctx, 1, 2))  # version 2
    one, two = runtime.context("a", "inv-a"), runtime.context("b", "inv-b")
    await bump(one, 1, 2)  # 2 → 4 and 2 → 5 both cross 3: each carries a snapshot
    await bump(two, 10, 3)
    await one._uow.commit()
    with pytest.raises(ConcurrencyError):
        await two._uow.commit()

    assert await runtime.store.snapshot("counter-c1") == (
        4,
        {"id": "c1", "version": 4, "total": 4, "tags": ["", "", "", ""]},
    )


async def test_missing_aggregate_is_none_and_get_is_not_found(harness: AppHarness) -> None:
    async def load(ctx: Context) -> Counter | None:
        return await ctx.aggregates(Counter).load("nobody")

    assert await invoke(harness, load) is None
    response = await harness.http.post("/streams/x", json={"texts": []})
    assert response.status_code == 200  # appending nothing writes nothing
    assert await harness.runtime.store.head_position() == 0


def test_conflict_error_is_the_parent_of_concurrency_error() -> None:
    # Handlers that catch ConflictError (409) also catch a stale version.
    assert issubclass(ConcurrencyError, ConflictError)
