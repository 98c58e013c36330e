"""Request and response bodies of the orders service, and the value types its events share."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

Priority = Literal["normal", "high", "urgent"]
Status = Literal["pending", "confirmed", "cancelled", "shipped"]
CENT = Decimal("0.01")
MAX_TOTAL = 1_000_000_000_000
"""100 lines x 10,000 units x 1,000,000 a unit: no order's items can sum to more."""


def cents(amount: float | Decimal) -> Decimal:
    """An amount rounded to the cent (from its decimal text, so 0.1 stays 0.10)."""
    return Decimal(str(amount)).quantize(CENT, rounding=ROUND_HALF_UP)


class OrderLine(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    product_id: str = Field(min_length=1, max_length=64)
    product_name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(gt=0, le=10_000)
    unit_price: float = Field(ge=0, le=1_000_000)


class ShippingAddress(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    street: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(min_length=2, max_length=56)


class NewOrder(BaseModel):
    """``POST /orders``: the total must equal the items' sum, to the cent."""

    model_config = ConfigDict(str_strip_whitespace=True)

    items: list[OrderLine] = Field(min_length=1, max_length=100)
    total: float = Field(gt=0, le=MAX_TOTAL)
    shipping_address: ShippingAddress
    payment_method: str = Field(min_length=1, max_length=50)
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


class OrderChanges(BaseModel):
    """``PATCH /orders/{id}``: a new shipping address, a new priority, or both."""

    model_config = ConfigDict(extra="forbid")

    shipping_address: ShippingAddress | None = None
    priority: Priority | None = None


class Cancellation(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)


class OrderAccepted(BaseModel):
    message: str = "Order accepted for processing"
    order_id: str
    estimated_processing_time: str = "15-30 minutes"


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
