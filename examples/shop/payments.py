"""A simulated payment provider and the shop's side of it: charges answered later through a
signed webhook, and refunds.

The order saga's ``process_payment`` step charges (amount, method, the step's idempotency
key) and waits (``Pending``): the provider records the payment and answers a moment later
(``SHOP_PAYMENT_DELAY`` seconds) by posting a notice to ``POST /payments/webhook`` at
``SHOP_PAYMENT_WEBHOOK_URL`` — or, with no URL set (one process, no server to call), by
running the webhook's own code. The notice is signed: HMAC-SHA256 with the app secret
``shop-payment-webhook`` over the body's canonical JSON (keys sorted, no spaces, null fields
left out — the bytes the provider sends), hex, in ``X-Shop-Signature: sha256=…``.

The payment method is the failure switch:

- ``declined-card``: the provider answers "declined" (the step fails for good);
- ``flaky-card``: the provider is unavailable for the first two attempts, then charges;
- ``no-answer-card``: the provider takes the charge and never answers (the step times out
  after ``SHOP_PAYMENT_TIMEOUT`` seconds, is retried, and then fails);
- anything else is charged.

``PUT /payments/provider`` with ``{"refunds_available": false}`` is an outage of the
provider's refunds (a refund fails until it is back); with ``{"charges_available": false}``
every charge fails until it is back.

Charges go through the circuit breaker ``payment-provider``, shared by every process:
``BREAKER_FAILURES`` unavailable answers in a row open it, and for
``SHOP_PAYMENT_BREAKER_SECONDS`` (3) the saga's payment step fails fast with
CircuitOpenError (retried when the breaker lets a trial call through) instead of calling a
provider that is down; then one trial charge decides whether it closes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import AsyncIterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from faaskit import (
    AuthError,
    Backoff,
    CircuitBreaker,
    Context,
    NotFoundError,
    StepNotPendingError,
)
from shop.access import ORDERS_ADMIN
from shop.app import app

payments = app.collection("payments")
provider_switches = app.collection("payment_provider")


@app.resource
async def provider_http() -> AsyncIterator[Any]:
    """One HTTP client per process for the provider's webhook posts (its connections are
    reused), made on first use: httpx is not imported on the shop's cold path."""
    import httpx

    async with httpx.AsyncClient(timeout=10) as client:
        yield client


SECRET = "shop-payment-webhook"
SIGNATURE_HEADER = "x-shop-signature"
DECLINED, FLAKY, NO_ANSWER = "declined-card", "flaky-card", "no-answer-card"
FLAKY_FAILURES = 2
"""Attempts a ``flaky-card`` charge fails before the provider takes it."""


class PaymentProviderUnavailable(RuntimeError):
    """The provider did not take the call (a transient failure: retried)."""


def seconds_from(variable: str, default: float) -> float:
    value = os.environ.get(variable)
    return float(value) if value else default


def answer_delay() -> float:
    return seconds_from("SHOP_PAYMENT_DELAY", 1.0)


def payment_timeout() -> float:
    """How long a charge may stay unanswered before the step tries again."""
    return seconds_from("SHOP_PAYMENT_TIMEOUT", 30.0)


BREAKER_FAILURES = 5
"""Unavailable answers in a row that open the breaker (a flaky card fails twice: never)."""
provider_breaker = CircuitBreaker(
    "payment-provider",
    failure_threshold=BREAKER_FAILURES,
    recovery_timeout=seconds_from("SHOP_PAYMENT_BREAKER_SECONDS", 3.0),
    failures=(PaymentProviderUnavailable,),  # a declined card is the provider answering
)


# -- the signature ----------------------------------------------------------------------


def webhook_secret(ctx: Context) -> str:
    """The shared secret (the environment, or a file made on first use under the data dir)."""
    store = ctx.secrets
    return store.get(SECRET) or store.create(SECRET, secrets.token_hex(32))


