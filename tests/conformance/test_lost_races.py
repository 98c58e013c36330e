"""A delivery whose unit of work loses a race at commit (a ConcurrencyError from the store:
what it read changed before it committed) is retried soon without using up an attempt, a
bounded number of times; a ConcurrencyError the handler raises itself is an ordinary
failed attempt. On every backend, through the testing harness and a virtual clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from faaskit import App, ConcurrencyError, Context, Event
from faaskit.runtime.worker import LOST_RACE_RETRIES
from faaskit.store.protocol import InsertDocument, UpdateDocument, WriteSet
from faaskit.testing import AppHarness

T0 = "2026-01-01T00:00:00+00:00"


def counter_app(name: str, *, lose: int, max_attempts: int) -> tuple[App, list[int]]:
    """A task that increments ``counters/hot`` expecting the version it read; its first
    ``lose`` runs find the document bumped behind their back before they commit."""
    app = App(name)
    runs: list[int] = []

    @app.post("/bump", status=202)
    async def bump(ctx: Context) -> None:
        ctx.schedule("increment", {"by": 1})

    @app.task(max_attempts=max_attempts)
    async def increment(event: Event[dict[str, Any]], ctx: Context) -> None:
        runs.append(event.attempt)
        counters = ctx.documents("counters")
        found = await counters.get("hot")
        assert found is not None
        if len(runs) <= lose:  # another writer gets there first
            rival = UpdateDocument("counters", "hot", {"n": found.data["n"]}, (), T0)
            await ctx._runtime.store.commit(WriteSet([rival]))
        counters.update("hot", {"n": found.data["n"] + 1}, expected_version=found.version)

    return app, runs


async def seed(h: AppHarness) -> None:
    await h.runtime.store.commit(WriteSet([InsertDocument("counters", "hot", {"n": 0}, (), T0)]))


async def test_a_unit_that_loses_a_race_at_commit_is_retried_without_using_an_attempt(
    backend_url: str,
) -> None:
    app, runs = counter_app("lost_race", lose=2, max_attempts=1)
    async with AppHarness(app, database_url=backend_url) as h:
        await seed(h)
        assert (await h.http.post("/bump")).status_code == 202
        await h.advance(timedelta(seconds=5))

        # one attempt allowed, two races lost: it is still attempt 1, and it succeeded
        assert runs == [1, 1, 1]
        hot = await h.runtime.store.get("counters", "hot")
        assert hot is not None and hot.data == {"n": 1}
        assert await h.scheduled() == [] and await h.dead_letters() == []


async def test_a_document_too_hot_to_win_on_counts_its_lost_races_after_a_few(
    backend_url: str,
) -> None:
    app, runs = counter_app("hot_document", lose=1000, max_attempts=2)
    async with AppHarness(app, database_url=backend_url) as h:
        await seed(h)
        assert (await h.http.post("/bump")).status_code == 202
        await h.advance(timedelta(minutes=5))

        # each attempt's fast retries, then its lost race counts: dead-lettered after two
        per_attempt = LOST_RACE_RETRIES + 1
        assert runs == [1] * per_attempt + [2] * per_attempt
        [dead] = await h.dead_letters()
        assert (dead.reason, dead.attempts) == ("max attempts", 2)
        counted = [e.get("counted", True) for e in dead.errors]
        assert counted == ([False] * LOST_RACE_RETRIES + [True]) * 2
        assert all(e["error"].startswith("ConcurrencyError") for e in dead.errors)
        assert [e["attempt"] for e in dead.errors] == runs


async def test_a_concurrency_error_the_handler_raises_itself_is_a_failed_attempt(
    backend_url: str,
) -> None:
    app = App("raised_conflict")
    runs: list[int] = []

    @app.post("/go", status=202)
    async def go(ctx: Context) -> None:
        ctx.schedule("stale", {})

    @app.task(max_attempts=1)
    async def stale(event: Event[dict[str, Any]], ctx: Context) -> None:
        runs.append(event.attempt)
        raise ConcurrencyError("the remote copy moved")  # not a commit that lost a race

    async with AppHarness(app, database_url=backend_url) as h:
        assert (await h.http.post("/go")).status_code == 202
        await h.advance(timedelta(minutes=1))

        assert runs == [1]
        [dead] = await h.dead_letters()
        assert dead.attempts == 1 and "counted" not in dead.errors[0]


async def test_a_saga_step_whose_commit_loses_a_race_runs_again_as_the_same_attempt(
    backend_url: str,
) -> None:
    app = App("saga_lost_race")
    order = app.saga("order")
    runs: list[int] = []

    @order.step(max_attempts=1)
    async def count(input: dict[str, Any], ctx: Context) -> int:
        assert ctx.step is not None
        runs.append(ctx.step.attempt)
        counters = ctx.documents("counters")
        found = await counters.get("hot")
        assert found is not None
        if len(runs) == 1:
            rival = UpdateDocument("counters", "hot", {"n": found.data["n"]}, (), T0)
            await ctx._runtime.store.commit(WriteSet([rival]))
        counters.update("hot", {"n": found.data["n"] + 1}, expected_version=found.version)
        return int(found.data["n"]) + 1

    @app.post("/orders", status=202)
    async def place(ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(order, {}, saga_id="o-1")}

    async with AppHarness(app, database_url=backend_url) as h:
        await seed(h)
        assert (await h.http.post("/orders")).status_code == 202
        await h.advance(timedelta(seconds=5))

        # its only attempt lost the race and ran again: not "1 attempts used"
        state = await h.saga("o-1")
        assert (state.status, state.results) == ("completed", {"count": 1})
        assert runs == [1, 1] and state.step("count").attempts == 1
        assert await h.scheduled() == [] and await h.dead_letters() == []
