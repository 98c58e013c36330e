"""Request and response bodies of the orders service, and the value types its events share."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationInfo, field_validator

from shop.models import NOT_BLANK, Change, optional

Priority = Literal["normal", "high", "urgent"]
Status = Literal["pending", "confirmed", "cancelled", "shipped"]
CENT = Decimal("0.01")
MAX_TOTAL = 1_000_000_000_000
"""100 lines x 10,000 units x 1,000,000 a unit: no order's items can sum to more."""


def cents(amount: float | Decimal) -> Decimal:
    """An amount rounded to the cent (from its decimal text, so 0.1 stays 0.10)."""
    return Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)


class OrderLine(BaseModel):
    product_id: str = Field(min_length=1, max_length=64, pattern=NOT_BLANK)
    product_name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    quantity: int = Field(gt=0, le=10_000)
    unit_price: float = Field(ge=0, le=1_000_000)


class ShippingAddress(BaseModel):
    street: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    city: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK)
    postal_code: str = Field(min_length=1, max_length=20, pattern=NOT_BLANK)
    country: str = Field(min_length=2, max_length=56, pattern=NOT_BLANK)


class NewOrder(BaseModel):
    """``POST /orders``: the total must equal the items' sum, to the cent."""

    items: list[OrderLine] = Field(min_length=1, max_length=100)
    total: float = Field(ge=0.01, le=MAX_TOTAL)
    shipping_address: ShippingAddress
    payment_method: str = Field(min_length=1, max_length=50, pattern=NOT_BLANK)
    priority: Priority = "normal"

    @field_validator("total")
    @classmethod
    def total_matches_items(cls, total: float, info: ValidationInfo) -> float:
        if cents(total) < CENT:  # 5e-324 is more than 0 but no money
            raise ValueError("total must be at least 0.01")
        items: list[OrderLine] | None = info.data.get("items")
        if items is None:  # the items failed on their own; that error says enough
            return total
        expected = sum(
            (Decimal(str(line.unit_price)) * line.quantity for line in items), Decimal(0)
        )
        if cents(total) != cents(expected):
            raise ValueError(
                f"total {cents(total)} does not match the items' sum {cents(expected)}"
            )
        return total


class OrderChanges(Change):
    """``PATCH /orders/{id}``: a new shipping address, a new priority, or both."""

    shipping_address: ShippingAddress = optional()
    priority: Priority = optional()


class Cancellation(BaseModel):
    reason: str = Field(min_length=1, max_length=500, pattern=NOT_BLANK)


class OrderAccepted(BaseModel):
    message: str = "Order accepted for processing"
    order_id: str
    estimated_processing_time: str = "15-30 minutes"
    saga_id: str
    """The order saga processing it (``GET /orders/{id}`` shows its status)."""


class OrderStatus(BaseModel):
    """What a command answers: the order as the event store has it now."""

    message: str
    order_id: str
    status: Status
    priority: Priority
    shipping_address: ShippingAddress
    version: int


class OrderPage(BaseModel):
    """A page of ``GET /orders``: each item is an order with its ``score`` (relevance, when
    there was a text query) and ``highlights`` (matched words in ``<mark>``)."""

    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    total_pages: int
