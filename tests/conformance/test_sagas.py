"""Sagas through the testing harness, on every backend: the happy path, compensation in
reverse order, retries, manual retry of a failed compensation, idempotent starts.

Each test declares its own app whose steps record what they did in documents (the effect
a redelivery must not repeat) and in a list (the order, including attempts whose writes
were dropped).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from faaskit import App, Backoff, Context, Saga, StepFailed
from faaskit.sagas import SagaStateError, retry_saga
from faaskit.testing import AppHarness

STEPS = ("reserve", "charge", "ship", "notify")


class Parcel(BaseModel):
    sku: str
    quantity: int


def order_app(
    name: str, *, fail_at: str | None = None, flaky: dict[str, int] | None = None
) -> tuple[App, Saga, list[tuple[str, str, int]]]:
    """Four steps, each writing one ``effects`` document and compensated by deleting it
    (so a step applied twice, or undone twice, fails its unit: the counts below would
    show it). ``fail_at`` fails that step for good; ``flaky`` fails a step's first N
    attempts transiently."""
    app = App(name)
    effects = app.collection("effects")
    order = app.saga("order")
    ran: list[tuple[str, str, int]] = []
    flaky = flaky or {}

    def make(step: str) -> None:
        async def undo(
            input: dict[str, Any], results: dict[str, Any], result: Any, ctx: Context
        ) -> dict[str, str]:
            assert ctx.step is not None
            ran.append(("undo", step, ctx.step.attempt))
            assert result == {"done": step, "order": input["order"]}
            ctx.documents(effects).delete(f"{input['order']}:{step}")
            return {"undone": step}

        async def do(
            input: dict[str, Any], results: dict[str, Any], ctx: Context
        ) -> dict[str, str]:
            assert ctx.step is not None
            ran.append(("do", step, ctx.step.attempt))
            # every earlier step's result is there, and nothing else
            assert list(results) == list(STEPS[: STEPS.index(step)])
            ctx.documents(effects).insert(
                f"{input['order']}:{step}", {"key": ctx.idempotency_key()}
            )
            if step == fail_at:
                raise StepFailed(f"{step} refused", order=input["order"])
            if ctx.step.attempt <= flaky.get(step, 0):
                raise ConnectionError(f"{step} provider unreachable")
            return {"done": step, "order": input["order"]}

        do.__name__ = step
        order.step(compensate=undo, max_attempts=3, backoff=Backoff(base=5, cap=5))(do)

    for step in STEPS:
        make(step)

    @app.post("/orders/{order_id}", status=202)
    async def place(order_id: str, ctx: Context) -> dict[str, str]:
        ctx.documents("orders").insert(order_id, {"status": "placed"})
        return {
            "saga_id": await ctx.start_saga(order, {"order": order_id}, saga_id=f"order-{order_id}")
        }

    return app, order, ran


async def effects_of(h: AppHarness, order_id: str) -> list[str]:
    found = await h.runtime.store.find("effects", {})
    return sorted(d.id for d in found if d.id.startswith(f"{order_id}:"))


async def test_saga_runs_its_steps_in_order_and_completes(backend_url: str) -> None:
    app, _, ran = order_app("saga_happy")
    async with AppHarness(app, database_url=backend_url) as h:
        response = await h.http.post("/orders/o-1")
        assert response.status_code == 202
        saga_id = response.json()["saga_id"]
        assert saga_id == "order-o-1"
        started = await h.saga(saga_id)
        assert (started.status, started.current_step) == ("started", "reserve")

        await h.drain()

        state = await h.saga(saga_id)
        assert state.status == "completed"
        assert state.current_step is None and state.failure is None
        assert ran == [("do", step, 1) for step in STEPS]
        assert state.results == {s: {"done": s, "order": "o-1"} for s in STEPS}
        for step in state.steps:
            assert (step.status, step.attempts) == ("completed", 1)
            assert step.finished_at is not None and step.started_at is not None
            assert step.duration is not None and step.duration >= 0
        assert state.finished_at is not None
        # each step's effect committed once, keyed for outside calls by saga and step
        docs = {d.id: d for d in await h.runtime.store.find("effects", {})}
        assert sorted(docs) == sorted(f"o-1:{s}" for s in STEPS)
        assert {d.data["key"] for d in docs.values()} == {f"order-o-1:{s}:do" for s in STEPS}
        assert all(d.version == 1 for d in docs.values())
        assert await h.scheduled() == [] and await h.dead_letters() == []


@pytest.mark.parametrize("fail_at", STEPS)
async def test_a_failed_step_compensates_exactly_the_completed_steps_in_reverse_order(
    backend_url: str, fail_at: str
) -> None:
    app, _, ran = order_app("saga_fails", fail_at=fail_at)
    completed = list(STEPS[: STEPS.index(fail_at)])
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-2")).json()["saga_id"]
        await h.drain()

        state = await h.saga(saga_id)
        assert state.status == ("compensated" if completed else "failed")
        assert state.failure is not None
        assert state.failure["step"] == fail_at
        assert (state.failure["kind"], state.failure["reason"]) == ("failed", f"{fail_at} refused")
        assert state.failure["details"] == {"order": "o-2"}
        # no retry of a business failure; compensations newest first, each once
        assert ran == [("do", s, 1) for s in [*completed, fail_at]] + [
            ("undo", s, 1) for s in reversed(completed)
        ]
        assert state.compensated == list(reversed(completed))
        assert state.step(fail_at).status == "failed"
        assert state.step(fail_at).undo is None  # a failed step is not compensated
        for step in completed:
            undo = state.step(step).undo
            assert undo is not None and undo.result == {"undone": step}
        # the failed step's own write was dropped, every compensated one deleted
        assert await effects_of(h, "o-2") == []
        assert await h.runtime.store.get("orders", "o-2") is not None
        assert await h.scheduled() == [] and await h.dead_letters() == []


async def test_a_transient_failure_is_retried_after_backoff_and_succeeds(backend_url: str) -> None:
    app, _, ran = order_app("saga_flaky", flaky={"charge": 2})
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-3")).json()["saga_id"]
        await h.drain()
        assert (await h.saga(saga_id)).status == "running"
        [retry] = await h.scheduled()  # the next attempt, a delivery of its own
        assert (retry.target, retry.attempts) == ("task:saga.order.charge.do", 0)
        failures = (await h.saga(saga_id)).step("charge").failures
        assert [(f["attempt"], f["error"]) for f in failures] == [
            (1, "ConnectionError: charge provider unreachable")
        ]
        assert failures[0]["retry_in"] == pytest.approx(
            retry.available_at - h.now().timestamp(), abs=1e-3
        )

        await h.advance(timedelta(seconds=30))

        state = await h.saga(saga_id)
        assert state.status == "completed"
        assert [(p, s, a) for p, s, a in ran if s == "charge"] == [
            ("do", "charge", 1),
            ("do", "charge", 2),
            ("do", "charge", 3),
        ]
        assert state.step("charge").attempts == 3
        charge = await h.runtime.store.get("effects", "o-3:charge")
        assert charge is not None and charge.data == {"key": "order-o-3:charge:do"}
        assert await effects_of(h, "o-3") == sorted(f"o-3:{s}" for s in STEPS)
        assert await h.dead_letters() == []


async def test_a_step_failing_on_every_attempt_is_recorded_and_compensated(
    backend_url: str,
) -> None:
    app, _, ran = order_app("saga_exhausted", flaky={"ship": 99})
    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-4")).json()["saga_id"]
        await h.advance(timedelta(minutes=1))

        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert state.failure is not None and state.failure["kind"] == "error"
        assert state.failure["reason"] == "ConnectionError: ship provider unreachable"
        assert state.step("ship").attempts == 3
        assert [a for p, s, a in ran if s == "ship"] == [1, 2, 3]
        assert state.compensated == ["charge", "reserve"]
        assert await effects_of(h, "o-4") == []
        # handled by the engine, not dead-lettered by the worker
        assert await h.dead_letters() == [] and await h.scheduled() == []


async def test_the_same_saga_id_started_twice_runs_once(backend_url: str) -> None:
    app = App("saga_idempotent")
    order = app.saga("order")
    runs: list[str] = []

    @order.step
    def only(input: dict[str, Any]) -> int:  # a sync step that takes no results or ctx
        runs.append(input["n"])
        return len(runs)

    @app.post("/start/{n}", status=202)
    async def start(n: str, ctx: Context) -> dict[str, str]:
        first = await ctx.start_saga(order, {"n": n}, saga_id="fixed")
        again = await ctx.start_saga("order", {"n": n + "-again"}, saga_id="fixed")
        return {"first": first, "again": again}

    async with AppHarness(app, database_url=backend_url) as h:
        assert (await h.http.post("/start/1")).json() == {"first": "fixed", "again": "fixed"}
        assert (await h.http.post("/start/2")).status_code == 202
        await h.drain()
        assert (await h.http.post("/start/3")).status_code == 202
        await h.drain()

        state = await h.saga("fixed")
        assert (state.status, state.input, state.results) == ("completed", {"n": "1"}, {"only": 1})
        assert runs == ["1"]


async def test_a_compensation_that_keeps_failing_stops_visibly_and_a_manual_retry_finishes(
    backend_url: str,
) -> None:
    app = App("saga_stuck")
    order = app.saga("order")
    refunds = app.collection("refunds")
    provider = {"up": False}
    attempts: list[tuple[int, str]] = []

    async def refund(
        input: dict[str, Any], results: dict[str, Any], result: dict[str, Any], ctx: Context
    ) -> None:
        assert ctx.step is not None
        attempts.append((ctx.step.attempt, ctx.idempotency_key()))
        ctx.documents(refunds).insert(input["order"], {"amount": result["amount"]})
        if not provider["up"]:
            raise ConnectionError("refund API down")

    @order.step(compensate=refund, max_attempts=2, backoff=Backoff(base=1, cap=1))
    async def charge(input: dict[str, Any]) -> dict[str, int]:
        return {"amount": 42}

    @order.step
    async def ship(input: dict[str, Any]) -> None:
        raise StepFailed("no carrier")

    @app.post("/orders/{order_id}", status=202)
    async def place(order_id: str, ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(order, {"order": order_id})}

    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-5")).json()["saga_id"]
        await h.advance(timedelta(minutes=1))

        state = await h.saga(saga_id)
        assert state.status == "compensation_failed"
        assert state.current_step == "charge"
        undo = state.step("charge").undo
        assert undo is not None
        assert (undo.status, undo.attempts, undo.error) == (
            "failed",
            2,
            "ConnectionError: refund API down",
        )
        assert await h.runtime.store.get("refunds", "o-5") is None
        assert await h.dead_letters() == [] and await h.scheduled() == []
        await h.advance(timedelta(hours=1))
        assert (await h.saga(saga_id)).status == "compensation_failed"  # stays, never skipped

        provider["up"] = True
        retried = await retry_saga(h.runtime, saga_id)
        assert retried.status == "compensating"
        await h.drain()

        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert state.compensated == ["charge"]
        refund_doc = await h.runtime.store.get("refunds", "o-5")
        assert refund_doc is not None and refund_doc.data == {"amount": 42}
        assert [a for a, _ in attempts] == [1, 2, 1]
        assert {key for _, key in attempts} == {f"{saga_id}:charge:undo"}
        with pytest.raises(SagaStateError):
            await retry_saga(h.runtime, saga_id)


async def test_a_saga_runs_through_a_cloud_queue_relay_with_every_relay_duplicated(
    backend_url: str,
) -> None:
    from faaskit.runtime.relay import MemoryRelay

    app, _, ran = order_app("saga_relayed", fail_at="ship")
    async with AppHarness(app, database_url=backend_url) as h:
        relay = MemoryRelay()
        h.runtime.relay = relay
        relay.duplicate_next(100)
        saga_id = (await h.http.post("/orders/o-6")).json()["saga_id"]
        outcomes: list[bool] = []
        # as a queue-triggered function would: claim what each queue message names
        while queued := relay.drain():
            outcomes += [await h.worker.deliver(d.message_id, d.target) for d in queued]

        assert outcomes == [True, False] * 5  # 3 steps, 2 compensations; copies do nothing
        state = await h.saga(saga_id)
        assert state.status == "compensated"
        assert ran == [
            ("do", "reserve", 1),
            ("do", "charge", 1),
            ("do", "ship", 1),
            ("undo", "charge", 1),
            ("undo", "reserve", 1),
        ]
        assert await effects_of(h, "o-6") == []
        assert await h.scheduled() == []


async def test_steps_may_be_sync_take_a_model_and_the_state_is_readable_from_a_route(
    backend_url: str,
) -> None:
    app = App("saga_shapes")
    parcel = app.saga("parcel")
    parcels = app.collection("parcels")

    @parcel.step
    def weigh(input: Parcel, ctx: Context) -> dict[str, int]:  # runs in a thread
        assert isinstance(input, Parcel)
        existing = ctx.run(ctx.documents(parcels).get(input.sku))
        ctx.documents(parcels).insert(input.sku, {"seen_before": existing is not None})
        return {"grams": 250 * input.quantity}

    @parcel.step
    async def label(input: dict[str, Any], results: dict[str, Any]) -> str:
        return f"{input['sku']} x{input['quantity']}, {results['weigh']['grams']} g"

    @app.post("/parcels", status=202)
    async def send(body: Parcel, ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(parcel, body)}

    @app.get("/parcels/{saga_id}")
    async def show(saga_id: str, ctx: Context) -> dict[str, Any]:
        state = await ctx.get_saga(saga_id)
        assert state is not None
        return {"status": state.status, "step": state.current_step, "results": state.results}

    async with AppHarness(app, database_url=backend_url) as h:
        response = await h.http.post("/parcels", json={"sku": "p-1", "quantity": 2})
        saga_id = response.json()["saga_id"]
        assert saga_id.startswith("parcel-")
        shown = await h.http.get(f"/parcels/{saga_id}")
        assert shown.json() == {"status": "started", "step": "weigh", "results": {}}
        await h.drain()

        shown = await h.http.get(f"/parcels/{saga_id}")
        assert shown.json() == {
            "status": "completed",
            "step": None,
            "results": {"weigh": {"grams": 500}, "label": "p-1 x2, 500 g"},
        }
        doc = await h.runtime.store.get("parcels", "p-1")
        assert doc is not None and doc.data == {"seen_before": False}
        listed = await h.runtime.store.find("faaskit_sagas", {"status": "completed"})
        assert [d.id for d in listed] == [saga_id]


async def test_a_step_or_compensation_delivered_again_after_it_committed_does_nothing(
    backend_url: str,
) -> None:
    app, _, ran = order_app("saga_redelivered", fail_at="notify")

    @app.post("/replay/{saga_id}", status=202)
    async def replay(saga_id: str, ctx: Context) -> None:
        # what a redelivery after a crash between commit and ack would look like
        for index, step in enumerate(STEPS):
            for phase in ("do", "undo"):
                payload = {"saga": saga_id, "step": index, "round": 0}
                ctx.schedule(f"saga.order.{step}.{phase}", payload)

    async with AppHarness(app, database_url=backend_url) as h:
        saga_id = (await h.http.post("/orders/o-7")).json()["saga_id"]
        await h.drain()
        before = await h.saga(saga_id)
        assert before.status == "compensated"
        ran_before = list(ran)

        assert (await h.http.post(f"/replay/{saga_id}")).status_code == 202
        assert await h.drain() == 2 * len(STEPS)

        after = await h.saga(saga_id)
        assert ran == ran_before  # no handler ran again
        assert (after.version, after.status) == (before.version, "compensated")
        assert await effects_of(h, "o-7") == []
        assert await h.scheduled() == [] and await h.dead_letters() == []


async def test_two_racing_starts_of_one_saga_id_run_it_once(backend_url: str) -> None:
    import asyncio

    app = App("saga_racing_start")
    order = app.saga("order")
    runs: list[str] = []
    held: list[str] = []
    both_held, gate = asyncio.Event(), asyncio.Event()

    @order.step
    async def only(input: dict[str, Any]) -> None:
        runs.append(input["caller"])

    @app.post("/start/{caller}", status=202)
    async def start(caller: str, ctx: Context) -> dict[str, str]:
        saga_id = await ctx.start_saga(order, {"caller": caller}, saga_id="same")
        held.append(caller)
        if len(held) == 2:
            both_held.set()
        await gate.wait()  # both have read "no such saga" before either commits
        return {"saga_id": saga_id}

    async with AppHarness(app, database_url=backend_url) as h:
        calls = [asyncio.ensure_future(h.http.post(f"/start/{c}")) for c in ("a", "b")]
        await asyncio.wait_for(both_held.wait(), 10)
        gate.set()
        answers = sorted([await c for c in calls], key=lambda r: r.status_code)

        # both commit (the later one keeps the first one's saga) and answer its id
        assert [(r.status_code, r.json()) for r in answers] == [(202, {"saga_id": "same"})] * 2
        await h.drain()
        state = await h.saga("same")
        assert (state.status, state.version) == ("completed", 2)
        assert len(runs) == 1 and runs == [state.input["caller"]]
        assert await h.scheduled() == [] and await h.dead_letters() == []
