"""Projections over the global log — exactly once under concurrent writers and runners,
rebuilt, reported by ``faaskit projections status`` — and search over the read model they
build, proved on every backend (``backend_url``).

The ``ledger`` projection of ``tests/conformance/read_model_app.py`` keeps one document per
applied event with a count, so "every event exactly once" is checked by position: a
skipped event is a missing document, a double apply a count of 2.

The global log on PostgreSQL is the delicate part (see DESIGN.md): two transactions may
commit their positions out of order, and a reader that moved its checkpoint past the later
one would never see the earlier. ``PostgresStore.commit`` prevents that with an advisory
lock; the tests below force the interleaving that the lock exists for, and a negative
control shows that the same test fails without the lock.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

import faaskit.store.postgres_commits
from faaskit import Context, ValidationError
from faaskit.cqrs.projections import ProjectionRunner, Recorded
from faaskit.errors import ConcurrencyError
from faaskit.store.protocol import WriteSet
from faaskit.testing import AppHarness
from faaskit.triggers import Projection
from tests.conformance import read_model_app
from tests.conformance.read_model_app import NoteAdded, NoteClosed, Noted, Other, app

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
APP_REFERENCE = "tests.conformance.read_model_app:app"
DEADLINE = 20.0
WRITER_PAUSE = 0.04
"""Writers pause up to this long (seeded jitter) between units, so the runner keeps up with
the head of the log, where a late commit would be skipped; in a backlog it would not."""
_invocations = itertools.count(1)


@pytest.fixture
async def harness(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[AppHarness]:
    monkeypatch.setenv("FAASKIT_POSTGRES_POOL_SIZE", "24")  # a connection for every writer
    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path / "h") as h:
        yield h


def runner_of(h: AppHarness, name: str) -> ProjectionRunner:
    return ProjectionRunner(h.runtime, app.projections[name])


async def invoke(h: AppHarness, work: Callable[[Context], Any]) -> Any:
    """Run ``work(ctx)`` (sync or async) as one invocation, one unit of work, through the
    runtime."""
    runtime = h.runtime
    ctx = runtime.context("test", f"test-{next(_invocations)}")

    async def handler() -> Any:
        result = work(ctx)
        return await result if isinstance(result, Awaitable) else result

    return await runtime.invoke(ctx, handler, {}, lambda result: result)


async def append(h: AppHarness, stream: str, events: list[Any]) -> None:
    await invoke(h, lambda ctx: ctx.events.append(stream, events, expected_version=None))


async def noted_positions(h: AppHarness) -> list[int]:
    return [e.position for e in await h.runtime.store.read_all(limit=100_000, types=["Noted"])]


async def ledger(h: AppHarness) -> dict[int, int]:
    """Position → how many times ``ledger`` applied that event."""
    return {int(d.id): d.data["count"] for d in await h.runtime.store.find("ledger", {})}


def assert_exactly_once(counts: dict[int, int], positions: list[int]) -> None:
    missing = sorted(set(positions) - set(counts))
    doubled = sorted(p for p, count in counts.items() if count != 1)
    unknown = sorted(set(counts) - set(positions))
    assert (missing, doubled, unknown) == ([], [], []), "skipped, applied twice, not in log"


# --- exactly once under concurrency ---------------------------------------------------------


async def test_no_event_is_skipped_or_doubled_while_eight_writers_append_concurrently(
    harness: AppHarness,
) -> None:
    """8 writers append small units concurrently (on PostgreSQL each on its own pooled
    connection, so their transactions overlap) while the projection follows the log.

    Without the log lock, a writer's transaction could take position p, another take p+1
    and commit first, and the runner, reading p+1, would move its checkpoint past p before
    p commits: p would be missing here. With the lock monkeypatched away this test failed
    in 7 to 9 runs of 10 on a 2-core machine; the forced, deterministic version of that interleaving
    is ``test_late_commit_is_not_skipped_on_postgres`` below, with its negative control.
    It also catches a runner that skips ahead past an event committed while it looked
    (``test_event_committed_while_the_runner_finds_nothing_new_is_not_skipped``).
    """
    writers, per_writer = 8, 60
    runner = runner_of(harness, "ledger")
    writing = True
    applied_while_writing = 0
    steps = 0

    async def writer(number: int) -> None:
        stream, version = f"writer-{number}", 0
        pace = random.Random(number)
        for i in range(per_writer):
            events: list[Any] = [Noted(text=f"w{number}-{i}")]
            if i % 4 == 3:  # events the projection does not follow are in the log too
                events.append(Other(text=f"w{number}-{i}"))

            def work(
                ctx: Context, events: list[Any] = events, expected: int = version, i: int = i
            ) -> None:
                ctx.events.append(stream, events, expected_version=expected)
                ctx.documents("writes").insert(f"w{number}-{i}", {"events": len(events)})

            await invoke(harness, work)
            version += len(events)
            await asyncio.sleep(pace.uniform(0, WRITER_PAUSE))

    async def follow() -> None:
        nonlocal applied_while_writing, steps
        while writing:
            applied_while_writing += await runner.step()
            steps += 1
            await asyncio.sleep(0)

    follower = asyncio.ensure_future(follow())
    await asyncio.gather(*(writer(n) for n in range(writers)))
    writing = False
    await follower
    await runner.catch_up()

    store = harness.runtime.store
    positions = await noted_positions(harness)
    assert len(positions) == writers * per_writer
    assert_exactly_once(await ledger(harness), positions)
    assert await store.checkpoint("ledger") == await store.head_position()
    assert steps > 1 and applied_while_writing > 0  # the runner really ran alongside
    for number in range(writers):
        versions = [e.version for e in await store.read_stream(f"writer-{number}")]
        assert versions == list(range(1, per_writer + per_writer // 4 + 1))


async def test_event_committed_while_the_runner_finds_nothing_new_is_not_skipped(
    harness: AppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caught-up runner skips its checkpoint ahead over events of other types; an event
    of its own type committed between its read and that skip must not be jumped over."""
    store = harness.runtime.store
    runner = runner_of(harness, "ledger")
    await append(harness, "s", [Noted(text="first"), Other(text="not followed")])
    await runner.catch_up()
    assert await store.checkpoint("ledger") == await store.head_position()

    read_all = store.read_all
    late_commits = 0

    async def read_all_then_someone_commits(**options: Any) -> Any:
        nonlocal late_commits
        found = await read_all(**options)
        if not found and not late_commits:
            late_commits += 1
            await append(harness, "s", [Noted(text="late")])
        return found

    monkeypatch.setattr(store, "read_all", read_all_then_someone_commits)
    assert await runner.step() == 0
    monkeypatch.undo()
    assert late_commits == 1

    await runner.catch_up()
    assert_exactly_once(await ledger(harness), await noted_positions(harness))


