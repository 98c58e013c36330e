"""The shop's acceptance through the Lambda adapter, as API Gateway REST (v1, behind a
custom domain's base path) and HTTP API (v2, on a named stage) events, on both backends:
registration, users CRUD, activation and login, an order placed, projected and found."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from faaskit.adapters.aws import LambdaHandler, lambda_handler
from faaskit.config import Settings
from faaskit.runtime.worker import Worker
from tests.adapters.aws_support import LambdaContext, http_api_event, rest_event
from tests.e2e.order_support import line, order_body
from tests.e2e.shop_support import PASSWORD

STAFF_SCOPES = ("users:read", "users:write", "users:staff")


class ShopOverLambda:
    """Requests to the shop as Lambda events of one kind; answers as (status, JSON)."""

    def __init__(self, handler: LambdaHandler, kind: str) -> None:
        self.handler = handler
        self.kind = kind
        self.served = 0

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        token: str | None = None,
        params: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        if self.kind == "v1":
            shaped = rest_event(
                method,
                f"/shop{path}",  # a custom domain's base path mapping
                body=body,
                headers=headers,
                query={k: [v] for k, v in (params or {}).items()},
                path_parameters={"proxy": path.lstrip("/")},
            )
            shaped["requestContext"]["path"] = f"/shop{path}"
        else:
            shaped = http_api_event(
                method,
                path,
                body=body,
                headers=headers,
                query=urlencode(params or {}),
                stage="prod",
                route_key="ANY /{proxy+}",
            )
            shaped["pathParameters"] = {"proxy": path.lstrip("/")}
        self.served += 1
        answer = self.handler(shaped, LambdaContext(request_id=f"req-{self.kind}-{self.served}"))
        text = answer["body"]
        if answer["isBase64Encoded"]:
            text = base64.b64decode(text).decode()
        return answer["statusCode"], json.loads(text) if text else None

    def staff_token(self) -> str:
        return self.handler.runtime.tokens.mint("staff-1", STAFF_SCOPES)

    def drain(self) -> int:
        """Run the worker in-process until nothing is due: deliveries and projections."""
        worker = Worker(self.handler.runtime)
        handled = 0
        for _ in range(100):
            batch = self.handler.run(worker.run_once())
            if batch == 0:
                return handled
            handled += batch
        raise AssertionError("the worker is still busy after 100 rounds")


@pytest.fixture(params=["v1", "v2"])
def shop(
    request: pytest.FixtureRequest, backend_url: str, tmp_path: Path
) -> Iterator[ShopOverLambda]:
    from shop import app

    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    handler = lambda_handler(app, settings=settings)
    yield ShopOverLambda(handler, request.param)
    handler.close()


def test_registration(shop: ShopOverLambda) -> None:
    status, body = shop.request(
        "POST", "/register", body={"email": "reg@example.com", "name": "Reg Ister"}
    )
    again, problem = shop.request(
        "POST", "/register", body={"email": "REG@example.com", "name": "Reg Ister"}
    )

    assert status == 201, body
    assert body["message"] == "User registered successfully" and body["user_id"]
    assert again == 409 and problem["status"] == 409


def test_users_crud(shop: ShopOverLambda) -> None:
    staff = shop.staff_token()
    new_user = {"email": "ann@example.com", "name": "Ann Lee", "password": PASSWORD}

    created, body = shop.request("POST", "/users", body=new_user, token=staff)
    user_id = body["id"]
    got, user = shop.request("GET", f"/users/{user_id}", token=staff)
    put, changed = shop.request("PUT", f"/users/{user_id}", body={"name": "Ann B"}, token=staff)
    deleted, nothing = shop.request("DELETE", f"/users/{user_id}", token=staff)
    gone, problem = shop.request("GET", f"/users/{user_id}", token=staff)

    assert created == 201, body
    assert (got, user["email"], user["name"]) == (200, "ann@example.com", "Ann Lee")
    assert "password" not in user and "password_hash" not in user
    assert (put, changed["name"]) == (200, "Ann B")
    assert (deleted, nothing) == (204, None)
    assert gone == 404 and problem["status"] == 404


def test_users_need_a_token_with_the_right_scopes(shop: ShopOverLambda) -> None:
    reader = shop.handler.runtime.tokens.mint("reader", ["users:read"])

    anonymous, _ = shop.request("POST", "/users", body={"email": "x@example.com"})
    refused, problem = shop.request(
        "POST",
        "/users",
        body={"email": "x@example.com", "name": "X", "password": PASSWORD},
        token=reader,
    )

    assert anonymous == 401
    assert refused == 403 and problem["status"] == 403


def test_activate_login_order_and_search(shop: ShopOverLambda) -> None:
    staff = shop.staff_token()
    new_user = {"email": "bob@example.com", "name": "Bob Stone", "password": PASSWORD}
    _, created = shop.request("POST", "/users", body=new_user, token=staff)
    user_id = created["id"]
    credentials = {"email": "bob@example.com", "password": PASSWORD}

    inactive, _ = shop.request("POST", "/auth/token", body=credentials)
    activated, _ = shop.request("POST", f"/users/{user_id}/activate", token=staff)
    logged_in, issued = shop.request("POST", "/auth/token", body=credentials)
    token = issued["access_token"]
    placed, accepted = shop.request(
        "POST", "/orders", body=order_body(line("Brass Lamp", 2, 15.5)), token=token
    )
    order_id = accepted["order_id"]
    shop.drain()  # the read model is projected asynchronously
    found, page = shop.request("GET", "/orders", params={"q": "brass"}, token=token)
    fetched, order = shop.request("GET", f"/orders/{order_id}", token=token)

    assert inactive == 401
    assert activated == 200
    assert logged_in == 200 and issued["expires_in"] > 0
    assert placed == 202, accepted
    assert found == 200, page
    assert [item["order_id"] for item in page["items"]] == [order_id]
    assert fetched == 200 and order["order_id"] == order_id
    assert order["customer_id"] == user_id


def test_placing_an_order_needs_orders_write(shop: ShopOverLambda) -> None:
    reader = shop.handler.runtime.tokens.mint("someone", ["orders:read"])

    status, problem = shop.request("POST", "/orders", body=order_body(), token=reader)

    assert status == 403 and problem["status"] == 403


def test_an_invalid_order_is_a_400_naming_the_field(shop: ShopOverLambda) -> None:
    writer = shop.handler.runtime.tokens.mint("someone", ["orders:read", "orders:write"])

    status, problem = shop.request("POST", "/orders", body=order_body(items=[]), token=writer)

    assert status == 400
    assert any("items" in error["loc"] for error in problem["errors"])


def test_openapi_describes_the_shop(shop: ShopOverLambda) -> None:
    status, document = shop.request("GET", "/openapi.json")

    assert status == 200
    assert "/orders" in document["paths"] and "/users/{user_id}" in document["paths"]
