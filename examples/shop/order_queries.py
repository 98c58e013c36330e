"""The orders service's queries: they read only the ``orders_view`` read model.

A customer sees only their own orders: ``GET /orders`` is narrowed to the caller, and
asking for another customer's orders or order is a 403 — the same answer the commands give
for another's order, so one rule holds across the service. ``orders:admin`` sees every order.
The read model follows the commands once the projection has run, so an order placed a
moment ago may not be listed yet.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from pydantic import Field

from faaskit import Context, NotFoundError, PermissionDeniedError, Query, SagaState, ValidationError
from faaskit.cqrs.search import MAX_PAGE, MAX_PAGE_SIZE, SearchPage
from shop.app import app
from shop.order_models import OrderPage, Priority, Status
from shop.order_routes import is_admin
from shop.order_views import orders_view
from shop.order_workflow import order_saga_id
from shop.orders import ORDER_NOT_FOUND

READ = "orders:read"
NOT_YOURS = "You can only see your own orders"

From = Annotated[date | None, Query(alias="from", description="first day, YYYY-MM-DD")]
To = Annotated[date | None, Query(alias="to", description="last day (inclusive), YYYY-MM-DD")]
Page = Annotated[int, Field(ge=1, le=MAX_PAGE), Query(description="from 1")]
PageSize = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE), Query(description="orders a page")]
CustomerId = Annotated[str | None, Field(max_length=64)]
Sort = Annotated[
    str | None,
    Field(pattern=r"^(relevance|created_at|total|status)(:(asc|desc))?$"),
    Query(description="field:asc|desc or relevance"),
]


def day_range(start: date | None, end: date | None) -> dict[str, tuple[str | None, str | None]]:
    """The ``created_at`` range of whole UTC days (``end`` included), as the ISO 8601 text
    the read model stores; 400 when the range is backwards."""
    if start and end and start > end:
        raise ValidationError(
            "from is after to",
            [{"loc": ["query", "from"], "msg": "from must not be after to", "type": "value_error"}],
        )
    if start is None and end is None:
        return {}
    low = f"{start.isoformat()}T00:00:00+00:00" if start else None
    high = f"{end.isoformat()}T23:59:59.999999+00:00" if end else None
    return {"created_at": (low, high)}


def visible_customer(ctx: Context, customer_id: str | None) -> str | None:
    """Whose orders the caller may list: anyone's for an admin, else only their own."""
    if is_admin(ctx):
        return customer_id
    if customer_id is not None and customer_id != ctx.subject:
        raise PermissionDeniedError(NOT_YOURS)
    return ctx.subject


def page_of(found: SearchPage) -> OrderPage:
    return OrderPage(
        items=[
            {**hit.document.data, "score": hit.score, "highlights": hit.highlights}
            for hit in found.items
        ],
        total=found.total,
        page=found.page,
        page_size=found.page_size,
        total_pages=found.total_pages,
    )


async def search_orders(
    ctx: Context,
    *,
    customer_id: str | None,
    status: str | None,
    priority: str | None,
    start: date | None,
    end: date | None,
    q: str | None,
    sort: str | None,
    page: int,
    page_size: int,
) -> OrderPage:
    where = {"customer_id": visible_customer(ctx, customer_id), "status": status}
    where["priority"] = priority
    found = await ctx.documents(orders_view).search(
        q,
        where={name: value for name, value in where.items() if value is not None},
        ranges=day_range(start, end),
        sort=sort or (None if q and q.strip() else "created_at:desc"),
        page=page,
        page_size=page_size,
    )
    return page_of(found)


@app.get("/orders", auth=READ, tags=["orders"])
async def list_orders(
    ctx: Context,
    customer_id: CustomerId = None,
    status: Status | None = None,
    priority: Priority | None = None,
    start: From = None,
    end: To = None,
    q: Annotated[
        str | None, Field(max_length=200), Query(description="words in customer, products, city")
    ] = None,
    sort: Sort = None,
    page: Page = 1,
    page_size: PageSize = 20,
) -> OrderPage:
    """Search orders: text over customer name, products and city, with filters and paging."""
    return await search_orders(
        ctx,
        customer_id=customer_id,
        status=status,
        priority=priority,
        start=start,
        end=end,
        q=q,
        sort=sort,
        page=page,
        page_size=page_size,
    )


@app.get("/customers/{customer_id}/orders", auth=READ, tags=["orders"])
async def customer_orders(
    customer_id: str,
    ctx: Context,
    status: Status | None = None,
    sort: Sort = None,
    page: Page = 1,
    page_size: PageSize = 20,
) -> OrderPage:
    """One customer's orders, newest first."""
    return await search_orders(
        ctx,
        customer_id=customer_id,
        status=status,
        priority=None,
        start=None,
        end=None,
        q=None,
        sort=sort,
        page=page,
        page_size=page_size,
    )


@app.get("/orders/{order_id}", auth=READ, tags=["orders"])
async def get_order(order_id: str, ctx: Context) -> dict[str, Any]:
    """One order from the read model, with its saga's status and current step."""
    doc = await ctx.documents(orders_view).get(order_id)
    if doc is None:
        raise NotFoundError(ORDER_NOT_FOUND)
    if doc.data["customer_id"] != ctx.subject and not is_admin(ctx):
        raise PermissionDeniedError(NOT_YOURS)
    saga = await ctx.get_saga(order_saga_id(order_id))
    return {**doc.data, "saga": None if saga is None else saga_summary(saga)}


def saga_summary(saga: SagaState) -> dict[str, Any]:
    failure = saga.failure
    return {
        "id": saga.id,
        "status": saga.status,
        "current_step": saga.current_step,
        "failure": None if failure is None else {k: failure[k] for k in ("step", "kind", "reason")},
        "steps": [
            {
                "name": step.name,
                "status": step.status,
                "attempts": step.attempts,
                "compensation": None if step.undo is None else step.undo.status,
            }
            for step in saga.steps
        ],
    }
