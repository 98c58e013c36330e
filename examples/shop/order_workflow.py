"""What the order saga's transitions mean to the rest of the shop: the article's workflow
events on the bus, and the order confirmed or cancelled when the saga ends.

:func:`after_transition` compares a saga before and after a transition, in the unit of work
that made it, so what it publishes and appends commits with the transition or not at all:

- ``inventory.check``, ``payment.process``, ``fulfillment.prepare`` when the saga first
  dispatches reserve_inventory, process_payment, create_shipment;
- ``inventory.checked`` (per item: product, requested, available, is_available, reservation
  id; and all_items_available) or ``inventory.check.failed`` when reserve_inventory ends;
- ``OrderConfirmed`` when the saga completes, ``OrderCancelled`` with the failure's reason
  when it ends failed or compensated (an order cancelled meanwhile stays as it is).

Each event has the article's envelope: message id ``{order_id}-{event_type}`` (so it is
published once, however often a transition is retried), the order id as correlation id,
and a 24 h time to live.

:func:`after_transition` is the order saga's ``@order_saga.on_transition`` hook: the engine
calls it after every transition, whichever task, route or webhook made it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from faaskit import Context
from faaskit.sagas.state import ACTIVE, COMPENSATED, COMPLETED, FAILED, SagaState
from shop.order_saga import order_saga
from shop.orders import Order, now

WORKFLOW_TTL = timedelta(hours=24)
DISPATCHED = {
    "reserve_inventory": "inventory.check",
    "process_payment": "payment.process",
    "create_shipment": "fulfillment.prepare",
}
WORKFLOW_TOPICS = (*DISPATCHED.values(), "inventory.checked", "inventory.check.failed")


def order_saga_id(order_id: str) -> str:
    return f"order-{order_id}"


def workflow_event(ctx: Context, order_id: str, event_type: str, data: dict[str, Any]) -> None:
    ctx.publish(
        event_type,
        {"order_id": order_id, "event_type": event_type, "timestamp": now(ctx), **data},
        key=order_id,
        message_id=f"{order_id}-{event_type}",
        correlation_id=order_id,
        ttl=WORKFLOW_TTL,
    )


def dispatch_data(state: SagaState, step: str) -> dict[str, Any]:
    order = state.input
    if step == "reserve_inventory":
        return {"items": [{k: i[k] for k in ("product_id", "quantity")} for i in order["items"]]}
    if step == "process_payment":
        return {
            "amount": order["total"],
            "payment_method": order["payment_method"],
            "idempotency_key": f"{state.id}:{step}:do",
        }
    return {"shipping_address": order["shipping_address"], "items": order["items"]}


def _status(state: SagaState | None, step: str) -> str:
    return "pending" if state is None else state.step(step).status


@order_saga.on_transition
async def after_transition(before: SagaState | None, state: SagaState, ctx: Context) -> None:
    """Publish and append what the saga's change from ``before`` to ``state`` means."""
    order_id = state.input["order_id"]
    for step, event_type in DISPATCHED.items():
        if _status(before, step) == "pending" and _status(state, step) != "pending":
            workflow_event(ctx, order_id, event_type, dispatch_data(state, step))
    reserve, was = state.step("reserve_inventory"), _status(before, "reserve_inventory")
    if reserve.status == COMPLETED and was != COMPLETED:
        workflow_event(ctx, order_id, "inventory.checked", reserve.result)
    elif reserve.status == FAILED and was != FAILED:
        failure = state.failure or {}
        details = failure.get("details", {})
        data = {"reason": failure.get("reason"), "all_items_available": False}
        workflow_event(ctx, order_id, "inventory.check.failed", {**data, **details})
    if before is not None and before.status == state.status:
        return
    if before is not None and before.status in ACTIVE and _failure_kind(state) == "cancelled":
        return  # the cancel route's own transition: the route cancels the order itself
    if state.status == COMPLETED:
        await _settle(ctx, order_id, None)
    elif state.status in (FAILED, COMPENSATED):
        await _settle(ctx, order_id, (state.failure or {}).get("reason") or state.status)


async def _settle(ctx: Context, order_id: str, cancel_reason: str | None) -> None:
    orders = ctx.aggregates(Order)
    order = await orders.get(order_id)
    if order.status != "pending":
        return  # cancelled by its customer meanwhile (the saga was cancelled with it)
    if cancel_reason is None:
        order.confirm(at=now(ctx))
    else:
        order.cancel(cancel_reason, at=now(ctx))
    orders.save(order)


def _failure_kind(state: SagaState) -> str | None:
    return None if state.failure is None else state.failure.get("kind")