def canonical(data: dict[str, Any]) -> bytes:
    present = {key: value for key, value in data.items() if value is not None}
    return json.dumps(present, sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class PaymentNotice(BaseModel):
    """What the provider posts to ``POST /payments/webhook``."""

    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(min_length=1, max_length=100)
    token: str = Field(min_length=1, max_length=300)
    status: Literal["captured", "declined"]
    amount: float = Field(ge=0)
    reason: str | None = Field(default=None, max_length=200)


def verify(ctx: Context, notice: PaymentNotice, signed: str | None) -> None:
    """401 unless ``signed`` is the notice's signature with the shared secret."""
    expected = signature(webhook_secret(ctx), canonical(notice.model_dump()))
    if not signed or not hmac.compare_digest(signed, expected):
        raise AuthError("the payment notice's signature is missing or wrong")


# -- the provider -----------------------------------------------------------------------


async def charge(
    ctx: Context, *, payment_id: str, order_id: str, amount: float, method: str
) -> None:
    """Ask the provider to charge (inside the saga step: its token and idempotency key)."""
    run = ctx.step
    assert run is not None and run.token is not None
    async with provider_breaker(ctx):  # CircuitOpenError (fail fast) while it is open
        await provider_takes(ctx, method, run.attempt)
    docs = ctx.documents(payments)
    existing = await docs.get(payment_id)
    record = {
        "payment_id": payment_id,
        "order_id": order_id,
        "saga_id": run.saga_id,
        "amount": amount,
        "method": method,
        "idempotency_key": ctx.idempotency_key(),
        "status": "pending",
        "token": run.token,
        "charges": 1,
        "refunds": [],
        "created_at": ctx.now().isoformat(),
    }
    if existing is None:
        docs.insert(payment_id, record)
    else:  # the same idempotency key: the same payment, asked again (a timed-out attempt)
        again = {**existing.data, "token": run.token, "charges": existing.data["charges"] + 1}
        docs.update(payment_id, again, expected_version=existing.version)
    if method != NO_ANSWER:
        call = {"payment_id": payment_id, "token": run.token}
        ctx.schedule(provider_answers, call, delay=answer_delay(), task_id=f"answer-{run.token}")


async def provider_takes(ctx: Context, method: str, attempt: int) -> None:
    """The provider's answer to the call: PaymentProviderUnavailable when it is down."""
    if method == FLAKY and attempt <= FLAKY_FAILURES:
        raise PaymentProviderUnavailable(f"payment provider unavailable (attempt {attempt})")
    switches = await ctx.documents(provider_switches).get("switches")
    if switches is not None and not switches.data.get("charges_available", True):
        raise PaymentProviderUnavailable("the payment provider is down")


class ProviderCall(BaseModel):
    payment_id: str
    token: str


@app.task(max_attempts=10, backoff=Backoff(base=0.5, cap=5), timeout=30)
async def provider_answers(call: ProviderCall, ctx: Context) -> None:
    """The provider's side: decide the charge and post the signed notice."""
    payment = await ctx.documents(payments).get(call.payment_id)
    if payment is None or payment.data["token"] != call.token:
        return  # charged again since: that call answers
    declined = payment.data["method"] == DECLINED
    notice = PaymentNotice(
        payment_id=call.payment_id,
        token=call.token,
        status="declined" if declined else "captured",
        amount=payment.data["amount"],
        reason="insufficient funds" if declined else None,
    )
    body = canonical(notice.model_dump())
    signed = signature(webhook_secret(ctx), body)
    url = os.environ.get("SHOP_PAYMENT_WEBHOOK_URL")
    if not url:  # nowhere to post: the webhook's own code, in this unit of work
        verify(ctx, notice, signed)
        try:
            await receive(ctx, notice)
        except StepNotPendingError:
            ctx.log.info("payment notice too late", extra={"fields": {"payment": call.payment_id}})
        return
    headers = {"content-type": "application/json", SIGNATURE_HEADER: signed}
    client = await ctx.resource("provider_http")
    response = await client.post(url, content=body, headers=headers)
    if response.status_code == 409:  # the step stopped waiting (timed out, cancelled)
        ctx.log.info("payment notice too late", extra={"fields": {"payment": call.payment_id}})
        return
    response.raise_for_status()


async def receive(ctx: Context, notice: PaymentNotice) -> None:
    """Apply a verified notice: complete or fail the waiting step, then record it."""
    docs = ctx.documents(payments)
    payment = await docs.get(notice.payment_id)
    if payment is None:
        raise NotFoundError("Payment not found")
    # the step first: a notice for a step that no longer waits (409) records nothing
    if notice.status == "captured":
        result = {"payment_id": notice.payment_id, "amount": notice.amount, "status": "captured"}
        await ctx.complete_step(notice.token, result)
    else:
        reason = f"payment declined: {notice.reason or 'no reason given'}"
        await ctx.fail_step(notice.token, reason, payment_id=notice.payment_id)
    if payment.data["status"] == "pending":
        answered = {**payment.data, "status": notice.status, "answered_at": ctx.now().isoformat()}
        docs.update(notice.payment_id, answered, expected_version=payment.version)


async def refund(ctx: Context, payment_id: str) -> dict[str, Any]:
    """Refund a captured payment, once; what was refunded."""
    switches = await ctx.documents(provider_switches).get("switches")
    if switches is not None and not switches.data.get("refunds_available", True):
        raise PaymentProviderUnavailable("the payment provider's refunds are down")
    docs = ctx.documents(payments)
    payment = await docs.get(payment_id)
    if payment is None or payment.data["status"] not in ("captured", "refunded"):
        return {"refunded": None}
    if payment.data["refunds"]:
        return dict(payment.data["refunds"][0])
    done = {
        "refund_id": f"refund-{payment_id}",
        "amount": payment.data["amount"],
        "idempotency_key": ctx.idempotency_key(),
        "refunded_at": ctx.now().isoformat(),
    }
    refunded = {**payment.data, "status": "refunded", "refunds": [done]}
    docs.update(payment_id, refunded, expected_version=payment.version)
    return done


# -- routes -----------------------------------------------------------------------------


@app.post(
    "/payments/webhook",
    tags=["payments"],
    errors={401: "The signature is missing or wrong", 409: "The payment no longer waits"},
)
async def payment_webhook(body: PaymentNotice, ctx: Context) -> dict[str, str]:
    """The payment provider's notice of a charge (signed with the shared secret)."""
    verify(ctx, body, ctx.headers.get(SIGNATURE_HEADER))
    await receive(ctx, body)
    return {"payment_id": body.payment_id, "status": body.status}


class ProviderSwitches(BaseModel):
    refunds_available: bool = True
    charges_available: bool = True


@app.put("/payments/provider", auth=ORDERS_ADMIN, tags=["payments"])
async def switch_provider(body: ProviderSwitches, ctx: Context) -> dict[str, bool]:
    """Take the simulated provider's refunds or charges down, or bring them back."""
    docs = ctx.documents(provider_switches)
    current = await docs.get("switches")
    data = body.model_dump()
    if current is None:
        docs.insert("switches", data)
    else:
        docs.update("switches", data, expected_version=current.version)
    return data


@app.get("/payments/provider", auth=ORDERS_ADMIN, tags=["payments"])
async def provider_status(ctx: Context) -> dict[str, Any]:
    """The provider's switches and its circuit breaker, as every process sees it."""
    switches = await ctx.documents(provider_switches).get("switches")
    breaker = await provider_breaker.state(ctx)
    current = ProviderSwitches() if switches is None else ProviderSwitches(**switches.data)
    shown = {"state": breaker.state, "failures": breaker.failures, "opens": breaker.opens}
    return {**current.model_dump(), "breaker": shown}
