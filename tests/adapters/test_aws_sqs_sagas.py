"""A saga on Lambda with its steps relayed through SQS (moto in server mode), on both
backends: each step is a delivery the queue names, the payment step waits for a webhook
that arrives as an API Gateway event, and the saga completes (or, declined, compensates)
with every effect applied once — also when SQS delivers every message twice and when
relays are lost (the sweep, as a one-minute schedule would, relays them again)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from faaskit import App, Context, Pending
from faaskit.adapters.aws import lambda_handler
from faaskit.adapters.aws_sqs import SQSRelay
from faaskit.config import Settings
from faaskit.testing import VirtualClock
from tests.adapters.sqs_support import Queue, RecordingClient
from tests.adapters.test_aws_shop import ShopOverLambda
from tests.adapters.test_aws_sqs_shop import LosingRelay

PAYMENT_TIMEOUT = 60.0

app = App("sqs_sagas")
order = app.saga("order")


async def effect(ctx: Context, step: str, phase: str) -> None:
    """Count the effect in a document (read, then update expecting that version): a
    second commit of one effect would show as a count of 2."""
    assert ctx.step is not None
    effects = ctx.documents("effects")
    key = f"{ctx.step.saga_id}:{step}:{phase}"
    found = await effects.get(key)
    if found is None:
        effects.insert(key, {"count": 1, "key": ctx.idempotency_key()})
    else:
        effects.update(key, {"count": found.data["count"] + 1}, expected_version=found.version)


async def release(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> None:
    await effect(ctx, "reserve", "undo")


@order.step(compensate=release)
async def reserve(input: dict[str, Any], ctx: Context) -> dict[str, int]:
    await effect(ctx, "reserve", "do")
    return {"reserved": input["quantity"]}


@order.step(timeout=PAYMENT_TIMEOUT)
async def pay(input: dict[str, Any], ctx: Context) -> Pending:
    assert ctx.step is not None and ctx.step.token is not None
    await effect(ctx, "pay", "do")
    # what a payment provider is handed: the token its webhook answers with
    ctx.documents("payments").insert(ctx.step.saga_id, {"token": ctx.step.token})
    return Pending()


@order.step
async def ship(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> str:
    assert results["pay"] == {"paid": True}
    await effect(ctx, "ship", "do")
    return "shipped"


@app.post("/orders/{order_id}", status=202)
async def place(order_id: str, ctx: Context) -> dict[str, str]:
    return {"saga_id": await ctx.start_saga(order, {"quantity": 2}, saga_id=order_id)}


class Webhook(BaseModel):
    token: str
    outcome: str


@app.post("/payments/webhook")
async def webhook(body: Webhook, ctx: Context) -> dict[str, str]:
    if body.outcome == "paid":
        await ctx.complete_step(body.token, {"paid": True})
    else:
        await ctx.fail_step(body.token, "card declined")
    return {"received": body.outcome}


@app.get("/orders/{order_id}")
async def show(order_id: str, ctx: Context) -> dict[str, Any]:
    state = await ctx.get_saga(order_id)
    assert state is not None
    payment = await ctx.documents("payments").get(order_id)
    effects = await ctx.documents("effects").find({})
    return {
        "status": state.status,
        "current_step": state.current_step,
        "token": None if payment is None else payment.data["token"],
        "effects": {d.id.removeprefix(f"{order_id}:"): d.data for d in effects},
    }


@dataclass
class SagaOverSQS:
    over: ShopOverLambda
    queue: Queue
    clock: VirtualClock
    duplicate: bool

    def deliver(self) -> None:
        """What Lambda's poller and the schedule do: pump the queue, sweep, pump again."""
        for _ in range(5):
            rounds = self.queue.pump(self.over.handler, duplicate=self.duplicate)
            assert [f for batch in rounds for f in batch.failed] == []
            if self.over.handler({"faaskit": "sweep"})["relayed"] == 0:
                return
        raise AssertionError("still relaying after 5 sweeps")

    def order(self, order_id: str) -> dict[str, Any]:
        status, shown = self.over.request("GET", f"/orders/{order_id}")
        assert status == 200, shown
        return dict(shown)

    def pending(self) -> list[Any]:
        runtime = self.over.handler.runtime
        return list(self.over.handler.run(runtime.store.pending()))

    def dead_letters(self) -> list[Any]:
        runtime = self.over.handler.runtime
        return list(self.over.handler.run(runtime.store.dead_letters()))


@pytest.fixture(params=["relayed", "duplicated", "lossy"])
def sagas(
    request: pytest.FixtureRequest, backend_url: str, tmp_path: Path, queue: Queue
) -> Iterator[SagaOverSQS]:
    clock = VirtualClock()
    relay: Any = SQSRelay(queue.url, client=RecordingClient(queue.client), clock=clock)
    if request.param == "lossy":
        relay = LosingRelay(relay)
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    handler = lambda_handler(app, settings=settings, relay=relay, clock=clock)
    try:
        yield SagaOverSQS(
            ShopOverLambda(handler, "v2"), queue, clock, request.param == "duplicated"
        )
    finally:
        handler.close()


@pytest.mark.parametrize(
    ("outcome", "status", "effects"),
    [
        ("paid", "completed", ["reserve:do", "pay:do", "ship:do"]),
        ("declined", "compensated", ["reserve:do", "pay:do", "reserve:undo"]),
    ],
)
def test_a_saga_runs_through_the_sqs_relay_and_a_webhook_with_each_effect_once(
    sagas: SagaOverSQS, outcome: str, status: str, effects: list[str]
) -> None:
    placed, accepted = sagas.over.request("POST", "/orders/o-1")
    assert (placed, accepted) == (202, {"saga_id": "o-1"})

    sagas.deliver()  # reserve, then pay, which waits for the provider
    waiting = sagas.order("o-1")
    assert (waiting["status"], waiting["current_step"]) == ("running", "pay")
    assert sorted(waiting["effects"]) == ["pay:do", "reserve:do"]

    hook = {"token": waiting["token"], "outcome": outcome}
    for _ in range(2):  # the provider calls its webhook twice: the second is a no-op
        answered, body = sagas.over.request("POST", "/payments/webhook", body=hook)
        assert (answered, body) == (200, {"received": outcome})
    sagas.deliver()
    # the payment step's timeout comes due later and finds nothing to do
    sagas.clock.advance(timedelta(seconds=PAYMENT_TIMEOUT + 1))
    sagas.deliver()

    done = sagas.order("o-1")
    assert (done["status"], done["current_step"]) == (status, None)
    assert sorted(done["effects"]) == sorted(effects)
    assert all(e["count"] == 1 for e in done["effects"].values())
    assert done["effects"]["reserve:do"]["key"] == "o-1:reserve:do"
    assert sagas.pending() == [] and sagas.dead_letters() == []
    relay = sagas.over.handler.runtime.relay
    if isinstance(relay, LosingRelay):
        assert relay.lost  # the sweep made good what the relay lost
    if sagas.duplicate:
        handed = [r["body"] for batch in sagas.queue.rounds for r in batch.event["Records"]]
        assert len(handed) > len(set(handed))  # the handler did see duplicates
