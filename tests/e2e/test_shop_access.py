"""Who may do what in the shop — access levels apart from the job role, own accounts,
passwords as typed, JWT dates that are numbers, only active accounts signing in — over real
HTTP on SQLite and PostgreSQL, by audit item; each item has tests that failed before its fix."""

from __future__ import annotations

import time
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.hardening_support import (
    CUSTOMER_SCOPES,
    INVALID,
    NOT_ACTIVE,
    NOT_YOURS,
    ORDERS_READ,
    ORDERS_WRITE,
    is_invalid_token,
    signed_in,
    token_headers,
    token_scopes,
)
from tests.e2e.order_support import order_body
from tests.e2e.shop_support import (
    ADMIN,
    PASSWORD,
    READ,
    STAFF,
    WRITE,
    ShopClient,
    assert_problem,
    error_fields,
)

# 1. The job role is free text; access levels are granted only by who holds their scopes


def test_a_job_role_is_kept_as_profile_text_and_grants_no_access(shop: ShopClient) -> None:
    response = shop.create("ada@example.com", "Ada", role="admiral")

    assert response.status_code == 201, response.text
    shown = shop.get(response.json()["id"]).json()
    assert shown["profile"]["role"] == "admiral"
    assert shown["access"] == "customer"


def test_a_user_created_with_role_admin_signs_in_with_customer_scopes_only(
    shop: ShopClient,
) -> None:
    hr_tool = shop.bearer(READ, WRITE, STAFF, subject="hr-tool")  # may create, not grant
    body = {"email": "eve@example.com", "name": "Eve", "password": PASSWORD, "role": "admin"}
    created = shop.http.post("/users", json=body, headers=hr_tool)
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    activated = shop.http.post(f"/users/{user_id}/activate", headers=hr_tool)
    assert activated.status_code == 200, activated.text

    login = shop.login("eve@example.com")

    assert login.status_code == 200, login.text
    assert token_scopes(login) == CUSTOMER_SCOPES
    eve = token_headers(login)
    assert_problem(shop.http.get("/orders/analytics", headers=eve), 403)
    assert_problem(shop.http.get("/mailbox", headers=eve), 403)
    grant = shop.http.put(f"/users/{user_id}/access", json={"access": "admin"}, headers=eve)
    assert_problem(grant, 403)
    assert shop.get(user_id).json()["access"] == "customer"


@pytest.mark.parametrize("field", ["access", "status", "scope"])
def test_creating_a_user_refuses_fields_beyond_the_profile(shop: ShopClient, field: str) -> None:
    response = shop.create("ivy@example.com", "Ivy", **{field: "admin"})

    problem = assert_problem(response, 400)
    assert field in error_fields(problem)
    assert shop.get(shop.created("ivy@example.com", "Ivy")).json()["access"] == "customer"


def test_registering_ignores_an_access_field(shop: ShopClient) -> None:
    response = shop.register("reg@example.com", "Reg", access="admin", status="active")

    assert response.status_code == 201, response.text
    user_id = response.json()["user_id"]
    shown = shop.get(user_id).json()
    assert (shown["access"], shown["status"]) == ("customer", "pending")
    assert shop.stored(user_id).data["access"] == "customer"


def test_updating_a_user_refuses_an_access_field(shop: ShopClient) -> None:
    user_id = shop.created("upd@example.com", "Upd")

    response = shop.http.put(
        f"/users/{user_id}", json={"name": "Upd", "access": "admin"}, headers=shop.writer
    )

    problem = assert_problem(response, 400)
    assert "access" in error_fields(problem)
    assert shop.get(user_id).json()["access"] == "customer"


def test_a_customer_token_cannot_call_the_access_route(shop: ShopClient) -> None:
    user_id, ann = signed_in(shop, "ann@example.com")

    for access in ("admin", "support", "customer"):
        response = shop.http.put(f"/users/{user_id}/access", json={"access": access}, headers=ann)
        assert_problem(response, 403, case=access)
    assert shop.stored(user_id).data["access"] == "customer"


def test_a_users_admin_without_orders_admin_cannot_grant_admin_but_can_grant_customer(
    shop: ShopClient,
) -> None:
    partial_admin = shop.bearer(
        READ, WRITE, STAFF, ADMIN, ORDERS_READ, ORDERS_WRITE, subject="partial-admin"
    )
    user_id = shop.active("sue@example.com", "Sue")
    shop.grant(user_id, "support")

    to_admin = shop.http.put(
        f"/users/{user_id}/access", json={"access": "admin"}, headers=partial_admin
    )

    problem = assert_problem(to_admin, 403)
    assert "orders:admin" in problem["detail"]
    assert shop.get(user_id).json()["access"] == "support"
    to_customer = shop.http.put(
        f"/users/{user_id}/access", json={"access": "customer"}, headers=partial_admin
    )
    assert to_customer.status_code == 200, to_customer.text
    assert to_customer.json()["access"] == "customer"
    assert token_scopes(shop.login("sue@example.com")) == CUSTOMER_SCOPES


