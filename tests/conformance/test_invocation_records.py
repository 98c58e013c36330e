"""Every invocation of any kind leaves a record (function, trigger, start, duration, CPU,
peak memory, cold or warm with its initialisation, outcome), on every backend, and the
records never cost a commit of their own: they ride along with the next unit of work."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, ConflictError, Context, Event
from faaskit.config import Settings
from faaskit.runtime import recorder as recording
from faaskit.runtime.runtime import Runtime
from faaskit.runtime.worker import Worker
from faaskit.store.protocol import InvocationRecord

app = App("records")
things = app.collection("things")


async def write(ctx: Context, id: str) -> None:
    ctx.documents(things).insert(id, {"id": id})


async def spin(ctx: Context) -> None:
    deadline = time.thread_time() + 0.02  # CPU of its own
    while time.thread_time() < deadline:
        pass
    await asyncio.sleep(0.05)  # and a wait that is not


async def refuse(ctx: Context) -> None:
    ctx.documents(things).insert("never", {})
    raise ConflictError("refused")


async def crash(ctx: Context) -> None:
    raise RuntimeError("boom")


def read_only(ctx: Context) -> str:
    return "a sync handler, in a thread"


@app.subscribe("thing.noted")
async def on_noted(event: Event[dict[str, Any]], ctx: Context) -> None:
    ctx.documents(things).insert(event.id, event.data)


@app.task()
async def tidy(ctx: Context) -> None:
    return None


@pytest.fixture
async def runtime(backend_url: str, tmp_path: Path) -> AsyncIterator[Runtime]:
    runtime = Runtime(app, Settings.load(database_url=backend_url, data_dir=tmp_path))
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def invoke(runtime: Runtime, handler: Any, trigger: str = "http", **kw: Any) -> Any:
    name = handler.__name__
    ctx = runtime.context(name, f"{name}-{time.monotonic_ns()}", trigger=trigger)
    return await runtime.invoke(ctx, handler, {"ctx": ctx, **kw}, lambda result: result)


async def records(runtime: Runtime, **kw: Any) -> list[InvocationRecord]:
    assert runtime.recorder is not None
    await runtime.recorder.flush()
    return await runtime.store.invocations(**kw)


async def test_each_invocation_leaves_its_record(runtime: Runtime) -> None:
    before = time.time()
    await invoke(runtime, write, id="a")
    await invoke(runtime, write, id="b")
    await invoke(runtime, spin)
    with pytest.raises(ConflictError):
        await invoke(runtime, refuse)
    with pytest.raises(RuntimeError):
        await invoke(runtime, crash)
    await invoke(runtime, read_only)

    found = await records(runtime)

    assert [(r.function, r.trigger, r.outcome) for r in found] == [
        ("write", "http", "success"),
        ("write", "http", "success"),
        ("spin", "http", "success"),
        ("refuse", "http", "client_error"),
        ("crash", "http", "error"),
        ("read_only", "http", "success"),
    ]
    assert [r.cold for r in found] == [True, False, True, True, True, True]
    first, second, spun = found[0], found[1], found[2]
    assert first.init_seconds is not None and first.init_seconds > 0  # the process's start
    assert second.init_seconds is None  # warm: nothing to initialise
    assert all(before - 1 <= r.started_at <= time.time() for r in found)
    assert all(0 <= r.cpu <= r.duration + 0.01 for r in found)
    # its own steps' 20 ms (or more on a busy machine), not the 50 ms it waited
    assert spun.duration >= 0.07 and 0.015 <= spun.cpu <= spun.duration - 0.045
    assert all(r.memory is None or r.memory > 1_000_000 for r in found)
    assert await runtime.store.get("things", "never") is None  # the refused unit: rolled back
    only = await runtime.store.invocations(function="write")
    assert [r.function for r in only] == ["write", "write"]
    assert await runtime.store.invocations(since=time.time() + 60) == []


async def test_messages_and_tasks_name_their_trigger(runtime: Runtime) -> None:
    ctx = runtime.context("publisher", "p-1")

    async def publish(ctx: Context) -> None:
        ctx.publish("thing.noted", {"n": 1})
        ctx.schedule(tidy)

    await runtime.invoke(ctx, publish, {"ctx": ctx}, lambda result: result)
    worker = Worker(runtime)
    assert await worker.run_once() == 2

    triggers = {(r.function, r.trigger) for r in await records(runtime)}

    assert ("on_noted", "message") in triggers
    assert ("tidy", "task") in triggers


def commits(runtime: Runtime, traced: list[str]) -> int:
    """Transactions committed since counting began (SQLite: the writer's COMMITs)."""
    committer = getattr(runtime.store, "_committer", None)
    if committer is not None:
        return int(committer.transactions)
    return traced.count("COMMIT")


async def test_records_add_no_commit_per_invocation(runtime: Runtime) -> None:
    traced: list[str] = []
    writer = getattr(runtime.store, "_writer", None)
    if writer is not None:
        writer._conn.set_trace_callback(traced.append)
    start = commits(runtime, traced)

    assert runtime.recorder is not None
    runtime.recorder.ride_along = 10  # so some units take records along
    for n in range(50):  # one at a time: each commits alone, its records beside it
        await invoke(runtime, write, id=f"d{n}")

    assert commits(runtime, traced) - start == 50
    found = await records(runtime)  # the last one's record waited: one commit for it
    assert len(found) == 50
    assert commits(runtime, traced) - start == 51


async def test_a_failed_unit_gives_its_records_back(runtime: Runtime) -> None:
    assert runtime.recorder is not None
    runtime.recorder.ride_along = 1  # every unit takes what waits
    await invoke(runtime, write, id="taken")
    assert runtime.recorder.waiting == 1
    with pytest.raises(ConflictError):
        await invoke(runtime, write, id="taken")  # its commit fails: records wait on

    assert runtime.recorder.waiting == 2
    await invoke(runtime, write, id="free")
    outcomes = [r.outcome for r in await records(runtime)]
    assert outcomes == ["success", "client_error", "success"]


async def test_read_only_invocations_are_flushed_alone_after_a_while(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recording, "FLUSH_INTERVAL", 0.05)
    await invoke(runtime, read_only)

    for _ in range(500):  # the recorder commits them by itself within its interval
        if await runtime.store.invocations():
            return
        await asyncio.sleep(0.02)
    pytest.fail("the read-only invocation's record was never written")


async def test_a_burst_of_read_only_invocations_is_flushed_at_once(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read-only endpoint at 20,000 req/s has no unit of work to carry its records: once
    # a batch's worth waits, the recorder writes them without waiting out its interval.
    monkeypatch.setattr(recording, "FLUSH_INTERVAL", 60.0)
    for _ in range(recording.FLUSH_AT + 1):
        await invoke(runtime, read_only)

    for _ in range(250):
        if len(await runtime.store.invocations()) >= recording.FLUSH_AT:
            return
        await asyncio.sleep(0.02)
    pytest.fail("a batch of waiting records was not written within 5 s")


def test_a_store_that_cannot_keep_up_drops_the_oldest_tenth_at_once() -> None:
    recorder = recording.InvocationRecorder(None, time.time, None)  # type: ignore[arg-type]
    for n in range(recording.MAX_WAITING + 5):
        recorder.add(InvocationRecord(f"f{n}", "http", n, 0.1, 0.0, None, False, None, "success"))

    assert recorder.dropped == recording.MAX_WAITING // 10
    assert recorder.waiting == recording.MAX_WAITING + 5 - recorder.dropped
    write = recorder.take()
    assert write is not None and write.rows[-1][0] == f"f{recording.MAX_WAITING + 4}"
    assert write.rows[0][0] == f"f{recorder.dropped}"  # the oldest went


async def test_old_records_are_pruned_by_the_retention(runtime: Runtime) -> None:
    recorder = runtime.recorder
    assert recorder is not None
    now = runtime.now()
    old = InvocationRecord("old", "http", now - 7200, 0.1, 0.0, None, False, None, "success")
    recorder.add(old)
    await recorder.flush()
    assert [r.function for r in await runtime.store.invocations()] == ["old"]

    recorder.retention, recorder._pruned_at = 3600.0, 0.0
    await invoke(runtime, write, id="new")
    await recorder.flush()

    assert [r.function for r in await runtime.store.invocations()] == ["write"]


async def test_a_virtual_clock_years_ahead_prunes_no_record(
    backend_url: str, tmp_path: Path
) -> None:
    # Records carry wall-clock times; a harness's clock in 2030 once pruned them all.
    from faaskit.testing import AppHarness

    async with AppHarness(app, database_url=backend_url, data_dir=tmp_path) as h:
        assert h.now().year >= 2030
        await invoke(h.runtime, write, id="ahead")
        assert [r.function for r in await records(h.runtime)] == ["write"]


def test_retention_and_switch_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from faaskit.errors import ConfigurationError

    assert recording.parse_duration("90m", "X") == 5400
    assert recording.parse_duration("7d", "X") == 7 * 86400
    assert recording.parse_duration("30", "X") == 30
    for bad in ("soon", "-1h", "inf"):
        with pytest.raises(ConfigurationError, match="X="):
            recording.parse_duration(bad, "X")
    settings = Settings.load(database_url=f"sqlite:///{tmp_path}/a.db", data_dir=tmp_path)
    monkeypatch.setenv(recording.RECORDS_VARIABLE, "off")
    assert Runtime(app, settings).recorder is None
    monkeypatch.setenv(recording.RECORDS_VARIABLE, "on")
    monkeypatch.setenv(recording.RETENTION_VARIABLE, "12h")
    recorder = Runtime(app, settings).recorder
    assert recorder is not None and recorder.retention == 12 * 3600


async def busy(ctx: Context) -> None:
    deadline = time.perf_counter() + 0.012
    while time.perf_counter() < deadline:  # never suspends: it finishes in its first step
        pass


async def test_a_handler_that_never_suspends_is_timed_in_its_one_step(runtime: Runtime) -> None:
    await invoke(runtime, busy)

    (found,) = await records(runtime, function="busy")

    assert 0.012 <= found.cpu <= found.duration


async def test_records_are_kept_in_batches_and_read_back_by_window(runtime: Runtime) -> None:
    from faaskit.store.protocol import RecordInvocations, WriteSet
    from faaskit.store.statements import RECORDS_PER_BATCH

    base = time.time() - 3600
    count = RECORDS_PER_BATCH * 2 + 500  # three batch rows
    rows = [
        (f"f{i % 3}", "message", base + (count - i), 0.001, 0.0005, None, i == 0, None, "success")
        for i in range(count)  # written newest first: read back oldest first
    ]
    await runtime.store.commit(WriteSet([RecordInvocations(rows)]))

    found = await runtime.store.invocations(since=base)
    assert len(found) == count
    assert [r.started_at for r in found] == sorted(r.started_at for r in found)
    assert found[-1].cold is True and found[0].cold is False and found[0].memory is None
    window = await runtime.store.invocations(since=base + count - 99, function="f0")
    assert {r.function for r in window} == {"f0"} and len(window) == 34  # i = 0, 3, … 99
    assert len(await runtime.store.invocations(since=base, limit=10)) == 10
    await runtime.store.commit(WriteSet([RecordInvocations([], prune_before=base + count + 1)]))
    assert await runtime.store.invocations(since=0) == []  # every batch ended before


async def test_a_long_invocation_reads_the_peak_memory_afresh(runtime: Runtime) -> None:
    # A hello reads the peak the recorder last read; one that ran long enough to have grown
    # it reads it again. A stale reading of 1 byte shows which is which.
    assert runtime.recorder is not None
    await invoke(runtime, busy)  # cold: its own record, before the stale reading
    runtime.recorder.peak = 1
    await invoke(runtime, busy)  # 12 ms: over LONG_INVOCATION
    runtime.recorder.peak = 1
    await invoke(runtime, spin_briefly)

    rows = runtime.recorder.rows[-2:]
    assert [row[0] for row in rows] == ["busy", "spin_briefly"]
    assert rows[0][5] is None or rows[0][5] > 1_000_000  # read afresh
    assert rows[1][5] == 1  # the last reading, as it stood


async def spin_briefly(ctx: Context) -> None:
    return None
