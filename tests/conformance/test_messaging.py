"""Messages, tasks and crons through the testing harness, on every backend.

Each test builds its own app, drives it with :class:`faaskit.testing.AppHarness` on the
parametrized store and a virtual clock, and checks what a user would see: documents,
published messages, scheduled deliveries, dead letters and ``/metrics``.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from faaskit import App, Backoff, ConflictError, Context, Event
from faaskit.testing import DEFAULT_START, AppHarness


async def metric(h: AppHarness, sample_name: str, **labels: str) -> float:
    """A sample's value as ``GET /metrics`` shows it (0 when absent)."""
    response = await h.http.get("/metrics")
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == sample_name and all(
                sample.labels.get(k) == v for k, v in labels.items()
            ):
                return float(sample.value)
    return 0.0


def at(epoch: float) -> datetime:
    """A moment at or just after ``epoch`` on the harness clock's microsecond grid."""
    return datetime.fromtimestamp(epoch, UTC) + timedelta(microseconds=1)


# --- the transactional outbox ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [("/orders/o-1/crash", 500), ("/orders/o-1/refuse", 409)],
)
async def test_http_handler_that_raises_after_publishing_publishes_nothing(
    backend_url: str, path: str, status: int
) -> None:
    app = App("outbox_http")
    handled: list[str] = []

    @app.post("/orders/{order_id}", status=202)
    async def place(order_id: str, ctx: Context) -> dict[str, str]:
        ctx.publish("order.placed", {"order_id": order_id})
        return {"order_id": order_id}

    @app.post("/orders/{order_id}/crash")
    async def place_then_crash(order_id: str, ctx: Context) -> None:
        ctx.publish("order.placed", {"order_id": order_id})
        ctx.schedule(reminder, {"order_id": order_id}, delay=60)
        raise RuntimeError("crashed after publishing")

    @app.post("/orders/{order_id}/refuse")
    async def place_then_refuse(order_id: str, ctx: Context) -> None:
        ctx.publish("order.placed", {"order_id": order_id})
        ctx.schedule(reminder, {"order_id": order_id}, delay=60)
        raise ConflictError("refused after publishing")

    @app.subscribe("order.placed")
    async def ship(payload: dict[str, Any]) -> None:
        handled.append(payload["order_id"])

    @app.task
    async def reminder(payload: dict[str, Any]) -> None:
        handled.append("reminder")

    async with AppHarness(app, database_url=backend_url) as h:
        response = await h.http.post(path)
        assert response.status_code == status
        assert await h.published() == []
        assert await h.scheduled() == []
        assert await h.advance(timedelta(hours=1)) == 0
        assert handled == []

        # The same publication from a handler that returns does go out.
        assert (await h.http.post("/orders/o-2")).status_code == 202
        assert [m.data for m in await h.published("order.placed")] == [{"order_id": "o-2"}]
        assert await h.drain() == 1
        assert handled == ["o-2"]


async def test_subscriber_that_raises_after_publishing_leaves_no_publication(
    backend_url: str,
) -> None:
    app = App("outbox_subscriber")
    payments = app.collection("payments")
    receipts: list[str] = []

    @app.post("/orders/{order_id}", status=202)
    async def place(order_id: str, ctx: Context) -> None:
        ctx.publish("order.placed", {"order_id": order_id})

    @app.subscribe("order.placed", backoff=Backoff(base=10, cap=10))
    async def charge(event: Event[dict[str, Any]], ctx: Context) -> None:
        order_id = event.data["order_id"]
        ctx.documents(payments).insert(order_id, {"attempt": event.attempt})
        ctx.publish("payment.taken", {"order_id": order_id, "attempt": event.attempt})
        if event.attempt == 1:
            raise RuntimeError("payment provider timed out")

    @app.subscribe("payment.taken")
    async def send_receipt(payload: dict[str, Any]) -> None:
        receipts.append(payload["order_id"])

    async with AppHarness(app, database_url=backend_url) as h:
        await h.http.post("/orders/o-1")
        assert await h.drain() == 1  # the first attempt, which fails

        assert await h.published("payment.taken") == []
        assert await h.runtime.store.get("payments", "o-1") is None
        [retry] = await h.scheduled()
        assert (retry.target, retry.attempts) == ("sub:charge", 1)
        assert receipts == []

        await h.advance(timedelta(seconds=10))  # the retry succeeds

        taken = await h.published("payment.taken")
        assert [m.data for m in taken] == [{"order_id": "o-1", "attempt": 2}]
        payment = await h.runtime.store.get("payments", "o-1")
        assert payment is not None and payment.data == {"attempt": 2}
        assert receipts == ["o-1"]
        assert await h.scheduled() == []
        assert await h.dead_letters() == []