def test_a_token_cannot_raise_its_own_account_above_its_scopes(shop: ShopClient) -> None:
    user_id = shop.active("own@example.com", "Own")
    own = shop.bearer(READ, WRITE, ADMIN, subject=user_id)  # no staff, no orders scopes

    for access in ("admin", "support"):
        response = shop.http.put(f"/users/{user_id}/access", json={"access": access}, headers=own)
        assert_problem(response, 403, case=access)
    assert token_scopes(shop.login("own@example.com")) == CUSTOMER_SCOPES


# 2. A user reads and changes only their own account, unless the token has users:staff


def test_a_signed_in_customer_reads_their_own_profile_but_not_another_users(
    shop: ShopClient,
) -> None:
    ann_id, ann = signed_in(shop, "ann@example.com", "Ann")
    bob_id = shop.created("bob@example.com", "Bob")

    own = shop.http.get(f"/users/{ann_id}", headers=ann)
    other = shop.http.get(f"/users/{bob_id}", headers=ann)
    unknown = shop.http.get("/users/no-such-user", headers=ann)

    assert own.status_code == 200, own.text
    assert own.json()["email"] == "ann@example.com"
    assert_problem(other, 403, NOT_YOURS)
    assert "bob@example.com" not in other.text
    assert_problem(unknown, 403, NOT_YOURS)  # no hint whether another account exists


def test_a_writer_without_staff_cannot_change_delete_or_activate_another_user(
    shop: ShopClient,
) -> None:
    ann_id = shop.created("ann@example.com", "Ann")
    bob_id = shop.created("bob@example.com", "Bob")
    ann = shop.bearer(READ, WRITE, subject=ann_id)

    answers = [
        shop.http.put(f"/users/{bob_id}", json={"name": "Hacked"}, headers=ann),
        shop.http.delete(f"/users/{bob_id}", headers=ann),
        shop.http.post(f"/users/{bob_id}/activate", headers=ann),
    ]

    for answer in answers:
        assert_problem(answer, 403, NOT_YOURS)
    bob = shop.get(bob_id).json()
    assert (bob["name"], bob["status"]) == ("Bob", "pending")
    mine = shop.http.put(f"/users/{ann_id}", json={"name": "Ann Lee"}, headers=ann)
    assert mine.status_code == 200, mine.text
    assert mine.json()["name"] == "Ann Lee"


# 3. A password is used exactly as typed


def test_a_password_with_outer_spaces_signs_in_only_exactly_as_typed(shop: ShopClient) -> None:
    shop.active("sp@example.com", "Spacey", password="  spaced pass  ")

    exact = shop.login("sp@example.com", "  spaced pass  ")
    stripped = shop.login("sp@example.com", "spaced pass")

    assert exact.status_code == 200, exact.text
    assert_problem(stripped, 401, INVALID)


# 4. A JWT NumericDate must be a number, not text of digits


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
def test_a_token_with_a_numeric_date_as_text_is_an_invalid_token(
    shop: ShopClient, claim: str
) -> None:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "tester", "scope": f"{READ} {STAFF}"}
    claims.update(iat=now - 10, nbf=now - 10, exp=now + 3600)
    key = shop.server.runtime.tokens.key

    def call(payload: dict[str, Any]) -> httpx.Response:
        token = jwt.encode(payload, key, algorithm="HS256")
        return shop.http.get("/users/no-such-user", headers={"Authorization": f"Bearer {token}"})

    assert_problem(call(claims), 404)  # the same token with numbers is accepted
    response = call({**claims, claim: str(claims[claim])})

    assert_problem(response, 401)
    assert is_invalid_token(response), response.headers


# 16. Only active accounts sign in, and a deleted account's tokens stop working


def test_a_pending_user_cannot_sign_in(shop: ShopClient) -> None:
    shop.created("pen@example.com", "Pen")

    assert_problem(shop.login("pen@example.com"), 401, NOT_ACTIVE)
    assert_problem(shop.login("pen@example.com", "wrong password"), 401, INVALID)


def test_a_deleted_users_token_is_an_invalid_token(shop: ShopClient) -> None:
    user_id, ann = signed_in(shop, "gone@example.com", "Gone")
    assert shop.http.get("/orders", headers=ann).status_code == 200
    assert shop.http.get(f"/users/{user_id}", headers=ann).status_code == 200

    deleted = shop.http.delete(f"/users/{user_id}", headers=shop.writer)
    assert deleted.status_code == 204, deleted.text

    for path in ("/orders", f"/users/{user_id}"):
        response = shop.http.get(path, headers=ann)
        assert_problem(response, 401, case=path)
        assert is_invalid_token(response), (path, response.headers)
    placed = shop.http.post("/orders", json=order_body(), headers=ann)
    assert_problem(placed, 401)


def test_service_tokens_without_an_account_claim_are_unaffected(shop: ShopClient) -> None:
    service = shop.bearer(READ, STAFF, ORDERS_READ, subject="no-such-account")

    assert shop.http.get("/orders", headers=service).status_code == 200
    assert_problem(shop.http.get("/users/no-such-account", headers=service), 404)
