"""The saga read API on every backend: ``list_sagas`` with its filters, ``saga_timeline``
of completed, compensated, waiting and manually retried sagas, and the saga metrics at
``GET /metrics``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from faaskit import App, Backoff, Context, Pending, StepFailed
from faaskit.errors import BadRequestError
from faaskit.sagas import list_sagas, read_saga, retry_saga, saga_timeline
from faaskit.testing import AppHarness


class Order(BaseModel):
    quantity: int = 1
    flaky: int = 0
    no_carrier: bool = False
    wait: bool = False


def shop_app(name: str) -> App:
    """``order``: reserve → charge (fails transiently ``flaky`` times, then may fail for
    good) → ship; ``parcel``: one step. Compensations fail while ``refund_down``."""
    app = App(name)
    order = app.saga("order")
    parcel = app.saga("parcel")
    switches = {"refund_down": False}
    app.state = switches  # type: ignore[attr-defined]

    async def release(input: dict[str, Any], result: Any) -> str:
        return "released"

    async def refund(input: dict[str, Any], result: Any) -> str:
        if switches["refund_down"]:
            raise ConnectionError("refund API down")
        return "refunded"

    @order.step(compensate=release)
    async def reserve(input: dict[str, Any]) -> dict[str, int]:
        return {"held": input["quantity"]}

    quick = Backoff(base=2, cap=2)

    @order.step(compensate=refund, max_attempts=3, backoff=quick)
    async def charge(input: dict[str, Any], ctx: Context) -> Any:
        assert ctx.step is not None
        if ctx.step.attempt <= input.get("flaky", 0):
            raise ConnectionError("card network timeout")
        if input.get("wait"):
            return Pending(timeout=600)
        return {"charged": 10 * input["quantity"]}

    @order.step(max_attempts=1)
    async def ship(input: dict[str, Any]) -> str:
        if input.get("no_carrier"):
            raise StepFailed("no carrier", zone="north")
        return "shipped"

    @parcel.step
    async def label(input: dict[str, Any]) -> str:
        return "labelled"

    @app.post("/start/{saga}/{saga_id}", status=202)
    async def start(saga: str, saga_id: str, body: Order, ctx: Context) -> None:
        await ctx.start_saga(saga, body, saga_id=saga_id)

    return app


async def test_list_sagas_filters_by_status_name_and_age_newest_first(backend_url: str) -> None:
    app = shop_app("saga_list")
    async with AppHarness(app, database_url=backend_url) as h:
        for saga_id, body in (("o-old", {"quantity": 1}), ("o-bad", {"quantity": 1})):
            await h.http.post(
                f"/start/order/{saga_id}", json=body | {"no_carrier": "bad" in saga_id}
            )
            await h.advance(timedelta(minutes=1))
        await h.advance(timedelta(hours=2))
        await h.http.post("/start/parcel/p-new", json={})
        await h.http.post("/start/order/o-new", json={"quantity": 2})
        await h.drain()

        every = await list_sagas(h.runtime)
        assert [s.id for s in every] == ["p-new", "o-new", "o-bad", "o-old"]
        new = every[1]
        assert (new.name, new.status, new.current_step) == ("order", "completed", None)
        assert (new.steps_completed, new.steps_total, new.failure) == (3, 3, None)
        assert new.finished_at is not None and new.started_at == h.now().timestamp()
        bad = every[2]
        assert (bad.status, bad.failure) == ("compensated", "ship: no carrier")
        assert bad.steps_completed == 2  # completed once; both were compensated since

        compensated = await list_sagas(h.runtime, status="compensated")
        assert [s.id for s in compensated] == ["o-bad"]
        assert [s.id for s in await list_sagas(h.runtime, name="order", status="completed")] == [
            "o-new",
            "o-old",
        ]
        recent = await list_sagas(h.runtime, since=timedelta(hours=1))
        assert [s.id for s in recent] == ["p-new", "o-new"]
        assert [s.id for s in await list_sagas(h.runtime.store, since=h.now())] == [
            "p-new",
            "o-new",
        ]
        assert [s.id for s in await list_sagas(h.runtime, limit=1)] == ["p-new"]
        assert await list_sagas(h.runtime, status="failed") == []
        with pytest.raises(BadRequestError, match="no saga status 'done'; use one of: started"):
            await list_sagas(h.runtime, status="done")
        data = new.to_dict()
        assert data["id"] == "o-new" and data["started_iso"].endswith("+00:00")


def _events(state: Any) -> list[tuple[str, str | None, str]]:
    return [(e.kind, e.step, e.event) for e in saga_timeline(state)]


async def test_the_timeline_of_a_retried_then_compensated_saga(backend_url: str) -> None:
    app = shop_app("saga_timeline")
    async with AppHarness(app, database_url=backend_url) as h:
        body = {"quantity": 3, "flaky": 2, "no_carrier": True}
        await h.http.post("/start/order/o-1", json=body)
        await h.advance(timedelta(minutes=1))
        state = await read_saga(h.runtime, "o-1")
        assert state is not None and state.status == "compensated"

        timeline = saga_timeline(state)
        assert _events(state) == [
            ("saga", None, "started"),
            ("step", "reserve", "scheduled"),
            ("step", "reserve", "started"),
            ("step", "reserve", "completed"),
            ("step", "charge", "scheduled"),
            ("step", "charge", "retrying"),  # attempt 1 failed
            ("step", "charge", "retrying"),  # attempt 2 failed
            ("step", "charge", "started"),  # its third attempt, after two backoffs
            ("step", "charge", "completed"),
            ("step", "ship", "scheduled"),
            ("step", "ship", "started"),
            ("step", "ship", "failed"),
            ("compensation", "charge", "scheduled"),
            ("compensation", "charge", "started"),
            ("compensation", "charge", "compensated"),
            ("compensation", "reserve", "scheduled"),
            ("compensation", "reserve", "started"),
            ("compensation", "reserve", "compensated"),
            ("saga", None, "compensated"),
        ]
        times = [e.at for e in timeline]
        assert times == sorted(times)
        by = {(e.kind, e.step, e.event): e for e in timeline}
        retries = [e for e in timeline if e.event == "retrying"]
        assert [(r.attempts, r.error) for r in retries] == [
            (1, "ConnectionError: card network timeout"),
            (2, "ConnectionError: card network timeout"),
        ]
        for retry, failure in zip(retries, state.step("charge").failures, strict=True):
            assert retry.detail == f"attempt {retry.attempts + 1} in {failure['retry_in']:.2f}s"
            assert 0 <= failure["retry_in"] <= 30  # the step's backoff
        # every failed attempt is in the saga's document, the last one too
        assert [(f["attempt"], f["retry_in"] is None) for f in state.step("ship").failures] == [
            (1, True)
        ]
        charged = by["step", "charge", "completed"]
        assert (charged.attempts, charged.result, charged.error) == (3, {"charged": 30}, None)
        assert charged.duration is not None and charged.duration > 0  # two backoffs in it
        assert charged.duration == state.step("charge").duration
        shipped = by["step", "ship", "failed"]
        assert (shipped.attempts, shipped.error, shipped.result) == (1, "no carrier", None)
        refunded = by["compensation", "charge", "compensated"]
        assert (refunded.attempts, refunded.result) == (1, "refunded")
        end = by["saga", None, "compensated"]
        assert (end.error, end.detail) == ("ship: no carrier", "failed")
        assert state.finished_at is not None
        assert end.duration == pytest.approx(state.finished_at - state.started_at)
        assert by["saga", None, "started"].detail == (
            '{"flaky":2,"no_carrier":true,"quantity":3,"wait":false}'
        )
        entry = charged.to_dict()
        assert entry["iso"].endswith("+00:00") and entry["iso"] == charged.iso
        assert entry["at"] == state.step("charge").finished_at


async def test_the_timeline_shows_a_step_waiting_for_its_token(backend_url: str) -> None:
    app = shop_app("saga_waiting")
    async with AppHarness(app, database_url=backend_url) as h:
        await h.http.post("/start/order/o-2", json={"quantity": 1, "wait": True})
        await h.drain()
        state = await read_saga(h.runtime.store, "o-2")
        assert state is not None and state.status == "running"
        assert _events(state)[-3:] == [
            ("step", "charge", "scheduled"),
            ("step", "charge", "started"),
            ("step", "charge", "waiting"),
        ]
        waiting = saga_timeline(state)[-1]
        assert waiting.attempts == 1
        assert waiting.detail is not None and waiting.detail.startswith("for its completion token")
        assert "until " in waiting.detail
        [running] = await list_sagas(h.runtime, status="running")
        assert (running.id, running.current_step, running.steps_completed) == ("o-2", "charge", 1)
        assert await read_saga(h.runtime, "nope") is None


async def test_a_manual_retry_shows_in_the_timeline_and_in_the_metrics(backend_url: str) -> None:
    app = shop_app("saga_metrics")
    app.state["refund_down"] = True  # type: ignore[attr-defined]
    async with AppHarness(app, database_url=backend_url) as h:
        await h.http.post("/start/order/o-3", json={"quantity": 1, "no_carrier": True})
        await h.http.post("/start/order/o-4", json={"quantity": 1})
        await h.advance(timedelta(minutes=1))
        stuck = await read_saga(h.runtime, "o-3")
        assert stuck is not None and stuck.status == "compensation_failed"
        failed = saga_timeline(stuck)[-1]
        assert (failed.kind, failed.step, failed.event) == ("compensation", "charge", "failed")
        assert (failed.attempts, failed.error) == (3, "ConnectionError: refund API down")
        assert failed.detail is None

        app.state["refund_down"] = False  # type: ignore[attr-defined]
        await retry_saga(h.runtime, "o-3")
        await h.drain()
        state = await read_saga(h.runtime, "o-3")
        assert state is not None and state.status == "compensated"
        refund = [
            e for e in saga_timeline(state) if e.kind == "compensation" and e.step == "charge"
        ]
        assert [(e.event, e.attempts, e.error) for e in refund][1:4] == [
            ("retrying", 1, "ConnectionError: refund API down"),
            ("retrying", 2, "ConnectionError: refund API down"),
            ("failed", 3, "ConnectionError: refund API down"),
        ]
        # the first round's failures stay in the timeline after the manual retry
        assert [(e.event, e.attempts, e.detail) for e in refund if e.event != "retrying"] == [
            ("scheduled", None, None),
            ("failed", 3, "before manual retry 1"),
            ("started", 1, "manual retry 1"),
            ("compensated", 1, "manual retry 1"),
        ]

        text = (await h.http.get("/metrics")).text
        samples = _samples(text)
        statuses = {
            (labels["saga"], labels["status"]): value
            for name, labels, value in samples
            if name == "faaskit_saga_transitions_total"
        }
        assert statuses == {
            ("order", "started"): 2,
            ("order", "running"): 2,
            ("order", "completed"): 1,
            ("order", "compensating"): 2,  # o-3 once, and again when retried
            ("order", "compensation_failed"): 1,
            ("order", "compensated"): 1,
        }
        attempts = {
            (labels["step"], labels["phase"], labels["outcome"]): value
            for name, labels, value in samples
            if name == "faaskit_saga_step_attempts_total"
        }
        assert attempts == {
            ("reserve", "do", "completed"): 2,
            ("charge", "do", "completed"): 2,
            ("ship", "do", "completed"): 1,
            ("ship", "do", "failed"): 1,
            ("charge", "undo", "failed"): 3,
            ("charge", "undo", "compensated"): 1,
            ("reserve", "undo", "compensated"): 1,
        }
        counts = {
            (labels["step"], labels["phase"], labels["outcome"]): value
            for name, labels, value in samples
            if name == "faaskit_saga_step_duration_seconds_count"
        }
        assert counts[("charge", "undo", "failed")] == 1
        assert counts[("reserve", "do", "completed")] == 2
        assert "# TYPE faaskit_saga_step_duration_seconds histogram" in text


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
