"""The users microservice (``/users``) over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime

from faaskit.store.protocol import UpdateDocument, WriteSet
from tests.e2e.shop_support import (
    PASSWORD,
    READ,
    WRITE,
    ShopClient,
    assert_problem,
    error_fields,
    past_the_precheck,
)

EXISTS = "User already exists"
NOT_FOUND = "User not found"
MISSING_ID = "00000000-0000-4000-8000-000000000000"


# -- POST /users ------------------------------------------------------------------------


def test_create_user_answers_201_and_stores_only_an_argon2id_hash(shop: ShopClient) -> None:
    response = shop.create(
        "carol@example.com",
        "Carol King",
        company="Acme",
        role="support",
        phone="+1 555 0100",
        newsletter=True,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": body["id"],
        "email": "carol@example.com",
        "name": "Carol King",
        "status": "pending",
    }
    stored = shop.stored(body["id"])
    assert stored.data["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in json.dumps(stored.data)
    assert "password" not in stored.data
    assert stored.data["access"] == "customer"  # the job role is not an access level
    assert stored.data["profile"] == {"company": "Acme", "role": "support", "phone": "+1 555 0100"}
    assert stored.data["preferences"]["newsletter"] is True


INVALID_NEW_USERS = [
    ({}, {"email", "name", "password"}),
    ({"email": "not-an-email", "name": "A", "password": "short"}, {"email", "name", "password"}),
    ({"email": "dan@example.com", "name": "D" * 101, "password": PASSWORD}, {"name"}),
    ({"email": "dan@example.com", "name": "  D  ", "password": PASSWORD}, {"name"}),
    ({"email": "dan@example.com", "name": "Dan", "password": "1234567"}, {"password"}),
    ({"email": "dan@example", "name": "Dan", "password": PASSWORD}, {"email"}),
    ({"email": "", "name": "", "password": ""}, {"email", "name", "password"}),
    ({"name": "Dan", "password": PASSWORD}, {"email"}),
    ({"email": "dan@example.com", "password": PASSWORD}, {"name"}),
    ({"email": "dan@example.com", "name": "Dan"}, {"password"}),
    (
        {"email": "dan@example.com", "name": "Dan", "password": PASSWORD, "access": "admin"},
        {"access"},
    ),
]


def test_create_user_names_every_missing_or_invalid_field(shop: ShopClient) -> None:
    for body, fields in INVALID_NEW_USERS:
        response = shop.http.post("/users", json=body, headers=shop.writer)

        problem = assert_problem(response, 400, case=body)
        assert error_fields(problem) == fields, body
    assert shop.create("dan@example.com", "Dan").status_code == 201  # nothing was written


def test_create_user_accepts_the_length_limits(shop: ShopClient) -> None:
    response = shop.http.post(
        "/users",
        json={"email": "ed@example.com", "name": "Ed", "password": "x" * 8},
        headers=shop.writer,
    )
    assert response.status_code == 201, response.text
    response = shop.create("fay@example.com", "F" * 100)
    assert response.status_code == 201, response.text


def test_create_user_refuses_malformed_json(shop: ShopClient) -> None:
    response = shop.http.post(
        "/users",
        content=b'{"email": "x@example.com",',
        headers={**shop.writer, "Content-Type": "application/json"},
    )
    assert_problem(response, 400)


def test_create_user_refuses_a_taken_email_whatever_its_case(shop: ShopClient) -> None:
    shop.created("Gus@Example.com")

    assert_problem(shop.create("gus@example.com", "Other Gus"), 409, EXISTS)
    assert_problem(shop.create("GUS@EXAMPLE.COM", "Other Gus"), 409, EXISTS)


def test_concurrent_creates_of_one_email_admit_exactly_one(shop: ShopClient) -> None:
    headers = shop.writer
    emails = ["hal@example.com", "Hal@Example.com", "HAL@EXAMPLE.COM", "hal@EXAMPLE.com"]

    statuses = shop.at_once(
        [
            lambda client, email=email: client.post(
                "/users",
                json={"email": email, "name": "Hal", "password": PASSWORD},
                headers=headers,
            )
            for email in emails
        ]
    )

    assert sorted(statuses) == [201, 409, 409, 409], statuses


# -- GET /users/{id} --------------------------------------------------------------------


def test_get_user_shows_profile_and_preferences_but_no_secrets(shop: ShopClient) -> None:
    user_id = shop.created("ivy@example.com", "Ivy Park", company="Acme", newsletter=True)

    response = shop.get(user_id)

    assert response.status_code == 200, response.text
    user = response.json()
    assert user["id"] == user_id
    assert user["email"] == "ivy@example.com"
    assert user["name"] == "Ivy Park"
    assert user["status"] == "pending"
    assert user["access"] == "customer"
    assert user["profile"]["company"] == "Acme"
    assert user["preferences"] == {"newsletter": True, "notifications": True, "language": "en"}
    assert user["activated_at"] is None
    assert "password_hash" not in user
    assert "reset_token" not in user
    assert "$argon2" not in response.text


def test_get_user_never_shows_a_reset_token_even_when_stored(shop: ShopClient) -> None:
    user_id = shop.created("jo@example.com")
    runtime = shop.server.runtime
    stored = shop.stored(user_id)

    async def add_reset_token() -> None:
        data = {**stored.data, "reset_token": "secret-reset-token"}
        keys = runtime.app.collections["users"].keys(data)
        await runtime.store.commit(
            WriteSet([UpdateDocument("users", user_id, data, keys, stored.updated_at)])
        )

    asyncio.run_coroutine_threadsafe(add_reset_token(), runtime.loop).result(timeout=10)
    assert shop.stored(user_id).data["reset_token"] == "secret-reset-token"

    response = shop.get(user_id)
    assert response.status_code == 200, response.text
    assert "reset_token" not in response.json()
    assert "secret-reset-token" not in response.text


def test_get_unknown_user_is_404(shop: ShopClient) -> None:
    assert_problem(shop.get(MISSING_ID), 404, NOT_FOUND)
    assert_problem(shop.get("no-such-user"), 404, NOT_FOUND)


# -- PUT /users/{id} --------------------------------------------------------------------


def test_update_user_changes_only_what_is_sent(shop: ShopClient) -> None:
    user_id = shop.created("kim@example.com", "Kim Lee", company="Acme", phone="+1 555 0101")
    before = shop.get(user_id).json()

    response = shop.http.put(f"/users/{user_id}", json={"name": "Kim Park"}, headers=shop.writer)
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["name"] == "Kim Park"
    for unchanged in ("email", "status", "access", "profile", "preferences", "created_at"):
        assert after[unchanged] == before[unchanged]

    response = shop.http.put(
        f"/users/{user_id}",
        json={"profile": {"bio": "Hello"}, "preferences": {"language": "fr"}},
        headers=shop.writer,
    )
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["name"] == "Kim Park"
    assert after["profile"] == {
        "company": "Acme",
        "role": None,
        "phone": "+1 555 0101",
        "bio": "Hello",
    }
    assert after["preferences"] == {"newsletter": False, "notifications": True, "language": "fr"}
    assert shop.get(user_id).json() == after  # it was stored, not only answered
    assert shop.stored(user_id).data["password_hash"].startswith("$argon2id$")


def test_update_unknown_user_is_404(shop: ShopClient) -> None:
    response = shop.http.put(f"/users/{MISSING_ID}", json={"name": "Nobody"}, headers=shop.writer)
    assert_problem(response, 404, NOT_FOUND)


INVALID_UPDATES = [
    {},
    {"name": "L"},
    {"name": "   "},
    {"name": "L" * 101},
    {"name": None},
    {"email": "other@example.com"},
    {"password_hash": "$argon2id$forged"},
    {"status": "active"},
    {"name": "Lou", "password": "new password"},
    {"profile": {"unknown": 1}},
    {"preferences": {"newsletter": "maybe"}},
    {"preferences": {"language": "x"}},
]


def test_update_user_refuses_invalid_changes(shop: ShopClient) -> None:
    user_id = shop.register("lou@example.com", "Lou Reed").json()["user_id"]
    before = shop.get(user_id).json()

    for body in INVALID_UPDATES:
        response = shop.http.put(f"/users/{user_id}", json=body, headers=shop.writer)
        assert_problem(response, 400, case=body)
    for content in (b"", b"{broken"):
        response = shop.http.put(
            f"/users/{user_id}",
            content=content,
            headers={**shop.writer, "Content-Type": "application/json"},
        )
        assert_problem(response, 400)

    assert shop.get(user_id).json() == before


# -- DELETE /users/{id} -----------------------------------------------------------------


def test_delete_user_then_it_is_gone(shop: ShopClient) -> None:
    user_id = shop.register("max@example.com").json()["user_id"]

    response = shop.http.delete(f"/users/{user_id}", headers=shop.writer)
    assert response.status_code == 204, response.text
    assert response.content == b""

    assert_problem(shop.get(user_id), 404, NOT_FOUND)
    assert_problem(shop.http.delete(f"/users/{user_id}", headers=shop.writer), 404, NOT_FOUND)
    assert shop.stored(user_id) is None
    # the email is free again
    assert shop.register("MAX@example.com").status_code == 201


# -- POST /users/{id}/activate ----------------------------------------------------------


def test_activate_user(shop: ShopClient) -> None:
    user_id = shop.register("ned@example.com").json()["user_id"]
    started = time.time()

    response = shop.http.post(f"/users/{user_id}/activate", headers=shop.writer)

    assert response.status_code == 200, response.text
    assert response.json() == {"message": "User activated successfully"}
    user = shop.get(user_id).json()
    assert user["status"] == "active"
    assert user["activated_at"] is not None
    assert datetime.fromisoformat(user["activated_at"]).timestamp() >= started - 5
    # activating again changes nothing
    again = shop.http.post(f"/users/{user_id}/activate", headers=shop.writer)
    assert again.status_code == 200, again.text
    assert shop.get(user_id).json() == user


def test_activate_unknown_user_is_404(shop: ShopClient) -> None:
    response = shop.http.post(f"/users/{MISSING_ID}/activate", headers=shop.writer)
    assert_problem(response, 404, NOT_FOUND)


# -- authorization ----------------------------------------------------------------------


def user_routes(user_id: str) -> list[tuple[str, str, dict | None, str]]:
    """(method, path, json body, the scope it needs) for every /users route."""
    return [
        ("GET", f"/users/{user_id}", None, READ),
        ("PUT", f"/users/{user_id}", {"name": "Ola Changed"}, WRITE),
        ("DELETE", f"/users/{user_id}", None, WRITE),
        ("POST", f"/users/{user_id}/activate", None, WRITE),
        (
            "POST",
            "/users",
            {"email": "pat@example.com", "name": "Pat", "password": PASSWORD},
            WRITE,
        ),
    ]


def test_users_routes_need_a_bearer_token(shop: ShopClient) -> None:
    user_id = shop.register("ola@example.com", "Ola").json()["user_id"]

    for method, path, body, _ in user_routes(user_id):
        for headers in (
            {},
            {"Authorization": "Basic b2xhOnNlY3JldA=="},
            {"Authorization": "Bearer not.a.jwt"},
            shop.bearer(READ, WRITE, ttl=-3600),  # expired
        ):
            response = shop.http.request(method, path, json=body, headers=headers)
            assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)

    user = shop.get(user_id).json()
    assert user["name"] == "Ola"
    assert user["status"] == "pending"


def test_users_routes_need_their_scope(shop: ShopClient) -> None:
    user_id = shop.register("ola@example.com", "Ola").json()["user_id"]

    for method, path, body, scope in user_routes(user_id):
        lacking = [s for s in (READ, WRITE, "orders:admin") if s != scope]
        for headers in (shop.bearer(), shop.bearer(*lacking)):
            response = shop.http.request(method, path, json=body, headers=headers)
            assert_problem(response, 403)
            assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)

    user = shop.get(user_id).json()
    assert user["name"] == "Ola"
    assert user["status"] == "pending"
    assert shop.http.get(f"/users/{user_id}", headers=shop.bearer(WRITE)).status_code == 403


def test_a_customer_token_can_read_but_not_write(shop: ShopClient) -> None:
    user_id = shop.active("quinn@example.com", "Quinn")
    token = shop.login("quinn@example.com").json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    assert shop.http.get(f"/users/{user_id}", headers=headers).status_code == 200
    for method, path, body, scope in user_routes(user_id):
        if scope == WRITE:
            response = shop.http.request(method, path, json=body, headers=headers)
            assert_problem(response, 403)

    user = shop.get(user_id).json()
    assert user["name"] == "Quinn"
    assert user["status"] == "active"


def test_creates_that_all_pass_the_duplicate_check_still_admit_one(shop: ShopClient) -> None:
    headers = shop.writer
    emails = ["ivo@example.com", "Ivo@Example.com", "IVO@EXAMPLE.COM"]

    with past_the_precheck(len(emails)):
        statuses = shop.at_once(
            [
                lambda client, email=email: client.post(
                    "/users",
                    json={"email": email, "name": "Ivo", "password": PASSWORD},
                    headers=headers,
                )
                for email in emails
            ]
        )

    assert sorted(statuses) == [201, 409, 409], statuses
    response = shop.http.post("/register", json={"email": "IVO@example.com", "name": "Ivo"})
    assert_problem(response, 409, EXISTS)
