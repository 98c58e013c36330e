"""The shop's inventory: stock per product, reserved by the order saga and released by its
compensation.

``inventory`` holds one document per product (id = product id): its name and the units
``stock`` still free to reserve. The catalog below is the shop's seed: a product's document
is written the first time it is reserved or its stock is set, from the catalog's stock, so
a fresh store needs no seeding step. A product outside the catalog has no stock.

``reservations`` holds what each order reserved (id ``{order_id}:{product_id}``) while it is
``held``; releasing marks it ``released`` and gives back exactly its quantity, once. So for
every product: stock + held reservations = the stock it was seeded or last set with
(minus what confirmed orders took).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from pydantic import BaseModel, Field

from faaskit import Context, NotFoundError
from shop.access import ORDERS_ADMIN
from shop.app import app
from shop.models import NOT_BLANK

inventory = app.collection("inventory")
reservations = app.collection("reservations")

CATALOG: dict[str, tuple[str, int]] = {
    # the tour's and the tests' products (ids as their lines spell them): name, stock
    "lamp-1": ("Desk Lamp", 100),
    "desk-lamp": ("Desk Lamp", 10_000),
    "bulb": ("Bulb", 10_000),
    "lamp": ("Lamp", 10_000),
    "lamp-shade": ("Lamp Shade", 10_000),
    "office-chair": ("Office Chair", 10_000),
    "brass-lamp": ("Brass Lamp", 10_000),
    "quick-lamp": ("Quick Lamp", 10_000),
    "pen": ("Pen", 10_000),
    "fuse": ("Fuse", 10_000),
    "poster-1": ("Limited Edition Poster", 3),
}
"""product id → (name, the stock a fresh store starts with)."""


class StockLevel(BaseModel):
    """``PUT /inventory/{product_id}``: the units free to reserve from now on (a whole
    number; JSON does not tell 5 from 5.0, so neither does this)."""

    stock: float = Field(ge=0, le=1_000_000_000, multiple_of=1)
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NOT_BLANK)


async def stock_of(ctx: Context, product_id: str) -> tuple[Any, dict[str, Any]]:
    """The product's document (None while only the catalog knows it) and its data."""
    doc = await ctx.documents(inventory).get(product_id)
    if doc is not None:
        return doc, dict(doc.data)
    name, stock = CATALOG.get(product_id, (product_id, 0))
    return None, {"product_id": product_id, "name": name, "stock": stock}


def write_stock(ctx: Context, doc: Any, data: dict[str, Any]) -> None:
    docs = ctx.documents(inventory)
    if doc is None:
        docs.insert(data["product_id"], data)
    else:
        docs.update(doc.id, data, expected_version=doc.version)


def requested(items: list[dict[str, Any]]) -> Counter[str]:
    """Units wanted per product (an order may name a product on several lines)."""
    wanted: Counter[str] = Counter()
    for line in items:
        wanted[line["product_id"]] += int(line["quantity"])
    return wanted


async def check(ctx: Context, order_id: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``inventory.checked`` reports per product: requested, available, is_available
    and the reservation id the order would hold."""
    checks = []
    for product_id, quantity in requested(items).items():
        _, data = await stock_of(ctx, product_id)
        checks.append(
            {
                "product_id": product_id,
                "requested": quantity,
                "available": data["stock"],
                "is_available": data["stock"] >= quantity,
                "reservation_id": f"{order_id}:{product_id}",
            }
        )
    return checks


async def reserve(ctx: Context, order_id: str, checks: list[dict[str, Any]]) -> None:
    """Take every checked quantity out of stock and record each reservation (the caller
    has made sure each is available: all or nothing)."""
    for item in checks:
        doc, data = await stock_of(ctx, item["product_id"])
        data["stock"] -= item["requested"]
        write_stock(ctx, doc, data)
        ctx.documents(reservations).insert(
            item["reservation_id"],
            {
                "order_id": order_id,
                "product_id": item["product_id"],
                "quantity": item["requested"],
                "status": "held",
                "held_at": ctx.now().isoformat(),
            },
        )


async def release(ctx: Context, reservation_ids: list[str]) -> list[str]:
    """Give back what each held reservation took; the ones released now."""
    released = []
    for reservation_id in reservation_ids:
        held = await ctx.documents(reservations).get(reservation_id)
        if held is None or held.data["status"] != "held":
            continue  # never made, or given back already
        doc, data = await stock_of(ctx, held.data["product_id"])
        data["stock"] += held.data["quantity"]
        write_stock(ctx, doc, data)
        changed = {**held.data, "status": "released", "released_at": ctx.now().isoformat()}
        ctx.documents(reservations).update(reservation_id, changed, expected_version=held.version)
        released.append(reservation_id)
    return released


ProductId = Annotated[str, Field(min_length=1, max_length=64, pattern=NOT_BLANK)]


@app.put("/inventory/{product_id}", auth=ORDERS_ADMIN, tags=["inventory"])
async def set_stock(product_id: ProductId, body: StockLevel, ctx: Context) -> dict[str, Any]:
    """Set a product's free stock (a product outside the catalog is added)."""
    doc, data = await stock_of(ctx, product_id)
    data.update(stock=int(body.stock), name=body.name or data["name"])
    write_stock(ctx, doc, data)
    return data


@app.get("/inventory/{product_id}", auth=ORDERS_ADMIN, tags=["inventory"])
async def get_stock(product_id: ProductId, ctx: Context) -> dict[str, Any]:
    """A product's free stock and the units its held reservations keep."""
    doc, data = await stock_of(ctx, product_id)
    if doc is None and product_id not in CATALOG:
        raise NotFoundError("Product not found")
    held = await ctx.documents(reservations).find(product_id=product_id, status="held")
    return {**data, "reserved": sum(r.data["quantity"] for r in held)}
