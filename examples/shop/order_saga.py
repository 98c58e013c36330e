"""The order saga: reserve inventory → take payment → create the shipment → send the
confirmation, each undone in reverse order when a later one fails.

``POST /orders`` starts it (id ``order-{order_id}``) with the ``OrderCreated`` event. Each
step's writes commit with the step's transition; a business failure (too little stock, a
declined card, a country the carrier does not serve) is a ``StepFailed`` and is not
retried; a provider that is down is retried with backoff. ``shop.order_workflow``'s
``@order_saga.on_transition`` hook turns the transitions into the workflow events and the
order's confirmation or cancellation.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from faaskit import Backoff, Context, Pending, StepFailed
from shop import inventory, payments, shipping
from shop.app import app
from shop.mail import provider

order_saga = app.saga("order", deadline=timedelta(hours=1))
Input = dict[str, Any]


async def release_inventory(input: Input, result: dict[str, Any], ctx: Context) -> dict[str, Any]:
    ids = [item["reservation_id"] for item in result["items"]]
    return {"released": await inventory.release(ctx, ids)}


@order_saga.step(compensate=release_inventory, max_attempts=10, backoff=Backoff(base=0.05, cap=1))
async def reserve_inventory(input: Input, ctx: Context) -> dict[str, Any]:
    """Every line's units, or none: too little of any product fails the order."""
    checks = await inventory.check(ctx, input["order_id"], input["items"])
    short = [item for item in checks if not item["is_available"]]
    if short:
        first = short[0]
        raise StepFailed(
            f"insufficient stock for {first['product_id']}: "
            f"{first['available']} available, {first['requested']} requested",
            product=first["product_id"],
            available=first["available"],
            requested=first["requested"],
            items=checks,
        )
    await inventory.reserve(ctx, input["order_id"], checks)
    return {"items": checks, "all_items_available": True}


async def refund_payment(input: Input, result: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await payments.refund(ctx, result["payment_id"])


@order_saga.step(compensate=refund_payment, max_attempts=4, backoff=Backoff(base=0.2, cap=2))
async def process_payment(input: Input, ctx: Context) -> Pending:
    """Charge, and wait for the provider's signed notice (``POST /payments/webhook``)."""
    await payments.charge(
        ctx,
        payment_id=f"pay-{input['order_id']}",
        order_id=input["order_id"],
        amount=input["total"],
        method=input["payment_method"],
    )
    return Pending(timeout=payments.payment_timeout())


async def cancel_shipment(input: Input, result: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await shipping.cancel(ctx, result["shipment_id"])


@order_saga.step(compensate=cancel_shipment, max_attempts=5, backoff=Backoff(base=0.2, cap=2))
async def create_shipment(input: Input, ctx: Context) -> dict[str, Any]:
    units = sum(line["quantity"] for line in input["items"])
    return await shipping.create(ctx, input["order_id"], input["shipping_address"], units)


def _mail(input: Input) -> dict[str, Any]:
    return {"to": input["email"] or input["customer_id"], "data": {"order_id": input["order_id"]}}


async def send_cancellation(input: Input, ctx: Context) -> dict[str, Any]:
    mail = _mail(input)
    subject = f"Your order {input['order_id'][:8]} is cancelled"
    sent = await provider.send(ctx, subject=subject, template="order-cancelled", **mail)
    return {"message_id": sent}


@order_saga.step(compensate=send_cancellation, max_attempts=5, backoff=Backoff(base=0.2, cap=2))
async def send_confirmation(input: Input, results: dict[str, Any], ctx: Context) -> dict[str, Any]:
    mail = _mail(input)
    mail["data"]["tracking_number"] = results["create_shipment"]["tracking_number"]
    subject = f"Your order {input['order_id'][:8]} is confirmed"
    sent = await provider.send(ctx, subject=subject, template="order-confirmed", **mail)
    return {"message_id": sent}


async def undo_completed(ctx: Context, results: dict[str, Any], input: Input) -> None:
    """A confirmed order cancelled by its customer: the saga is over, so the route undoes
    what it did, with the same compensations, newest first, in the route's unit of work."""
    await send_cancellation(input, ctx)
    await cancel_shipment(input, results["create_shipment"], ctx)
    await refund_payment(input, results["process_payment"], ctx)
    await release_inventory(input, results["reserve_inventory"], ctx)