# --- retries, dead letters, redrive ----------------------------------------------------


async def test_retries_follow_exponential_backoff_then_dead_letter_every_attempt(
    backend_url: str,
) -> None:
    app = App("retries")
    backoff = Backoff(base=2.0, cap=5.0)
    attempts: list[tuple[int, datetime]] = []

    @app.post("/cards", status=202)
    async def add_card(ctx: Context) -> None:
        ctx.publish("card.added", {"card": "c-1"})

    @app.subscribe("card.added", max_attempts=4, backoff=backoff)
    async def verify_card(event: Event[dict[str, Any]], ctx: Context) -> None:
        attempts.append((event.attempt, ctx.now()))
        raise RuntimeError(f"card declined (attempt {event.attempt})")

    async with AppHarness(app, database_url=backend_url) as h:
        await h.http.post("/cards")
        assert await h.drain() == 1
        for attempt in (1, 2, 3):
            failed_at = h.runtime.now()
            [retry] = await h.scheduled()
            assert retry.attempts == attempt
            ceiling = min(backoff.cap, backoff.base * 2 ** (attempt - 1))
            assert 0 <= retry.available_at - failed_at <= ceiling
            h.clock.set(at(retry.available_at))
            assert await h.drain() == 1  # the next attempt, which fails too

        assert [a for a, _ in attempts] == [1, 2, 3, 4]
        assert await h.scheduled() == []
        [dead] = await h.dead_letters()
        assert dead.target == "sub:verify_card"
        assert dead.reason == "max attempts"
        assert dead.attempts == 4
        assert dead.message.data == {"card": "c-1"}
        assert [e["attempt"] for e in dead.errors] == [1, 2, 3, 4]
        for error, (attempt, moment) in zip(dead.errors, attempts, strict=True):
            assert error["error"] == f"RuntimeError: card declined (attempt {attempt})"
            assert error["at"] == pytest.approx(moment.timestamp(), abs=1e-5)
            assert error["traceback"].startswith("Traceback (most recent call last)")
            assert "in verify_card" in error["traceback"]
            assert f"card declined (attempt {attempt})" in error["traceback"]
        assert await metric(h, "faaskit_dead_letters_total", target="sub:verify_card") == 1


async def test_retry_delays_are_spread_by_full_jitter(backend_url: str) -> None:
    app = App("jitter")
    backoff = Backoff(base=8.0, cap=300.0)

    @app.post("/bulk", status=202)
    async def bulk(ctx: Context) -> None:
        for n in range(40):
            ctx.publish("item", {"n": n})

    @app.subscribe("item", backoff=backoff)
    async def flaky(event: Event[dict[str, Any]]) -> None:
        raise RuntimeError("always fails")

    async with AppHarness(app, database_url=backend_url) as h:
        await h.http.post("/bulk")
        assert await h.drain() == 40
        now = h.runtime.now()
        delays = [p.available_at - now for p in await h.scheduled()]
        assert len(delays) == 40
        assert all(0 <= d <= 8.0 for d in delays)
        # Full jitter: uniform over [0, 8], not a fixed or half-jittered wait (a spread
        # this narrow by chance has probability 2**-39).
        assert min(delays) < 4.0 < max(delays)


async def test_redrive_delivers_a_dead_letter_again_and_it_is_handled(backend_url: str) -> None:
    app = App("redrive")
    shipments = app.collection("shipments")
    provider = {"up": False}

    @app.post("/orders/{order_id}", status=202)
    async def place(order_id: str, ctx: Context) -> None:
        ctx.publish("order.placed", {"order_id": order_id}, key=order_id)

    @app.subscribe("order.placed", max_attempts=2, backoff=Backoff(base=1, cap=1))
    async def ship(event: Event[dict[str, Any]], ctx: Context) -> None:
        if not provider["up"]:
            raise RuntimeError("shipping provider is down")
        ctx.documents(shipments).insert(event.data["order_id"], {"message": event.id})

    async with AppHarness(app, database_url=backend_url) as h:
        await h.http.post("/orders/o-7")
        await h.advance(timedelta(minutes=1))
        [dead] = await h.dead_letters()
        assert dead.reason == "max attempts" and dead.attempts == 2
        assert await h.runtime.store.get("shipments", "o-7") is None

        provider["up"] = True
        assert await h.runtime.store.redrive([dead.seq], now=h.runtime.now()) == 1
        assert await h.dead_letters() == []
        assert await h.drain() == 1

        shipment = await h.runtime.store.get("shipments", "o-7")
        assert shipment is not None and shipment.data == {"message": dead.message.id}
        assert await h.dead_letters() == []
        assert await h.scheduled() == []


