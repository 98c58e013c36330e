"""The shop's public surface — rate limits on logins and sign-ups, security headers,
/metrics access, CORS — over real HTTP on SQLite and PostgreSQL, by audit item; each item
has tests that failed before its fix."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.e2e.hardening_support import (
    INVALID,
    JSON_CSP,
    is_invalid_token,
)
from tests.e2e.shop_support import (
    PROBLEM_JSON,
    ShopClient,
    assert_problem,
)

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
