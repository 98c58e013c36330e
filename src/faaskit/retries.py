"""Retries for calls to outside services inside a handler, built on tenacity
(``pip install 'faaskit[retry]'``).

    import httpx
    import faaskit

    @faaskit.retry(attempts=4, on=httpx.TransportError)
    async def today_rates() -> dict:
        async with httpx.AsyncClient(timeout=2) as client:
            answer = await client.get("https://rates.example/today")
            answer.raise_for_status()
            return answer.json()

    async for attempt in faaskit.retry(attempts=3, on=OSError):  # the same, inline
        with attempt:
            await mailer.send(message)

(``for attempt in faaskit.retry(...)`` in sync code.) An attempt that fails with one of
``on`` waits ``uniform(0, min(max_wait, backoff·2ⁿ⁻¹))`` seconds (exponential backoff with
full jitter, tenacity's ``wait_random_exponential``), at least the ``retry_after`` the error
carries (an open breaker, a rate limit), and tries again, ``attempts`` in all; then the
last error is raised as it was. Any other exception is raised at once.

A wait is never taken when it would outlive the invocation: when the wait, then another
attempt as long as the last one, then ``MARGIN``, would end after the worker cancels the
handler (its ``timeout=``, or the platform's deadline less a margin) or after the platform
stops it (``ctx.deadline``), the last error is raised instead, while the handler can
still fail with its own error (and the message be retried) rather than be cancelled
mid-wait. ``deadline=`` adds the retry's own bound: no attempt starts later than that
many seconds after the first.

The invocation is found without passing the ctx: the runtime sets
:data:`faaskit.context.current_context` around each handler, a context variable, so
concurrent invocations see their own, code the handler calls (a client wrapper decorated
at module level) needs no ctx parameter, and sync handlers' threads see it too. Code that
runs in a thread of its own (a ``ThreadPoolExecutor``) does not: pass ``ctx=`` there.
Outside any invocation (a script, start-up) nothing bounds the waits but ``deadline=``,
and retries are logged but not counted.

Each wait logs a line on ``faaskit.retry`` (function, call, attempt, wait, error) and
counts ``faaskit_outside_call_retries_total{function, call}`` and the seconds slept; a
call that gives up logs a warning and counts
``faaskit_outside_call_retries_exhausted_total{function, call, reason}``.

When to prefer a message retry: this one sleeps inside the invocation, and a cloud bills
the sleep. For a blip (a reset connection, one 503) a retry within the invocation is
cheapest and the caller never notices. For an outage of seconds or more, raise and let the
message be retried: the worker reschedules it with backoff (``max_attempts=``,
``backoff=Backoff(...)`` on ``@app.task`` and ``@app.subscribe``), and nothing runs, or is
billed, meanwhile.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar, overload

from faaskit.errors import ConfigurationError, not_before

if TYPE_CHECKING:
    from tenacity import AttemptManager, RetryCallState
    from tenacity.wait import wait_base

    from faaskit.context import Context

__all__ = ["MARGIN", "Retry", "retry"]

logger = logging.getLogger("faaskit.retry")
F = TypeVar("F", bound=Callable[..., Any])
Sleep = Callable[[float], Any]
Exceptions = type[BaseException] | tuple[type[BaseException], ...]

MARGIN = 0.5
"""Seconds a retry leaves between the end of its next attempt and the invocation's end."""
INSTALL = "faaskit.retry needs tenacity: pip install 'faaskit[retry]'"
_ERROR_TEXT = 300
"""Characters of an error's message in a log line."""


