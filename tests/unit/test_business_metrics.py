"""Business metrics from handlers: ``ctx.metrics`` counters, gauges and timings on
``/metrics`` (labels bounded), and CloudWatch EMF lines when configured."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context
from faaskit.config import Settings
from faaskit.errors import ValidationError
from faaskit.observability.business import MAX_SERIES, EmfWriter
from faaskit.runtime.runtime import Runtime

app = App("business")


async def register(ctx: Context, plan: str) -> None:
    ctx.metrics.count("UserRegistrationSuccess", tags={"plan": plan})
    ctx.metrics.gauge("QueueBacklog", 7)
    ctx.metrics.timing("ProviderCall", 0.042, tags={"provider": "stripe"})


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = Settings.load(database_url=f"sqlite:///{tmp_path / 'a.db'}", data_dir=tmp_path)
    runtime = Runtime(app, settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def call(runtime: Runtime, handler: Any, **kw: Any) -> None:
    ctx = runtime.context(handler.__name__, f"i-{time.monotonic_ns()}")
    await runtime.invoke(ctx, handler, {"ctx": ctx, **kw}, lambda result: result)


async def test_handler_metrics_are_exported_on_metrics(runtime: Runtime) -> None:
    await call(runtime, register, plan="pro")
    await call(runtime, register, plan="pro")
    await call(runtime, register, plan="free")

    text = runtime.metrics.exposition()[0].decode()

    assert 'app_UserRegistrationSuccess_total{plan="pro"} 2.0' in text
    assert 'app_UserRegistrationSuccess_total{plan="free"} 1.0' in text
    assert "app_QueueBacklog 7.0" in text
    assert 'app_ProviderCall_seconds_bucket{le="0.05",provider="stripe"} 3.0' in text
    assert 'app_ProviderCall_seconds_count{provider="stripe"} 3.0' in text


async def test_tags_stay_bounded(runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    async def per_order(ctx: Context, n: int) -> None:
        ctx.metrics.count("OrderPlaced", tags={"order": f"o-{n}"})  # an id as a tag

    with caplog.at_level(logging.WARNING, "faaskit.metrics"):
        for n in range(MAX_SERIES + 50):
            await call(runtime, per_order, n=n)

    assert len(runtime.metrics.business.counters["OrderPlaced"]) == MAX_SERIES
    warnings = [r for r in caplog.records if "OrderPlaced" in r.getMessage()]
    assert len(warnings) == 1


async def test_bad_names_are_refused(runtime: Runtime) -> None:
    async def bad(ctx: Context, name: str, tag: str) -> None:
        ctx.metrics.count(name, tags={tag: "x"})

    for name, tag in (("has space", "ok"), ("ok", "no-dash"), ("", "ok"), ("x" * 101, "ok")):
        with pytest.raises(ValidationError):
            await call(runtime, bad, name=name, tag=tag)

    async def both(ctx: Context) -> None:
        ctx.metrics.count("Kind")
        ctx.metrics.gauge("Kind", 1)

    with pytest.raises(ValidationError, match="counter"):
        await call(runtime, both)


async def test_emf_lines_when_configured(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAASKIT_METRICS_EMF", "Shop")
    emf = EmfWriter.from_environment()
    assert emf is not None and emf.namespace == "Shop"
    out = io.StringIO()
    emf.out = out
    runtime.emf = emf

    await call(runtime, register, plan="pro")

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_tags = {
        tuple(sorted(k for k in line if k not in ("_aws", "function"))): line for line in lines
    }
    registered = next(line for line in lines if line.get("plan") == "pro")
    directive = registered["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Shop"
    assert directive["Dimensions"] == [["function", "plan"]]
    assert directive["Metrics"] == [{"Name": "UserRegistrationSuccess", "Unit": "Count"}]
    assert registered["UserRegistrationSuccess"] == 1 and registered["function"] == "register"
    timed = next(line for line in lines if line.get("provider") == "stripe")
    assert timed["ProviderCall"] == pytest.approx(42.0)
    assert timed["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] == "Milliseconds"
    assert len(by_tags) == 3  # one line per tag set


def test_emf_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAASKIT_METRICS_EMF", raising=False)
    assert EmfWriter.from_environment() is None
    monkeypatch.setenv("FAASKIT_METRICS_EMF", "on")
    emf = EmfWriter.from_environment()
    assert emf is not None and emf.namespace == "faaskit"
