"""An invocation is a transaction: proved over real HTTP on every backend (``live_server``)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from faaskit import App, ConflictError, Context, NotFoundError

SECRET = "db-password=hunter2"


class Item(BaseModel):
    id: str
    name: str


def make_app() -> App:
    app = App("uow")
    items = app.collection("items", unique=["name"], casefold=["name"])

    @app.post("/items", status=201)
    async def create_item(body: Item, ctx: Context) -> dict[str, Any]:
        docs = ctx.documents(items)
        if await docs.find_one(name=body.name):
            raise ConflictError("an item with this name exists")
        docs.insert(body.id, body.model_dump(), conflict="an item with this name exists")
        return body.model_dump()

    @app.get("/items/{item_id}")
    async def get_item(item_id: str, ctx: Context) -> dict[str, Any]:
        doc = await ctx.documents(items).get(item_id)
        if doc is None:
            raise NotFoundError(f"no item {item_id}")
        return {**doc.data, "version": doc.version}

    @app.get("/items")
    async def list_items(ctx: Context) -> list[str]:
        return [doc.id for doc in await ctx.documents(items).find()]

    @app.post("/write-then-crash")
    async def write_then_crash(body: Item, ctx: Context) -> None:
        docs = ctx.documents(items)
        docs.insert(body.id, body.model_dump())
        docs.insert(body.id + "-b", {"name": body.name + "-b"})
        raise RuntimeError(f"boom: {SECRET}")

    @app.post("/write-then-conflict")
    async def write_then_conflict(body: Item, ctx: Context) -> None:
        ctx.documents(items).insert(body.id, body.model_dump())
        raise ConflictError("refused after writing")

    @app.post("/update-then-crash/{item_id}")
    async def update_then_crash(item_id: str, ctx: Context) -> None:
        docs = ctx.documents(items)
        docs.update(item_id, {"id": item_id, "name": "changed"}, expected_version=1)
        docs.insert("extra", {"name": "extra"})
        raise ValueError("nope")

    @app.post("/read-your-writes")
    async def read_your_writes(body: Item, ctx: Context) -> dict[str, Any]:
        docs = ctx.documents(items)
        docs.insert(body.id, body.model_dump())
        got = await docs.get(body.id)
        by_key = await docs.find_one(name=body.name.upper())
        found = await docs.find(name=body.name)
        return {
            "get": got.data if got else None,
            "find_one": by_key.id if by_key else None,
            "find": [doc.id for doc in found],
        }

    @app.post("/sync-items", status=201)
    def create_item_sync(body: Item, ctx: Context) -> dict[str, Any]:
        docs = ctx.documents("items")
        taken = ctx.run(docs.find_one(name=body.name))
        if taken is not None:
            raise ConflictError("an item with this name exists")
        docs.insert(body.id, body.model_dump())
        again = ctx.run(docs.get(body.id))
        return {"seen": again.data if again else None}

    return app


@pytest.fixture
def server(live_server: Callable[[App], Any]) -> Any:
    return live_server(make_app())


def items(server: Any) -> list[str]:
    response = httpx.get(f"{server.url}/items")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def test_handler_that_writes_then_raises_leaves_nothing(server: Any) -> None:
    response = httpx.post(f"{server.url}/write-then-crash", json={"id": "a", "name": "apple"})

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 500
    assert problem["request_id"] == response.headers["x-request-id"]
    for internal in ("boom", SECRET, "RuntimeError", "Traceback", "write_then_crash"):
        assert internal not in response.text
    assert items(server) == []
    assert httpx.get(f"{server.url}/items/a").status_code == 404


def test_handler_that_raises_conflict_after_writing_leaves_nothing(server: Any) -> None:
    response = httpx.post(f"{server.url}/write-then-conflict", json={"id": "a", "name": "apple"})

    assert response.status_code == 409
    assert response.json()["detail"] == "refused after writing"
    assert items(server) == []


def test_failed_update_leaves_the_document_as_it_was(server: Any) -> None:
    httpx.post(f"{server.url}/items", json={"id": "a", "name": "apple"}).raise_for_status()

    response = httpx.post(f"{server.url}/update-then-crash/a")

    assert response.status_code == 500
    assert httpx.get(f"{server.url}/items/a").json() == {"id": "a", "name": "apple", "version": 1}
    assert items(server) == ["a"]


def test_invocation_reads_its_own_writes(server: Any) -> None:
    response = httpx.post(f"{server.url}/read-your-writes", json={"id": "a", "name": "apple"})

    assert response.status_code == 200
    assert response.json() == {
        "get": {"id": "a", "name": "apple"},
        "find_one": "a",
        "find": ["a"],
    }
    assert items(server) == ["a"]


def test_concurrent_duplicate_inserts_over_http_have_exactly_one_winner(server: Any) -> None:
    def attempt(i: int) -> int:
        body = {"id": f"item-{i}", "name": "Apple" if i % 2 else "apple"}
        return httpx.post(f"{server.url}/items", json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(attempt, range(10)))

    assert sorted(statuses) == [201] + [409] * 9
    assert len(items(server)) == 1


def test_sync_handler_uses_the_unit_of_work_through_ctx_run(server: Any) -> None:
    response = httpx.post(f"{server.url}/sync-items", json={"id": "s", "name": "sync"})

    assert response.status_code == 201
    assert response.json() == {"seen": {"id": "s", "name": "sync"}}
    assert httpx.get(f"{server.url}/items/s").json()["name"] == "sync"
    duplicate = httpx.post(f"{server.url}/sync-items", json={"id": "t", "name": "SYNC"})
    assert duplicate.status_code == 409
    assert items(server) == ["s"]