class Retry:
    """A retry policy: ``@policy`` on a ``def`` or ``async def``, or ``for attempt in
    policy`` / ``async for attempt in policy`` around a block (``with attempt:``). Made by
    :func:`retry`; one policy serves any number of concurrent calls."""

    __slots__ = (
        "_on",
        "_sleep",
        "_wait",
        "attempts",
        "backoff",
        "ctx",
        "deadline",
        "max_wait",
        "name",
    )

    def __init__(
        self,
        *,
        attempts: int = 3,
        backoff: float = 0.1,
        max_wait: float = 2.0,
        on: Exceptions | Callable[[BaseException], bool] = Exception,
        deadline: float | timedelta | None = None,
        name: str | None = None,
        ctx: Context | None = None,
        sleep: Sleep | None = None,
    ) -> None:
        import importlib.util

        if importlib.util.find_spec("tenacity") is None:
            raise ConfigurationError(INSTALL)
        if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1:
            raise ConfigurationError(f"retry attempts= is a number, 1 or more; got {attempts!r}")
        self.attempts = attempts
        self.backoff = _seconds("backoff", backoff, zero=True)
        self.max_wait = _seconds("max_wait", max_wait, zero=True)
        self.deadline = None if deadline is None else _seconds("deadline", deadline)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigurationError(f"retry name= is a non-empty text, got {name!r}")
        self.name = name
        self.ctx = ctx
        self._sleep = sleep
        self._on = _matcher(on)
        self._wait: wait_base | None = None

    def __repr__(self) -> str:
        return (
            f"Retry(attempts={self.attempts}, backoff={self.backoff:g},"
            f" max_wait={self.max_wait:g}, deadline={self.deadline})"
        )

    def __call__(self, function: F) -> F:
        """Retry every call of ``function`` by this policy."""
        if not callable(function):
            raise TypeError(f"retry decorates a function, got {function!r}")
        call = self.name or getattr(function, "__qualname__", None) or repr(function)
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def retried(*args: Any, **kwargs: Any) -> Any:
                from tenacity import AsyncRetrying

                run = _Run(self, call)
                return await AsyncRetrying(**run.options(asynchronous=True))(
                    function, *args, **kwargs
                )

            return retried  # type: ignore[return-value]

        @functools.wraps(function)
        def retried_sync(*args: Any, **kwargs: Any) -> Any:
            from tenacity import Retrying

            run = _Run(self, call)
            return Retrying(**run.options(asynchronous=False))(function, *args, **kwargs)

        return retried_sync  # type: ignore[return-value]

    def __iter__(self) -> Iterator[AttemptManager]:
        """``for attempt in policy: with attempt: ...`` (sync code)."""
        from tenacity import Retrying

        run = _Run(self, self.name or _caller())
        return iter(Retrying(**run.options(asynchronous=False)))

    def __aiter__(self) -> AsyncIterator[AttemptManager]:
        """``async for attempt in policy: with attempt: ...`` (async code)."""
        from tenacity import AsyncRetrying

        run = _Run(self, self.name or _caller())
        return AsyncRetrying(**run.options(asynchronous=True)).__aiter__()

    def _delay(self, state: RetryCallState) -> float:
        wait = self._wait
        if wait is None:
            from tenacity import wait_random_exponential

            # exponential backoff with full jitter: uniform(0, min(max, multiplier·2ⁿ⁻¹))
            wait = self._wait = wait_random_exponential(multiplier=self.backoff, max=self.max_wait)
        return float(wait(state))


@overload
def retry(function: F, /) -> F: ...


@overload
def retry(
    *,
    attempts: int = 3,
    backoff: float = 0.1,
    max_wait: float = 2.0,
    on: Exceptions | Callable[[BaseException], bool] = Exception,
    deadline: float | timedelta | None = None,
    name: str | None = None,
    ctx: Context | None = None,
    sleep: Sleep | None = None,
) -> Retry: ...


