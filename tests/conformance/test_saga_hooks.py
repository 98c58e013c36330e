"""``@saga.on_transition`` hooks, on every backend: a hook sees every transition (start,
steps, compensations, a webhook's completion, a cancel) with the state before and after, in
order; what it writes and publishes commits with the transition or not at all (a hook that
raises fails the unit, which is retried like any failure); a delivery that finds its step
already past calls no hook.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from faaskit import App, Backoff, Context, Pending, Saga, StepFailed
from faaskit.sagas import cancel_saga
from faaskit.sagas.state import SagaState
from faaskit.testing import AppHarness

STEPS = ("reserve", "charge", "ship")
Seen = list[tuple[str | None, str, str | None]]


def hooked_app(
    name: str, *, fail_at: str | None = None, raise_once_at: str | None = None
) -> tuple[App, Saga, Seen, list[str]]:
    """Three steps writing an ``effects`` document each (compensated by deleting it); an
    async hook records (status before, status after, current step after) and publishes a
    ``saga.moved`` message per transition with a stable id; a second, sync hook records its
    calls. ``raise_once_at`` makes the async hook raise once, on the transition that
    completes that step."""
    app = App(name)
    effects = app.collection("effects")
    order = app.saga("order")
    seen: Seen = []
    second: list[str] = []
    raised: list[str] = []

    def make(step: str) -> None:
        async def undo(input: dict[str, Any], result: Any, ctx: Context) -> None:
            ctx.documents(effects).delete(f"{input['order']}:{step}")

        async def do(input: dict[str, Any], ctx: Context) -> dict[str, str]:
            ctx.documents(effects).insert(f"{input['order']}:{step}", {})
            if step == fail_at:
                raise StepFailed(f"{step} refused")
            return {"done": step}

        do.__name__ = step
        order.step(compensate=undo, max_attempts=3, backoff=Backoff(base=1, cap=1))(do)

    for step in STEPS:
        make(step)

    @order.on_transition
    async def record(before: SagaState | None, after: SagaState, ctx: Context) -> None:
        done = [s.name for s in after.steps if s.status == "completed"]
        if raise_once_at in done and raise_once_at not in raised:
            assert before is not None
            if before.step(raise_once_at).status != "completed":
                raised.append(raise_once_at)
                raise RuntimeError("the hook's dependency is down")
        seen.append((None if before is None else before.status, after.status, after.current_step))
        move = f"{after.id}:{after.version}"
        ctx.publish("saga.moved", {"status": after.status}, message_id=move)
        ctx.documents("moves").insert(move, {"status": after.status})

    @order.on_transition
    def also(after: SagaState, ctx: Context, before: SagaState | None) -> None:
        assert ctx.function  # a plain def, parameters by name and by annotation
        second.append(after.status)

    @app.post("/orders/{order_id}", status=202)
    async def place(order_id: str, ctx: Context) -> dict[str, str]:
        return {
            "saga_id": await ctx.start_saga(order, {"order": order_id}, saga_id=f"order-{order_id}")
        }

    return app, order, seen, second


async def test_the_hook_sees_every_transition_of_a_completed_saga_in_order(
    backend_url: str,
) -> None:
    app, _, seen, second = hooked_app("hooks_happy")
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-1")).json()["saga_id"]
        assert seen == [(None, "started", "reserve")]  # the start, in the route's unit
        await h.drain()

        assert seen == [
            (None, "started", "reserve"),
            ("started", "running", "charge"),
            ("running", "running", "ship"),
            ("running", "completed", None),
        ]
        assert second == ["started", "running", "running", "completed"]
        state = await h.saga(saga_id)
        assert state.status == "completed"
        # each transition's publish and write committed with it, once
        moved = await h.published("saga.moved")
        assert [m.data["status"] for m in moved] == second
        assert len(await h.runtime.store.find("moves", {})) == 4
        assert await h.dead_letters() == []


async def test_the_hook_sees_every_transition_of_a_compensation_in_order(
    backend_url: str,
) -> None:
    app, _, seen, _ = hooked_app("hooks_compensate", fail_at="ship")
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-2")).json()["saga_id"]
        await h.drain()

        assert seen == [
            (None, "started", "reserve"),
            ("started", "running", "charge"),
            ("running", "running", "ship"),
            ("running", "compensating", "charge"),
            ("compensating", "compensating", "reserve"),
            ("compensating", "compensated", None),
        ]
        assert (await h.saga(saga_id)).compensated == ["charge", "reserve"]
        assert len(await h.published("saga.moved")) == 6


async def test_a_hook_that_raises_fails_the_transitions_unit_and_it_is_retried(
    backend_url: str,
) -> None:
    app, _, seen, second = hooked_app("hooks_raise", raise_once_at="charge")
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-3")).json()["saga_id"]
        await h.drain()

        # charge's transition was dropped with the hook's failure: the step's effect, the
        # next step's task, the hooks' writes and publishes — none of it committed
        state = await h.saga(saga_id)
        assert (state.status, state.current_step) == ("running", "charge")
        assert state.step("charge").status == "scheduled"
        assert await h.runtime.store.get("effects", "o-3:charge") is None
        assert await h.runtime.store.get("effects", "o-3:ship") is None
        assert len(await h.published("saga.moved")) == 2
        assert len(await h.runtime.store.find("moves", {})) == 2

        await h.advance(timedelta(seconds=10))  # the delivery's retry, after its backoff

        state = await h.saga(saga_id)
        assert state.status == "completed"
        assert state.step("charge").attempts == 2
        assert [after for _, after, _ in seen] == ["started", "running", "running", "completed"]
        assert second == ["started", "running", "running", "completed"]  # not reached on a raise
        moved = await h.published("saga.moved")
        assert [m.data["status"] for m in moved] == ["started", "running", "running", "completed"]
        assert len(await h.runtime.store.find("moves", {})) == 4
        assert await h.dead_letters() == []


async def test_a_redelivered_task_already_past_calls_no_hook(backend_url: str) -> None:
    app, _, seen, second = hooked_app("hooks_redelivered", fail_at="ship")

    @app.post("/replay/{saga_id}", status=202)
    async def replay(saga_id: str, ctx: Context) -> None:
        # what a redelivery after a crash between commit and ack would look like
        for index, step in enumerate(STEPS):
            for phase in ("do", "undo"):
                payload = {"saga": saga_id, "step": index, "round": 0}
                ctx.schedule(f"saga.order.{step}.{phase}", payload)
        ctx.schedule("saga.order.deadline", {"saga": saga_id})

    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-4")).json()["saga_id"]
        await h.drain()
        calls, version = len(seen), (await h.saga(saga_id)).version

        assert (await h.http.post(f"/replay/{saga_id}")).status_code == 202
        assert await h.drain() == 2 * len(STEPS) + 1

        assert len(seen) == calls and len(second) == calls
        assert (await h.saga(saga_id)).version == version
        assert await h.dead_letters() == []


class Webhook(BaseModel):
    token: str


async def test_completions_and_cancels_from_routes_and_the_cli_run_the_hook(
    backend_url: str,
) -> None:
    app = App("hooks_routes")
    order = app.saga("order")
    tokens: list[str] = []
    seen: Seen = []

    @order.step
    async def reserve(input: dict[str, Any]) -> dict[str, int]:
        return {"reserved": 1}

    @order.step
    async def pay(input: dict[str, Any], ctx: Context) -> Pending:
        assert ctx.step is not None and ctx.step.token is not None
        tokens.append(ctx.step.token)
        return Pending()

    @order.step
    async def ship(input: dict[str, Any]) -> None:
        return None

    @order.on_transition
    async def record(before: SagaState | None, after: SagaState) -> None:
        seen.append((None if before is None else before.status, after.status, after.current_step))

    @app.post("/orders/{order_id}", status=202)
    async def place(order_id: str, ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(order, {}, saga_id=f"order-{order_id}")}

    @app.post("/webhook")
    async def webhook(body: Webhook, ctx: Context) -> None:
        await ctx.complete_step(body.token, {"paid": True})

    async with AppHarness(app, database_url=backend_url) as h:
        await h.http.post("/orders/o-5")
        await h.drain()
        assert (await h.http.post("/webhook", json={"token": tokens[0]})).status_code == 200
        await h.drain()
        assert seen == [
            (None, "started", "reserve"),
            ("started", "running", "pay"),
            ("running", "running", "pay"),  # waiting
            ("running", "running", "ship"),  # the webhook's completion
            ("running", "completed", None),
        ]
        # the same completion again changes nothing and calls nothing
        assert (await h.http.post("/webhook", json={"token": tokens[0]})).status_code == 200
        assert len(seen) == 5

        seen.clear()
        await h.http.post("/orders/o-6")
        await h.drain()
        await cancel_saga(h.runtime, "order-o-6", "changed my mind")
        await h.drain()
        # the cancel, in an invocation of its own (reserve has nothing to undo)
        assert seen[-1] == ("running", "failed", None)
        assert (await h.saga("order-o-6")).failure["kind"] == "cancelled"  # type: ignore[index]
