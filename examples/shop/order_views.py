"""The orders read model: one searchable document per order, built from the order events.

The ``orders_view`` projection applies each event once (its checkpoint commits with the
documents) and publishes the matching ``order.*`` integration event in the same unit of
work, so other services hear of an order exactly when the read model shows it.
"""

from __future__ import annotations

from typing import Any

from faaskit import Context, Recorded, Search
from shop.app import app
from shop.orders import (
    ORDER_EVENTS,
    OrderCancelled,
    OrderConfirmed,
    OrderCreated,
    OrderUpdated,
)

orders_view = app.collection(
    "orders_view",
    search=Search(
        text=["customer_name", "product_names", "shipping_city"],
        filters=["customer_id", "status", "priority"],
        ranges=["created_at"],
        sort=["created_at", "total", "status"],
    ),
)


def created_document(event: OrderCreated, version: int) -> dict[str, Any]:
    address = event.shipping_address.model_dump()
    return {
        "order_id": event.order_id,
        "customer_id": event.customer_id,
        "customer_name": event.customer_name,
        "items": [line.model_dump() for line in event.items],
        "product_names": [line.product_name for line in event.items],
        "item_count": sum(line.quantity for line in event.items),
        "total": event.total,
        "shipping_address": address,
        "shipping_city": address["city"],
        "payment_method": event.payment_method,
        "priority": event.priority,
        "status": "pending",
        "created_at": event.created_at,
        "updated_at": event.created_at,
        "confirmed_at": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "version": version,
    }


def changed_document(data: dict[str, Any], event: Any, version: int) -> dict[str, Any]:
    data = {**data, "version": version}
    match event:
        case OrderUpdated():
            if event.shipping_address is not None:
                data["shipping_address"] = event.shipping_address.model_dump()
                data["shipping_city"] = event.shipping_address.city
            if event.priority is not None:
                data["priority"] = event.priority
            data["updated_at"] = event.updated_at
        case OrderConfirmed():
            data.update(status="confirmed", confirmed_at=event.confirmed_at)
            data["updated_at"] = event.confirmed_at
        case OrderCancelled():
            data.update(status="cancelled", cancelled_at=event.cancelled_at)
            data.update(cancel_reason=event.reason, updated_at=event.cancelled_at)
    return data


def publish(ctx: Context, event: Any, document: dict[str, Any], version: int) -> None:
    """The ``order.*`` integration event for ``event`` (deduplicated by its message id)."""
    order_id = document["order_id"]
    base = {"order_id": order_id, "customer_id": document["customer_id"]}
    match event:
        case OrderCreated():
            topic, suffix = "order.created", "created"
            data = {**base, **event.model_dump(mode="json")}
        case OrderUpdated():
            topic, suffix = "order.updated", f"updated-{version}"
            data = {**base, **event.model_dump(mode="json", exclude_none=True)}
        case OrderConfirmed():
            topic, suffix = "order.confirmed", "confirmed"
            data = {**base, "confirmed_at": event.confirmed_at}
        case OrderCancelled():
            topic, suffix = "order.cancelled", "cancelled"
            data = {**base, "reason": event.reason, "cancelled_at": event.cancelled_at}
        case _:
            return
    ctx.publish(topic, data, key=order_id, message_id=f"{order_id}-{suffix}")


@app.projection("orders_view", events=ORDER_EVENTS, collections=[orders_view])
async def project_orders(event: Recorded[Any], ctx: Context) -> None:
    docs = ctx.documents(orders_view)
    order_id: str = event.data.order_id
    doc = await docs.get(order_id)
    if isinstance(event.data, OrderCreated):
        if doc is not None:
            return  # applied already
        document = created_document(event.data, event.version)
        docs.insert(order_id, document)
    else:
        if doc is None:  # the log is in order, so OrderCreated came first: a bug if not
            raise LookupError(f"{event.type} for order {order_id} before its OrderCreated")
        if doc.data["version"] >= event.version:
            return  # applied already
        document = changed_document(doc.data, event.data, event.version)
        docs.update(order_id, document, expected_version=doc.version)
    publish(ctx, event.data, document, event.version)