def retry(
    function: Callable[..., Any] | None = None,
    /,
    *,
    attempts: int = 3,
    backoff: float = 0.1,
    max_wait: float = 2.0,
    on: Exceptions | Callable[[BaseException], bool] = Exception,
    deadline: float | timedelta | None = None,
    name: str | None = None,
    ctx: Context | None = None,
    sleep: Sleep | None = None,
) -> Any:
    """Retry a call to an outside service within the invocation (see the module's doc).

    ``attempts`` in all (the first included); ``backoff`` seconds is the first wait's
    ceiling, doubled each time up to ``max_wait`` (full jitter); ``on`` is an exception
    class, a tuple of them, or a predicate ``error -> bool`` (only ``Exception`` ever
    retries: a cancellation never does); ``deadline`` (seconds or a timedelta) is the
    latest an attempt starts after the first; ``name`` labels logs and metrics (default:
    the decorated function's qualified name, or the code iterating); ``ctx`` bounds the
    waits by that invocation when the context variable cannot (another thread);
    ``sleep`` replaces the wait (tests: a fake that records). ::

        @faaskit.retry                                   # 3 attempts on any Exception
        def lookup(sku: str) -> dict: ...

        @faaskit.retry(attempts=5, on=(httpx.TransportError,), deadline=10)
        async def charge(order: Order) -> Receipt: ...
    """
    policy = Retry(
        attempts=attempts,
        backoff=backoff,
        max_wait=max_wait,
        on=on,
        deadline=deadline,
        name=name,
        ctx=ctx,
        sleep=sleep,
    )
    return policy if function is None else policy(function)


class _Run:
    """One retried call: its bounds, and the tenacity callbacks that apply them."""

    __slots__ = ("attempt_started", "call", "ctx", "decided", "ends", "policy", "started")

    def __init__(self, policy: Retry, call: str) -> None:
        from faaskit.context import current_context

        self.policy = policy
        self.call = call
        self.ctx = ctx = policy.ctx or current_context.get()
        self.started = self.attempt_started = time.monotonic()
        self.ends = _invocation_end(ctx, self.started)
        self.decided: tuple[int, float, str | None] = (0, 0.0, None)
        """(attempt, its wait, why to give up instead) for the attempt that just failed."""

    def options(self, *, asynchronous: bool) -> dict[str, Any]:
        from tenacity import retry_if_exception

        return {
            "sleep": self._async_sleep() if asynchronous else self._sync_sleep(),
            "stop": self.stop,
            "wait": self.wait,
            "retry": retry_if_exception(self.policy._on),
            "before": self.before,
            "before_sleep": self.before_sleep,
            "reraise": True,  # the last error as it was, never a tenacity RetryError
        }

    def before(self, state: RetryCallState) -> None:
        self.attempt_started = time.monotonic()

    def _decide(self, state: RetryCallState) -> tuple[float, str | None]:
        # tenacity asks for the wait and the stop in either order (8.x: stop first, 9.x:
        # wait first); both read one decision per failed attempt.
        number = state.attempt_number
        if self.decided[0] == number:
            return self.decided[1], self.decided[2]
        policy = self.policy
        error = _error(state)
        wait = not_before(error, policy._delay(state)) if error is not None else 0.0
        now = time.monotonic()
        reason: str | None = None
        if number >= policy.attempts:
            reason = "attempts"
        elif wait > policy.max_wait:
            reason = "retry_after"  # the service wants a longer wait: a message retry's job
        elif policy.deadline is not None and now + wait - self.started > policy.deadline:
            reason = "deadline"
        elif (
            self.ends is not None and now + wait + (now - self.attempt_started) + MARGIN > self.ends
        ):
            reason = "invocation"
        self.decided = (number, wait, reason)
        return wait, reason

    def wait(self, state: RetryCallState) -> float:
        return self._decide(state)[0]

    def stop(self, state: RetryCallState) -> bool:
        reason = self._decide(state)[1]
        if reason is None:
            return False
        error = _error(state)
        fields = self._fields(state, error)
        fields["reason"] = reason
        logger.warning(
            "%s failed on attempt %d of %d, giving up (%s): %s",
            self.call,
            state.attempt_number,
            self.policy.attempts,
            _REASONS[reason],
            _text(error),
            extra={"fields": fields},
        )
        ctx = self.ctx
        if ctx is not None:
            ctx._runtime.metrics.retries.gave_up(ctx.function, self.call, reason)
        return True

    def before_sleep(self, state: RetryCallState) -> None:
        wait = self.decided[1]  # what self.wait answered for this attempt
        error = _error(state)
        fields = self._fields(state, error)
        fields["wait"] = round(wait, 3)
        logger.info(
            "%s failed on attempt %d of %d, again in %.3f s: %s",
            self.call,
            state.attempt_number,
            self.policy.attempts,
            wait,
            _text(error),
            extra={"fields": fields},
        )
        ctx = self.ctx
        if ctx is not None:
            ctx._runtime.metrics.retries.retried(ctx.function, self.call, wait)

    def _fields(self, state: RetryCallState, error: BaseException | None) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "call": self.call,
            "attempt": state.attempt_number,
            "attempts": self.policy.attempts,
            "error_type": type(error).__name__ if error is not None else None,
        }
        ctx = self.ctx
        if ctx is not None:
            fields["function"] = ctx.function
            fields["request_id"] = ctx.invocation_id
            fields["correlation_id"] = ctx.correlation_id
        return fields

    def _sync_sleep(self) -> Sleep:
        sleep = self.policy._sleep
        if sleep is not None:
            return sleep
        if _loop_running():
            raise RuntimeError(
                f"{self.call} is retried with blocking sleeps inside the event loop, which"
                " would stall every invocation meanwhile: make it `async def` (or use"
                " `async for attempt in faaskit.retry(...)`), or call it in a thread"
            )
        return time.sleep

    def _async_sleep(self) -> Callable[[float], Awaitable[None]]:
        sleep = self.policy._sleep
        if sleep is None:
            import asyncio

            return asyncio.sleep

        async def injected(seconds: float) -> None:
            slept = sleep(seconds)
            if inspect.isawaitable(slept):
                await slept

        return injected


