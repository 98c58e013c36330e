"""Circuit breakers whose state lives in the store, so every process sees the same breaker.

    from faaskit import CircuitBreaker, Context

    payments = CircuitBreaker("payments", failure_threshold=5, recovery_timeout=30)

    async def charge(ctx: Context, order: Order) -> None:
        async with payments(ctx):          # CircuitOpenError while the breaker is open
            await provider.charge(order)

    @payments                              # or around a whole function taking the ctx
    async def refund(ctx: Context, payment_id: str) -> None: ...

``failure_threshold`` failures in a row (across all processes on the store) open the
breaker: for ``recovery_timeout`` seconds every call fails fast with
:class:`~faaskit.errors.CircuitOpenError` (503 with ``Retry-After`` at the gateway; a
failed attempt, retried later, for a message or saga step). Then exactly one caller, in
whichever process asks first, makes a trial call (half-open): its success closes the
breaker, its failure opens it again. A trial whose process dies holds it no longer than
``recovery_timeout``. The state is committed at once, outside the invocation's unit of
work: a failure counted stays counted when the invocation rolls back.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from faaskit.errors import CircuitOpenError, ConfigurationError

if TYPE_CHECKING:
    from faaskit.runtime.runtime import Runtime
    from faaskit.store.protocol import Breaker

__all__ = ["CircuitBreaker"]

logger = logging.getLogger("faaskit.breakers")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
_NAME_MAX = 200


class CircuitBreaker:
    """A breaker named ``name``, shared by every process on the store (declare it once,
    at module level). ``failures`` are the exceptions that count against the service
    (default: any ``Exception``); an exception in ``ignore``, or outside ``failures``,
    means the service answered, and counts as a success. ``recovery_timeout`` takes
    seconds or a timedelta.

    >>> CircuitBreaker("email", failure_threshold=3, recovery_timeout=timedelta(minutes=1))
    CircuitBreaker('email', failure_threshold=3, recovery_timeout=60.0)
    """

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        recovery_timeout: float | timedelta = 30.0,
        *,
        failures: tuple[type[BaseException], ...] = (Exception,),
        ignore: tuple[type[BaseException], ...] = (),
    ) -> None:
        if not isinstance(name, str) or not name.strip() or len(name) > _NAME_MAX:
            raise ConfigurationError(
                f"CircuitBreaker name= is text of 1 to {_NAME_MAX} characters, got {name!r}"
            )
        if "\x00" in name:
            raise ConfigurationError(f"CircuitBreaker name {name!r} holds a NUL character")
        if (
            isinstance(failure_threshold, bool)
            or not isinstance(failure_threshold, int)
            or failure_threshold < 1
        ):
            raise ConfigurationError(
                "CircuitBreaker failure_threshold= is a number of failures, 1 or more;"
                f" got {failure_threshold!r}"
            )
        seconds: object = recovery_timeout
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not (math.isfinite(seconds) and seconds > 0)
        ):
            raise ConfigurationError(
                "CircuitBreaker recovery_timeout= takes seconds above 0 or a timedelta,"
                f" got {recovery_timeout!r}"
            )
        for option, kinds in (("failures", failures), ("ignore", ignore)):
            if not isinstance(kinds, tuple) or not all(
                isinstance(kind, type) and issubclass(kind, BaseException) for kind in kinds
            ):
                raise ConfigurationError(
                    f"CircuitBreaker {option}= is a tuple of exception classes, got {kinds!r}"
                )
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = float(seconds)
        self.failures = failures
        self.ignore = ignore

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker({self.name!r}, failure_threshold={self.failure_threshold},"
            f" recovery_timeout={self.recovery_timeout})"
        )

    def counts(self, error: BaseException) -> bool:
        """Whether ``error`` counts as a failure of the service."""
        return isinstance(error, self.failures) and not isinstance(error, self.ignore)

    def __call__(self, target: Any) -> Any:
        """``breaker(ctx)`` (or a Runtime) is the guard for ``async with`` / ``with``;
        ``@breaker`` wraps a function that takes the Context."""
        runtime = _runtime_of(target)
        if runtime is not None:
            return Guard(self, runtime)
        if callable(target):
            return self._decorate(target)
        raise TypeError(
            f"{self!r} guards a call made with the Context: `async with breaker(ctx):`,"
            f" or decorates a function that takes it; got {target!r}"
        )

    def _decorate(self, function: F) -> F:
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def guarded(*args: Any, **kwargs: Any) -> Any:
                async with Guard(self, self._runtime_in(function, args, kwargs)):
                    return await function(*args, **kwargs)

            return guarded  # type: ignore[return-value]

        @functools.wraps(function)
        def guarded_sync(*args: Any, **kwargs: Any) -> Any:
            with Guard(self, self._runtime_in(function, args, kwargs)):
                return function(*args, **kwargs)

        return guarded_sync  # type: ignore[return-value]

    def _runtime_in(self, function: Callable[..., Any], args: Any, kwargs: Any) -> Runtime:
        for value in (*args, *kwargs.values()):
            runtime = _runtime_of(value)
            if runtime is not None:
                return runtime
        raise TypeError(
            f"{function.__qualname__} is guarded by {self!r}, which needs the Context:"
            " pass the ctx to it"
        )

    async def state(self, on: Any) -> Breaker:
        """The breaker as the store holds it now (``on`` is a Context or a Runtime)."""
        from faaskit.store.protocol import Breaker

        runtime = _runtime_of(on)
        if runtime is None:
            raise TypeError(f"{self!r}.state() needs a Context or a Runtime, got {on!r}")
        found = [b for b in await runtime.store.breakers() if b.name == self.name]
        return found[0] if found else Breaker(self.name)


class Guard:
    """One guarded call of a breaker: ``async with breaker(ctx) as call:`` (or ``with`` in
    a sync handler). Entering asks the store for a permit; leaving records the outcome.
    ``call.trial`` is True for the half-open breaker's one trial call."""

    __slots__ = ("_breaker", "_runtime", "_token")

    def __init__(self, breaker: CircuitBreaker, runtime: Runtime) -> None:
        self._breaker = breaker
        self._runtime = runtime
        self._token: str | None = None

    @property
    def trial(self) -> bool:
        """Whether this call is the trial of a half-open breaker (its outcome decides)."""
        return self._token is not None

    async def __aenter__(self) -> Guard:
        from faaskit.ids import new_id

        breaker, runtime = self._breaker, self._runtime
        token = new_id()
        permit = await runtime.store.breaker_acquire(
            breaker.name, now=runtime.now(), lease=breaker.recovery_timeout, token=token
        )
        metrics = runtime.metrics.breakers
        if permit.opened_half:
            metrics.moved(breaker.name, "half_open")
        else:
            metrics.saw(breaker.name, permit.state)
        if not permit.allowed:
            wait = permit.retry_after
            raise CircuitOpenError(
                f"{breaker.name} is unavailable (circuit breaker open): try again in"
                f" {max(1, math.ceil(wait))} s",
                retry_after=wait,
                breaker=breaker.name,
            )
        if permit.trial:
            self._token = token
            logger.info(
                "circuit breaker %s half-open: one trial call",
                breaker.name,
                extra={"fields": {"breaker": breaker.name}},
            )
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if error is not None and not isinstance(error, Exception):
            # Cancelled (a timeout, a shutdown) or exiting: no verdict on the service. A
            # trial then keeps its lease, which ends like a failure would: a
            # recovery_timeout later.
            return
        breaker, runtime = self._breaker, self._runtime
        failed = error is not None and breaker.counts(error)
        text = None if error is None or not failed else f"{type(error).__name__}: {error}"
        if text is not None:
            from faaskit.secrets.redaction import redact  # stored and shown: no secrets

            text = redact(text)
        moved = await runtime.store.breaker_record(
            breaker.name,
            failed=failed,
            now=runtime.now(),
            threshold=breaker.failure_threshold,
            recovery_timeout=breaker.recovery_timeout,
            token=self._token,
            error=text,
        )
        if moved is None:
            return
        runtime.metrics.breakers.moved(breaker.name, moved)
        fields = {"fields": {"breaker": breaker.name, "to": moved}}
        if moved == "open":
            logger.warning(
                "circuit breaker %s opened for %s s: %s",
                breaker.name,
                f"{breaker.recovery_timeout:g}",
                text,
                extra=fields,
            )
        else:
            logger.info("circuit breaker %s closed", breaker.name, extra=fields)

    def __enter__(self) -> Guard:
        return _blocking(self._runtime, self.__aenter__())

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        _blocking(self._runtime, self.__aexit__(kind, error, trace))


def _runtime_of(value: Any) -> Runtime | None:
    """The runtime behind a Context, a Runtime itself, or None."""
    from faaskit.context import Context

    if isinstance(value, Context):
        return value._runtime
    from faaskit.runtime.runtime import Runtime

    return value if isinstance(value, Runtime) else None


def _blocking(runtime: Runtime, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on the runtime's loop from a sync handler's thread."""
    loop = runtime.loop
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if loop is None or running is not None:
        work.close()
        raise RuntimeError(
            "`with breaker(ctx):` is for sync handlers (which run in a thread of a started"
            " runtime); in async code use `async with breaker(ctx):`"
        )
    return asyncio.run_coroutine_threadsafe(_awaited(work), loop).result()


async def _awaited(work: Awaitable[T]) -> T:
    return await work
