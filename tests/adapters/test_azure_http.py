"""The Azure Functions HTTP adapter, with the SDK's own HttpRequest and HttpResponse: through
the function that ``function_app`` registers (as the worker indexes and calls it) and
through the plain handler behind it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from faaskit.adapters.azure import (
    FUNCTION_NAME,
    AzureHttpHandler,
    function_app,
    gateway_request,
    http_handler,
)
from faaskit.config import Settings
from tests.adapters.cloud_http_support import ORIGIN, PNG, echo_app, shop_acceptance

FIXTURES = Path(__file__).parent.parent / "fixtures" / "azure"
HOST = "https://faaskit-shop.azurewebsites.net"


class InvocationContext:
    """The attributes of the worker's ``azure.functions.Context`` the adapter reads."""

    def __init__(self, invocation_id: str = "7f6a3c1e-8e2b-4c5e-9f1a-0d2b3c4d5e6f") -> None:
        self.invocation_id = invocation_id
        self.function_name = FUNCTION_NAME
        self.function_directory = "/home/site/wwwroot"


def request(
    method: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    prefix: str = "/api",
) -> func.HttpRequest:
    """An HttpRequest as the worker builds it: the URL as sent, the query's names once."""
    url = f"{HOST}{prefix}{target}"
    query = target.partition("?")[2]
    params = dict(pair.split("=", 1) for pair in query.split("&") if "=" in pair)
    return func.HttpRequest(
        method=method,
        url=url,
        headers={"host": "faaskit-shop.azurewebsites.net", **(headers or {})},
        params=params,
        route_params={"path": target.partition("?")[0].lstrip("/")},
        body=body,
    )


