"""Circuit breakers kept in the store (``Store.breaker_*``, ``faaskit.breakers``), on every
backend.

Times are explicit epoch seconds (``now``) or a virtual clock: no test sleeps. Stores
opened twice on one database stand for two processes; the subprocess test is in
tests/e2e/test_breaker_processes.py.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest

from faaskit import App, Backoff, CircuitBreaker, CircuitOpenError, Context, Event
from faaskit.errors import ConfigurationError
from faaskit.store import Store, create_store
from faaskit.store.breaker_rules import ERROR_CHARS, TRIAL_WAIT
from faaskit.store.protocol import Breaker, InsertDocument, WriteSet
from faaskit.testing import AppHarness

T0 = 1_000_000.0
LEASE = 30.0


async def acquire(store: Store, now: float = T0, token: str = "t", name: str = "pay") -> Any:
    return await store.breaker_acquire(name, now=now, lease=LEASE, token=token)


async def fail(
    store: Store, times: int = 1, now: float = T0, token: str | None = None, name: str = "pay"
) -> list[str | None]:
    return [
        await store.breaker_record(
            name,
            failed=True,
            now=now,
            threshold=3,
            recovery_timeout=LEASE,
            token=token,
            error="ProviderDown: 502",
        )
        for _ in range(times)
    ]


async def succeed(
    store: Store, now: float = T0, token: str | None = None, name: str = "pay"
) -> str | None:
    return await store.breaker_record(
        name, failed=False, now=now, threshold=3, recovery_timeout=LEASE, token=token
    )


async def only(store: Store, name: str = "pay") -> Breaker:
    [breaker] = [b for b in await store.breakers() if b.name == name]
    return breaker


# --- transitions ---------------------------------------------------------------------------


async def test_a_breaker_never_seen_is_closed_and_lets_calls_through(store: Store) -> None:
    permit = await acquire(store)

    assert (permit.allowed, permit.trial, permit.state) == (True, False, "closed")
    assert await store.breakers() == []  # asking wrote nothing


async def test_threshold_failures_in_a_row_open_it(store: Store) -> None:
    assert await fail(store, 3) == [None, None, "open"]

    breaker = await only(store)
    assert (breaker.state, breaker.failures, breaker.opens) == ("open", 3, 1)
    assert (breaker.opened_at, breaker.due_at) == (T0, T0 + LEASE)
    assert breaker.last_error == "ProviderDown: 502"


async def test_a_success_resets_the_count(store: Store) -> None:
    await fail(store, 2)
    assert await succeed(store) is None

    assert await fail(store, 2) == [None, None]  # two in a row again, not four
    assert (await only(store)).state == "closed"
    assert await fail(store) == ["open"]


async def test_an_open_breaker_refuses_with_the_seconds_left(store: Store) -> None:
    await fail(store, 3)

    permit = await acquire(store, now=T0 + 10)

    assert (permit.allowed, permit.state) == (False, "open")
    assert permit.retry_after == pytest.approx(LEASE - 10)


async def test_when_due_one_trial_and_its_success_closes(store: Store) -> None:
    await fail(store, 3)
    trial = await acquire(store, now=T0 + LEASE, token="trial-1")
    refused = await acquire(store, now=T0 + LEASE + 0.5, token="other")

    assert (trial.allowed, trial.trial, trial.opened_half) == (True, True, True)
    assert (refused.allowed, refused.state) == (False, "half_open")
    assert refused.retry_after == pytest.approx(TRIAL_WAIT)  # the trial's outcome is near
    assert await succeed(store, now=T0 + LEASE + 1, token="trial-1") == "closed"
    breaker = await only(store)
    assert (breaker.state, breaker.failures, breaker.opens) == ("closed", 0, 1)
    assert (await acquire(store, now=T0 + LEASE + 1)).allowed


async def test_a_failed_trial_opens_it_again_from_then(store: Store) -> None:
    await fail(store, 3)
    await acquire(store, now=T0 + LEASE, token="trial-1")

    assert await fail(store, now=T0 + LEASE + 2, token="trial-1") == ["open"]

    breaker = await only(store)
    assert (breaker.state, breaker.opens, breaker.opened_at) == ("open", 2, T0 + LEASE + 2)
    permit = await acquire(store, now=T0 + LEASE + 3)
    assert not permit.allowed
    assert permit.retry_after == pytest.approx(LEASE - 1)


async def test_calls_that_began_before_it_opened_change_nothing(store: Store) -> None:
    await fail(store, 3)

    assert await succeed(store, now=T0 + 1) is None  # a slow call from before the opening
    assert await fail(store, 5, now=T0 + 1) == [None] * 5

    breaker = await only(store)
    assert (breaker.state, breaker.opens, breaker.due_at) == ("open", 1, T0 + LEASE)


async def test_only_the_trial_holder_decides_a_half_open_breaker(store: Store) -> None:
    await fail(store, 3)
    await acquire(store, now=T0 + LEASE, token="trial-1")

    assert await succeed(store, now=T0 + LEASE + 1, token="someone-else") is None
    assert await succeed(store, now=T0 + LEASE + 1) is None  # not a trial at all

    assert (await only(store)).state == "half_open"


async def test_a_dead_trials_lease_runs_out_and_another_caller_tries(store: Store) -> None:
    await fail(store, 3)
    first = await acquire(store, now=T0 + LEASE, token="dies")  # its process is killed

    still = await acquire(store, now=T0 + 2 * LEASE - 1, token="waits")
    second = await acquire(store, now=T0 + 2 * LEASE, token="second")

    assert first.trial and not still.allowed and still.retry_after == pytest.approx(1.0)
    assert (second.allowed, second.trial, second.opened_half) == (True, True, False)
    assert await succeed(store, now=T0 + 2 * LEASE, token="dies") is None  # too late
    assert await succeed(store, now=T0 + 2 * LEASE + 1, token="second") == "closed"


async def test_a_long_error_is_kept_cut(store: Store) -> None:
    await store.breaker_record(
        "pay", failed=True, now=T0, threshold=3, recovery_timeout=LEASE, error="x" * 5000
    )

    kept = (await only(store)).last_error

    assert kept is not None and len(kept) == ERROR_CHARS and kept.endswith("…")


# --- one trial, however many ask at once ------------------------------------------------------


async def test_twenty_concurrent_acquires_grant_exactly_one_trial(store: Store) -> None:
    await fail(store, 3)

    permits = await asyncio.gather(
        *(acquire(store, now=T0 + LEASE, token=f"caller-{n}") for n in range(20))
    )

    assert sum(p.trial for p in permits) == 1
    assert sum(p.allowed for p in permits) == 1
    assert sum(p.opened_half for p in permits) == 1


async def test_two_stores_on_one_database_grant_one_trial(store: Store) -> None:
    other = create_store(store.url)
    await other.open()
    try:
        await fail(store, 2)
        assert await fail(other) == ["open"]  # the count is shared: 2 here, 1 there
        permits = await asyncio.gather(
            *(
                acquire(s, now=T0 + LEASE, token=f"{id(s)}-{n}")
                for n in range(10)
                for s in (store, other)
            )
        )
        assert sum(p.trial for p in permits) == 1
        assert not (await acquire(other, now=T0 + LEASE + 0.1)).allowed
    finally:
        await other.close()


# --- listing, reset, independence ------------------------------------------------------------


async def test_breakers_are_listed_by_name_and_reset_closes_one(store: Store) -> None:
    await fail(store, 3, name="payments")
    await fail(store, 1, name="email")

    listed = await store.breakers()

    assert [(b.name, b.state, b.failures) for b in listed] == [
        ("email", "closed", 1),
        ("payments", "open", 3),
    ]
    assert await store.reset_breaker("payments") is True
    assert await store.reset_breaker("payments") is False  # nothing left to reset
    assert (await acquire(store, now=T0 + 1, name="payments")).allowed
    assert [b.name for b in await store.breakers()] == ["email"]


async def test_breakers_are_not_part_of_a_unit_of_work_nor_touch_documents(store: Store) -> None:
    await fail(store, 3)
    write = InsertDocument("users", "u1", {"n": 1}, (), "2026-01-01T00:00:00+00:00")
    await store.commit(WriteSet([write]))

    await store.reset()

    assert await store.breakers() == []
    assert await store.get("users", "u1") is None


async def test_nonsense_arguments_are_a_value_error(store: Store) -> None:
    with pytest.raises(ValueError, match="lease"):
        await store.breaker_acquire("pay", now=T0, lease=0, token="t")
    with pytest.raises(ValueError, match="threshold"):
        await store.breaker_record("pay", failed=True, now=T0, threshold=0, recovery_timeout=1)


# --- the decorator and context manager, on the real runtime ----------------------------------


class ProviderDown(RuntimeError):
    pass


class CardRefused(RuntimeError):
    pass


def breaker_app() -> tuple[App, dict[str, Any]]:
    """``GET /charge``: a call to a provider through a breaker; ``state["down"]`` switches
    the provider off, ``state["calls"]`` counts the calls that reached it."""
    app = App("breakers")
    state: dict[str, Any] = {"down": False, "calls": 0, "refuse": False}
    provider = CircuitBreaker(
        "provider", failure_threshold=3, recovery_timeout=30, ignore=(CardRefused,)
    )

    @provider
    async def call_provider(ctx: Context) -> str:
        state["calls"] += 1
        if state["down"]:
            raise ProviderDown("the provider is down")
        if state["refuse"]:
            raise CardRefused("card refused")
        return "charged"

    @app.get("/charge")
    async def charge(ctx: Context) -> dict[str, str]:
        ctx.documents("charges").insert(ctx.request_id, {"at": ctx.now().isoformat()})
        try:
            return {"result": await call_provider(ctx)}
        except CardRefused:
            return {"result": "refused"}

    @app.get("/sync-charge")
    def sync_charge(ctx: Context) -> dict[str, str]:
        with provider(ctx):
            state["calls"] += 1
            if state["down"]:
                raise ProviderDown("the provider is down")
        return {"result": "charged"}

    @app.get("/breaker")
    async def show(ctx: Context) -> dict[str, Any]:
        breaker = await provider.state(ctx)
        return {"state": breaker.state, "failures": breaker.failures}

    return app, state


async def test_open_breaker_answers_503_problem_with_retry_after(backend_url: str) -> None:
    app, state = breaker_app()
    async with AppHarness(app, database_url=backend_url) as h:
        state["down"] = True
        answers = [(await h.http.get("/charge")).status_code for _ in range(3)]
        refused = await h.http.get("/charge")

        assert answers == [500, 500, 500] and state["calls"] == 3
        assert refused.status_code == 503 and state["calls"] == 3  # failed fast
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "30"
        problem = refused.json()
        assert problem["status"] == 503 and problem["title"] == "Service Unavailable"
        assert "provider" in problem["detail"] and "30 s" in problem["detail"]

        h.clock.advance(timedelta(seconds=20))
        assert (await h.http.get("/charge")).headers["retry-after"] == "10"


async def test_the_breaker_survives_the_rollback_of_the_invocation(backend_url: str) -> None:
    app, state = breaker_app()
    async with AppHarness(app, database_url=backend_url) as h:
        state["down"] = True
        for _ in range(3):
            await h.http.get("/charge")

        assert await h.runtime.store.find("charges", {}) == []  # every invocation rolled back
        assert (await h.http.get("/breaker")).json() == {"state": "open", "failures": 3}


async def test_after_recovery_timeout_one_trial_closes_it(backend_url: str) -> None:
    app, state = breaker_app()
    async with AppHarness(app, database_url=backend_url) as h:
        state["down"] = True
        for _ in range(3):
            await h.http.get("/charge")
        state["down"] = False
        h.clock.advance(timedelta(seconds=30))

        trial = await h.http.get("/charge")

        assert trial.json() == {"result": "charged"} and state["calls"] == 4
        assert (await h.http.get("/breaker")).json() == {"state": "closed", "failures": 0}
        assert (await h.http.get("/charge")).status_code == 200


async def test_ignored_exceptions_count_as_the_service_answering(backend_url: str) -> None:
    app, state = breaker_app()
    async with AppHarness(app, database_url=backend_url) as h:
        state["down"] = True
        await h.http.get("/charge")
        await h.http.get("/charge")
        state["down"], state["refuse"] = False, True

        assert (await h.http.get("/charge")).json() == {"result": "refused"}
        assert (await h.http.get("/breaker")).json() == {"state": "closed", "failures": 0}


async def test_a_sync_handler_uses_with(backend_url: str) -> None:
    app, state = breaker_app()
    async with AppHarness(app, database_url=backend_url) as h:
        state["down"] = True
        answers = [(await h.http.get("/sync-charge")).status_code for _ in range(4)]

        assert answers == [500, 500, 500, 503] and state["calls"] == 3


async def test_transitions_are_counted_on_metrics_and_logged(
    backend_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, state = breaker_app()
    async with AppHarness(app, database_url=backend_url) as h:
        state["down"] = True
        with caplog.at_level(logging.INFO, logger="faaskit.breakers"):
            for _ in range(4):
                await h.http.get("/charge")
            state["down"] = False
            h.clock.advance(timedelta(seconds=30))
            await h.http.get("/charge")
        scraped = (await h.http.get("/metrics")).text

    assert 'faaskit_breaker_transitions_total{breaker="provider",to="open"} 1.0' in scraped
    assert 'faaskit_breaker_transitions_total{breaker="provider",to="half_open"} 1.0' in scraped
    assert 'faaskit_breaker_transitions_total{breaker="provider",to="closed"} 1.0' in scraped
    assert 'faaskit_breaker_state{breaker="provider",state="closed"} 1.0' in scraped
    assert 'faaskit_breaker_state{breaker="provider",state="open"} 0.0' in scraped
    said = [r.getMessage() for r in caplog.records if r.name == "faaskit.breakers"]
    assert said[0].startswith("circuit breaker provider opened for 30 s: ProviderDown")
    assert said[1:] == [
        "circuit breaker provider half-open: one trial call",
        "circuit breaker provider closed",
    ]


async def test_a_cancelled_call_gives_no_verdict(backend_url: str) -> None:
    app, _ = breaker_app()
    breaker = CircuitBreaker("slow", failure_threshold=1, recovery_timeout=5)
    async with AppHarness(app, database_url=backend_url) as h:

        async def hangs() -> None:
            async with breaker(h.runtime):
                await asyncio.Event().wait()

        task = asyncio.create_task(hangs())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

        assert (await breaker.state(h.runtime)).failures == 0


def test_a_breaker_declared_wrong_is_a_configuration_error() -> None:
    for bad in (
        {"name": ""},
        {"name": "x" * 201},
        {"failure_threshold": 0},
        {"failure_threshold": True},
        {"recovery_timeout": 0},
        {"recovery_timeout": float("inf")},
        {"recovery_timeout": "30"},
        {"failures": [Exception]},
        {"ignore": (str,)},
    ):
        with pytest.raises(ConfigurationError):
            CircuitBreaker(**{"name": "ok", **bad})  # type: ignore[arg-type]


async def test_a_guarded_function_without_the_context_is_a_type_error() -> None:
    breaker = CircuitBreaker("b")

    @breaker
    async def no_context(amount: int) -> int:
        return amount

    with pytest.raises(TypeError, match="needs the Context"):
        await no_context(3)
    with pytest.raises(TypeError, match="guards a call"):
        breaker(42)


def test_circuit_open_error_is_a_503_with_its_wait() -> None:
    from faaskit.http.problems import problem

    status, headers, _ = problem(
        CircuitOpenError("down", retry_after=2.2, breaker="pay"),
        instance="/x",
        request_id="r",
        realm="faaskit",
    )

    assert status == 503 and (b"retry-after", b"3") in headers


# --- a refused message or saga step is retried, not before the breaker lets calls through ----


def retried_app() -> tuple[App, CircuitBreaker, list[str]]:
    """A subscriber and a one-step saga calling one provider through a breaker that is
    opened beforehand (the test records a failure); ``calls`` lists who reached it."""
    app = App("breaker_retries")
    provider = CircuitBreaker("provider", failure_threshold=1, recovery_timeout=60)
    calls: list[str] = []
    fast = Backoff(base=0.1, cap=0.1)

    @app.subscribe("charge", max_attempts=3, backoff=fast)
    async def charge(event: Event[dict[str, Any]], ctx: Context) -> None:
        async with provider(ctx):
            calls.append("message")

    order = app.saga("order")

    @order.step(max_attempts=3, backoff=fast)
    async def pay(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> str:
        async with provider(ctx):
            calls.append("step")
        return "paid"

    @app.post("/charges", status=202)
    async def place(ctx: Context) -> dict[str, str]:
        ctx.publish("charge", {})
        return {"saga_id": await ctx.start_saga(order, {}, saga_id="s-1")}

    return app, provider, calls


async def test_refused_messages_and_saga_steps_wait_for_the_breaker(backend_url: str) -> None:
    app, provider, calls = retried_app()
    async with AppHarness(app, database_url=backend_url) as h:
        opened = h.runtime.now()
        await h.runtime.store.breaker_record(
            "provider", failed=True, now=opened, threshold=1, recovery_timeout=60
        )
        assert (await h.http.post("/charges")).status_code == 202

        await h.advance(timedelta(seconds=30))  # with a 0.1 s backoff: 300 tries, if allowed

        assert calls == []
        due = sorted(p.available_at for p in await h.scheduled())
        assert len(due) == 2 and due[0] >= opened + 60  # both refused once, back when due
        assert (await h.saga("s-1")).status == "started"
        await h.advance(timedelta(seconds=31))
        assert sorted(calls) == ["message", "step"]  # one was the trial; it closed the breaker
        assert (await provider.state(h.runtime)).state == "closed"
        assert (await h.saga("s-1")).status == "completed"
        assert await h.dead_letters() == []
