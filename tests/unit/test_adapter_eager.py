"""run_eagerly (faaskit/adapters/eager.py) behaves as loop.run_until_complete does — each
test runs both — and skips the loop's turn when the coroutine finishes at once."""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from faaskit.adapters.eager import run_eagerly

Runner = Callable[[asyncio.AbstractEventLoop, Coroutine[Any, Any, Any]], Any]
RUNNERS: dict[str, Runner] = {
    "eagerly": run_eagerly,
    "run_until_complete": lambda loop, work: loop.run_until_complete(work),
}
marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    made = asyncio.new_event_loop()
    yield made
    made.close()


@pytest.fixture(params=list(RUNNERS))
def run(request: pytest.FixtureRequest) -> Runner:
    return RUNNERS[request.param]


def test_a_result_and_an_error_come_back(run: Runner, loop: asyncio.AbstractEventLoop) -> None:
    async def answer() -> int:
        return 42

    async def fail() -> None:
        raise KeyError("missing")

    assert run(loop, answer()) == 42
    with pytest.raises(KeyError, match="missing"):
        run(loop, fail())
    assert asyncio._get_running_loop() is None  # nothing left set after either


def test_the_coroutine_runs_in_a_task_of_the_running_loop(
    run: Runner, loop: asyncio.AbstractEventLoop
) -> None:
    async def where() -> tuple[Any, Any, Any]:
        return asyncio.current_task(), asyncio.get_running_loop(), sys.get_asyncgen_hooks()

    task, running, hooks = run(loop, where())

    assert isinstance(task, asyncio.Task)
    assert running is loop
    # async generators started in it are finalised by the loop, then the hooks are restored
    assert hooks.finalizer == loop._asyncgen_finalizer_hook  # type: ignore[attr-defined]
    assert sys.get_asyncgen_hooks().finalizer is None


def test_timeouts_and_task_groups_work(run: Runner, loop: asyncio.AbstractEventLoop) -> None:
    async def too_slow() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(5)

    async def grouped() -> list[int]:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(asyncio.sleep(0, result=n)) for n in range(3)]
        return [task.result() for task in tasks]

    with pytest.raises(TimeoutError):
        run(loop, too_slow())
    assert run(loop, grouped()) == [0, 1, 2]


def test_a_coroutine_that_waits_on_a_thread_finishes_on_the_loop(
    run: Runner, loop: asyncio.AbstractEventLoop
) -> None:
    async def in_thread() -> int:
        return await asyncio.to_thread(threading.get_ident)

    async def fails_in_thread() -> None:
        await asyncio.to_thread(int, "not a number")

    assert run(loop, in_thread()) != threading.get_ident()
    with pytest.raises(ValueError, match="not a number"):
        run(loop, fails_in_thread())


def test_context_variables_are_copied_in_not_leaked_out(
    run: Runner, loop: asyncio.AbstractEventLoop
) -> None:
    async def change() -> str:
        seen = marker.get()
        marker.set("changed inside")
        return seen

    token = marker.set("outside")
    try:
        assert run(loop, change()) == "outside"
        assert marker.get() == "outside"
    finally:
        marker.reset(token)


def test_a_task_the_coroutine_starts_gets_its_first_step(
    run: Runner, loop: asyncio.AbstractEventLoop
) -> None:
    steps: list[str] = []
    started: list[asyncio.Future[None]] = []

    async def background() -> None:
        steps.append("first step")
        await asyncio.sleep(0)
        steps.append("second step")

    async def start_one() -> None:
        asyncio.get_running_loop().call_soon(steps.append, "callback")
        started.append(asyncio.ensure_future(background()))

    run(loop, start_one())

    assert steps == ["callback", "first step"]  # as run_until_complete leaves them
    loop.run_until_complete(asyncio.sleep(0))
    assert steps[-1] == "second step"


def test_inside_a_running_loop_it_refuses_as_run_until_complete_does(
    run: Runner, loop: asyncio.AbstractEventLoop
) -> None:
    async def nothing() -> None:
        return None

    async def nested() -> None:
        work = nothing()
        try:
            run(loop, work)
        finally:
            work.close()

    with pytest.raises(RuntimeError, match="running"):
        asyncio.run(nested())


def test_a_coroutine_that_finishes_at_once_never_polls_the_selector(
    loop: asyncio.AbstractEventLoop,
) -> None:
    polls: list[Any] = []
    selector = loop._selector  # type: ignore[attr-defined]
    select = selector.select

    def counted(timeout: float | None = None) -> Any:
        polls.append(timeout)
        return select(timeout)

    selector.select = counted

    async def answer() -> str:
        return "at once"

    async def waits() -> str:
        await asyncio.sleep(0)
        return "after a turn"

    assert run_eagerly(loop, answer()) == "at once"
    assert polls == []
    assert run_eagerly(loop, waits()) == "after a turn"
    assert polls  # a coroutine that yields is finished by the loop


def test_a_due_timer_and_a_ready_socket_are_served_after_the_event(
    run: Runner, loop: asyncio.AbstractEventLoop
) -> None:
    import socket

    served: list[str] = []
    reading, writing = socket.socketpair()
    try:
        loop.call_later(0, served.append, "timer")  # due now: the recorder's flush, say
        loop.add_reader(reading, lambda: served.append(reading.recv(10).decode()))
        writing.send(b"socket")

        async def answer() -> str:
            return "at once"

        assert run(loop, answer()) == "at once"
        assert sorted(served) == ["socket", "timer"]
    finally:
        loop.remove_reader(reading)
        reading.close()
        writing.close()


def test_an_interrupt_goes_out_and_leaves_the_loop_usable(
    run: Runner, loop: asyncio.AbstractEventLoop
) -> None:
    async def interrupted() -> None:
        raise KeyboardInterrupt

    async def answer() -> str:
        return "still here"

    with pytest.raises(KeyboardInterrupt):
        run(loop, interrupted())
    assert asyncio._get_running_loop() is None
    assert run(loop, answer()) == "still here"
