"""``POST /auth/token`` over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import jwt

from tests.e2e.shop_support import PASSWORD, READ, WRITE, ShopClient, assert_problem

INVALID = "Invalid email or password"


def test_token_for_email_and_password_works_on_get_user(shop: ShopClient) -> None:
    user_id = shop.active("rae@example.com", "Rae")

    response = shop.login("rae@example.com")

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == user_id
    assert claims["scope"].split() == [READ, "orders:read", "orders:write"]  # a customer
    assert claims["exp"] - claims["iat"] == 3600

    me = shop.http.get(
        f"/users/{user_id}", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200, me.text
    assert me.json()["email"] == "rae@example.com"


def test_token_login_ignores_the_case_of_the_email(shop: ShopClient) -> None:
    shop.active("Sam@Example.com", "Sam")

    assert shop.login("sam@example.com").status_code == 200
    assert shop.login("  SAM@EXAMPLE.COM ").status_code == 200


def test_an_admin_token_can_write(shop: ShopClient) -> None:
    admin_id = shop.active("tia@example.com", "Tia")
    shop.grant(admin_id, "admin")
    other_id = shop.created("tom@example.com", "Tom")
    token = shop.login("tia@example.com").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {READ, WRITE} <= set(claims["scope"].split())

    response = shop.http.post(f"/users/{other_id}/activate", headers=headers)
    assert response.status_code == 200, response.text


def test_every_failed_login_gets_the_same_answer(shop: ShopClient) -> None:
    shop.created("uma@example.com", "Uma")
    assert shop.register("vic@example.com", "Vic").status_code == 201  # has no password

    answers = [
        shop.login("nobody@example.com"),  # unknown email
        shop.login("uma@example.com", "wrong password"),  # wrong password
        shop.login("uma@example.com", PASSWORD.upper()),
        shop.login("uma@example.com", ""),
        shop.login("vic@example.com"),  # registered through /register, no password
        shop.login("vic@example.com", ""),
    ]

    bodies = [assert_problem(response, 401, INVALID) for response in answers]
    comparable = [{k: v for k, v in body.items() if k != "request_id"} for body in bodies]
    assert all(body == comparable[0] for body in comparable)
    assert len({response.headers["www-authenticate"] for response in answers}) == 1


def test_token_request_is_validated(shop: ShopClient) -> None:
    assert_problem(shop.http.post("/auth/token", json={"email": "uma@example.com"}), 400)
    assert_problem(
        shop.http.post(
            "/auth/token", content=b"{oops", headers={"Content-Type": "application/json"}
        ),
        400,
    )
    assert_problem(
        shop.http.post(
            "/auth/token",
            content=b"email=a&password=b",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
        415,
    )
