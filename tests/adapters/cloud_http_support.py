"""What the Google Cloud Functions and Azure Functions HTTP tests share: an app that says
what it received, and the shop's acceptance as steps any adapter's client can run."""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict

from faaskit import CORS, App, Context, JWTAuth, Response
from tests.e2e.order_support import line, order_body
from tests.e2e.shop_support import PASSWORD

ORIGIN = "https://console.cloud.example"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00"
STAFF_SCOPES = ("users:read", "users:write", "users:staff")


class AnyBody(BaseModel):
    model_config = ConfigDict(extra="allow")


class Count(BaseModel):
    count: int


def echo_app(name: str) -> App:
    app = App(name, auth=JWTAuth(algorithms=["HS256"]), cors=CORS(allow_origins=[ORIGIN]))

    def seen(ctx: Context, **values: Any) -> dict[str, Any]:
        return {
            **values,
            "headers": dict(ctx.headers),
            "request_id": ctx.request_id,
            "cold_start": ctx.cold_start,
            "startup_seconds": ctx.startup_seconds,
        }

    async def thing(
        name: str,
        ctx: Context,
        tag: list[str] = [],  # noqa: B006
        q: str = "",
    ) -> dict[str, Any]:
        return seen(ctx, name=name, tag=tag, q=q)

    for method in ("get", "put", "delete", "patch"):
        getattr(app, method)("/things/{name}", name=f"thing_{method}")(thing)

    @app.post("/things/{name}")
    async def post_thing(name: str, body: AnyBody, ctx: Context) -> dict[str, Any]:
        return seen(ctx, name=name, body=body.model_dump())

    @app.get("/users/{user_id}/files/{name}")
    async def user_file(user_id: str, name: str, ctx: Context) -> dict[str, Any]:
        return seen(ctx, user_id=user_id, name=name)

    @app.get("/")
    async def root(ctx: Context) -> dict[str, Any]:
        return seen(ctx, root=True)

    @app.post("/count")
    async def count(body: Count) -> dict[str, int]:
        return {"count": body.count}

    @app.get("/logo.png")
    async def logo() -> Response:
        return Response(PNG, media_type="image/png")

    @app.get("/cookies")
    async def cookies() -> Response:
        # two answer headers of one name
        return Response(
            {"ok": True},
            headers=[("Set-Cookie", "a=1; HttpOnly; Secure"), ("Set-Cookie", "b=2; Path=/")],
        )

    @app.get("/private", auth="things:read")
    async def private(ctx: Context) -> dict[str, Any]:
        return {"subject": ctx.subject}

    return app


class ShopClient(Protocol):
    """Requests to the shop through one adapter; answers as (status, JSON or None)."""

    def request(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]: ...

    def token(self, subject: str, scopes: tuple[str, ...]) -> str: ...


def shop_acceptance(shop: ShopClient) -> None:
    """Register, users CRUD with a staff token, activate, log in, place an order."""
    registered, body = shop.request(
        "POST", "/register", body={"email": "reg@example.com", "name": "Reg Ister"}
    )
    again, problem = shop.request(
        "POST", "/register", body={"email": "REG@example.com", "name": "Reg Ister"}
    )
    assert registered == 201, body
    assert body["user_id"]
    assert again == 409 and problem["status"] == 409

    staff = shop.token("staff-1", STAFF_SCOPES)
    new_user = {"email": "ann@example.com", "name": "Ann Lee", "password": PASSWORD}
    created, user = shop.request("POST", "/users", body=new_user, token=staff)
    assert created == 201, user
    user_id = user["id"]
    got, user = shop.request("GET", f"/users/{user_id}", token=staff)
    assert (got, user["email"], user["name"]) == (200, "ann@example.com", "Ann Lee")
    assert "password" not in user and "password_hash" not in user
    put, changed = shop.request("PUT", f"/users/{user_id}", body={"name": "Ann B"}, token=staff)
    assert (put, changed["name"]) == (200, "Ann B")

    credentials = {"email": "ann@example.com", "password": PASSWORD}
    inactive, _ = shop.request("POST", "/auth/token", body=credentials)
    activated, _ = shop.request("POST", f"/users/{user_id}/activate", token=staff)
    logged_in, issued = shop.request("POST", "/auth/token", body=credentials)
    assert inactive == 401
    assert activated == 200
    assert logged_in == 200 and issued["expires_in"] > 0, issued

    token = issued["access_token"]
    placed, accepted = shop.request(
        "POST", "/orders", body=order_body(line("Brass Lamp", 2, 15.5)), token=token
    )
    assert placed == 202, accepted
    order_id = accepted["order_id"]
    # a command answers from the order aggregate in the event store (GET /orders reads
    # the read model, which a projection fills in the worker)
    patched, order = shop.request(
        "PATCH", f"/orders/{order_id}", body={"priority": "high"}, token=token
    )
    assert patched == 200, order
    assert (order["order_id"], order["status"], order["priority"]) == (
        order_id,
        "pending",
        "high",
    )
    assert order["shipping_address"]["city"] == "Berlin"
    refused, problem = shop.request(
        "POST", "/orders", body=order_body(), token=shop.token("reader", ("orders:read",))
    )
    assert refused == 403 and problem["status"] == 403

    deleted, nothing = shop.request("DELETE", f"/users/{user_id}", token=staff)
    gone, problem = shop.request("GET", f"/users/{user_id}", token=staff)
    assert (deleted, nothing) == (204, None)
    assert gone == 404 and problem["status"] == 404
