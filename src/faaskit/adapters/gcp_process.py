"""What one Google Cloud Functions process starts once, for the HTTP function
(:mod:`faaskit.adapters.gcp`) and the CloudEvent function (:mod:`faaskit.adapters.gcp_events`)
alike.

functions-framework serves with gunicorn's threaded worker: several requests call the
function at once, from several threads. So the process keeps one event loop on a thread of
its own; start-up (the runtime, opening the store, loading keys, the relay) runs there once
per process, on the first request, and every request's coroutine is handed to that loop.
The start-up is lazy because gunicorn loads ``main.py`` before it forks its worker, and a
thread, a loop, a database connection or a gRPC channel does not survive a fork; a process
that finds itself forked after start-up starts afresh.

Each invocation's Context carries ``cold_start`` (the first request of the process) and
``startup_seconds`` (:mod:`faaskit.runtime.invocation`).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from faaskit.app import App
from faaskit.clock import Clock
from faaskit.config import Settings
from faaskit.runtime.invocation import Invocation, current_invocation
from faaskit.runtime.runtime import Runtime

if TYPE_CHECKING:
    from faaskit.runtime.relay import Relay

__all__ = ["FunctionProcess", "ProcessState", "default_relay"]

T = TypeVar("T")
P = TypeVar("P")


@dataclass(slots=True)
class ProcessState(Generic[P]):
    """What one process started: its loop (on its own thread), runtime, and what the
    function prepared on that runtime (the gateway, the worker)."""

    pid: int
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    runtime: Runtime
    prepared: P
    startup_seconds: float
    served: bool = False


class FunctionProcess(Generic[P]):
    """Starts the process lazily, once per process id, and runs each invocation's work on
    its loop. ``prepare`` builds what the function needs from the started runtime (it runs
    once per process, and its time counts as start-up)."""

    def __init__(
        self,
        app: App,
        prepare: Callable[[Runtime], P],
        *,
        settings: Settings | None = None,
        relay: Relay | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self._prepare = prepare
        self._settings = settings
        self._relay = relay
        self._clock = clock
        self._lock = threading.Lock()
        self._state: ProcessState[P] | None = None

    def start(self) -> ProcessState[P]:
        """The process's state, started now unless this process already did (idempotent)."""
        state = self._state
        if state is not None and state.pid == os.getpid():
            return state
        with self._lock:
            state = self._state
            if state is None or state.pid != os.getpid():
                # None, or inherited through a fork: its thread and connections are gone
                self._state = state = self._start()
            return state

    def _start(self) -> ProcessState[P]:
        began = time.perf_counter()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=loop.run_forever, name=f"faaskit-{self.app.name}", daemon=True
        )
        thread.start()
        try:
            runtime = Runtime(self.app, self._settings or Settings.load(), clock=self._clock)
            runtime.relay = self._relay or default_relay(runtime.clock)
            prepared = self._prepare(runtime)
            asyncio.run_coroutine_threadsafe(runtime.start(), loop).result()
        except BaseException:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
            raise
        return ProcessState(
            os.getpid(), loop, thread, runtime, prepared, time.perf_counter() - began
        )

    @property
    def runtime(self) -> Runtime:
        """The process's runtime (started on first use)."""
        return self.start().runtime

    def invoke(self, work: Callable[[ProcessState[P]], Coroutine[Any, Any, T]]) -> T:
        """Start the process if need be, then run ``work(state)`` on its loop as one
        invocation (cold on the process's first) and wait for its result."""
        state = self.start()
        with self._lock:
            cold, state.served = not state.served, True
        invocation = Invocation(cold, state.startup_seconds)
        return asyncio.run_coroutine_threadsafe(
            _within(invocation, work(state)), state.loop
        ).result()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the process's event loop and wait for it (tests, warm-ups)."""
        try:
            state = self.start()
        except BaseException:
            work.close()
            raise
        return asyncio.run_coroutine_threadsafe(work, state.loop).result()

    def close(self) -> None:
        """Stop the runtime, the loop and its thread (tests and scripts; Cloud Functions
        never does)."""
        with self._lock:
            state, self._state = self._state, None
        if state is None or state.pid != os.getpid():
            return
        try:
            asyncio.run_coroutine_threadsafe(state.runtime.stop(), state.loop).result()
        finally:
            state.loop.call_soon_threadsafe(state.loop.stop)
            state.thread.join(timeout=10)
            state.loop.close()


async def _within(invocation: Invocation, work: Coroutine[Any, Any, T]) -> T:
    current_invocation.set(invocation)  # this task's own context: concurrent requests differ
    return await work


def default_relay(clock: Clock) -> Relay | None:
    """A :class:`~faaskit.adapters.gcp_pubsub.PubSubRelay` on ``FAASKIT_PUBSUB_TOPIC``,
    when it is set (else None: a sweep then delivers what is due itself)."""
    from faaskit.adapters.gcp_pubsub import TOPIC_VARIABLE

    if not os.environ.get(TOPIC_VARIABLE, "").strip():
        return None
    from faaskit.adapters.gcp_pubsub import PubSubRelay

    return PubSubRelay(clock=clock)