def body(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


@pytest.fixture
def settings(backend_url: str, tmp_path: Path) -> Settings:
    return Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")


@pytest.fixture
async def handler(settings: Settings) -> AsyncIterator[AzureHttpHandler]:
    served = http_handler(echo_app("azure-echo"), settings=settings)
    yield served
    await served.close()


# -- what function_app registers ----------------------------------------------------------


def registered(functions: func.FunctionApp) -> func.Function:
    (only,) = functions.get_functions()
    return only


def test_one_anonymous_catch_all_http_trigger_for_every_method() -> None:
    functions = function_app(echo_app("azure-echo"))  # declares only: no store, no settings

    function = registered(functions)
    trigger = function.get_trigger()
    # what the host indexes
    bindings = json.loads(function.get_function_json())["bindings"]

    assert function.get_function_name() == FUNCTION_NAME
    assert function.is_http_function()
    assert trigger is not None and trigger.get_dict_repr()["route"] == "{*path}"
    http_in = next(b for b in bindings if b["type"] == "httpTrigger")
    assert http_in["authLevel"].lower() == "anonymous"
    assert {m.lower() for m in http_in["methods"]} == {
        "get",
        "post",
        "put",
        "patch",
        "delete",
        "head",
        "options",
    }
    assert any(b["type"] == "http" and b["direction"].lower() == "out" for b in bindings)


def test_the_user_function_is_async_and_typed_for_the_worker() -> None:
    import inspect

    user = registered(function_app(echo_app("azure-echo"))).get_user_function()

    assert inspect.iscoroutinefunction(user)
    hints = inspect.signature(user).parameters
    assert hints["req"].annotation is func.HttpRequest
    assert hints["context"].annotation is func.Context


async def test_the_registered_function_serves_the_routes(settings: Settings) -> None:
    user = registered(function_app(echo_app("azure-echo"), settings=settings)).get_user_function()
    try:
        response = await user(
            req=request("GET", "/things/a%2Fb?tag=x&tag=y"), context=InvocationContext()
        )

        assert isinstance(response, func.HttpResponse)
        assert response.status_code == 200, response.get_body()
        assert body(response)["name"] == "a/b" and body(response)["tag"] == ["x", "y"]
        assert body(response)["request_id"] == "7f6a3c1e-8e2b-4c5e-9f1a-0d2b3c4d5e6f"
    finally:
        await user.faaskit_handler.close()


async def test_a_route_prefix_from_host_json_is_stripped(settings: Settings) -> None:
    user = registered(
        function_app(echo_app("azure-echo"), settings=settings, route_prefix="v1/shop")
    ).get_user_function()
    try:
        prefixed = await user(req=request("GET", "/things/x", prefix="/v1/shop"), context=None)
        unprefixed = await user(req=request("GET", "/things/x", prefix=""), context=None)

        assert prefixed.status_code == 200 and body(prefixed)["name"] == "x"
        assert unprefixed.status_code == 200  # no prefix to strip: routed as it came
    finally:
        await user.faaskit_handler.close()


async def test_without_a_route_prefix_the_path_is_routed_whole(settings: Settings) -> None:
    handler = http_handler(echo_app("azure-echo"), settings=settings, route_prefix="")
    try:
        response = await handler.handle(request("GET", "/api/things/x", prefix=""))

        assert response.status_code == 404  # /api/things/x is no route of the app
    finally:
        await handler.close()


# -- the plain handler ----------------------------------------------------------------------


async def test_method_path_and_repeated_query(handler: AzureHttpHandler) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await handler.handle(request(method, "/things/lamp?tag=a&tag=b%20c&q=x%26y"))

        assert response.status_code == 200, response.get_body()
        assert (body(response)["name"], body(response)["q"]) == ("lamp", "x&y")
        assert body(response)["tag"] == ["a", "b c"]


async def test_the_prefix_is_stripped_and_the_root_is_served(handler: AzureHttpHandler) -> None:
    root = await handler.handle(request("GET", "/"))
    bare = await handler.handle(request("GET", ""))
    shouted = await handler.handle(request("GET", "/things/x", prefix="/API"))

    assert root.status_code == 200 and body(root)["root"] is True
    assert bare.status_code == 200 and body(bare)["root"] is True
    assert shouted.status_code == 200 and body(shouted)["name"] == "x"


async def test_encoded_slash_stays_inside_one_path_parameter(handler: AzureHttpHandler) -> None:
    response = await handler.handle(request("GET", "/users/u%2F1/files/a%2Fb%20c.txt"))
    two_segments = await handler.handle(request("GET", "/things/a/b"))

    assert response.status_code == 200, response.get_body()
    assert (body(response)["user_id"], body(response)["name"]) == ("u/1", "a/b c.txt")
    assert two_segments.status_code == 404
    assert two_segments.headers["Content-Type"] == "application/problem+json"


async def test_headers_and_cookies_reach_the_handler(handler: AzureHttpHandler) -> None:
    response = await handler.handle(
        request("GET", "/things/lamp", headers={"X-Custom": "one", "Cookie": "a=1; b=2"})
    )

    seen = body(response)["headers"]
    assert seen["x-custom"] == "one" and seen["cookie"] == "a=1; b=2"


async def test_json_body_reaches_the_handler(handler: AzureHttpHandler) -> None:
    payload = {"colour": "brass", "sizes": [1, 2]}

    response = await handler.handle(
        request(
            "POST",
            "/things/lamp",
            headers={"Content-Type": "application/json"},
            body=json.dumps(payload).encode(),
        )
    )

    assert response.status_code == 200, response.get_body()
    assert body(response)["body"] == payload


async def test_the_sdks_reference_request_reaches_the_gateway(
    handler: AzureHttpHandler,
) -> None:
    shape = json.loads((FIXTURES / "http-request.json").read_text())
    reference = func.HttpRequest(
        method=shape["method"],
        url=shape["url"].replace("/api/http", "/api/things/http"),
        headers=shape["headers"],
        params=shape["params"],
        route_params=shape["route_params"],
        body=shape["body"].encode(),
    )

    response = await handler.handle(reference)

    assert response.status_code == 200, response.get_body()
    assert body(response)["body"] == {"lastname": "tsang"}
    assert body(response)["headers"]["x-ms-site-restricted-token"] == "xmsrt"


async def test_binary_answer_comes_back_byte_for_byte(handler: AzureHttpHandler) -> None:
    response = await handler.handle(request("GET", "/logo.png"))

    assert response.status_code == 200
    assert response.get_body() == PNG
    assert response.headers["Content-Type"] == "image/png"


async def test_binary_request_body_reaches_the_gateway_whole(handler: AzureHttpHandler) -> None:
    response = await handler.handle(
        request("POST", "/count", headers={"Content-Type": "application/json"}, body=b"\xff\x00{")
    )

    assert response.status_code == 400
    assert "not valid JSON" in body(response)["detail"]


async def test_validation_is_a_400_problem_naming_the_field(handler: AzureHttpHandler) -> None:
    response = await handler.handle(
        request(
            "POST", "/count", headers={"Content-Type": "application/json"}, body=b'{"count": "x"}'
        )
    )

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert any("count" in error["loc"] for error in body(response)["errors"])


async def test_missing_token_is_a_401_with_a_challenge(handler: AzureHttpHandler) -> None:
    response = await handler.handle(request("GET", "/private"))

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body(response)["status"] == 401


async def test_a_valid_token_is_accepted(handler: AzureHttpHandler) -> None:
    await handler.start()
    token = handler.runtime.tokens.mint("someone", ["things:read"])

    response = await handler.handle(
        request("GET", "/private", headers={"Authorization": f"Bearer {token}"})
    )

    assert response.status_code == 200 and body(response) == {"subject": "someone"}


async def test_every_answer_has_the_security_headers(handler: AzureHttpHandler) -> None:
    for target in ("/things/lamp", "/private", "/nowhere", "/logo.png"):
        response = await handler.handle(request("GET", target))

        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Request-ID"]


async def test_several_set_cookie_headers_stay_apart(handler: AzureHttpHandler) -> None:
    from azure.functions.http import HttpResponseConverter

    response = await handler.handle(request("GET", "/cookies"))
    answered = response.headers.get_all("Set-Cookie")
    datum = HttpResponseConverter.encode(response, expected_type=None)

    assert answered == ["a=1; HttpOnly; Secure", "b=2; Path=/"]
    # what the worker hands the host: one cookie each
    cookies = datum.value["cookies"]
    assert [list(cookie) for cookie in cookies] == [["a"], ["b"]]


async def test_cors_preflight_is_the_gateways(handler: AzureHttpHandler) -> None:
    response = await handler.handle(
        request(
            "OPTIONS",
            "/things/lamp",
            headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
        )
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


async def test_openapi_document_is_served(handler: AzureHttpHandler) -> None:
    response = await handler.handle(request("GET", "/openapi.json"))

    assert response.status_code == 200
    assert "/things/{name}" in body(response)["paths"]


async def test_the_clients_request_id_wins_over_the_invocation_id(
    handler: AzureHttpHandler,
) -> None:
    response = await handler.handle(
        request("GET", "/things/x", headers={"X-Request-ID": "mine-1"}), InvocationContext()
    )

    assert body(response)["request_id"] == "mine-1"
    assert response.headers["X-Request-ID"] == "mine-1"


async def test_start_up_happens_once_and_only_the_first_request_is_cold(
    handler: AzureHttpHandler,
) -> None:
    first = body(await handler.handle(request("GET", "/things/a")))
    runtime = handler.runtime
    second = body(await handler.handle(request("GET", "/things/b")))

    assert (first["cold_start"], second["cold_start"]) == (True, False)
    # every invocation knows how long its environment took to start (Lambda's rule too)
    assert first["startup_seconds"] > 0 and second["startup_seconds"] == first["startup_seconds"]
    assert handler.runtime is runtime and runtime.started


async def test_concurrent_requests_share_the_loop(handler: AzureHttpHandler) -> None:
    import asyncio

    answers = await asyncio.gather(
        *(handler.handle(request("GET", f"/things/t{index}")) for index in range(30))
    )

    assert [body(a)["name"] for a in answers] == [f"t{index}" for index in range(30)]
    assert sum(body(a)["cold_start"] for a in answers) == 1


def test_client_address_is_the_last_forwarded_for_entry() -> None:
    def client(forwarded: str) -> Any:
        return gateway_request(request("GET", "/x", headers={"X-Forwarded-For": forwarded})).client

    assert client("10.0.0.1, 203.0.113.9:51234") == ("203.0.113.9", 51234)
    assert client("[2001:db8::1]:443") == ("2001:db8::1", 443)
    assert client("2001:db8::2") == ("2001:db8::2", 0)
    assert gateway_request(request("GET", "/x")).client is None


# -- the shop -----------------------------------------------------------------------------


class ShopOverAzure:
    def __init__(self, user: Any) -> None:
        self.user = user
        self.handler: AzureHttpHandler = user.faaskit_handler
        self.served = 0

    async def arequest(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = b""
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        self.served += 1
        response = await self.user(
            req=request(method, path, headers=headers, body=data),
            context=InvocationContext(f"inv-{self.served}"),
        )
        text = response.get_body()
        return response.status_code, json.loads(text) if text else None


class SyncShop:
    """The async client behind the sync steps the adapters share (run on one loop)."""

    def __init__(self, shop: ShopOverAzure, loop: Any) -> None:
        self.shop = shop
        self.loop = loop

    def request(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        return self.loop.run_until_complete(
            self.shop.arequest(method, path, body=body, token=token)
        )

    def token(self, subject: str, scopes: tuple[str, ...]) -> str:
        return self.shop.handler.runtime.tokens.mint(subject, scopes)


def test_the_shop_through_the_registered_function(settings: Settings) -> None:
    import asyncio

    from shop import app

    user = registered(function_app(app, settings=settings)).get_user_function()
    shop = ShopOverAzure(user)
    loop = asyncio.new_event_loop()  # the worker's one loop, kept for the process
    try:
        shop_acceptance(SyncShop(shop, loop))
        assert shop.served > 10
    finally:
        loop.run_until_complete(shop.handler.close())
        loop.close()


def test_importing_the_adapter_loads_neither_the_sdk_nor_a_store(tmp_path: Path) -> None:
    from tests.unit.test_import_hygiene import loaded_after

    modules = loaded_after("import faaskit.adapters.azure", tmp_path)

    assert "faaskit.adapters.azure" in modules
    assert not {"azure.functions", "flask", "psycopg", "sqlite3"} & modules
