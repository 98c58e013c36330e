"""The README's quick-start runs as written."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from faaskit.loader import load_app
from tests.conftest import LiveServer

README = Path(__file__).resolve().parents[1] / "README.md"


def quick_start() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert blocks, "the README has no python example"
    return blocks[0]


def test_readme_quick_start_serves_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "hello.py").write_text(quick_start())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delitem(sys.modules, "hello", raising=False)
    app = load_app("hello:app")
    with LiveServer(app, f"sqlite:///{tmp_path / 'app.db'}", tmp_path / ".faaskit") as server:
        created = httpx.post(f"{server.url}/notes", json={"text": "hi"})
        assert created.status_code == 201
        note = httpx.get(f"{server.url}/notes/{created.json()['id']}")
        assert note.json() == {"text": "hi"}
        missing = httpx.get(f"{server.url}/notes/nope")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_every_readme_example_declares_without_error() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    assert len(blocks) >= 3
    for number, block in enumerate(blocks):
        namespace: dict[str, object] = {"__name__": f"readme_example_{number}"}
        exec(compile(block, f"README.md example {number}", "exec"), namespace)


async def test_readme_cqrs_example_cancels_once(tmp_path: Path) -> None:
    from faaskit.testing import AppHarness

    block = next(
        b
        for b in re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
        if "class Order(Aggregate)" in b
    )
    namespace: dict[str, Any] = {"__name__": "readme_cqrs"}
    exec(compile(block, "README.md cqrs", "exec"), namespace)
    app = namespace["app"]
    async with AppHarness(app, database_url=f"sqlite:///{tmp_path / 'o.db'}") as h:
        assert (await h.http.post("/orders/o1/cancel")).status_code == 404
        ctx_app = namespace
        # Place an order directly through the event store, as a command handler would.
        from faaskit.store.protocol import AppendEvents, NewEvent, WriteSet

        placed = NewEvent("OrderPlaced", {"customer_name": "Ann", "city": "Oslo"})
        await h.runtime.store.commit(WriteSet([AppendEvents("order-o1", [placed], 0, 1.0)]))
        first = await h.http.post("/orders/o1/cancel")
        assert first.status_code == 200 and first.json() == {"version": 2}
        again = await h.http.post("/orders/o1/cancel")
        assert again.status_code == 409
        assert ctx_app["Order"].stream("o1") == "order-o1"
