"""A saga's deadline against a step still running when it comes, on every backend: the
deadline's task leaves a running step to its own transition, which must not then wait
for a completion past the deadline."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from faaskit import App, Context, Pending
from faaskit.runtime.worker import Worker
from faaskit.testing import AppHarness


async def test_a_step_that_goes_pending_after_the_deadline_came_fails_and_compensates(
    backend_url: str,
) -> None:
    app = App("saga_deadline_while_running")
    order = app.saga("order", deadline=10)  # well within the worker's lease
    entered, release = asyncio.Event(), asyncio.Event()
    undone: list[str] = []

    async def unreserve(input: dict[str, Any], results: dict[str, Any], result: Any) -> None:
        undone.append(result)

    @order.step(compensate=unreserve)
    async def reserve(input: dict[str, Any]) -> str:
        return "r-1"

    @order.step(timeout=None)
    async def pay(input: dict[str, Any], ctx: Context) -> Pending:
        entered.set()
        await release.wait()  # a slow call to the provider, past the deadline
        return Pending(timeout=None)  # and no timeout of its own

    @app.post("/orders", status=202)
    async def place(ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(order, {}, saga_id="o-1")}

    async with AppHarness(app, database_url=backend_url) as h:
        assert (await h.http.post("/orders")).status_code == 202
        running = asyncio.ensure_future(h.drain())
        await asyncio.wait_for(entered.wait(), 10)
        h.clock.advance(timedelta(seconds=11))
        # another worker runs the deadline's task meanwhile: pay is running, not waiting
        assert await Worker(h.runtime).run_once() == 1
        assert (await h.saga("o-1")).status == "running"
        release.set()
        await asyncio.wait_for(running, 10)

        state = await h.saga("o-1")
        assert state.status == "compensated"
        assert state.failure is not None and state.failure["kind"] == "deadline"
        assert state.step("pay").status == "failed"
        assert undone == ["r-1"]
        assert await h.scheduled() == [] and await h.dead_letters() == []
