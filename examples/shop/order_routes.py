"""The orders service's commands over HTTP: place, change and cancel an order.

Commands work on the ``Order`` aggregate in the event store and answer at once; the read
model that ``GET /orders`` shows catches up when the projection runs (eventual consistency).
A customer may change only their own orders (403 otherwise); ``orders:admin`` may change any.
"""

from __future__ import annotations

import uuid

from faaskit import Context, PermissionDeniedError
from faaskit.sagas import engine
from faaskit.sagas.state import ACTIVE, COMPLETED
from shop.app import app, users
from shop.order_models import Cancellation, NewOrder, OrderAccepted, OrderChanges, OrderStatus
from shop.order_saga import order_saga, undo_completed
from shop.order_workflow import order_saga_id
from shop.orders import ORDER_NOT_FOUND, Order, now

WRITE, ADMIN = "orders:write", "orders:admin"
UNKNOWN_CUSTOMER = "unknown"


def is_admin(ctx: Context) -> bool:
    return ctx.principal is not None and ADMIN in ctx.principal.scopes


async def owned_order(ctx: Context, order_id: str) -> Order:
    """The order (404 if unknown), if the caller owns it or is an orders admin (else 403)."""
    order = await ctx.aggregates(Order).get(order_id, missing=ORDER_NOT_FOUND)
    if order.customer_id != ctx.subject and not is_admin(ctx):
        raise PermissionDeniedError("This order belongs to another customer")
    return order


def status_of(order: Order, message: str) -> OrderStatus:
    assert order.shipping_address is not None  # set by OrderCreated
    return OrderStatus(
        message=message,
        order_id=order.id,
        status=order.status,
        priority=order.priority,
        shipping_address=order.shipping_address,
        version=order.version,
    )


@app.post("/orders", status=202, auth=WRITE, tags=["orders"])
async def place_order(body: NewOrder, ctx: Context) -> OrderAccepted:
    """Accept an order for the caller; the order saga processes it (reserve, pay, ship,
    confirm), and ``GET /orders/{id}`` follows it."""
    customer = await ctx.documents(users).get(ctx.subject)
    name = customer.data.get("name") if customer else None
    order = Order(str(uuid.uuid4()))
    order.create(body, customer_id=ctx.subject, customer_name=name or UNKNOWN_CUSTOMER, at=now(ctx))
    ctx.aggregates(Order).save(order)
    saga_input = {
        "order_id": order.id,
        "customer_id": ctx.subject,
        "email": customer.data.get("email") if customer else None,
        "items": [line.model_dump() for line in body.items],
        "total": body.total,
        "shipping_address": body.shipping_address.model_dump(),
        "payment_method": body.payment_method,
    }
    saga_id = await ctx.start_saga(order_saga, saga_input, saga_id=order_saga_id(order.id))
    ctx.log.info("order accepted", extra={"fields": {"order_id": order.id, "saga_id": saga_id}})
    return OrderAccepted(order_id=order.id, saga_id=saga_id)


@app.patch("/orders/{order_id}", auth=WRITE, tags=["orders"])
async def update_order(order_id: str, body: OrderChanges, ctx: Context) -> OrderStatus:
    """Change a pending order's shipping address or priority."""
    order = await owned_order(ctx, order_id)
    order.update(body, at=now(ctx))
    ctx.aggregates(Order).save(order)
    return status_of(order, "Order updated")


@app.post("/orders/{order_id}/cancel", auth=WRITE, tags=["orders"])
async def cancel_order(order_id: str, body: Cancellation, ctx: Context) -> OrderStatus:
    """Cancel an order that is neither cancelled nor shipped: a saga still running for it
    stops and compensates; a confirmed order's stock, payment and shipment are given back."""
    order = await owned_order(ctx, order_id)
    order.cancel(body.reason, at=now(ctx))
    saga = await ctx.get_saga(order_saga_id(order_id))
    if saga is not None and saga.status in ACTIVE:
        await engine.cancel(ctx, saga.id, f"cancelled by the customer: {body.reason}")
    elif saga is not None and saga.status == COMPLETED:
        await undo_completed(ctx, saga.results, saga.input)
    ctx.aggregates(Order).save(order)
    return status_of(order, "Order cancelled")
