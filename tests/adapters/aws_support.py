"""What the AWS adapter tests share: the reference events, a Lambda context, small
synthetic events in the reference shapes, and an app that echoes what it received."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict

from faaskit import CORS, App, Context, Response

FIXTURES = Path(__file__).parent.parent / "fixtures" / "aws"
ORIGIN = "https://aws.amazon.com"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe"


def event(name: str) -> dict[str, Any]:
    """A fresh copy of a reference event (tests may change it)."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


class LambdaContext:
    """The attributes of the Lambda runtime's context object that the adapter reads."""

    def __init__(self, request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678") -> None:
        self.aws_request_id = request_id
        self.function_name = "shop"
        self.memory_limit_in_mb = 512
        self.remaining_millis = 30_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def query(answer_body: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(pair) for pair in answer_body["query"]]  # type: ignore[misc]


def json_body(answer: dict[str, Any]) -> Any:
    body = answer["body"]
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body)
    return json.loads(body)


def header(answer: dict[str, Any], name: str) -> str | None:
    """One answer header, from ``headers`` or ``multiValueHeaders`` (ALB multi-value)."""
    single = answer.get("headers") or {}
    if name in single:
        return str(single[name])
    multi = answer.get("multiValueHeaders") or {}
    if name in multi:
        return ", ".join(multi[name])
    return None


# -- synthetic events in the reference shapes ------------------------------------------------


def rest_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: dict[str, list[str]] | None = None,
    resource: str | None = None,
    path_parameters: dict[str, str] | None = None,
    stage: str = "prod",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST (1.0) event like ``go-apigw-request`` for ``method path``."""
    shaped = event("go-apigw-request")
    all_headers = {"Host": "gy415nuibc.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    text, encoded = _body(body, base64_body)
    if text is not None and "Content-Type" not in all_headers:
        all_headers["Content-Type"] = "application/json"
    shaped.update(
        resource=resource or "/{proxy+}",
        path=path,
        httpMethod=method,
        headers=all_headers,
        multiValueHeaders={k: [v] for k, v in all_headers.items()},
        queryStringParameters={k: v[-1] for k, v in (query or {}).items()} or None,
        multiValueQueryStringParameters=query or None,
        pathParameters=path_parameters or {"proxy": path.lstrip("/")},
        body=text,
        isBase64Encoded=encoded,
    )
    shaped["requestContext"].update(
        path=f"/{stage}{path}", stage=stage, httpMethod=method, resourcePath=shaped["resource"]
    )
    return shaped


def http_api_event(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    cookies: list[str] | None = None,
    stage: str = "$default",
    route_key: str = "$default",
    base64_body: bool = False,
) -> dict[str, Any]:
    """An HTTP API (2.0) event like ``powertools-apiGatewayProxyV2Event``."""
    shaped = event("powertools-apiGatewayProxyV2Event")
    all_headers = {"host": "id.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    text, encoded = _body(body, base64_body)
    if text is not None and "content-type" not in all_headers:
        all_headers["content-type"] = "application/json"
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    shaped.update(
        routeKey=route_key,
        rawPath=raw_path,
        rawQueryString=query,
        headers=all_headers,
        queryStringParameters={k: v for k, v in parse_qsl(query)} or None,
        pathParameters=None,
        body=text,
        isBase64Encoded=encoded,
    )
    if cookies is None:
        shaped.pop("cookies")
    else:
        shaped["cookies"] = cookies
    shaped["requestContext"].update(routeKey=route_key, stage=stage)
    shaped["requestContext"]["http"].update(method=method, path=raw_path)
    shaped["requestContext"].pop("authorizer")
    return shaped


def _body(body: Any, base64_body: bool) -> tuple[str | None, bool]:
    if body is None:
        return None, False
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    if base64_body:
        return base64.b64encode(raw).decode(), True
    return raw.decode(), False


def with_changes(shaped: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(shaped)
    changed.update(changes)
    return changed


# -- an app that says what it received ------------------------------------------------------


class AnyBody(BaseModel):
    model_config = ConfigDict(extra="allow")


def echo_app() -> App:
    app = App("aws-echo", cors=CORS(allow_origins=[ORIGIN]))

    def seen(ctx: Context, **values: Any) -> dict[str, Any]:
        return {
            **values,
            "function": ctx.function,
            "headers": dict(ctx.headers),
            "request_id": ctx.request_id,
            "cold_start": ctx.cold_start,
            "startup_seconds": ctx.startup_seconds,
            "deadline": ctx.deadline,
        }

    async def echo(
        ctx: Context,
        parameter1: list[str] = [],  # noqa: B006
        parameter2: list[str] = [],  # noqa: B006
        Parameter1: list[str] = [],  # noqa: B006
        name: list[str] = [],  # noqa: B006
        key: list[str] = [],  # noqa: B006
        myKey: list[str] = [],  # noqa: B006
    ) -> dict[str, Any]:
        found = {
            "parameter1": parameter1,
            "parameter2": parameter2,
            "Parameter1": Parameter1,
            "name": name,
            "key": key,
            "myKey": myKey,
        }
        return seen(ctx, query={k: v for k, v in found.items() if v})

    for path in ("/", "/my/path", "/hello/world", "/lambda", "/todos", "/hello"):
        for method in ("get", "post"):
            getattr(app, method)(path, name=f"echo_{method}_{path.strip('/') or 'root'}")(echo)

    @app.get("/files/{name}")
    async def file(name: str, ctx: Context) -> dict[str, Any]:
        return seen(ctx, name=name)

    @app.get("/users/{user_id}/files/{name}")
    async def user_file(user_id: str, name: str, ctx: Context) -> dict[str, Any]:
        return seen(ctx, user_id=user_id, name=name)

    @app.post("/json")
    async def take_json(body: AnyBody, ctx: Context) -> dict[str, Any]:
        return seen(ctx, body=body.model_dump())

    @app.get("/logo.png")
    async def logo() -> Response:
        return Response(PNG, media_type="image/png")

    @app.get("/cookie")
    async def cookie() -> Response:
        return Response({"ok": True}, headers={"Set-Cookie": "session=abc; HttpOnly; Secure"})

    @app.get("/private", auth="things:read")
    async def private(ctx: Context) -> dict[str, Any]:
        return {"subject": ctx.subject}

    return app
