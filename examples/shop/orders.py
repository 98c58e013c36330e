"""The ``Order`` aggregate: its events and the commands that emit them.

An order lives in the event store (stream ``order-{id}``); the read model that queries see
is built from these events by ``shop.order_views``. Commands check the state rebuilt from
the stream and emit events; saving expects the version loaded, so of two commands racing
on one order, one wins and the other is a 409.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from faaskit import Aggregate, ConflictError, Context
from shop.app import app
from shop.order_models import NewOrder, OrderChanges, OrderLine, Priority, ShippingAddress

ORDER_NOT_FOUND = "Order not found"


@app.event_type
class OrderCreated(BaseModel):
    order_id: str
    customer_id: str
    customer_name: str
    items: list[OrderLine]
    total: float
    shipping_address: ShippingAddress
    payment_method: str
    priority: Priority
    created_at: str


@app.event_type
class OrderUpdated(BaseModel):
    """Only the fields that changed are set."""

    order_id: str
    shipping_address: ShippingAddress | None = None
    priority: Priority | None = None
    updated_at: str


@app.event_type
class OrderConfirmed(BaseModel):
    order_id: str
    confirmed_at: str


@app.event_type
class OrderCancelled(BaseModel):
    order_id: str
    reason: str
    cancelled_at: str


ORDER_EVENTS = (OrderCreated, OrderUpdated, OrderConfirmed, OrderCancelled)
FINAL = ("cancelled", "shipped")


class Order(Aggregate):
    stream_prefix = "order"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.status = "new"
        self.customer_id = ""
        self.customer_name = ""
        self.items: list[OrderLine] = []
        self.total = 0.0
        self.shipping_address: ShippingAddress | None = None
        self.payment_method = ""
        self.priority: Priority = "normal"
        self.created_at = ""
        self.cancel_reason: str | None = None

    def when(self, event: Any) -> None:
        match event:
            case OrderCreated():
                self.status = "pending"
                self.customer_id = event.customer_id
                self.customer_name = event.customer_name
                self.items = list(event.items)
                self.total = event.total
                self.shipping_address = event.shipping_address
                self.payment_method = event.payment_method
                self.priority = event.priority
                self.created_at = event.created_at
            case OrderUpdated():
                self.shipping_address = event.shipping_address or self.shipping_address
                self.priority = event.priority or self.priority
            case OrderConfirmed():
                self.status = "confirmed"
            case OrderCancelled():
                self.status = "cancelled"
                self.cancel_reason = event.reason

    # -- commands ---------------------------------------------------------------------

    def create(self, order: NewOrder, *, customer_id: str, customer_name: str, at: str) -> None:
        if self.version:
            raise ConflictError("Order already exists")
        self.emit(
            OrderCreated(
                order_id=self.id,
                customer_id=customer_id,
                customer_name=customer_name,
                items=order.items,
                total=order.total,
                shipping_address=order.shipping_address,
                payment_method=order.payment_method,
                priority=order.priority,
                created_at=at,
            )
        )

    def update(self, changes: OrderChanges, *, at: str) -> None:
        """Change the shipping address or priority of a pending order (no change: no event)."""
        if self.status != "pending":
            raise ConflictError(f"An order that is {self.status} cannot be changed")
        address = changes.shipping_address
        priority = changes.priority
        event = OrderUpdated(
            order_id=self.id,
            shipping_address=address if address and address != self.shipping_address else None,
            priority=priority if priority and priority != self.priority else None,
            updated_at=at,
        )
        if event.shipping_address or event.priority:
            self.emit(event)

    def cancel(self, reason: str, *, at: str) -> None:
        if self.status in FINAL:
            raise ConflictError(f"An order that is {self.status} cannot be cancelled")
        self.emit(OrderCancelled(order_id=self.id, reason=reason, cancelled_at=at))

    def confirm(self, *, at: str) -> None:
        """Confirm a pending order (confirming a confirmed one changes nothing)."""
        if self.status == "confirmed":
            return
        if self.status != "pending":
            raise ConflictError(f"An order that is {self.status} cannot be confirmed")
        self.emit(OrderConfirmed(order_id=self.id, confirmed_at=at))


def now(ctx: Context) -> str:
    """The context's time as ISO 8601 in UTC (the read model's ranges compare these)."""
    return ctx.now().isoformat()
