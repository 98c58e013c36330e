"""Metrics beyond the counters: queue depth, the oldest message's age and dead letters per
target (read from the store), failures by exception class, initialisation time of cold
invocations — on every backend."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context, Event
from faaskit.config import Settings
from faaskit.runtime.runtime import Runtime
from faaskit.runtime.worker import Worker

app = App("backlog")


@app.subscribe("thing.noted", max_attempts=1)
async def on_noted(event: Event[dict[str, Any]], ctx: Context) -> None:
    if event.data.get("fail"):
        raise RuntimeError("cannot note it")


@app.task()
async def later(ctx: Context) -> None:
    return None


@pytest.fixture
async def runtime(backend_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(app, Settings.load(database_url=backend_url, data_dir=tmp_path))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def invoke(runtime: Runtime, handler: Any) -> Any:
    ctx = runtime.context(handler.__name__, f"i-{time.monotonic_ns()}")
    return await runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)


def exposition(runtime: Runtime) -> str:
    return runtime.metrics.exposition()[0].decode()


async def test_queue_depth_age_and_dead_letters_per_target(runtime: Runtime) -> None:
    async def publish(ctx: Context) -> None:
        ctx.publish("thing.noted", {"fail": True})
        for _ in range(3):
            ctx.schedule(later, delay=3600)  # not due: still waiting

    await invoke(runtime, publish)
    assert await Worker(runtime).run_once() == 1  # the subscriber fails for good

    rows = {row[0]: row for row in await runtime.store.backlog()}
    assert sorted(rows) == ["sub:on_noted", "task:later"]
    assert rows["sub:on_noted"] == ("sub:on_noted", 0, None, 1)  # moved to the dead letters
    assert rows["task:later"][1] == 3 and rows["task:later"][3] == 0
    oldest = rows["task:later"][2]
    assert oldest is not None and time.time() - 60 < oldest <= time.time()

    runtime.metrics.backlog(list(rows.values()), oldest + 42.0)
    text = exposition(runtime)
    assert 'faaskit_queue_depth{target="task:later"} 3.0' in text
    assert 'faaskit_queue_oldest_age_seconds{target="task:later"} 42.0' in text
    assert 'faaskit_dead_letters_waiting{target="sub:on_noted"} 1.0' in text
    assert 'faaskit_queue_depth{target="sub:on_noted"} 0.0' in text


async def test_failures_by_exception_class_and_cold_initialisation(runtime: Runtime) -> None:
    async def crash(ctx: Context) -> None:
        raise KeyError("missing")

    for _ in range(2):
        with pytest.raises(KeyError):
            await invoke(runtime, crash)

    text = exposition(runtime)
    assert 'faaskit_invocation_errors_total{error="KeyError",function="crash"} 2.0' in text
    assert 'faaskit_init_seconds_count{function="crash"} 1.0' in text  # the cold one only


async def test_sagas_by_state_from_the_store(backend_url: str, tmp_path: Path) -> None:
    from faaskit import StepFailed
    from faaskit.testing import AppHarness

    sagas = App("saga_states")
    flow = sagas.saga("flow")

    @flow.step()
    async def only(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> str:
        if input["fail"]:
            raise StepFailed("no")
        return "ok"

    @sagas.post("/flows/{id}", status=202)
    async def start(id: str, fail: bool, ctx: Context) -> None:
        await ctx.start_saga(flow, {"fail": fail}, saga_id=id)

    async with AppHarness(sagas, database_url=backend_url, data_dir=tmp_path) as h:
        for id, fail in (("a", False), ("b", False), ("c", True)):
            assert (await h.http.post(f"/flows/{id}?fail={str(fail).lower()}")).status_code == 202
        await h.drain()
        counts = await h.runtime.store.count_by("faaskit_sagas", "status")
        h.runtime.metrics.saga_states(counts)
        text = exposition(h.runtime)

    assert sum(counts.values()) == 3 and counts.get("completed") == 2
    assert 'faaskit_sagas{state="completed"} 2.0' in text
    assert await _no_count_of_unknown(backend_url, tmp_path)


async def _no_count_of_unknown(backend_url: str, tmp_path: Path) -> bool:
    from faaskit.store import create_store

    store = create_store(backend_url)
    await store.open()
    try:
        return await store.count_by("nothing-here", "status") == {}
    finally:
        await store.close()


async def test_with_metrics_off_nothing_is_kept_but_the_records_are(
    backend_url: str, tmp_path: Path
) -> None:
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path, metrics="off")
    runtime = Runtime(app, settings)
    await runtime.start()
    try:

        async def publish(ctx: Context) -> None:
            ctx.publish("thing.noted", {"fail": True})

        await invoke(runtime, publish)
        assert await Worker(runtime).run_once() == 1  # fails for good: a dead letter
        with pytest.raises(RuntimeError):
            await invoke(runtime, _failing)

        metrics = runtime.metrics
        assert metrics.invocations == {} and metrics.durations == {}
        assert metrics.errors == {} and metrics.cold_starts == {} and metrics.init == {}
        assert all(not values for values in metrics.counters.values())
        assert metrics.sagas._pending == []
        assert "faaskit_invocations_total{" not in exposition(runtime)
        assert runtime.recorder is not None
        await runtime.recorder.flush()
        functions = sorted(r.function for r in await runtime.store.invocations())
        assert functions == ["_failing", "on_noted", "publish"]  # records do not depend on it
    finally:
        await runtime.stop()


async def _failing(ctx: Context) -> None:
    raise RuntimeError("no")
