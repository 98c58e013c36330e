"""Events that the Lambda handler finishes without a turn of its loop
(faaskit/adapters/eager.py) still run as asyncio code expects: in a task of their own,
with timeouts, task groups and threads, and context variables that never leak from one
event into the next; their writes commit on both backends."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context
from faaskit.adapters.aws import LambdaHandler, lambda_handler
from faaskit.config import Settings
from tests.adapters.aws_support import LambdaContext, http_api_event, json_body

seen_before: contextvars.ContextVar[str] = contextvars.ContextVar("seen_before", default="")


def asyncio_app() -> App:
    app = App("aws-eager")

    @app.get("/context")
    async def context() -> dict[str, Any]:
        earlier = seen_before.get()
        seen_before.set("set by an earlier event")
        return {"earlier": earlier, "in_task": asyncio.current_task() is not None}

    @app.get("/grouped")
    async def grouped() -> dict[str, Any]:
        async with asyncio.timeout(5):
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(asyncio.sleep(0, result=n)) for n in range(3)]
        return {"results": [task.result() for task in tasks]}

    @app.get("/slow")
    async def slow() -> dict[str, Any]:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(5)
        except TimeoutError:
            return {"timed_out": True}
        return {"timed_out": False}

    @app.get("/thread")
    def in_thread() -> dict[str, Any]:
        return {"main_thread": threading.current_thread() is threading.main_thread()}

    @app.post("/notes/{note_id}")
    async def write(note_id: str, ctx: Context) -> dict[str, Any]:
        ctx.documents("notes").insert(note_id, {"text": "kept"})
        return {"id": note_id}

    @app.get("/notes/{note_id}")
    async def read(note_id: str, ctx: Context) -> dict[str, Any]:
        note = await ctx.documents("notes").get(note_id)
        return {"note": None if note is None else note.data}

    return app


@pytest.fixture
def handler(backend_url: str, tmp_path: Path) -> Iterator[LambdaHandler]:
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    built = lambda_handler(asyncio_app(), settings=settings)
    yield built
    built.close()


def get(handler: LambdaHandler, path: str, method: str = "GET") -> Any:
    answer = handler(http_api_event(method, path), LambdaContext())
    assert answer["statusCode"] == 200, answer
    return json_body(answer)


def test_each_event_runs_in_its_own_task_and_context(handler: LambdaHandler) -> None:
    first, second = get(handler, "/context"), get(handler, "/context")

    assert first == {"earlier": "", "in_task": True}
    assert second == first  # what the first event set stayed in its own context
    assert seen_before.get() == ""


def test_timeouts_task_groups_and_threads_work_in_handlers(handler: LambdaHandler) -> None:
    assert get(handler, "/grouped") == {"results": [0, 1, 2]}
    assert get(handler, "/slow") == {"timed_out": True}
    assert get(handler, "/thread") == {"main_thread": False}


def test_writes_commit_and_are_read_by_the_next_event(handler: LambdaHandler) -> None:
    assert get(handler, "/notes/n1", "POST") == {"id": "n1"}
    assert get(handler, "/notes/n1") == {"note": {"text": "kept"}}
    assert get(handler, "/notes/none") == {"note": None}
