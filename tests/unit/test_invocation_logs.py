"""Log lines are JSON with the function, request id, correlation id, trigger, trace id and
(the runtime's line per invocation) outcome; each function may have its own level."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context
from faaskit.config import Settings
from faaskit.errors import ConfigurationError
from faaskit.observability.logging import LOGGER, configure_logging, function_levels
from faaskit.runtime.runtime import Runtime

app = App("logs")


async def chatty(ctx: Context) -> None:
    ctx.log.debug("looking closely")
    ctx.log.info("done")


async def quiet(ctx: Context) -> None:
    ctx.log.debug("not shown")
    ctx.log.info("shown")


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    monkeypatch.setenv("FAASKIT_LOG_LEVELS", "chatty=DEBUG")
    root = logging.getLogger(LOGGER)
    saved = (root.level, root.handlers[:], root.propagate)
    root.handlers = []
    out = io.StringIO()
    configure_logging("INFO", out)
    try:
        yield out
    finally:
        root.setLevel(saved[0])
        root.handlers, root.propagate = saved[1], saved[2]
        for name in ("app.chatty", "invocations.chatty"):
            logging.getLogger(f"{LOGGER}.{name}").setLevel(logging.NOTSET)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings.load(database_url=f"sqlite:///{tmp_path / 'a.db'}", data_dir=tmp_path)
    runtime = Runtime(app, settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def call(runtime: Runtime, handler: Any) -> None:
    ctx = runtime.context(handler.__name__, f"req-{time.monotonic_ns()}", correlation_id="corr-1")
    await runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_function_s_own_level_and_the_fields_of_its_lines(
    runtime: Runtime, stream: io.StringIO
) -> None:
    await call(runtime, chatty)
    await call(runtime, quiet)

    found = lines(stream)
    messages = [line["msg"] for line in found]
    assert "looking closely" in messages and "not shown" not in messages
    assert "shown" in messages and "done" in messages
    closely = next(line for line in found if line["msg"] == "looking closely")
    assert closely["function"] == "chatty" and closely["correlation_id"] == "corr-1"
    assert closely["trigger"] == "http" and closely["request_id"].startswith("req-")
    invocation = next(line for line in found if line["logger"] == "faaskit.invocations.chatty")
    assert invocation["outcome"] == "success" and invocation["duration_ms"] >= 0
    assert invocation["cold"] is True
    assert not [line for line in found if line["logger"] == "faaskit.invocations.quiet"]


async def test_lines_carry_the_trace_id_when_tracing(
    tmp_path: Path, stream: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASKIT_TRACING", "memory")
    settings = Settings.load(database_url=f"sqlite:///{tmp_path / 'b.db'}", data_dir=tmp_path)
    runtime = Runtime(app, settings)
    await runtime.start()
    try:
        await call(runtime, chatty)
    finally:
        await runtime.stop()
    assert runtime.tracing is not None
    (span,) = runtime.tracing.exporter.get_finished_spans()
    trace_id = format(span.context.trace_id, "032x")
    chatty_lines = [line for line in lines(stream) if line.get("function") == "chatty"]
    assert chatty_lines and all(line["trace_id"] == trace_id for line in chatty_lines)


def test_levels_are_parsed_and_mistakes_named() -> None:
    assert function_levels("a=debug, b=WARNING;c=error") == {
        "a": "DEBUG",
        "b": "WARNING",
        "c": "ERROR",
    }
    assert function_levels(None) == {}
    for bad in ("a", "a=LOUD", "=DEBUG"):
        with pytest.raises(ConfigurationError, match="FAASKIT_LOG_LEVELS"):
            function_levels(bad)
