"""The OpenAPI document: every error status a route can answer, each a problem+json body,
and every bound the server checks (faaskit/http/openapi.py)."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, Field

from faaskit import App, Body, ConfigurationError, Query
from faaskit.http.binding import build_endpoint
from faaskit.http.openapi import NUL_FREE, openapi_document
from faaskit.http.paths import compile_path
from faaskit.ratelimit import RateLimit

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=10)
    price: int = Field(ge=0, le=1000)
    code: str = Field(default="a", pattern="^[a-z]+$")
    extra: dict[str, Any] = {}


def document(app: App) -> dict[str, Any]:
    endpoints = [build_endpoint(r, compile_path(r.path)[1]) for r in app.routes]
    doc = openapi_document(app, endpoints)
    validate(doc)
    return doc


def operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = doc["paths"][path][method.lower()]
    return op


def statuses(doc: dict[str, Any], method: str, path: str) -> set[str]:
    return set(operation(doc, method, path)["responses"])


def make_app() -> App:
    app = App("openapi-test")

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {}

    @app.get("/items/{item_id}")
    async def get_item(item_id: str) -> dict[str, str]:
        return {}

    @app.get("/search")
    async def search(
        q: Annotated[str, Field(max_length=50)] = "",
        page: Annotated[int, Field(ge=1)] = 1,
        page_size: Annotated[int, Query(description="items a page"), Field(ge=1, le=100)] = 20,
        start: Annotated[int | None, Query(alias="from"), Field(ge=0)] = None,
        tag: str | None = None,
    ) -> dict[str, str]:
        return {}

    @app.post("/items", status=201, auth="items:write")
    async def create_item(body: Item) -> dict[str, str]:
        return {}

    @app.put("/items/{item_id}", auth=True)
    async def replace_item(item_id: str, body: Item) -> dict[str, str]:
        return {}

    @app.delete("/items/{item_id}", status=204, auth="items:write")
    async def delete_item(item_id: str) -> None:
        return None

    @app.post(
        "/login",
        errors={401: "Invalid email or password", 400: "Unknown email domain"},
        rate_limit=RateLimit(5, per=60),
    )
    async def login(
        email: Annotated[str, Body()], password: Annotated[str, Body()]
    ) -> dict[str, str]:
        return {}

    @app.get("/feed", rate_limit=[RateLimit(10, per=1, burst=20), RateLimit(100, per=60)])
    async def feed() -> list[str]:
        return []

    return app


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document(make_app())


# --- the route API -------------------------------------------------------------------------


def test_route_keeps_declared_errors_and_rate_limits_as_tuples() -> None:
    routes = {route.name: route for route in make_app().routes}

    assert routes["login"].errors == (
        (400, "Unknown email domain"),
        (401, "Invalid email or password"),
    )
    assert routes["login"].rate_limits == (RateLimit(5, per=60),)
    assert routes["feed"].rate_limits == (RateLimit(10, per=1, burst=20), RateLimit(100, per=60))
    assert routes["ping"].errors == ()
    assert routes["ping"].rate_limits == ()


@pytest.mark.parametrize("status", [200, 302, 600, "401"])
def test_a_declared_error_must_be_an_error_status(status: Any) -> None:
    app = App("openapi-test")

    with pytest.raises(ConfigurationError, match="between 400 and 599"):
        app.get("/x", errors={status: "no"})


# --- error statuses ------------------------------------------------------------------------


def test_a_public_route_without_input_can_only_fail_with_500(doc: dict[str, Any]) -> None:
    assert statuses(doc, "GET", "/ping") == {"200", "500"}


def test_parameters_can_fail_validation_and_a_path_can_name_nothing(doc: dict[str, Any]) -> None:
    assert statuses(doc, "GET", "/items/{item_id}") == {"200", "400", "404", "500"}
    assert statuses(doc, "GET", "/search") == {"200", "400", "500"}


def test_a_protected_route_answers_401_and_403_with_a_challenge(doc: dict[str, Any]) -> None:
    responses = operation(doc, "POST", "/items")["responses"]

    for status in ("401", "403"):
        assert responses[status]["content"] == PROBLEM
        assert responses[status]["headers"]["WWW-Authenticate"]["required"] is True
    assert operation(doc, "POST", "/items")["security"] == [{"bearerAuth": ["items:write"]}]


def test_any_valid_token_is_401_only(doc: dict[str, Any]) -> None:
    assert {"401"} <= statuses(doc, "PUT", "/items/{item_id}")
    assert "403" not in statuses(doc, "PUT", "/items/{item_id}")


def test_a_write_can_conflict_and_a_body_can_be_too_large_or_not_json(
    doc: dict[str, Any],
) -> None:
    assert statuses(doc, "POST", "/items") == {
        "201", "400", "401", "403", "409", "413", "415", "500",
    }  # fmt: skip
    assert statuses(doc, "DELETE", "/items/{item_id}") == {
        "204", "400", "401", "403", "404", "409", "500",
    }  # fmt: skip
    assert "409" not in statuses(doc, "GET", "/items/{item_id}")


def test_every_error_is_a_problem(doc: dict[str, Any]) -> None:
    for item in doc["paths"].values():
        for op in item.values():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert response["content"] == PROBLEM, (op["operationId"], status)
                    assert response["description"]


def test_declared_errors_are_documented_with_their_description(doc: dict[str, Any]) -> None:
    responses = operation(doc, "POST", "/login")["responses"]

    assert responses["401"]["description"] == "Invalid email or password"
    assert responses["401"]["content"] == PROBLEM
    assert "WWW-Authenticate" in responses["401"]["headers"]
    assert responses["400"]["description"].startswith("Unknown email domain; or: ")
    assert "security" not in operation(doc, "POST", "/login")


def test_a_rate_limited_route_answers_429_with_retry_after(doc: dict[str, Any]) -> None:
    login = operation(doc, "POST", "/login")
    feed = operation(doc, "GET", "/feed")

    too_many = login["responses"]["429"]
    assert too_many["content"] == PROBLEM
    assert too_many["headers"]["Retry-After"] == {
        "description": "Seconds to wait before the next request",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    }
    assert "5 per 60 s" in too_many["description"]
    assert login["x-rate-limits"] == [{"limit": 5, "per": 60.0}]
    assert feed["x-rate-limits"] == [
        {"limit": 10, "per": 1.0, "burst": 20},
        {"limit": 100, "per": 60.0},
    ]
    assert "429" not in statuses(doc, "GET", "/ping")


# --- bounds --------------------------------------------------------------------------------


def test_query_parameters_keep_their_bounds(doc: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in operation(doc, "GET", "/search")["parameters"]}

    assert parameters["q"]["schema"]["maxLength"] == 50
    assert parameters["page"]["schema"]["minimum"] == 1
    assert parameters["page_size"]["schema"]["minimum"] == 1
    assert parameters["page_size"]["schema"]["maximum"] == 100
    assert parameters["page_size"]["description"] == "items a page"
    assert parameters["from"]["schema"]["minimum"] == 0


def test_an_optional_query_parameter_is_left_out_never_null(doc: dict[str, Any]) -> None:
    parameters = {p["name"]: p for p in operation(doc, "GET", "/search")["parameters"]}

    assert parameters["tag"]["required"] is False
    assert parameters["tag"]["schema"] == {"type": "string", "pattern": NUL_FREE}
    assert parameters["from"]["schema"]["type"] == "integer"
    assert "anyOf" not in parameters["from"]["schema"]
    assert "default" not in parameters["from"]["schema"]


def test_body_fields_keep_their_bounds(doc: dict[str, Any]) -> None:
    item = doc["components"]["schemas"]["Item"]["properties"]

    assert item["name"]["minLength"] == 1
    assert item["name"]["maxLength"] == 10
    assert item["price"]["minimum"] == 0
    assert item["price"]["maximum"] == 1000


def test_text_never_holds_nul(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    item = schemas["Item"]
    path = operation(doc, "GET", "/items/{item_id}")["parameters"][0]

    assert item["properties"]["name"]["pattern"] == NUL_FREE
    # A pattern of its own keeps it; the text rule joins it.
    assert item["properties"]["code"]["pattern"] == "^[a-z]+$"
    assert item["properties"]["code"]["allOf"] == [{"pattern": NUL_FREE}]
    # Keys and values of a free-form object are text too.
    assert item["properties"]["extra"]["propertyNames"] == {"pattern": NUL_FREE}
    assert item["properties"]["extra"]["additionalProperties"] == {
        "$ref": "#/components/schemas/JSONValue"
    }
    assert item["propertyNames"] == {"pattern": NUL_FREE}
    assert path["schema"] == {"type": "string", "pattern": NUL_FREE}
    assert schemas["Problem"]["properties"]["title"] == {"type": "string"}


def test_the_text_rule_pattern_refuses_nul_only() -> None:
    import re

    assert re.fullmatch(NUL_FREE, "any text, é, \t")
    assert not re.fullmatch(NUL_FREE, "a\x00b")


# --- the shop ------------------------------------------------------------------------------


def test_the_shop_documents_the_errors_faaskit_answers_for_it() -> None:
    from shop import app

    doc = document(app)

    for method, path in [
        ("PATCH", "/orders/{order_id}"),
        ("POST", "/orders/{order_id}/cancel"),
        ("POST", "/users"),
        ("DELETE", "/users/{user_id}"),
    ]:
        assert "409" in statuses(doc, method, path), (method, path)
    for item in doc["paths"].values():
        for op in item.values():
            if "security" in op:
                assert {"401", "403"} <= set(op["responses"]), op["operationId"]
            if "requestBody" in op:
                assert {"413", "415"} <= set(op["responses"]), op["operationId"]