_REASONS = {
    "attempts": "no attempts left",
    "deadline": "the next wait passes the retry's deadline",
    "invocation": "the next wait would outlive the invocation",
    "retry_after": "the service asks for a longer wait than max_wait",
}


def _invocation_end(ctx: Context | None, now: float) -> float | None:
    """When (``time.monotonic()``) the invocation under way ends, if anything says."""
    if ctx is None:
        return None
    ends = [] if ctx._timeout_at is None else [ctx._timeout_at]
    if ctx.deadline is not None:  # the platform's, epoch seconds
        ends.append(now + ctx.deadline - time.time())
    return min(ends) if ends else None


def _matcher(on: Any) -> Callable[[BaseException], bool]:
    """``on`` as a predicate that never retries a cancellation or an exit."""
    if isinstance(on, type) and issubclass(on, BaseException):
        on = (on,)
    if isinstance(on, tuple) and on:
        if not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in on):
            raise ConfigurationError(f"retry on= takes exception classes, got {on!r}")
        kinds: tuple[type[BaseException], ...] = on
        return lambda error: isinstance(error, Exception) and isinstance(error, kinds)
    if callable(on) and not isinstance(on, type):
        predicate: Callable[[BaseException], bool] = on
        return lambda error: isinstance(error, Exception) and bool(predicate(error))
    raise ConfigurationError(
        f"retry on= is an exception class, a tuple of them or a predicate error -> bool; got {on!r}"
    )


def _seconds(option: str, value: object, *, zero: bool = False) -> float:
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero)
    ):
        bound = "0 or more" if zero else "above 0"
        raise ConfigurationError(
            f"retry {option}= takes seconds {bound} or a timedelta, got {value!r}"
        )
    return float(value)


def _error(state: RetryCallState) -> BaseException | None:
    outcome = state.outcome
    return None if outcome is None else outcome.exception()


def _text(error: BaseException | None) -> str:
    if error is None:
        return "no error"
    from faaskit.secrets.redaction import redact  # a message may quote a secret

    text = f"{type(error).__name__}: {error}"
    return redact(text if len(text) <= _ERROR_TEXT else text[: _ERROR_TEXT - 1] + "…")


def _caller() -> str:
    """The qualified name of the code iterating over a policy (bounded: it is code)."""
    frame = sys._getframe(2)
    return frame.f_code.co_qualname


def _loop_running() -> bool:
    if "asyncio" not in sys.modules:
        return False
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