async def test_projection_skips_its_checkpoint_over_events_of_other_types(
    harness: AppHarness,
) -> None:
    store = harness.runtime.store
    runner = runner_of(harness, "ledger")
    await append(harness, "s", [Other(text="1"), Other(text="2")])

    assert await runner.catch_up() == 0
    assert await store.checkpoint("ledger") == await store.head_position() > 0

    await append(harness, "s", [Noted(text="3")])
    assert await runner.catch_up() == 1
    assert_exactly_once(await ledger(harness), await noted_positions(harness))


async def test_lag_metric_counts_the_events_a_projection_has_not_applied(
    harness: AppHarness,
) -> None:
    projection = app.projections["ledger"]
    small_batches = Projection(
        projection.name, projection.handler, projection.event_types, projection.collections, 2
    )
    runner = ProjectionRunner(harness.runtime, small_batches)
    await append(harness, "s", [Noted(text=str(n)) for n in range(5)])

    def lag() -> float:
        return harness.runtime.metrics.gauges["faaskit_projection_lag"]["ledger"]

    assert await runner.step() == 2
    assert lag() == 3
    await runner.catch_up()
    assert lag() == 0
    exposed = (await harness.http.get("/metrics")).text
    assert 'faaskit_projection_lag{projection="ledger"} 0.0' in exposed


class _NotAnAppend:
    """Stands in for AppendEvents in faaskit.store.postgres_commits: no write is one, so
    ``PostgresStore.commit`` never takes the log lock (the negative control)."""


async def _blocked_by(monitor: Any, pid: int) -> list[int]:
    cursor = await monitor.execute(
        "SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", (pid,)
    )
    return [row[0] for row in await cursor.fetchall()]


async def _until(check: Callable[[], Awaitable[T]], what: str) -> T:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not (result := await check()):
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return result


