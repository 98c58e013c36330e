"""``POST /register`` over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from tests.e2e.shop_support import (
    ShopClient,
    assert_problem,
    error_fields,
    past_the_precheck,
)

EXISTS = "User already exists"
MIB = 1024 * 1024


def test_register_creates_a_pending_user_without_a_password(shop: ShopClient) -> None:
    response = shop.register("ann@example.com", "Ann Lee", company="Acme")

    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["message"] == "User registered successfully"
    assert set(body) == {"message", "user_id"}
    user = shop.get(body["user_id"]).json()
    assert user["email"] == "ann@example.com"
    assert user["name"] == "Ann Lee"
    assert user["status"] == "pending"
    assert user["profile"]["company"] == "Acme"
    assert shop.stored(body["user_id"]).data["password_hash"] is None


def test_register_is_public(shop: ShopClient) -> None:
    response = shop.http.post(
        "/register",
        json={"email": "bo@example.com", "name": "Bo"},
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert response.status_code == 201, response.text


MISSING_EMAIL_OR_NAME = [
    ({}, {"email", "name"}),
    ({"name": "Ann"}, {"email"}),
    ({"email": "ann@example.com"}, {"name"}),
    ({"email": None, "name": None}, {"email", "name"}),
    ({"email": "", "name": "Ann"}, {"email"}),
    ({"email": "ann@example.com", "name": "   "}, {"name"}),
    ({"email": "  ", "name": ""}, {"email", "name"}),
    ({"email": "not-an-email", "name": "Ann"}, {"email"}),
]


def test_register_needs_an_email_address_and_a_name(shop: ShopClient) -> None:
    for body, missing in MISSING_EMAIL_OR_NAME:
        response = shop.http.post("/register", json=body)

        problem = assert_problem(response, 400, case=body)
        assert error_fields(problem) == missing, body


def test_register_trims_the_name(shop: ShopClient) -> None:
    user_id = shop.register("ann@example.com", "  Ann Lee ").json()["user_id"]

    assert shop.get(user_id).json()["name"] == "Ann Lee"


def test_register_refuses_malformed_json(shop: ShopClient) -> None:
    for content in (b"{not json", b'{"email": "ann@example.com", "name": ', b"", b"   "):
        response = shop.http.post(
            "/register", content=content, headers={"Content-Type": "application/json"}
        )
        assert_problem(response, 400, case=content)
    assert shop.register("ann@example.com").status_code == 201  # nothing was written


def test_register_refuses_a_taken_email_whatever_its_case(shop: ShopClient) -> None:
    assert shop.register("Ann@Example.com").status_code == 201

    for email in ("Ann@Example.com", "ann@example.com", "ANN@EXAMPLE.COM"):
        assert_problem(shop.register(email, "Someone Else"), 409, EXISTS)


def test_register_refuses_a_body_over_max_body_size(shop: ShopClient) -> None:
    big = json.dumps({"email": "ann@example.com", "name": "x" * MIB}).encode()
    declared = shop.http.post(
        "/register", content=big, headers={"Content-Type": "application/json"}
    )
    assert_problem(declared, 413)

    def chunks():  # no Content-Length: the limit holds while the body streams in
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    streamed = shop.http.post(
        "/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(streamed, 413)
    assert shop.register("ann@example.com").status_code == 201  # nothing was written


def test_register_accepts_a_body_just_under_max_body_size(shop: ShopClient) -> None:
    body = {"email": "ann@example.com", "name": "Ann", "pad": ""}
    body["pad"] = "x" * (MIB - len(json.dumps(body)))
    content = json.dumps(body).encode()
    assert len(content) == MIB

    response = shop.http.post(
        "/register", content=content, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text


def test_register_refuses_a_body_that_is_not_json(shop: ShopClient) -> None:
    body = b'{"email": "ann@example.com", "name": "Ann"}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "text/json", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = shop.http.post("/register", content=body, headers=headers)
        assert_problem(response, 415, case=content_type)
    assert shop.register("ann@example.com").status_code == 201  # nothing was written
    response = shop.http.post(
        "/register",
        content=b'{"email": "bo@example.com", "name": "Bo"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text


def test_concurrent_registrations_of_one_email_admit_exactly_one(shop: ShopClient) -> None:
    variants = ["race@example.com", "Race@Example.com", "RACE@EXAMPLE.COM", "race@EXAMPLE.com"]
    emails = [variants[i % len(variants)] for i in range(12)]

    statuses = shop.at_once(
        [
            lambda client, email=email: client.post(
                "/register", json={"email": email, "name": "Racer"}
            )
            for email in emails
        ]
    )

    # One sign-up; the rest are refused as taken, or, past the taken-email check, by the
    # address's rate limit (5 an hour) before they reach the store.
    assert statuses.count(201) == 1, statuses
    assert set(statuses) <= {201, 409, 429} and statuses.count(429) <= 12 - 5, statuses


def test_registrations_that_all_pass_the_duplicate_check_still_admit_one(
    shop: ShopClient,
) -> None:
    emails = ["held@example.com", "Held@Example.com", "HELD@EXAMPLE.COM", "held@EXAMPLE.com"] * 2

    with past_the_precheck(len(emails)):
        statuses = shop.at_once(
            [
                lambda client, email=email: client.post(
                    "/register", json={"email": email, "name": "Holder"}
                )
                for email in emails
            ]
        )

    # All eight passed the taken-email check: the address's limit admits five to the store
    # (exact: the bucket is one atomic take), and the store admits one of those.
    assert sorted(statuses) == [201] + [409] * 4 + [429] * 3, statuses
