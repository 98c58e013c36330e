"""A handler's own steps, timed without a StopIteration per invocation (runtime/steps.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from faaskit import App
from faaskit.config import Settings
from faaskit.context import Context
from faaskit.runtime.runtime import Runtime
from faaskit.runtime.steps import MAX_IDLE, RETURNED, CpuTimed, Stepper

app = App("steps")


async def one_step(ctx: Context) -> dict[str, str]:
    return {"answer": "at once"}


async def waits(ctx: Context) -> str:
    deadline = time.perf_counter() + 0.01
    while time.perf_counter() < deadline:
        pass
    await asyncio.sleep(0.05)
    return "after a wait"


async def fails_later(ctx: Context) -> None:
    await asyncio.sleep(0)
    raise KeyError("late")


@pytest.fixture
async def runtime(tmp_path: Path) -> Any:
    runtime = Runtime(
        app, Settings.load(database_url=f"sqlite:///{tmp_path}/s.db", data_dir=tmp_path)
    )
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def call(runtime: Runtime, handler: Any) -> Any:
    ctx = runtime.context(handler.__name__, f"{handler.__name__}-{time.monotonic_ns()}")
    return await runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)


async def test_one_stepper_serves_every_one_step_invocation(runtime: Runtime) -> None:
    # (That no StopIteration is raised cannot be seen from Python: traced, CPython raises
    # one at every `await` that returns, to report it; steps.py says what it cost.)
    answers = [await call(runtime, one_step) for _ in range(50)]

    assert answers == [{"answer": "at once"}] * 50
    (stepper,) = runtime._steppers
    await call(runtime, one_step)
    assert runtime._steppers == [stepper]
    assert stepper.box == [None]  # the answer is not kept alive by the pool


async def test_a_handler_that_waits_is_timed_by_its_steps_and_gives_its_stepper_back(
    runtime: Runtime,
) -> None:
    assert await call(runtime, waits) == "after a wait"
    assert len(runtime._steppers) == 1
    assert runtime.recorder is not None
    (row,) = runtime.recorder.rows[-1:]
    duration, cpu = row[3], row[4]
    assert duration >= 0.06 and 0.01 <= cpu <= duration - 0.04  # its 10 ms, not its 50 ms wait


async def test_an_error_in_a_later_step_propagates_and_spends_the_stepper(
    runtime: Runtime,
) -> None:
    with pytest.raises(KeyError, match="late"):
        await call(runtime, fails_later)
    assert runtime._steppers == []  # a spent stepper is not pooled
    assert await call(runtime, one_step) == {"answer": "at once"}


def test_a_stepper_runs_coroutines_one_after_another() -> None:
    async def value(n: int) -> int:
        return n

    stepper = Stepper()
    for n in range(3):
        assert stepper.send(value(n)) is RETURNED
        result, stepper.box[0] = stepper.box[0], None
        assert result == n


async def test_a_cancelled_wait_reaches_the_handler_which_may_still_answer() -> None:
    cleaned: list[str] = []

    async def handler() -> str:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cleaned.append("cleaned")
            raise
        return "never"

    async def timed() -> Any:
        pool: list[Stepper] = []
        stepper = Stepper()
        yielded = stepper.send(handler())
        assert yielded is not RETURNED
        return await CpuTimed(stepper, 0.0, yielded, pool)

    task = asyncio.ensure_future(timed())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == ["cleaned"]


async def test_a_burst_of_waiting_invocations_leaves_at_most_max_idle_steppers(
    runtime: Runtime,
) -> None:
    async def pauses(ctx: Context) -> str:
        await asyncio.sleep(0.01)
        return "done"

    answers = await asyncio.gather(*(call(runtime, pauses) for _ in range(MAX_IDLE + 50)))

    assert answers == ["done"] * (MAX_IDLE + 50)
    assert len(runtime._steppers) == MAX_IDLE
