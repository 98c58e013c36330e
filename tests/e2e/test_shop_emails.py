"""Both registration paths (``POST /register`` and ``POST /users``) share one user
collection: an email taken through either is taken for both, whatever its case."""

from __future__ import annotations

from tests.e2e.shop_support import PASSWORD, ShopClient, assert_problem

EXISTS = "User already exists"


def test_an_email_registered_is_taken_for_create_user(shop: ShopClient) -> None:
    assert shop.register("Wes@Example.com", "Wes").status_code == 201

    assert_problem(shop.create("wes@example.com", "Wes Again"), 409, EXISTS)
    assert_problem(shop.create("WES@EXAMPLE.COM", "Wes Again"), 409, EXISTS)


def test_an_email_created_is_taken_for_register(shop: ShopClient) -> None:
    shop.created("xia@example.com", "Xia")

    assert_problem(shop.register("Xia@Example.com", "Xia Again"), 409, EXISTS)
    assert_problem(shop.register("XIA@EXAMPLE.COM", "Xia Again"), 409, EXISTS)


def test_concurrent_registrations_through_both_paths_admit_one(shop: ShopClient) -> None:
    headers = shop.writer
    requests = [
        lambda client: client.post("/register", json={"email": "yan@example.com", "name": "Yan"}),
        lambda client: client.post("/register", json={"email": "YAN@example.com", "name": "Yan"}),
        lambda client: client.post(
            "/users",
            json={"email": "Yan@Example.com", "name": "Yan", "password": PASSWORD},
            headers=headers,
        ),
        lambda client: client.post(
            "/users",
            json={"email": "yan@EXAMPLE.COM", "name": "Yan", "password": PASSWORD},
            headers=headers,
        ),
    ]

    statuses = shop.at_once(requests)

    assert sorted(statuses) == [201, 409, 409, 409], statuses
