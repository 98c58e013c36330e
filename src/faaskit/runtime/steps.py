"""Timing a handler's own steps: the CPU time of an invocation, without its waits.

A coroutine handler runs in steps: from a resume to its next suspension. What runs while it
waits (other tasks) is not its cost, so an invocation's CPU time is the sum of its steps,
each measured with the performance counter (a thread CPU clock costs a system call, 0.7 µs,
twice a step; a step's time is its CPU time unless it blocks the thread in a system call,
which holds the invocation's resources alike).

Stepping a coroutine from Python (``coroutine.send``) raises StopIteration when it returns:
an exception, its traceback entry and an ``except`` on every invocation, 4,500 instructions
of a 220,000-instruction hello through the HTTP server. A :class:`Stepper` steps it with
``yield from`` instead, which takes the return value without an exception, and yields
:data:`RETURNED` in its place; steppers are pooled, one per invocation
in flight (a list of idle ones: ``idle.pop() if idle else Stepper()``, given back with
``idle.append`` once the coroutine returned), so a handler that finishes in its first step
(most do) allocates nothing.
"""

from __future__ import annotations

import time
import types
from collections.abc import Generator
from typing import Any

__all__ = ["MAX_IDLE", "RETURNED", "CpuTimed", "Stepper"]

RETURNED: Any = object()
"""What a :class:`Stepper`'s ``send`` gives once the coroutine has returned."""


@types.coroutine
def _steps(box: list[Any]) -> Generator[Any, Any, None]:
    coroutine = yield
    while True:
        box[0] = yield from coroutine  # the return value, without a StopIteration
        coroutine = yield RETURNED


class Stepper:
    """Runs coroutines one at a time, a step per :meth:`send`: ``send(coroutine)`` runs its
    first step, ``send(value)`` (or :meth:`throw`) the next; each gives what the step
    yielded, or :data:`RETURNED` when the coroutine returned, its value in ``box[0]``
    (which the caller takes and clears: ``result, box[0] = box[0], None``). An exception of
    the coroutine propagates, and the stepper is spent."""

    __slots__ = ("box", "send", "throw")

    def __init__(self) -> None:
        self.box: list[Any] = [None]
        generator = _steps(self.box)
        generator.send(None)
        self.send = generator.send
        self.throw = generator.throw


MAX_IDLE = 256
"""Idle steppers kept at most: a burst of thousands of waiting invocations leaves no more
(the pool holds as many as were out at once: an invocation gives back the one it took)."""


class CpuTimed:
    """Awaits the rest of a coroutine whose first step a :class:`Stepper` ran (and which
    yielded ``yielded`` there), adding up the time its own steps hold the thread (``cpu``,
    the first step's ``cpu`` included). The stepper goes back to ``pool``, the list of idle
    steppers, when the coroutine returns (unless MAX_IDLE are idle already)."""

    __slots__ = ("_pool", "_stepper", "_yielded", "cpu")

    def __init__(self, stepper: Stepper, cpu: float, yielded: Any, pool: list[Stepper]) -> None:
        self._stepper = stepper
        self._yielded = yielded
        self._pool = pool
        self.cpu = cpu

    def __await__(self) -> Generator[Any, Any, Any]:
        stepper = self._stepper
        clock = time.perf_counter
        yielded = self._yielded
        self._yielded = None
        while True:
            try:
                sent, thrown = (yield yielded), None
            except BaseException as error:  # cancelled while it waits: it hears it
                sent, thrown = None, error
            started = clock()
            try:
                yielded = stepper.send(sent) if thrown is None else stepper.throw(thrown)
            finally:
                self.cpu += clock() - started
            if yielded is RETURNED:
                box = stepper.box
                result, box[0] = box[0], None
                idle = self._pool
                if len(idle) < MAX_IDLE:  # (only a waiting invocation can find it full)
                    idle.append(stepper)
                return result
