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
  when the loop has something else to do — callbacks the step left (a task it created,
  a ``call_soon``), a timer that is due (the invocation recorder's flush), a task
  waiting on a socket — it turns once for them, as ``run_until_complete`` would have;
- when the task waits (a thread, the store, a timer), the loop runs it to the end.

Only asyncio's own selector loop (``BaseSelectorEventLoop``) is stepped this way; any other
loop, a debug loop, or a loop already running in this thread goes to
``run_until_complete`` unchanged.
"""

from __future__ import annotations

import asyncio
import sys
from asyncio import events
from asyncio.selector_events import BaseSelectorEventLoop
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
    # The ready queue, timers, selector and hooks are asyncio's own loop's (stable since
    # Python 3.7): read, never changed, except the one step taken off the queue.
    ready = getattr(loop, "_ready", None)
    if (
        ready  # callbacks already due: they run first, in a turn, as they would have
        or ready is None  # not the standard loop (uvloop, a test double)
        or not isinstance(loop, BaseSelectorEventLoop)  # (a proactor has no selector)
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
    except BaseException:  # KeyboardInterrupt, SystemExit: out, as from run_until_complete,
        if task.done() and not task.cancelled():
            task.exception()  # which marks the task's copy of it seen (no "never retrieved")
        raise
    finally:
        _set_running_loop(None)
        _set_hooks(*hooks)
    if not task.done() or _has_work(loop, ready):
        return loop.run_until_complete(task)
    return task.result()


def _has_work(loop: asyncio.AbstractEventLoop, ready: Any) -> bool:
    """Whether a turn of ``loop`` would run anything: callbacks, a due timer, or a socket
    someone waits on (the loop's own wake-up pipe aside)."""
    if ready:
        return True
    timers = loop._scheduled  # type: ignore[attr-defined]
    if timers and timers[0].when() <= loop.time() + loop._clock_resolution:  # type: ignore[attr-defined]
        return True
    return len(loop._selector.get_map()) > 1  # type: ignore[attr-defined]