@pytest.mark.parametrize(
    "log_lock", [True, False], ids=["with_log_lock", "NEGATIVE_CONTROL_without_log_lock"]
)
async def test_late_commit_is_not_skipped_on_postgres(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_lock: bool
) -> None:
    """Forces the out-of-order commit: a slow writer takes its position and then waits (on
    a row another connection holds); a fast writer appends after it; the runner steps;
    then the slow writer commits.

    With the log lock the fast writer waits for the slow one, so the runner sees neither
    yet and then both, in order. The NEGATIVE CONTROL removes the lock (monkeypatched away)
    and asserts the defect appears — the slow writer's event is skipped — proving this
    test (and the 8-writer one) can tell.
    """
    import psycopg

    if not log_lock:
        monkeypatch.setattr(faaskit.store.postgres_commits, "AppendEvents", _NotAnAppend)
    async with AppHarness(app, database_url=postgres_url, data_dir=tmp_path / "h") as h:
        runner = runner_of(h, "ledger")
        holder = await psycopg.AsyncConnection.connect(postgres_url)  # an open transaction
        monitor = await psycopg.AsyncConnection.connect(postgres_url, autocommit=True)
        try:
            await holder.execute(
                "INSERT INTO faaskit_documents (collection, id, data, version, created_at,"
                " updated_at) VALUES ('blockers', 'b1', '{}', 1, 'x', 'x')"
            )

            def slow_work(ctx: Context) -> None:
                ctx.events.append("slow", [Noted(text="slow")], expected_version=0)
                ctx.documents("blockers").insert("b1", {})  # waits for the holder

            slow = asyncio.ensure_future(invoke(h, slow_work))
            holder_pid = holder.info.backend_pid
            (slow_pid,) = await _until(lambda: _blocked_by(monitor, holder_pid), "slow to wait")
            fast = asyncio.ensure_future(append(h, "fast", [Noted(text="fast")]))
            if log_lock:
                await _until(lambda: _blocked_by(monitor, slow_pid), "fast to wait for the lock")
                assert await runner.step() == 0  # nothing committed yet
            else:
                await asyncio.wait_for(fast, DEADLINE)  # committed ahead of slow
                assert await runner.step() == 1
            await holder.rollback()  # the slow writer goes on and commits
            await asyncio.wait_for(asyncio.gather(slow, fast), DEADLINE)
        finally:
            await holder.close()
            await monitor.close()
        await runner.catch_up()

        counts = await ledger(h)
        (slow_event,) = await h.runtime.store.read_stream("slow")
        (fast_event,) = await h.runtime.store.read_stream("fast")
        assert slow_event.position < fast_event.position
        if log_lock:
            assert_exactly_once(counts, [slow_event.position, fast_event.position])
        else:  # the defect the log lock prevents: the earlier position is skipped for good
            assert counts == {fast_event.position: 1}


