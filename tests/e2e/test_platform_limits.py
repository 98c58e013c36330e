"""``faaskit dev --target aws|gcp|azure``: the platform's HTTP limits on the laptop, over
real HTTP on both backends — what would fail in the cloud fails here first."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
from collections.abc import Callable
from typing import Annotated, Any

import httpx
import pytest

from faaskit import App, Body, Context, Response
from faaskit.platforms import TARGETS

MIB = 1024 * 1024


def make_app() -> App:
    app = App("limited", max_body_size=64 * MIB)
    notes = app.collection("notes")

    @app.post("/echo")
    async def echo(text: Annotated[str, Body()] = "", size: int = 0) -> Response:
        return Response(b"x" * size, media_type="application/octet-stream")

    @app.post("/slow/{note_id}")
    async def slow(note_id: str, ctx: Context, seconds: float = 1.0) -> dict[str, str]:
        await asyncio.sleep(seconds)
        ctx.documents(notes).insert(note_id, {"late": True})
        return {"id": note_id}

    return app


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Serve the next live server as ``--target name`` would, with some limits scaled
    down so a test need not send 6 MB or wait 29 s."""

    def choose(name: str, **smaller: Any) -> None:
        monkeypatch.setenv("FAASKIT_TARGET", name)
        if smaller:
            monkeypatch.setitem(TARGETS, name, dataclasses.replace(TARGETS[name], **smaller))

    return choose


def test_a_request_over_lambdas_6_mb_is_a_413_naming_the_platform(
    live_server: Callable[[App], Any], target: Callable[..., None]
) -> None:
    target("aws")
    server = live_server(make_app())
    body = b"x" * (6_291_456 + 1)

    response = httpx.post(
        f"{server.url}/echo", content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 413, response.text
    assert "AWS Lambda" in response.json()["detail"]


def test_without_a_target_the_apps_own_limit_holds(live_server: Callable[[App], Any]) -> None:
    server = live_server(make_app())

    response = httpx.post(
        f"{server.url}/echo?size=10",
        content=b'{"text": "' + b"x" * (7 * MIB) + b'"}',
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_an_answer_larger_than_the_platform_passes_on_is_a_502(
    live_server: Callable[[App], Any], target: Callable[..., None], name: str
) -> None:
    target(name, max_response_bytes=1000)
    server = live_server(make_app())

    small = httpx.post(f"{server.url}/echo?size=1000", json={})
    large = httpx.post(f"{server.url}/echo?size=1001", json={})

    assert small.status_code == 200 and len(small.content) == 1000
    assert large.status_code == 502, large.text
    assert TARGETS[name].name in large.json()["detail"]


def test_a_function_slower_than_the_platform_waits_is_a_504_and_writes_nothing(
    live_server: Callable[[App], Any], target: Callable[..., None]
) -> None:
    target("aws", timeout_seconds=0.3)
    server = live_server(make_app())

    slow = httpx.post(f"{server.url}/slow/n1?seconds=2", timeout=10)
    quick = httpx.post(f"{server.url}/slow/n2?seconds=0", timeout=10)

    assert slow.status_code == 504, slow.text
    assert "29" not in slow.json()["detail"] and "0.3 s" in slow.json()["detail"]
    assert quick.status_code == 200, quick.text
    runtime = server.runtime
    stored = asyncio.run_coroutine_threadsafe(runtime.store.get("notes", "n1"), runtime.loop)
    assert stored.result(timeout=10) is None  # cancelled before its commit


def test_an_unknown_target_is_one_clear_line_and_a_non_zero_exit(tmp_path: Any) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "faaskit", "dev", "examples/shop", "--target", "heroku"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"FAASKIT_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )

    assert result.returncode != 0
    assert "unknown target 'heroku': use aws, azure, gcp" in result.stderr
    assert "Traceback" not in result.stderr