# --- deduplication and TTL -------------------------------------------------------------


async def test_duplicate_message_id_is_dropped_and_counted(backend_url: str) -> None:
    app = App("dedup")
    handled: list[str] = []

    @app.post("/orders/{order_id}", status=202)
    async def place_order(order_id: str, ctx: Context) -> dict[str, str]:
        message_id = ctx.publish(
            "order.placed", {"order_id": order_id}, message_id=f"{order_id}-placed"
        )
        return {"message_id": message_id}

    @app.subscribe("order.placed")
    async def ship(event: Event[dict[str, Any]]) -> None:
        handled.append(event.id)

    async with AppHarness(app, database_url=backend_url) as h:
        first = await h.http.post("/orders/o-1")
        again = await h.http.post("/orders/o-1")
        other = await h.http.post("/orders/o-2")
        assert [r.status_code for r in (first, again, other)] == [202, 202, 202]
        assert first.json() == again.json() == {"message_id": "o-1-placed"}

        published = await h.published("order.placed")
        assert sorted(m.id for m in published) == ["o-1-placed", "o-2-placed"]
        assert await h.drain() == 2
        assert sorted(handled) == ["o-1-placed", "o-2-placed"]
        assert await metric(h, "faaskit_messages_deduplicated_total", function="place_order") == 1


async def test_task_id_used_twice_schedules_the_task_once(backend_url: str) -> None:
    app = App("dedup_tasks")
    sent: list[str] = []

    @app.post("/users/{user_id}/welcome", status=202)
    async def plan_welcome(user_id: str, ctx: Context) -> None:
        ctx.schedule(send_welcome, {"user_id": user_id}, delay=300, task_id=f"welcome-{user_id}")

    @app.task
    async def send_welcome(payload: dict[str, Any]) -> None:
        sent.append(payload["user_id"])

    async with AppHarness(app, database_url=backend_url) as h:
        for _ in range(3):
            assert (await h.http.post("/users/u-1/welcome")).status_code == 202
        assert [p.message.id for p in await h.scheduled("send_welcome")] == ["welcome-u-1"]
        await h.advance(timedelta(minutes=10))
        assert sent == ["u-1"]
        assert await metric(h, "faaskit_messages_deduplicated_total", function="plan_welcome") == 2


async def test_message_not_delivered_within_its_ttl_is_expired_not_delivered(
    backend_url: str,
) -> None:
    app = App("ttl")
    handled: list[str] = []

    @app.post("/quotes/{quote_id}", status=202)
    async def quote(quote_id: str, ctx: Context) -> None:
        ctx.publish("quote.offered", {"quote_id": quote_id}, ttl=timedelta(seconds=30))

    @app.subscribe("quote.offered")
    async def notify_buyer(payload: dict[str, Any]) -> None:
        handled.append(payload["quote_id"])

    async with AppHarness(app, database_url=backend_url) as h:
        # Delivered in time: handled.
        await h.http.post("/quotes/q-1")
        assert await h.drain() == 1
        assert handled == ["q-1"]

        # Not delivered in time (no worker ran for five minutes): expired.
        await h.http.post("/quotes/q-2")
        [offered] = [m for m in await h.published("quote.offered") if m.data["quote_id"] == "q-2"]
        h.clock.advance(timedelta(minutes=5))
        await h.drain()

        assert handled == ["q-1"]
        [dead] = await h.dead_letters()
        assert dead.reason == "expired"
        assert dead.target == "sub:notify_buyer"
        assert dead.message.id == offered.id
        assert await h.scheduled() == []
        assert await metric(h, "faaskit_messages_expired_total", function="notify_buyer") == 1


# --- ordering and fan-out --------------------------------------------------------------


