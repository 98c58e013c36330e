"""The faaskit apps of the messaging and CQRS sections.

``messaging`` runs in real ``python -m faaskit worker bench_apps:messaging`` processes (and
in-process for the publisher): its subscriber writes one document per message, keyed by the
message id, with the time the publisher called ``ctx.publish`` and the time the handler ran,
in the unit of work that also acks the delivery.

``shop`` is the event-sourced side: an ``Order`` aggregate, its ``OrderPlaced`` event, a
projection of orders into a document per order, and a searchable ``orders_view`` read model.
"""

import time
from typing import Any

from pydantic import BaseModel

from faaskit import App, Context, Event
from faaskit.cqrs.aggregate import Aggregate
from faaskit.cqrs.projections import Recorded
from faaskit.cqrs.search import Search

TOPIC = "bench.message"

messaging = App("bench_messaging")
handled = messaging.collection("handled")


async def publish_batch(ctx: Context, count: int, first: int) -> None:
    """The publishing invocation: ``count`` messages in one unit of work."""
    for index in range(first, first + count):
        ctx.publish(TOPIC, {"n": index, "published": time.time()})


@messaging.subscribe(TOPIC, timeout=None)
async def on_message(event: Event[dict[str, Any]], ctx: Context) -> None:
    ctx.documents(handled).insert(
        event.id, {"published": event.data["published"], "handled": time.time()}
    )


# --- event sourcing -----------------------------------------------------------------------

shop = App("bench_shop")
orders = shop.collection("orders")
orders_view = shop.collection(
    "orders_view",
    search=Search(
        text=["customer_name", "product_names", "shipping_city"],
        filters=["status", "customer_id"],
        ranges=["created_at"],
        sort=["created_at", "total", "status"],
    ),
)


@shop.event_type
class OrderPlaced(BaseModel):
    customer: str
    total: float


@shop.event_type
class ItemAdded(BaseModel):
    sku: str
    price: float


class Order(Aggregate):
    stream_prefix = "order"

    def __init__(self, id: str) -> None:
        super().__init__(id)
        self.customer = ""
        self.total = 0.0
        self.items = 0

    def when(self, event: Any) -> None:
        if isinstance(event, OrderPlaced):
            self.customer, self.total = event.customer, event.total
        elif isinstance(event, ItemAdded):
            self.items += 1
            self.total += event.price

    def place(self, customer: str, total: float) -> None:
        self.emit(OrderPlaced(customer=customer, total=total))

    def add_item(self, sku: str, price: float) -> None:
        self.emit(ItemAdded(sku=sku, price=price))


@shop.projection("orders_projection", events=[OrderPlaced], collections=[orders])
async def project_order(event: Recorded[OrderPlaced], ctx: Context) -> None:
    """One read-model document per placed order."""
    ctx.documents(orders).insert(
        event.stream, {"customer": event.data.customer, "total": event.data.total}
    )
