"""Per-process resources (``@app.resource``): created once, on first use (or at start when
prewarmed), reused by every invocation of every kind, closed when the runtime stops; an
invocation knows whether it was its function's first in the process (cold)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context, Event
from faaskit.errors import ConfigurationError
from faaskit.testing import AppHarness


class Client:
    """An outside service's client: counts how often it is made and closed."""

    made = 0
    closed = 0

    def __init__(self) -> None:
        Client.made += 1
        self.calls = 0

    def close(self) -> None:
        Client.closed += 1


log: list[str] = []

app = App("resources")
seen = app.collection("seen")


@app.resource
def client() -> Client:
    return Client()


@app.resource(prewarm=True)
async def pool() -> AsyncIterator[dict[str, Any]]:
    log.append("pool open")
    await asyncio.sleep(0)
    yield {"connections": 4}
    log.append("pool closed")


@app.resource
def model() -> Iterator[list[float]]:
    log.append("model loaded")
    yield [0.5, 0.25]
    log.append("model unloaded")


@app.get("/call")
async def call(ctx: Context, api: Client) -> dict[str, Any]:  # by type
    api.calls += 1
    return {"calls": api.calls, "cold": ctx.cold_start, "startup": ctx.startup_seconds}


@app.get("/pool")
async def use_pool(pool: dict[str, Any]) -> dict[str, Any]:  # by name
    return pool


@app.post("/note/{id}", status=202)
async def note(id: str, ctx: Context) -> None:
    ctx.publish("noted", {"id": id})


@app.subscribe("noted")
async def on_noted(event: Event[dict[str, Any]], ctx: Context, client: Client) -> None:
    client.calls += 1
    model = await ctx.resource("model")
    ctx.documents(seen).insert(event.data["id"], {"calls": client.calls, "model": model})


@pytest.fixture(autouse=True)
def fresh() -> None:
    Client.made = Client.closed = 0
    log.clear()


async def test_created_once_reused_by_every_kind_and_closed_at_stop(
    backend_url: str, tmp_path: Path
) -> None:
    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path) as h:
        assert log == ["pool open"]  # prewarmed at start; the others wait for a first use
        assert Client.made == 0
        first = (await h.http.get("/call")).json()
        second = (await h.http.get("/call")).json()
        assert (first["calls"], second["calls"]) == (1, 2)  # one client for both
        assert first["cold"] is True and second["cold"] is False
        assert first["startup"] is not None and first["startup"] > 0
        assert (await h.http.get("/pool")).json() == {"connections": 4}
        for n in range(3):
            assert (await h.http.post(f"/note/n{n}")).status_code == 202
        await h.drain()
        docs = {d.id: d.data for d in await h.runtime.store.find("seen", {})}
        assert sorted(d["calls"] for d in docs.values()) == [3, 4, 5]  # the same client
        assert all(d["model"] == [0.5, 0.25] for d in docs.values())
        assert Client.made == 1 and log.count("model loaded") == 1
    assert Client.closed == 1
    assert log[-2:] == ["model unloaded", "pool closed"]  # the last made closes first


async def test_concurrent_first_uses_make_one(backend_url: str, tmp_path: Path) -> None:
    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path) as h:
        answers = await asyncio.gather(*(h.http.get("/call") for _ in range(20)))
        assert sorted(a.json()["calls"] for a in answers) == list(range(1, 21))
        assert Client.made == 1


async def test_prewarm_creates_every_resource(backend_url: str, tmp_path: Path) -> None:
    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path) as h:
        await h.runtime.prewarm()
        assert Client.made == 1 and "model loaded" in log
        assert (await h.http.get("/call")).json()["calls"] == 1  # created before, used now


def test_declaration_mistakes_are_clear() -> None:
    other = App("mistakes")

    @other.resource
    def thing() -> int:
        return 1

    with pytest.raises(ConfigurationError, match="declared twice"):
        other.resource(name="thing")(lambda: 2)
    with pytest.raises(ConfigurationError, match="takes no parameters"):

        @other.resource
        def needs(x: int) -> int:
            return x


async def test_an_unknown_resource_names_the_ones_there(backend_url: str, tmp_path: Path) -> None:
    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path) as h:
        with pytest.raises(ConfigurationError, match=r"no resource 'nope'.*client, model, pool"):
            await h.runtime.resources.get("nope")


async def test_faaskit_prewarm_in_the_environment_creates_all_at_start(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASKIT_PREWARM", "1")  # what `faaskit dev --prewarm` sets
    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path):
        assert Client.made == 1 and "model loaded" in log and "pool open" in log
