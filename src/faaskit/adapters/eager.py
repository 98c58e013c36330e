"""Run one event's coroutine on an adapter's event loop, without a loop turn when it can.

``loop.run_until_complete`` costs two turns of the loop per event (two ``epoll`` calls,
the stop callback, the done callback): ~7 µs, a third of what a Lambda HTTP event costs
in-process. Most events never wait on anything (a handler that answers from memory), so
:func:`run_eagerly` runs the task's first step itself, as Python 3.12's eager tasks do:

- the coroutine still runs in a real :class:`asyncio.Task`, with the loop as the running
  loop and the loop's async-generator hooks, in a copy of the caller's context; so
  ``asyncio.current_task()``, ``asyncio.timeout()``, ``TaskGroup``, ``to_thread`` and
  context variables behave exactly as under ``run_until_complete``;
- when that step finishes the task, its result is returned (or its exception raised);
  when the step left callbacks to run (a task it created, a ``call_soon``), the loop
  turns once for them, as ``run_until_complete`` would have;
- when the task waits (a thread, the store, a timer), the loop runs it to the end.

Only the standard asyncio loop (``asyncio.BaseEventLoop``) is stepped this way; any other
loop, a debug loop, or a loop already running in this thread goes to
``run_until_complete`` unchanged.
"""

from __future__ import annotations

import asyncio
import sys
from asyncio import events
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["run_eagerly"]

T = TypeVar("T")

_get_hooks = sys.get_asyncgen_hooks
_set_hooks = sys.set_asyncgen_hooks
_get_running_loop = events._get_running_loop
_set_running_loop = events._set_running_loop


def run_eagerly(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T]) -> T:
    """``loop.run_until_complete(work)``, with ``work``'s first step run at once: no loop
    turn at all when that step finishes it (see the module's notes)."""
    # The ready queue and the hooks are BaseEventLoop's own (stable since Python 3.7).
    ready = getattr(loop, "_ready", None)
    if (
        ready  # callbacks already due: they run first, in a turn, as they would have
        or ready is None  # not the standard loop (uvloop, a test double)
        or not isinstance(loop, asyncio.BaseEventLoop)
        or loop.get_debug()  # debug mode times callbacks in the loop: let it
        or loop.is_closed()
        or _get_running_loop() is not None  # run_until_complete says why it cannot
    ):
        return loop.run_until_complete(work)
    task = loop.create_task(work)  # its first step is now the one callback in the queue
    if len(ready) != 1:
        return loop.run_until_complete(task)
    step = ready.popleft()
    hooks = _get_hooks()
    _set_hooks(loop._asyncgen_firstiter_hook, loop._asyncgen_finalizer_hook)  # type: ignore[attr-defined]
    _set_running_loop(loop)
    try:
        step._run()  # what the loop's turn would call
    finally:
        _set_running_loop(None)
        _set_hooks(*hooks)
    if ready or not task.done():  # callbacks the step left, or the task waits on something
        return loop.run_until_complete(task)
    return task.result()
