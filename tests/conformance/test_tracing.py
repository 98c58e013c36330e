"""One trace from an HTTP request through the event it publishes, the subscriber, a saga's
steps and the compensation of a failed one (``FAASKIT_TRACING=memory``), on every
backend; with tracing off, OpenTelemetry is never imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context, Event, StepFailed
from faaskit.testing import AppHarness

app = App("traced")
order = app.saga("order")


@app.post("/orders/{order_id}", status=202)
async def place(order_id: str, ctx: Context) -> dict[str, str]:
    ctx.publish("order.placed", {"order_id": order_id})
    return {"order_id": order_id}


@app.subscribe("order.placed")
async def on_placed(event: Event[dict[str, Any]], ctx: Context) -> None:
    await ctx.start_saga(order, event.data, saga_id=event.data["order_id"])


async def release(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> None:
    return None


@order.step(compensate=release)
async def reserve(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> str:
    return "reserved"


@order.step()
async def charge(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> str:
    raise StepFailed("card declined")


async def test_one_trace_spans_http_subscriber_saga_steps_and_compensation(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASKIT_TRACING", "memory")
    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path) as h:
        tracing = h.runtime.tracing
        assert tracing is not None
        response = await h.http.post("/orders/o-1", headers={"traceparent": _parent()})
        assert response.status_code == 202
        await h.drain()
        spans = tracing.exporter.get_finished_spans()

    by_name = {span.name: span for span in spans}
    assert {"place", "on_placed", "saga.order.reserve.do", "saga.order.charge.do"} <= set(by_name)
    assert "saga.order.reserve.undo" in by_name  # the compensation, in the same trace
    assert len({span.context.trace_id for span in spans}) == 1
    assert format(spans[0].context.trace_id, "032x") == TRACE_ID  # the caller's trace
    place, placed = by_name["place"], by_name["on_placed"]
    assert place.parent is not None and format(place.parent.span_id, "016x") == PARENT_SPAN
    assert placed.parent is not None and placed.parent.span_id == place.context.span_id
    ids = {span.context.span_id for span in spans}
    assert all(
        span.parent is not None and span.parent.span_id in ids
        for span in spans
        if span is not place
    )
    assert by_name["place"].kind.name == "SERVER" and by_name["on_placed"].kind.name == "CONSUMER"
    failed = by_name["saga.order.charge.do"]
    assert failed.attributes["faaskit.function"] == "saga.order.charge.do"
    assert placed.attributes["faaskit.trigger"] == "message"


TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_SPAN = "00f067aa0ba902b7"


def _parent() -> str:
    return f"00-{TRACE_ID}-{PARENT_SPAN}-01"


def test_tracing_off_imports_no_opentelemetry(tmp_path: Path) -> None:
    script = (
        "import asyncio, sys\n"
        "from faaskit import App\n"
        "from faaskit.config import Settings\n"
        "from faaskit.runtime.runtime import Runtime\n"
        "app = App('quiet')\n"
        f"settings = Settings.load(database_url='sqlite:///{tmp_path}/a.db',"
        f" data_dir='{tmp_path}')\n"
        "async def main():\n"
        "    runtime = Runtime(app, settings)\n"
        "    await runtime.start()\n"
        "    async def hello(): return 1\n"
        "    ctx = runtime.context('hello', 'i')\n"
        "    await runtime.invoke(ctx, hello, {}, lambda r: r)\n"
        "    await runtime.stop()\n"
        "asyncio.run(main())\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "FAASKIT_TRACING": "off"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_an_unknown_tracing_mode_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from faaskit.errors import ConfigurationError
    from faaskit.observability.tracing import Tracing

    monkeypatch.setenv("FAASKIT_TRACING", "jaeger")
    with pytest.raises(ConfigurationError, match="FAASKIT_TRACING='jaeger'"):
        Tracing.from_environment("app")
