"""Saga steps completed from outside, on every backend: a webhook completes or fails a
pending step by its token, a step still pending at its timeout fails, a completion racing
the timeout (or another completion) is applied once, the deadline and a cancel compensate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from faaskit import App, Backoff, Context, Pending, Saga
from faaskit.sagas import cancel_saga
from faaskit.testing import AppHarness


class Webhook(BaseModel):
    token: str
    status: str = "paid"
    reason: str | None = None


async def until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the webhooks never got there")


def payment_app(
    name: str, *, max_attempts: int = 1, timeout: float | None = 60.0, deadline: float | None = None
) -> tuple[App, Saga, dict[str, Any]]:
    """reserve → pay (pending until a webhook) → ship. ``seen`` records the tokens handed
    to the "provider", the webhook gate (to hold a webhook between its read and its commit)
    and what ran."""
    app = App(name)
    order = app.saga("order", deadline=deadline)
    seen: dict[str, Any] = {"tokens": [], "ran": [], "gate": None, "held": 0}

    async def release(
        input: dict[str, Any], results: dict[str, Any], result: Any, ctx: Context
    ) -> None:
        seen["ran"].append("release")
        ctx.documents("stock").delete(input["order"])

    @order.step(compensate=release)
    async def reserve(input: dict[str, Any], ctx: Context) -> dict[str, int]:
        ctx.documents("stock").insert(input["order"], {"reserved": 1})
        return {"reserved": 1}

    @order.step(max_attempts=max_attempts, timeout=timeout, backoff=Backoff(base=1, cap=1))
    async def pay(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> Pending:
        assert ctx.step is not None and ctx.step.token is not None
        seen["tokens"].append(ctx.step.token)
        ctx.documents("payment_requests").insert(ctx.step.token, {"order": input["order"]})
        return Pending()

    @order.step
    async def ship(input: dict[str, Any], results: dict[str, Any]) -> dict[str, Any]:
        seen["ran"].append("ship")
        return {"paid_with": results["pay"]}

    @app.post("/orders/{order_id}", status=202)
    async def place(order_id: str, ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(order, {"order": order_id})}

    @app.post("/payments/webhook")
    async def webhook(body: Webhook, ctx: Context) -> dict[str, bool]:
        if body.status == "paid":
            await ctx.complete_step(body.token, {"status": "paid"})
        else:
            await ctx.fail_step(body.token, body.reason or "declined", provider="sim")
        ctx.documents("webhooks").insert(f"{body.token}:{body.status}:{len(seen['ran'])}", {})
        gate = seen["gate"]
        if gate is not None:  # hold the invocation after its read, before its commit
            seen["held"] += 1
            await gate.wait()
        return {"ok": True}

    return app, order, seen


async def test_a_pending_step_completed_by_a_webhook_continues_the_saga(backend_url: str) -> None:
    app, _, seen = payment_app("saga_webhook")
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-1")).json()["saga_id"]
        await h.drain()
        state = await h.saga(saga_id)
        assert (state.status, state.current_step) == ("running", "pay")
        [token] = seen["tokens"]
        assert state.step("pay").status == "waiting" and state.step("pay").token == token
        assert saga_id in token and len(token) > len(saga_id) + 16
        assert await h.runtime.store.get("payment_requests", token) is not None  # committed
        assert "ship" not in seen["ran"]

        response = await h.http.post("/payments/webhook", json={"token": token})
        assert response.status_code == 200
        await h.drain()

        state = await h.saga(saga_id)
        assert state.status == "completed"
        assert state.results["pay"] == {"status": "paid"}
        assert state.results["ship"] == {"paid_with": {"status": "paid"}}
        # the provider calls again with the same result: a no-op, not an error
        again = await h.http.post("/payments/webhook", json={"token": token})
        assert again.status_code == 200
        # a different outcome for a step that is done is a conflict
        late = await h.http.post("/payments/webhook", json={"token": token, "status": "declined"})
        assert late.status_code == 409
        assert late.json()["title"] == "Step Not Pending"
        forged = await h.http.post("/payments/webhook", json={"token": "x" + token})
        assert forged.status_code == 409
        assert seen["ran"] == ["ship"]
        assert (await h.saga(saga_id)).version == state.version


async def test_a_pending_step_failed_by_a_webhook_compensates(backend_url: str) -> None:
    app, _, seen = payment_app("saga_declined")
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-2")).json()["saga_id"]
        await h.drain()
        [token] = seen["tokens"]
        body = {"token": token, "status": "declined", "reason": "card declined"}
        assert (await h.http.post("/payments/webhook", json=body)).status_code == 200
        await h.drain()

        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert state.failure is not None
        assert state.failure["reason"] == "card declined"
        assert state.failure["details"] == {"provider": "sim"}
        assert seen["ran"] == ["release"]
        assert await h.runtime.store.get("stock", "o-2") is None


async def test_a_step_still_pending_at_its_timeout_fails_and_compensates(backend_url: str) -> None:
    app, _, seen = payment_app("saga_timeout", timeout=60)
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-3")).json()["saga_id"]
        await h.drain()
        await h.advance(timedelta(seconds=59))
        assert (await h.saga(saga_id)).step("pay").status == "waiting"

        await h.advance(timedelta(seconds=2))

        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert state.failure is not None and state.failure["kind"] == "timeout"
        assert state.step("pay").status == "failed"
        assert seen["ran"] == ["release"]
        assert await h.runtime.store.get("stock", "o-3") is None
        [token] = seen["tokens"]
        late = await h.http.post("/payments/webhook", json={"token": token})
        assert late.status_code == 409
        assert await h.dead_letters() == [] and await h.scheduled() == []


async def test_a_timed_out_pending_step_runs_again_while_attempts_remain(backend_url: str) -> None:
    app, _, seen = payment_app("saga_timeout_retry", max_attempts=2, timeout=60)
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-4")).json()["saga_id"]
        await h.drain()
        await h.advance(timedelta(seconds=65))  # the first wait times out; the action reruns

        first, second = seen["tokens"]
        state = await h.saga(saga_id)
        pay = state.step("pay")
        assert (pay.status, pay.attempts, pay.token) == ("waiting", 2, second)
        assert pay.error is not None and pay.error.startswith("TimeoutError")
        assert (await h.http.post("/payments/webhook", json={"token": first})).status_code == 409
        assert (await h.http.post("/payments/webhook", json={"token": second})).status_code == 200
        await h.drain()

        assert (await h.saga(saga_id)).status == "completed"
        assert seen["ran"] == ["ship"]


async def test_a_completion_racing_the_timeout_is_applied_once(backend_url: str) -> None:
    app, _, seen = payment_app("saga_race_timeout", timeout=60)
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-5")).json()["saga_id"]
        await h.drain()
        [token] = seen["tokens"]
        seen["gate"] = asyncio.Event()
        # the webhook reads the waiting step, then is held before it commits ...
        webhook = asyncio.ensure_future(h.http.post("/payments/webhook", json={"token": token}))
        await until(lambda: seen["held"] == 1)
        # ... while the timeout fires and compensates
        await h.advance(timedelta(seconds=61))
        seen["gate"].set()
        response = await webhook

        # its transition lost at commit: nothing of it committed
        assert response.status_code == 409
        assert response.json()["title"] == "Concurrent Modification"
        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert state.step("pay").status == "failed"
        assert seen["ran"] == ["release"]
        assert await h.runtime.store.find("webhooks", {}) == []


async def test_two_racing_completions_are_applied_once(backend_url: str) -> None:
    app, _, seen = payment_app("saga_race_webhooks", timeout=None)
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-6")).json()["saga_id"]
        await h.drain()
        [token] = seen["tokens"]
        seen["gate"] = gate = asyncio.Event()
        paid = asyncio.ensure_future(h.http.post("/payments/webhook", json={"token": token}))
        declined = asyncio.ensure_future(
            h.http.post("/payments/webhook", json={"token": token, "status": "declined"})
        )
        await until(lambda: seen["held"] == 2)  # both have read the waiting step
        gate.set()
        answers = sorted([await paid, await declined], key=lambda r: r.status_code)
        assert [r.status_code for r in answers] == [200, 409]
        assert answers[1].json()["title"] == "Concurrent Modification"
        await h.drain()

        state = await h.saga(saga_id)
        [webhook] = await h.runtime.store.find("webhooks", {})
        if webhook.id.endswith(":paid:0"):
            assert state.status == "completed" and seen["ran"] == ["ship"]
        else:
            assert state.status == "compensated" and seen["ran"] == ["release"]


async def test_past_its_deadline_a_waiting_saga_compensates(backend_url: str) -> None:
    app, _, seen = payment_app("saga_deadline", timeout=None, deadline=300)
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-7")).json()["saga_id"]
        await h.advance(timedelta(seconds=299))
        assert (await h.saga(saga_id)).status == "running"
        await h.advance(timedelta(seconds=2))

        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert state.failure is not None and state.failure["kind"] == "deadline"
        assert seen["ran"] == ["release"]


async def test_a_cancelled_saga_compensates_what_completed(backend_url: str) -> None:
    app, _, seen = payment_app("saga_cancel", timeout=None)
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-8")).json()["saga_id"]
        await h.drain()
        cancelled = await cancel_saga(h.runtime, saga_id, "customer changed their mind")
        assert cancelled.status == "compensating"
        await h.drain()

        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert state.step("pay").status == "cancelled"
        assert state.failure is not None
        assert state.failure["reason"] == "customer changed their mind"
        assert seen["ran"] == ["release"]
        [token] = seen["tokens"]
        assert (await h.http.post("/payments/webhook", json={"token": token})).status_code == 409


async def test_an_action_over_its_timeout_is_cut_off_and_its_writes_dropped(
    backend_url: str,
) -> None:
    app = App("saga_slow")
    order = app.saga("order", deadline=3600)
    undone: list[str] = []

    async def unreserve(input: dict[str, Any], results: dict[str, Any], result: Any) -> None:
        undone.append(result)

    @order.step(compensate=unreserve)
    async def reserve(input: dict[str, Any]) -> str:
        return "r-1"

    @order.step(timeout=0.05, max_attempts=1)
    async def slow(input: dict[str, Any], ctx: Context) -> None:
        ctx.documents("slow").insert("written", {})
        await asyncio.Event().wait()  # never returns by itself

    @app.post("/orders", status=202)
    async def place(ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(order, {})}

    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders")).json()["saga_id"]
        await h.drain()

        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert state.failure is not None and state.failure["kind"] == "error"
        assert state.failure["reason"] == "TimeoutError: the step did not finish within 0.05s"
        assert undone == ["r-1"]
        assert await h.runtime.store.get("slow", "written") is None
        assert await h.dead_letters() == []


async def test_a_step_due_after_the_deadline_does_not_run(backend_url: str) -> None:
    app = App("saga_late")
    order = app.saga("order", deadline=60)
    ran: list[str] = []

    @order.step
    async def first(input: dict[str, Any]) -> None:
        ran.append("first")

    @app.post("/orders", status=202)
    async def place(ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(order, {})}

    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders")).json()["saga_id"]
        h.clock.advance(timedelta(minutes=2))  # no worker ran in time
        await h.drain()

        state = await h.saga(saga_id)
        assert state.status == "failed"
        assert state.failure is not None and state.failure["kind"] == "deadline"
        assert state.step("first").status == "cancelled"
        assert ran == []
        assert await h.scheduled() == [] and await h.dead_letters() == []
