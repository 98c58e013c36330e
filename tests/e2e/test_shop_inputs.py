"""Inputs that used to answer 500 or surprise — NUL, unbounded totals and pages, lax
coercion, unbounded strings — over real HTTP on SQLite and PostgreSQL, by audit item; each
item has tests that failed before its fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.hardening_support import (
    NUL,
    ORDERS_ADMIN,
    ORDERS_READ,
    customer,
    post_order,
    raw_order,
)
from tests.e2e.order_support import line, order_body
from tests.e2e.shop_support import (
    PASSWORD,
    ShopClient,
    assert_problem,
    error_fields,
)

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
