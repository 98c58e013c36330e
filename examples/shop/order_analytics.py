"""``GET /orders/analytics``: order counts and revenue by status and by day (orders:admin).

Revenue counts every order that is not cancelled; ``by_status`` gives each status's count
and value (the cancelled orders' value included, as what was lost).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from faaskit import Context
from shop.app import app
from shop.order_models import cents
from shop.order_queries import From, To, day_range
from shop.order_views import orders_view


def _money(amount: Decimal) -> float:
    return float(amount.quantize(Decimal("0.01")))


@app.get("/orders/analytics", auth="orders:admin", tags=["orders"])
async def order_analytics(ctx: Context, start: From = None, end: To = None) -> dict[str, Any]:
    """Counts and revenue by status and by day, over the days from ``from`` to ``to``."""
    low, high = day_range(start, end).get("created_at", (None, None))
    # Every read-model document, filtered and summed here: fine at the shop's volume. At
    # scale this becomes a GROUP BY in the store (or a projection that keeps the totals).
    documents = await ctx.documents(orders_view).find()
    by_status: dict[str, dict[str, Any]] = defaultdict(lambda: {"orders": 0, "value": Decimal(0)})
    by_day: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"orders": 0, "cancelled": 0, "revenue": Decimal(0)}
    )
    orders, revenue = 0, Decimal(0)
    for doc in documents:
        order = doc.data
        created = order["created_at"]
        if (low and created < low) or (high and created > high):
            continue
        total, status = cents(order["total"]), order["status"]
        orders += 1
        by_status[status]["orders"] += 1
        by_status[status]["value"] += total
        day = by_day[created[:10]]
        day["orders"] += 1
        if status == "cancelled":
            day["cancelled"] += 1
        else:
            day["revenue"] += total
            revenue += total
    return {
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "orders": orders,
        "revenue": _money(revenue),
        "by_status": {
            status: {"orders": row["orders"], "value": _money(row["value"])}
            for status, row in sorted(by_status.items())
        },
        "by_day": [
            {"date": day, **row, "revenue": _money(row["revenue"])}
            for day, row in sorted(by_day.items())
        ],
    }
