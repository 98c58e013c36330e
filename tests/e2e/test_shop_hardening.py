"""The fixes of the outside audit, proven over real HTTP on SQLite and PostgreSQL, grouped
by audit item: each item has tests that failed before its fix (others pin what must stay)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
import pytest

from shop.access import SCOPES_BY_ACCESS
from tests.e2e.order_support import line, order_body
from tests.e2e.shop_support import (
    ADMIN,
    PASSWORD,
    PROBLEM_JSON,
    READ,
    STAFF,
    WRITE,
    ShopClient,
    assert_problem,
    error_fields,
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


# 5. NUL in any string is a 400, never a 500, and writes nothing


def assert_nul(response: httpx.Response, *locs: list[Any]) -> None:
    """A 400 naming each of ``locs`` as text with NUL."""
    problem = assert_problem(response, 400)
    nul = [error["loc"] for error in problem["errors"] if error["type"] == "nul"]
    assert sorted(map(str, nul)) == sorted(map(str, locs)), problem


def test_nul_in_a_registration_is_a_400_and_registers_nobody(shop: ShopClient) -> None:
    assert_nul(shop.register("nul@example.com", f"Ann{NUL}Lee"), ["body", "name"])
    assert_nul(shop.register(f"nul{NUL}@example.com", "Ann"), ["body", "email"])

    again = shop.register("nul@example.com", "Ann Lee")
    assert again.status_code == 201, again.text
    assert shop.get(again.json()["user_id"]).json()["name"] == "Ann Lee"


def test_nul_in_login_credentials_is_a_400(shop: ShopClient) -> None:
    shop.active("ann@example.com", "Ann")
    body = {"email": f"ann@example.com{NUL}", "password": f"{PASSWORD}{NUL}"}

    response = shop.http.post("/auth/token", json=body)

    assert_nul(response, ["body", "email"], ["body", "password"])
    assert shop.login("ann@example.com").status_code == 200


def test_nul_in_a_new_user_is_a_400_and_creates_nobody(shop: ShopClient) -> None:
    assert_nul(shop.create("nul@example.com", f"Ann{NUL}"), ["body", "name"])
    assert_nul(shop.create("nul@example.com", "Ann", company=f"{NUL}"), ["body", "company"])

    assert shop.create("nul@example.com", "Ann").status_code == 201


def test_nul_in_an_order_line_is_a_400(shop: ShopClient) -> None:
    body = order_body({**line("Desk Lamp", 1, 10.0), "product_name": f"Desk{NUL}Lamp"})

    response = shop.http.post("/orders", json=body, headers=customer(shop))

    assert_nul(response, ["body", "items", 0, "product_name"])
    valid = shop.http.post("/orders", json=order_body(line()), headers=customer(shop))
    assert valid.status_code == 202, valid.text  # the same body without NUL is accepted


def test_nul_in_a_path_parameter_is_a_400(shop: ShopClient) -> None:
    for path in ("/users/%00", "/users/ann%00x"):
        assert_nul(shop.http.get(path, headers=shop.reader), ["path", "user_id"])
    assert_nul(
        shop.http.get("/customers/%00/orders", headers=customer(shop)), ["path", "customer_id"]
    )


def test_nul_in_a_query_parameter_is_a_400(shop: ShopClient) -> None:
    assert_nul(shop.http.get("/mailbox?to=%00", headers=shop.writer), ["query", "to"])
    assert_nul(shop.http.get("/orders?q=lamp%00", headers=customer(shop)), ["query", "q"])


def test_nul_in_an_object_key_is_a_400_and_writes_nothing(shop: ShopClient) -> None:
    body = {"email": "key@example.com", "name": "Kay", NUL: "x"}
    assert_nul(shop.http.post("/register", json=body), ["body"])
    user_id = shop.created("kay@example.com", "Kay")
    nested = {"profile": {f"bio{NUL}": "x"}}
    assert_nul(
        shop.http.put(f"/users/{user_id}", json=nested, headers=shop.writer), ["body", "profile"]
    )

    assert shop.register("key@example.com", "Kay").status_code == 201
    assert shop.get(user_id).json()["profile"] == {"company": None, "role": None, "phone": None}


def test_nul_in_a_token_subject_is_refused_by_the_store_as_a_400(shop: ShopClient) -> None:
    # the request layer never sees the subject: the store's own text rule refuses it
    response = shop.http.get("/orders", headers=customer(shop, subject=f"cust{NUL}1"))

    problem = assert_problem(response, 400)
    assert {error["type"] for error in problem["errors"]} == {"nul"}


# 6. An order total is a bounded, finite number


def test_an_order_total_beyond_the_bound_or_not_finite_is_a_400(shop: ShopClient) -> None:
    headers = customer(shop)
    accepted = post_order(shop, raw_order("10.0"), headers)
    assert accepted.status_code == 202, accepted.text

    for total in ("1e26", "1e13", "1e309", "-1e309", "Infinity", "-Infinity", "NaN"):
        problem = assert_problem(post_order(shop, raw_order(total), headers), 400, case=total)
        if "errors" in problem:  # else the JSON literal itself was refused as not JSON
            assert "total" in error_fields(problem), (total, problem)


def test_a_unit_price_that_is_not_finite_is_a_400(shop: ShopClient) -> None:
    for price in ("1e309", "Infinity", "NaN"):
        response = post_order(shop, raw_order("10.0", unit_price=price), customer(shop))
        assert_problem(response, 400, case=price)


# 7. Paging parameters are bounded; an int beyond int64 is a 400


@pytest.mark.parametrize("path", ["/orders", "/customers/cust-1/orders"])
def test_paging_out_of_bounds_is_a_400(shop: ShopClient, path: str) -> None:
    headers = customer(shop, subject="cust-1")
    for query in ("page=10000", "page_size=100", "page=1&page_size=1"):
        assert shop.http.get(f"{path}?{query}", headers=headers).status_code == 200, query

    cases = {
        "page=99999999999999999999": "page",
        "page=-99999999999999999999": "page",
        "page=9223372036854775808": "page",
        "page=0": "page",
        "page=10001": "page",
        "page_size=0": "page_size",
        "page_size=101": "page_size",
        "page_size=99999999999999999999": "page_size",
    }
    for query, field in cases.items():
        response = shop.http.get(f"{path}?{query}", headers=headers)
        problem = assert_problem(response, 400, case=query)
        assert error_fields(problem) == {field}, (query, problem)


# 8. JSON bodies are validated strictly; dates are dates; money is checked after rounding


def test_json_booleans_and_text_are_not_numbers_in_an_order(shop: ShopClient) -> None:
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "quantity true": ({**line("Lamp", 1, 10.0), "quantity": True}, "items.0.quantity"),
        "quantity text": ({**line("Lamp", 1, 10.0), "quantity": "1"}, "items.0.quantity"),
        "unit_price false": ({**line("Pen", 1, 10.0), "unit_price": False}, "items.0.unit_price"),
    }
    for case, (item, field) in cases.items():
        body = {**order_body(line("Lamp", 1, 10.0)), "items": [item], "total": 10.0}
        problem = assert_problem(
            shop.http.post("/orders", json=body, headers=customer(shop)), 400, case=case
        )
        assert field in error_fields(problem), (case, problem)


def test_json_numbers_are_not_booleans_for_a_new_user(shop: ShopClient) -> None:
    problem = assert_problem(shop.create("nl@example.com", "Nel", newsletter=1), 400)

    assert error_fields(problem) == {"newsletter"}


@pytest.mark.parametrize("path", ["/orders", "/orders/analytics"])
def test_a_date_filter_given_as_a_number_is_a_400(shop: ShopClient, path: str) -> None:
    headers = shop.bearer(ORDERS_READ, ORDERS_ADMIN, subject="order-admin")
    ok = shop.http.get(f"{path}?from=2024-01-01&to=2024-12-31", headers=headers)
    assert ok.status_code == 200, ok.text

    for name in ("from", "to"):
        for value in ("0", "1700000000", "-1", "1.5"):
            response = shop.http.get(f"{path}?{name}={value}", headers=headers)
            problem = assert_problem(response, 400, case=f"{name}={value}")
            assert error_fields(problem) == {name}, problem


def test_free_items_with_a_denormal_total_are_a_400(shop: ShopClient) -> None:
    body = {**order_body(line("Sample", 1, 0.0)), "total": 5e-324}

    problem = assert_problem(shop.http.post("/orders", json=body, headers=customer(shop)), 400)

    assert "total" in error_fields(problem)


def test_money_is_compared_after_rounding_to_the_cent(shop: ShopClient) -> None:
    thirds = {**order_body(line("Bulb", 3, 0.1)), "total": 0.3}  # 0.30000000000000004 in floats
    assert shop.http.post("/orders", json=thirds, headers=customer(shop)).status_code == 202

    for total, price in ((0.004, 0.004), (0.001, 0.0)):
        body = {**order_body(line("Crumb", 1, price)), "total": total}
        response = shop.http.post("/orders", json=body, headers=customer(shop))
        problem = assert_problem(response, 400, case=total)
        assert "total" in error_fields(problem)


# 10. Logins and sign-ups are rate limited per client and per account or address


def assert_too_many(response: httpx.Response, *, case: Any = None) -> None:
    assert_problem(response, 429, case=case)
    retry_after = response.headers["retry-after"]
    assert retry_after.isdigit() and int(retry_after) >= 1, retry_after


def test_the_sixth_login_for_one_account_in_a_minute_is_429_even_with_the_right_password(
    shop: ShopClient,
) -> None:
    shop.active("ann@example.com", "Ann")
    shop.active("bob@example.com", "Bob")

    # the account is the email, whatever its case or surrounding spaces
    for email in ("ann@example.com", "Ann@Example.com", " ann@example.com ", "ANN@EXAMPLE.COM"):
        assert_problem(shop.login(email, "wrong password"), 401, INVALID, case=email)
    assert_problem(shop.login("ann@example.com", "wrong again"), 401, INVALID)
    sixth = shop.login("ann@example.com")

    assert_too_many(sixth)
    assert shop.login("bob@example.com").status_code == 200  # another account is unaffected


def test_the_twenty_first_login_from_one_client_in_a_minute_is_429(shop: ShopClient) -> None:
    shop.active("ann@example.com", "Ann")

    for number in range(20):
        response = shop.login(f"nobody{number}@example.com", "wrong password")
        assert_problem(response, 401, INVALID, case=number)

    assert_too_many(shop.login("ann@example.com"))


def test_sign_ups_of_one_address_beyond_the_hourly_limit_are_429(shop: ShopClient) -> None:
    from shop.registration import PER_ADDRESS

    # each sign-up is a 201 that mails the address: delete the user to sign up again
    for number, email in enumerate(["reg@example.com", "REG@Example.com"] * PER_ADDRESS.limit):
        if number == PER_ADDRESS.limit:
            break
        response = shop.register(email, "Reg")
        assert response.status_code == 201, (number, response.text)
        deleted = shop.http.delete(f"/users/{response.json()['user_id']}", headers=shop.writer)
        assert deleted.status_code == 204, deleted.text

    assert_too_many(shop.register("Reg@example.com", "Reg"))
    assert shop.register("other@example.com", "Other").status_code == 201


def test_the_twenty_first_sign_up_from_one_client_in_a_minute_is_429(shop: ShopClient) -> None:
    for number in range(20):
        response = shop.register(f"user{number}@example.com", "Many")
        assert response.status_code == 201, (number, response.text)

    assert_too_many(shop.register("late@example.com", "Late"))


# 11. Every string the shop stores is bounded


def test_a_name_over_100_characters_is_a_400_on_register_and_create(shop: ShopClient) -> None:
    for response in (
        shop.register("long@example.com", "N" * 101),
        shop.create("long@example.com", "N" * 101),
        shop.register("long@example.com", "N" * 900_000),
    ):
        problem = assert_problem(response, 400)
        assert error_fields(problem) == {"name"}, problem

    assert shop.register("reg@example.com", "N" * 100).status_code == 201
    assert shop.create("long@example.com", "N" * 100).status_code == 201  # was never taken


def test_profile_fields_over_their_bounds_are_a_400(shop: ShopClient) -> None:
    cases: list[tuple[Callable[[], httpx.Response], str]] = [
        (lambda: shop.register("c@example.com", "Cy", company="C" * 201), "company"),
        (lambda: shop.create("c@example.com", "Cy", company="C" * 201), "company"),
        (lambda: shop.create("c@example.com", "Cy", phone="1" * 33), "phone"),
        (lambda: shop.create("c@example.com", "Cy", role="R" * 101), "role"),
    ]
    for send, field in cases:
        problem = assert_problem(send(), 400, case=field)
        assert error_fields(problem) == {field}, problem

    user_id = shop.created("c@example.com", "Cy", company="C" * 200, phone="1" * 32)
    too_long = {"profile": {"bio": "B" * 2001}}
    problem = assert_problem(
        shop.http.put(f"/users/{user_id}", json=too_long, headers=shop.writer), 400
    )
    assert any(error["loc"][-1] == "bio" for error in problem["errors"]), problem
    longest = {"profile": {"bio": "B" * 2000}}
    assert shop.http.put(f"/users/{user_id}", json=longest, headers=shop.writer).status_code == 200


def test_an_error_in_a_nested_profile_names_the_field_path(shop: ShopClient) -> None:
    user_id = shop.created("c@example.com", "Cy")
    too_long = {"profile": {"bio": "B" * 2001}}

    response = shop.http.put(f"/users/{user_id}", json=too_long, headers=shop.writer)

    problem = assert_problem(response, 400)
    assert [error["loc"] for error in problem["errors"]] == [["body", "profile", "bio"]]


def test_a_mailbox_address_over_320_characters_is_a_400(shop: ShopClient) -> None:
    address = "a" * 309 + "@example.com"  # 321 characters
    problem = assert_problem(shop.http.get(f"/mailbox?to={address}", headers=shop.writer), 400)

    assert error_fields(problem) == {"to"}
    at_bound = shop.http.get(f"/mailbox?to={address[1:]}", headers=shop.writer)
    assert at_bound.status_code == 200, at_bound.text


# 13. Security headers on every answer


def assert_hardened(response: httpx.Response, *, case: str) -> None:
    headers = response.headers
    assert headers.get("x-content-type-options") == "nosniff", case
    assert headers.get("referrer-policy") == "no-referrer", case
    assert headers.get("cache-control") == "no-store", case
    assert "server" not in headers, (case, headers.get("server"))
    media = headers.get("content-type", "")
    if media.startswith(("application/json", PROBLEM_JSON)):
        assert headers.get("content-security-policy") == JSON_CSP, case


def test_every_kind_of_answer_carries_the_security_headers(shop: ShopClient) -> None:
    created = shop.create("hd@example.com", "Hedy")
    user_id = created.json()["id"]
    shop.activate(user_id)
    answers = {
        "201 created": (created, 201),
        "200 read": (shop.get(user_id), 200),
        "200 token": (shop.login("hd@example.com"), 200),
        "401 problem": (shop.http.get(f"/users/{user_id}"), 401),
        "400 problem": (shop.register("", ""), 400),
        "404 unknown path": (shop.http.get("/no/such/path"), 404),
        "204 deleted": (shop.http.delete(f"/users/{user_id}", headers=shop.writer), 204),
        "204 options": (shop.http.options("/users"), 204),
    }

    for case, (response, status) in answers.items():
        assert response.status_code == status, (case, response.text)
        assert_hardened(response, case=case)
    for case in ("201 created", "200 read", "200 token"):
        assert answers[case][0].headers["content-type"] == "application/json", case
    for case in ("401 problem", "400 problem", "404 unknown path"):
        assert answers[case][0].headers["content-type"] == PROBLEM_JSON, case


def test_a_cors_preflight_answer_carries_the_security_headers(shop: ShopClient) -> None:
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}

    response = shop.http.options("/users", headers=preflight)

    assert response.status_code == 204, response.text
    assert_hardened(response, case="preflight")


# 14. /metrics is behind a token outside development


def test_metrics_without_a_configured_token_are_401(
    shop: ShopClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAASKIT_SECRET_METRICS_TOKEN", raising=False)

    assert_problem(shop.http.get("/metrics"), 401)
    assert_problem(shop.http.get("/metrics", headers=shop.writer), 401)  # an app JWT is not it


def test_metrics_answer_only_their_configured_token(
    shop: ShopClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "metrics-" + "s" * 40
    monkeypatch.setenv("FAASKIT_SECRET_METRICS_TOKEN", secret)

    missing = shop.http.get("/metrics")
    wrong = shop.http.get("/metrics", headers={"Authorization": f"Bearer {secret}x"})
    app_jwt = shop.http.get("/metrics", headers=shop.writer)
    right = shop.http.get("/metrics", headers={"Authorization": f"Bearer {secret}"})

    assert_problem(missing, 401)
    assert_problem(wrong, 401)
    assert is_invalid_token(wrong), wrong.headers
    assert_problem(app_jwt, 401)
    assert right.status_code == 200, right.text
    assert right.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in right.text


def serve_shop(live_server: Callable[[Any], Any]) -> httpx.Client:
    from shop import app

    return httpx.Client(base_url=live_server(app).url, timeout=30)


def test_metrics_are_public_in_development(
    live_server: Callable[[Any], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASKIT_ENV", "development")
    monkeypatch.delenv("FAASKIT_METRICS", raising=False)
    monkeypatch.delenv("FAASKIT_SECRET_METRICS_TOKEN", raising=False)

    with serve_shop(live_server) as http:
        response = http.get("/metrics")

    assert response.status_code == 200, response.text
    assert "# TYPE" in response.text


def test_metrics_off_are_404_even_with_the_token(
    live_server: Callable[[Any], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "metrics-" + "s" * 40
    monkeypatch.setenv("FAASKIT_METRICS", "off")
    monkeypatch.setenv("FAASKIT_ENV", "development")
    monkeypatch.setenv("FAASKIT_SECRET_METRICS_TOKEN", secret)

    with serve_shop(live_server) as http:
        response = http.get("/metrics", headers={"Authorization": f"Bearer {secret}"})
        assert http.get("/healthz").status_code == 200

    assert_problem(response, 404)


# 15. CORS as the article configures it


def test_a_preflight_answers_204_with_the_articles_cors_headers(shop: ShopClient) -> None:
    response = shop.http.options(
        "/users",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )

    assert response.status_code == 204, response.text
    headers = response.headers
    assert headers["access-control-allow-origin"] == "*"
    methods = {m.strip() for m in headers["access-control-allow-methods"].split(",")}
    assert methods == {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
    allowed = {h.strip().lower() for h in headers["access-control-allow-headers"].split(",")}
    assert allowed == {"content-type", "authorization", "x-request-id"}
    assert headers["access-control-max-age"] == "3600"


@pytest.mark.parametrize("origin", [None, "https://app.example"])
def test_every_answer_allows_any_origin_errors_included(
    shop: ShopClient, origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else {}
    answers = {
        200: shop.http.get("/healthz", headers=headers),
        401: shop.http.get("/users/someone", headers=headers),
        404: shop.http.get("/no/such/path", headers=headers),
        400: shop.http.post("/register", json={}, headers=headers),
        405: shop.http.get("/register", headers=headers),
    }

    for status, response in answers.items():
        assert response.status_code == status, (status, response.text)
        assert response.headers.get("access-control-allow-origin") == "*", status


def test_options_without_preflight_headers_answers_204_with_allow(shop: ShopClient) -> None:
    users = shop.http.options("/users")
    one_user = shop.http.options("/users/someone")

    assert users.status_code == 204, users.text
    assert {m.strip() for m in users.headers["allow"].split(",")} == {"OPTIONS", "POST"}
    assert one_user.status_code == 204, one_user.text
    allow = {m.strip() for m in one_user.headers["allow"].split(",")}
    assert allow == {"DELETE", "GET", "HEAD", "OPTIONS", "PUT"}


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