async def test_ordered_messages_of_a_key_are_handled_one_at_a_time_in_publish_order(
    backend_url: str,
) -> None:
    app = App("ordered")
    handled: list[tuple[str, int, int]] = []
    running: dict[str, int] = {}
    most_at_once: dict[str, int] = {}

    @app.post("/accounts/{account}/entries/{n}", status=202)
    async def post_entry(account: str, n: int, ctx: Context) -> None:
        ctx.publish("ledger.entry", {"account": account, "n": n}, key=account)

    @app.subscribe("ledger.entry", ordered=True, backoff=Backoff(base=30, cap=30))
    async def apply_entry(event: Event[dict[str, Any]]) -> None:
        account, n = event.data["account"], event.data["n"]
        running[account] = running.get(account, 0) + 1
        most_at_once[account] = max(most_at_once.get(account, 0), running[account])
        try:
            await asyncio.sleep(0.01)  # overlap with whatever else the batch runs
            if (account, n, event.attempt) == ("a", 1, 1):
                raise RuntimeError("first entry of a fails once")
            handled.append((account, n, event.attempt))
        finally:
            running[account] -= 1

    async with AppHarness(app, database_url=backend_url) as h:
        for account, n in [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]:
            assert (await h.http.post(f"/accounts/{account}/entries/{n}")).status_code == 202

        await h.drain()
        # a/1 failed and waits for its retry; a/2 and a/3 wait behind it; b proceeds.
        assert [(a, n) for a, n, _ in handled] == [("b", 1), ("b", 2), ("b", 3)]
        pending = await h.scheduled()
        assert sorted(p.message.data["n"] for p in pending) == [1, 2, 3]
        assert {p.message.key for p in pending} == {"a"}

        await h.advance(timedelta(minutes=1))
        assert [(n, attempt) for a, n, attempt in handled if a == "a"] == [(1, 2), (2, 1), (3, 1)]
        assert most_at_once == {"a": 1, "b": 1}
        assert await h.scheduled() == []
        assert await h.dead_letters() == []


async def test_unordered_messages_of_a_key_do_not_wait_for_each_other(backend_url: str) -> None:
    app = App("unordered")
    handled: list[int] = []

    @app.post("/entries/{n}", status=202)
    async def post_entry(n: int, ctx: Context) -> None:
        ctx.publish("entry", {"n": n}, key="same")

    @app.subscribe("entry", backoff=Backoff(base=30, cap=30))
    async def apply_entry(event: Event[dict[str, Any]]) -> None:
        if event.data["n"] == 1 and event.attempt == 1:
            raise RuntimeError("fails once")
        handled.append(event.data["n"])

    async with AppHarness(app, database_url=backend_url) as h:
        for n in (1, 2, 3):
            await h.http.post(f"/entries/{n}")
        await h.drain()
        assert sorted(handled) == [2, 3]
        await h.advance(timedelta(minutes=1))
        assert sorted(handled) == [1, 2, 3]


async def test_every_subscription_of_a_topic_gets_its_own_copy(backend_url: str) -> None:
    app = App("fanout")
    seen: dict[str, list[str]] = {"welcome": [], "crm": [], "audit": []}

    @app.post("/users/{user_id}", status=202)
    async def register(user_id: str, ctx: Context) -> dict[str, str]:
        return {"message_id": ctx.publish("user.registered", {"user_id": user_id})}

    @app.subscribe("user.registered")
    async def send_welcome(event: Event[dict[str, Any]]) -> None:
        seen["welcome"].append(event.id)

    @app.subscribe("user.registered", max_attempts=3, backoff=Backoff(base=1, cap=1))
    async def sync_crm(event: Event[dict[str, Any]]) -> None:
        if event.attempt == 1:
            raise RuntimeError("CRM is down")  # one copy failing does not affect the other
        seen["crm"].append(event.id)

    @app.subscribe("user.deleted")
    async def audit(event: Event[dict[str, Any]]) -> None:
        seen["audit"].append(event.id)

    async with AppHarness(app, database_url=backend_url) as h:
        message_id = (await h.http.post("/users/u-1")).json()["message_id"]
        assert sorted(p.target for p in await h.scheduled()) == ["sub:send_welcome", "sub:sync_crm"]
        await h.advance(timedelta(minutes=1))
        assert seen == {"welcome": [message_id], "crm": [message_id], "audit": []}
        assert len(await h.published("user.registered")) == 1


# --- time: tasks and crons -------------------------------------------------------------