async def test_two_runners_of_one_projection_never_apply_an_event_twice(
    harness: AppHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = harness.runtime.store
    await append(harness, "s", [Noted(text="gate"), *(Noted(text=str(n)) for n in range(79))])
    commit = store.commit
    conflicts = 0

    async def counting_commit(write_set: WriteSet) -> Any:
        nonlocal conflicts
        try:
            return await commit(write_set)
        except ConcurrencyError:
            conflicts += 1
            raise

    monkeypatch.setattr(store, "commit", counting_commit)
    monkeypatch.setattr(read_model_app, "LEDGER_GATE", read_model_app.Gate(parties=2))
    runners = [runner_of(harness, "ledger"), runner_of(harness, "ledger")]

    # Both runners hold the first batch until both have it: only one may commit it.
    applied = await asyncio.gather(*(runner.catch_up() for runner in runners))

    assert conflicts >= 1
    assert sum(applied) == 80  # what each runner counts is what it committed
    assert all(runner.failures == 0 for runner in runners)
    assert_exactly_once(await ledger(harness), await noted_positions(harness))
    assert await store.checkpoint("ledger") == await store.head_position()


async def test_failing_projection_commits_nothing_of_its_batch_and_retries_it(
    harness: AppHarness,
) -> None:
    store = harness.runtime.store
    runner = runner_of(harness, "ledger")
    await append(harness, "s", [Noted(text=str(n)) for n in range(30)])  # batches of 25
    harness.fail_next("ledger", times=1)

    assert await runner.catch_up() == 0
    assert runner.failures == 1
    assert (await ledger(harness), await store.checkpoint("ledger")) == ({}, 0)

    assert await runner.catch_up() == 30
    assert_exactly_once(await ledger(harness), await noted_positions(harness))


async def test_handler_conflicting_every_time_is_a_failure_not_a_busy_retry(
    harness: AppHarness,
) -> None:
    """Only a checkpoint moved by another runner is retried at once; a ConcurrencyError of
    the handler's own writes is a failed batch (logged, backed off), not an endless loop."""

    async def stubborn(event: Recorded[Noted], ctx: Context) -> None:
        raise ConcurrencyError("a read-model document changed since version 1")

    runner = ProjectionRunner(harness.runtime, Projection("stubborn", stubborn, ("Noted",)))
    await append(harness, "s", [Noted(text="1")])

    assert await asyncio.wait_for(runner.catch_up(), DEADLINE) == 0

    assert runner.failures == 1
    assert await harness.runtime.store.checkpoint("stubborn") == 0


# --- rebuild and status ---------------------------------------------------------------------


def faaskit_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faaskit", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )


async def add_notes(h: AppHarness, count: int = 25) -> None:
    """Notes 1..count: every 5th is about Berlin, owners alternate, every 3rd is closed."""
    words = "amber basil cedar delta ember fable gamma hazel indigo juniper kappa lemon maple"
    words += " nectar olive pepper quartz raven sable tulip umber violet willow xenon yarrow"
    names = words.split()
    for n in range(1, count + 1):
        body = "shipped to Berlin today" if n % 5 == 0 else "kept in the Paris store"
        added = NoteAdded(
            note_id=f"note-{n:02}",
            title=f"{names[count - n]} lamp",  # titles sort the other way round from n
            body=body,
            owner="ann" if n % 2 else "bob",
            n=n,
        )
        events: list[Any] = [added] + ([NoteClosed(note_id=added.note_id)] if n % 3 == 0 else [])
        await append(h, f"note-{n:02}", events)


async def read_model(h: AppHarness, collection: str) -> dict[str, Any]:
    return {d.id: d.data for d in await h.runtime.store.find(collection, {})}


async def test_rebuild_from_the_cli_gives_the_same_read_model_as_live_projection(
    harness: AppHarness, backend_url: str
) -> None:
    store = harness.runtime.store
    await add_notes(harness, count=12)
    await harness.drain()  # live: each note projected as it came
    await add_notes_after_live(harness)
    await harness.drain()
    live = await read_model(harness, "notes_view")
    ledger_before = await read_model(harness, "ledger")
    queries = ["/notes/search?q=berlin", "/notes/search?status=closed&sort=title:asc"]
    live_answers = [(await harness.http.get(q)).json() for q in queries]
    assert len(live) == 16 and live_answers[0]["total"] == 6

    result = faaskit_cli(
        "projections", "rebuild", "notes", APP_REFERENCE, "--database-url", backend_url
    )
    assert result.returncode == 0, result.stderr
    assert "rewound notes; cleared notes_view" in result.stdout

    assert await read_model(harness, "notes_view") == {}
    assert await store.checkpoint("notes") == 0
    assert (await harness.http.get(queries[0])).json()["total"] == 0
    assert await read_model(harness, "ledger") == ledger_before  # other read models stay

    await harness.drain()  # replayed from the start of the log

    assert await read_model(harness, "notes_view") == live
    assert [(await harness.http.get(q)).json() for q in queries] == live_answers
    assert await store.checkpoint("notes") == await store.head_position()


async def add_notes_after_live(h: AppHarness) -> None:
    """More notes, and a close of an already-projected one, after the first catch-up."""
    for n in (13, 14, 15, 20):
        await append(
            h,
            f"note-{n}",
            [NoteAdded(note_id=f"note-{n}", title=f"late {n}", body="Berlin", owner="cy", n=n)],
        )
    await append(h, "note-01", [NoteClosed(note_id="note-01")])


async def test_rebuild_by_resetting_the_projection_in_process_replays_the_same_documents(
    harness: AppHarness,
) -> None:
    store = harness.runtime.store
    await add_notes(harness)
    await harness.drain()
    live = await read_model(harness, "notes_view")

    await store.reset_projection("notes", app.projections["notes"].collections)
    assert await read_model(harness, "notes_view") == {}
    assert await runner_of(harness, "notes").catch_up() == 25 + 8

    assert await read_model(harness, "notes_view") == live


async def test_projections_status_shows_each_checkpoint_and_the_lag(
    harness: AppHarness, backend_url: str
) -> None:
    store = harness.runtime.store
    await append(harness, "s", [Noted(text=str(n)) for n in range(30)])
    await add_notes(harness, count=5)
    await runner_of(harness, "notes").catch_up()
    assert await runner_of(harness, "ledger").step() == 25  # one batch of 25, 5 to go
    head = await store.head_position()
    ledger_checkpoint = (await noted_positions(harness))[24]

    result = faaskit_cli("projections", "status", APP_REFERENCE, "--database-url", backend_url)

    assert result.returncode == 0, result.stderr
    assert f"2 projections · log head {head}" in result.stdout
    rows = {
        cells[0]: cells[1:]
        for line in result.stdout.splitlines()
        if len(cells := [c.strip() for c in line.strip().strip("│┃").split("│")]) == 4
    }
    assert rows["ledger"] == ["Noted", str(ledger_checkpoint), str(head - ledger_checkpoint)]
    assert rows["notes"] == ["NoteAdded, NoteClosed", str(head), "0"]


def test_cli_rebuild_of_an_unknown_projection_fails_with_one_line(backend_url: str) -> None:
    result = faaskit_cli(
        "projections", "rebuild", "nope", APP_REFERENCE, "--database-url", backend_url
    )

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"faaskit: error: no projection 'nope' in {APP_REFERENCE}; it has: ledger, notes"
    )


