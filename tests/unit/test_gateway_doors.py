"""The gateway's two doors answer alike (faaskit/http/gateway.py): the same requests through
ASGI (as uvicorn hands them over: bytes headers, a raw path, the body in chunks) and
through the direct door the cloud adapters use (``Gateway.respond``), on two runtimes
with the same key and clock, get the same status, headers and body — routing, binding,
auth, CORS, rate limits, problem+json, request-size limits — and count the same metrics.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel

from faaskit import CORS, App, Context, NotFoundError, Response
from faaskit.config import Settings
from faaskit.http.exchange import Answer, Request
from faaskit.http.gateway import Gateway
from faaskit.ratelimit import RateLimit
from faaskit.runtime.runtime import Runtime
from faaskit.testing import VirtualClock

ORIGIN = "https://app.example"


class Item(BaseModel):
    name: str
    price: int


def make_app() -> App:
    app = App(
        "doors",
        max_body_size=256,
        cors=CORS(allow_origins=[ORIGIN], allow_credentials=True, expose_headers=["x-total"]),
    )

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    @app.get("/items/{item_id:int}")
    async def get_item(item_id: int, verbose: bool = False) -> dict[str, Any]:
        if item_id == 404:
            raise NotFoundError("no such item")
        return {"id": item_id, "verbose": verbose}

    @app.post("/items", status=201)
    async def create_item(item: Item, ctx: Context) -> dict[str, Any]:
        return {"name": item.name, "price": item.price, "request": ctx.request_id}

    @app.put("/items/{item_id:int}", auth="items:write")
    async def replace_item(item_id: int, item: Item) -> dict[str, Any]:
        return {"id": item_id, "name": item.name}

    @app.get("/files/{name}")
    async def file(name: str) -> dict[str, str]:
        return {"name": name}

    @app.get("/cookies")
    async def cookies() -> Response:
        return Response(
            "two",
            headers=[("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("Cache-Control", "max-age=5")],
        )

    @app.get("/limited", rate_limit=RateLimit(2, per=60))
    async def limited() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("boom")

    return app


def requests(token: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    """(method, target, headers, body): what both doors are asked, in this order."""
    json = {"content-type": "application/json"}
    cors = {"origin": ORIGIN}
    return [
        ("GET", "/hello", {}, b""),
        ("GET", "/hello", cors, b""),
        ("GET", "/hello", {"origin": "https://evil.example"}, b""),
        ("HEAD", "/hello", {}, b""),
        ("OPTIONS", "/hello", {}, b""),
        ("DELETE", "/hello", {}, b""),
        ("GET", "/nowhere", {}, b""),
        ("GET", "/items/7?verbose=true", {}, b""),
        ("GET", "/items/7?verbose=perhaps", {}, b""),
        ("GET", "/items/404", cors, b""),
        ("GET", "/items/x", {}, b""),
        ("POST", "/items", json, b'{"name": "pen", "price": 3}'),
        ("POST", "/items", json, b'{"name": "pen"'),
        ("POST", "/items", json, b'{"name": "pen", "price": "three"}'),
        ("POST", "/items", {"content-type": "text/plain"}, b"pen"),
        ("POST", "/items", json, b'{"name": "' + b"x" * 300 + b'", "price": 1}'),
        ("POST", "/items", {**json, "content-length": "100000"}, b"{}"),
        ("POST", "/items", {**json, "transfer-encoding": "chunked"}, b"[" + b"1," * 200 + b"1]"),
        ("POST", "/items", json, b""),
        ("PUT", "/items/1", json, b'{"name": "pen", "price": 3}'),
        ("PUT", "/items/1", {**json, "authorization": "Bearer nope"}, b'{"name": "a", "price": 1}'),
        (
            "PUT",
            "/items/1",
            {**json, "authorization": f"Bearer {token}"},
            b'{"name": "a", "price": 1}',
        ),
        ("GET", "/files/a%2Fb", {}, b""),
        ("GET", "/files/a/b", {}, b""),
        ("GET", "/files/caf%C3%A9", {}, b""),
        ("GET", "/cookies", cors, b""),
        ("GET", "/limited", {}, b""),
        ("GET", "/limited", {}, b""),
        ("GET", "/limited", {}, b""),
        ("GET", "/crash", {}, b""),
        ("OPTIONS", "/items", {**cors, "access-control-request-method": "POST"}, b""),
        ("OPTIONS", "/items", {**cors, "access-control-request-method": "PATCH"}, b""),
        (
            "OPTIONS",
            "/items",
            {"origin": "https://evil.example", "access-control-request-method": "POST"},
            b"",
        ),
        ("GET", "/healthz", {}, b""),
        ("GET", "/openapi.json", {}, b""),
    ]


async def through_asgi(gateway: Gateway, request: Request) -> Answer:
    """As uvicorn calls it: bytes headers, the raw path, the body in two chunks."""
    raw_path = request.raw_path or request.path
    scope = {
        "type": "http",
        "method": request.method,
        "path": request.path,
        "raw_path": raw_path.encode("latin-1"),
        "query_string": request.query_string,
        "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in request.headers.items()],
        "client": request.client,
    }
    half = len(request.body) // 2
    chunks = [
        {"type": "http.request", "body": request.body[:half], "more_body": True},
        {"type": "http.request", "body": request.body[half:], "more_body": False},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await gateway(scope, receive, send)
    start, body = sent
    assert start["type"] == "http.response.start" and body["type"] == "http.response.body"
    return Answer(start["status"], list(start["headers"]), body["body"])


def as_request(method: str, target: str, headers: dict[str, str], body: bytes, n: int) -> Request:
    raw_path, _, query = target.partition("?")
    if body and "content-length" not in headers and "transfer-encoding" not in headers:
        headers = {**headers, "content-length": str(len(body))}
    return Request(
        method,
        unquote(raw_path),
        raw_path=raw_path,
        query_string=query.encode(),
        headers={**headers, "x-request-id": f"req-{n}"},
        body=body,
        client=("203.0.113.9", 4711),
    )


@pytest.fixture
async def gateways(tmp_path: Path) -> AsyncIterator[tuple[Gateway, Gateway]]:
    app = make_app()
    runtimes = []
    for door in ("asgi", "direct"):
        settings = Settings.load(
            database_url=f"sqlite:///{tmp_path / door}.db", data_dir=tmp_path, metrics="public"
        )
        runtimes.append(Runtime(app, settings, clock=VirtualClock()))
    for runtime in runtimes:
        await runtime.start()
    try:
        yield Gateway(runtimes[0]), Gateway(runtimes[1])
    finally:
        for runtime in runtimes:
            await runtime.stop()


def counted(answer: Answer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The metrics' counts (not the durations, which differ from run to run)."""
    found = {}
    for family in text_string_to_metric_families(answer.body.decode()):
        for sample in family.samples:
            if sample.name.endswith(("_total", "_count")):
                found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_both_doors_answer_every_request_alike(gateways: tuple[Gateway, Gateway]) -> None:
    asgi, direct = gateways
    token = direct.runtime.tokens.mint("ada", ["items:write"])
    statuses = []
    for n, (method, target, headers, body) in enumerate(requests(token)):
        request = as_request(method, target, headers, body, n)
        through_door = await through_asgi(asgi, request)
        directly = await direct.respond(request)

        assert directly == through_door, f"{method} {target}"
        statuses.append(directly.status)

    # the requests reach what they are meant to: every kind of answer is among them
    assert {200, 201, 204, 400, 401, 403, 404, 405, 413, 415, 429, 500} <= set(statuses)
    metrics = Request("GET", "/metrics", headers={"x-request-id": "metrics"})
    asgi_counts = counted(await through_asgi(asgi, metrics))
    assert asgi_counts and asgi_counts == counted(await direct.respond(metrics))


async def test_an_adapter_refusal_is_a_problem_with_the_gateways_headers(
    gateways: tuple[Gateway, Gateway],
) -> None:
    _, direct = gateways
    from faaskit.errors import BadRequestError

    request = as_request("POST", "/items", {"origin": ORIGIN}, b"", 1)
    answer = await direct.respond(request, refusal=BadRequestError("not base64"))

    headers = dict(answer.headers)
    assert answer.status == 400
    assert headers[b"content-type"] == b"application/problem+json"
    assert headers[b"x-request-id"] == b"req-1"
    assert headers[b"access-control-allow-origin"] == ORIGIN.encode()
    assert b"not base64" in answer.body