async def test_scheduled_tasks_fire_at_their_virtual_time_and_not_before(
    backend_url: str,
) -> None:
    app = App("schedules")
    ran: list[tuple[str, datetime]] = []
    start = DEFAULT_START

    @app.post("/users/{user_id}", status=201)
    async def register(user_id: str, ctx: Context) -> None:
        ctx.schedule(send_welcome, {"user_id": user_id}, delay=timedelta(minutes=5))
        ctx.schedule(send_onboarding, {"user_id": user_id}, delay=timedelta(days=3))
        ctx.schedule(send_survey, {"user_id": user_id}, at=ctx.now() + timedelta(days=1))

    @app.task
    async def send_welcome(payload: dict[str, Any], ctx: Context) -> None:
        ran.append(("welcome", ctx.now()))

    @app.task
    async def send_onboarding(payload: dict[str, Any], ctx: Context) -> None:
        ran.append(("onboarding", ctx.now()))

    @app.task
    async def send_survey(payload: dict[str, Any], ctx: Context) -> None:
        ran.append(("survey", ctx.now()))

    async with AppHarness(app, database_url=backend_url) as h:
        assert (await h.http.post("/users/u-1")).status_code == 201
        assert len(await h.scheduled("send_welcome")) == 1
        assert len(await h.scheduled("send_onboarding")) == 1

        await h.advance(timedelta(minutes=5) - timedelta(milliseconds=1))
        assert ran == []
        await h.advance(timedelta(milliseconds=1))
        assert ran == [("welcome", start + timedelta(minutes=5))]

        await h.advance(timedelta(days=3) - timedelta(minutes=5, milliseconds=1))
        assert ran[1:] == [("survey", start + timedelta(days=1))]
        assert len(await h.scheduled("send_onboarding")) == 1
        await h.advance(timedelta(milliseconds=1))
        assert ran[2:] == [("onboarding", start + timedelta(days=3))]
        assert await h.scheduled() == []


async def test_cron_runs_once_per_tick_at_the_tick_time(backend_url: str) -> None:
    app = App("cron_ticks")
    ran: list[tuple[str, datetime]] = []

    @app.cron("*/5 * * * *")
    async def rollup(event: Event[dict[str, Any]], ctx: Context) -> None:
        ran.append((event.data["tick"], ctx.now()))

    async with AppHarness(app, database_url=backend_url) as h:
        assert await h.drain() == 0  # schedules the first tick
        await h.advance(timedelta(minutes=15))
        ticks = [DEFAULT_START + timedelta(minutes=m) for m in (5, 10, 15)]
        assert ran == [(t.isoformat(), t) for t in ticks]
        [following] = await h.scheduled()
        assert following.available_at == (DEFAULT_START + timedelta(minutes=20)).timestamp()


async def test_cron_ticks_missed_while_nothing_ran_fire_once_on_start(backend_url: str) -> None:
    def make_app(ran: list[tuple[str, datetime]]) -> App:
        app = App("cron_missed")

        @app.cron("*/5 * * * *")
        async def rollup(event: Event[dict[str, Any]], ctx: Context) -> None:
            ran.append((event.data["tick"], ctx.now()))

        return app

    ran: list[tuple[str, datetime]] = []
    async with AppHarness(make_app(ran), database_url=backend_url) as h:
        assert await h.drain() == 0  # a worker ran once: the 09:05 tick is scheduled
    assert ran == []

    # Nothing runs for an hour (twelve ticks); then a worker starts again.
    restart = DEFAULT_START + timedelta(hours=1, seconds=30)
    async with AppHarness(make_app(ran), database_url=backend_url, start=restart) as h:
        assert await h.drain() == 1
        assert ran == [((DEFAULT_START + timedelta(minutes=5)).isoformat(), restart)]
        [following] = await h.scheduled()
        next_tick = DEFAULT_START + timedelta(hours=1, minutes=5)
        assert following.available_at == next_tick.timestamp()

        await h.advance(timedelta(minutes=5))
        assert ran[1:] == [(next_tick.isoformat(), next_tick)]
        assert await h.dead_letters() == []


async def test_a_handler_past_its_timeout_is_a_failed_attempt(backend_url: str) -> None:
    app = App("timeouts")
    attempts: list[int] = []

    @app.post("/go", status=202)
    async def go(ctx: Context) -> dict[str, str]:
        ctx.publish("slow", {})
        return {}

    @app.subscribe("slow", timeout=0.3, max_attempts=2, backoff=Backoff(base=0.01, cap=0.01))
    async def slow(event: Event[dict[str, Any]], ctx: Context) -> None:
        attempts.append(event.attempt)
        ctx.documents("marks").insert(f"attempt-{event.attempt}", {})
        await asyncio.sleep(30)

    async with AppHarness(app, database_url=backend_url) as h:
        await h.http.post("/go")
        await h.drain()
        await h.advance(timedelta(seconds=1))
        [letter] = await h.dead_letters()
        assert attempts == [1, 2]
        assert [e["error"] for e in letter.errors] == [
            "TimeoutError: the handler did not finish within its timeout"
        ] * 2
        assert await h.runtime.store.find("marks", {}) == []  # nothing of a timed-out attempt