# --- search over the projected read model ---------------------------------------------------


@pytest.fixture
async def notes(harness: AppHarness) -> AppHarness:
    await add_notes(harness)
    await harness.drain()
    return harness


async def search(h: AppHarness, **params: Any) -> dict[str, Any]:
    response = await h.http.get("/notes/search", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ns(found: dict[str, Any]) -> list[int]:
    return [item["n"] for item in found["items"]]


async def test_search_filters_by_text_and_allow_listed_fields(notes: AppHarness) -> None:
    berlin = await search(notes, q="berlin", sort="n:asc")
    assert (berlin["total"], ns(berlin)) == (5, [5, 10, 15, 20, 25])
    assert ns(await search(notes, q="ber", sort="n:asc")) == [5, 10, 15, 20, 25]  # prefixes
    assert ns(await search(notes, q="BERLIN shipped", sort="n:asc")) == [5, 10, 15, 20, 25]
    assert (await search(notes, q="berlin paris"))["total"] == 0  # every word must match
    closed = await search(notes, q="berlin", status="closed")
    assert ns(closed) == [15]
    open_ann = await search(notes, owner="ann", status="open", sort="n:asc")
    assert ns(open_ann) == [1, 5, 7, 11, 13, 17, 19, 23, 25]
    assert (await search(notes, owner="nobody"))["total"] == 0


async def test_search_ranges_and_validation_through_the_python_api(notes: AppHarness) -> None:
    docs = notes.runtime.app.collections["notes_view"]

    async def find(**options: Any) -> list[int]:
        page = await invoke(notes, lambda ctx: ctx.documents(docs).search(**options))
        return [hit.document.data["n"] for hit in page.items]

    assert await find(ranges={"n": (5, 9)}, sort="n:asc") == [5, 6, 7, 8, 9]
    assert await find(ranges={"n": (None, 2)}, sort="n:asc") == [1, 2]
    assert await find(ranges={"n": (24, None)}, where={"status": "open"}, sort="n:asc") == [25]
    assert await find(where={"status": "closed"}, page_size=3) == [24, 21, 18]  # default: n desc

    for bad in (
        {"where": {"body": "Berlin"}},  # not a declared filter
        {"where": {"title; DROP TABLE faaskit_documents": "x"}},
        {"where": {"status": ["open"]}},  # not a scalar
        {"ranges": {"title": ("a", "z")}},  # not a declared range
        {"sort": "body"},
        {"page": 0},
        {"page_size": 101},
    ):
        with pytest.raises(ValidationError) as caught:
            await find(**bad)
        assert caught.value.errors and caught.value.errors[0]["loc"][0] == "query"
    with pytest.raises(TypeError, match="not declared with search"):
        await invoke(notes, lambda ctx: ctx.documents("ledger").search("x"))


async def test_search_pages_with_total_and_total_pages(notes: AppHarness) -> None:
    pages = [await search(notes, sort="n:asc", page=p, page_size=10) for p in (1, 2, 3, 4)]

    assert [(p["total"], p["total_pages"], p["page"]) for p in pages] == [
        (25, 3, 1),
        (25, 3, 2),
        (25, 3, 3),
        (25, 3, 4),
    ]
    assert [ns(p) for p in pages] == [
        list(range(1, 11)),
        list(range(11, 21)),
        list(range(21, 26)),
        [],
    ]
    text_pages = [await search(notes, q="lamp", page=p, page_size=7) for p in (1, 2, 3, 4)]
    seen = [n for page in text_pages for n in ns(page)]
    assert sorted(seen) == list(range(1, 26))  # relevance order pages without repeats
    assert {(p["total"], p["total_pages"]) for p in text_pages} == {(25, 4)}
    empty = await search(notes, q="nothingmatches")
    assert (empty["total"], empty["total_pages"], empty["items"]) == (0, 0, [])


async def test_search_sorts_only_by_allow_listed_fields(notes: AppHarness) -> None:
    assert ns(await search(notes, sort="n:desc", page_size=5)) == [25, 24, 23, 22, 21]
    assert ns(await search(notes, sort="n", page_size=3)) == [1, 2, 3]  # asc by default
    assert ns(await search(notes, sort="title:asc", page_size=4)) == [25, 24, 23, 22]
    assert ns(await search(notes, q="berlin", sort="title:desc")) == [5, 10, 15, 20, 25]

    for sort in ("body", "secret:asc", "n:sideways", "n desc", "(SELECT 1)", "n;DROP TABLE x"):
        response = await notes.http.get("/notes/search", params={"sort": sort})
        assert response.status_code == 400, sort
        problem = response.json()
        assert problem["errors"][0]["loc"] == ["query", "sort"]
    for params in ({"page": "0"}, {"page_size": "1000"}, {"page": "x"}):
        assert (await notes.http.get("/notes/search", params=params)).status_code == 400


async def test_search_highlights_the_matched_words_with_mark(notes: AppHarness) -> None:
    found = await search(notes, q="berlin", sort="n:asc", page_size=1)
    (hit,) = found["items"]
    assert hit["highlights"] == {"body": "shipped to <mark>Berlin</mark> today"}

    both = await search(notes, q="lamp shipped", sort="n:asc", page_size=1)
    assert both["items"][0]["highlights"] == {
        "title": "umber <mark>lamp</mark>",
        "body": "<mark>shipped</mark> to Berlin today",
    }
    assert (await search(notes, status="open", page_size=1))["items"][0]["highlights"] == {}


@pytest.mark.parametrize(
    ("text", "same_as"),
    [
        ('"berlin"', "berlin"),
        ("berlin*", "berlin"),
        ("'berlin'", "berlin"),
        ("berlin\\", "berlin"),
        ("(berlin", "berlin"),
        ("berlin & !paris", "berlin paris"),
        ("lamp | shipped", "lamp shipped"),
        ("lamp:* <-> shipped", "lamp shipped"),
        ("body:berlin", "body berlin"),
        ("NEAR(lamp shipped)", "near lamp shipped"),
        ("berlin OR paris", "berlin or paris"),
        ("-paris", "paris"),
        ("berlin' OR '1'='1", "berlin or 1 1"),
        ("x'); DELETE FROM faaskit_documents; --", "x delete from faaskit_documents"),
        ('"', ""),
        ("*", ""),
    ],
)
async def test_search_text_with_query_syntax_is_only_words(
    notes: AppHarness, text: str, same_as: str
) -> None:
    tricky = await search(notes, q=text, sort="n:asc", page_size=100)
    plain = await search(notes, q=same_as, sort="n:asc", page_size=100)

    assert (tricky["total"], ns(tricky)) == (plain["total"], ns(plain))
    assert (await search(notes))["total"] == 25  # nothing was deleted


@pytest.mark.parametrize(
    "value",
    [
        "open' OR '1'='1",
        'open" OR "1"="1',
        "open'); DELETE FROM faaskit_documents; --",
        "%",
        "open%",
        "' || (SELECT 'open') || '",
        '{"a": 1}',
    ],
)
async def test_search_filter_values_are_bound_never_spliced(notes: AppHarness, value: str) -> None:
    found = await search(notes, status=value, q="lamp")

    assert (found["total"], found["items"]) == (0, [])
    assert (await search(notes, status="open"))["total"] == 17
