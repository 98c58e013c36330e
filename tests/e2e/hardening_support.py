"""What the tests of the audit's fixes share (test_shop_access, test_shop_inputs,
test_shop_surface)."""

from __future__ import annotations

import httpx
import jwt

from shop.access import SCOPES_BY_ACCESS
from tests.e2e.shop_support import (
    ShopClient,
)

ORDERS_READ, ORDERS_WRITE, ORDERS_ADMIN = "orders:read", "orders:write", "orders:admin"
CUSTOMER_SCOPES = set(SCOPES_BY_ACCESS["customer"])
INVALID = "Invalid email or password"
NOT_ACTIVE = "Activate the account before signing in"
NOT_YOURS = "You can only see and change your own account"
NUL = "\u0000"
JSON_CSP = "default-src 'none'; frame-ancestors 'none'"


def token_headers(login: httpx.Response) -> dict[str, str]:
    """The Authorization header of a successful ``POST /auth/token`` answer."""
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def token_scopes(login: httpx.Response) -> set[str]:
    claims = jwt.decode(login.json()["access_token"], options={"verify_signature": False})
    return set(claims["scope"].split())


def signed_in(shop: ShopClient, email: str, name: str = "Ann Lee") -> tuple[str, dict[str, str]]:
    """An active customer and the headers of the token ``POST /auth/token`` gave them."""
    user_id = shop.active(email, name)
    return user_id, token_headers(shop.login(email))


def customer(shop: ShopClient, subject: str = "cust-1") -> dict[str, str]:
    """A service token with a customer's order scopes (no account claim)."""
    return shop.bearer(ORDERS_READ, ORDERS_WRITE, subject=subject)


def is_invalid_token(response: httpx.Response) -> bool:
    return 'error="invalid_token"' in response.headers.get("www-authenticate", "")


def raw_order(total: str, unit_price: str = "10.0", quantity: str = "1") -> bytes:
    """A ``POST /orders`` body as JSON text, so non-standard literals can be sent."""
    return (
        '{"items": [{"product_id": "lamp", "product_name": "Lamp", '
        f'"quantity": {quantity}, "unit_price": {unit_price}}}], "total": {total}, '
        '"shipping_address": {"street": "1 Main St", "city": "Berlin", '
        '"postal_code": "10115", "country": "DE"}, "payment_method": "card"}'
    ).encode()


def post_order(shop: ShopClient, content: bytes, headers: dict[str, str]) -> httpx.Response:
    """``POST /orders`` with ``content`` sent as it is."""
    return shop.http.post(
        "/orders", content=content, headers={**headers, "Content-Type": "application/json"}
    )
