"""The runtime: the one place that calls handlers. Each call is a unit of work.

Gateways (HTTP today; workers and cloud adapters later) turn what arrived into a call of
:meth:`Runtime.invoke`; the runtime runs the handler (sync ones in a thread), commits its
writes when it returns, drops them when it raises, and records metrics either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import signal
import time
import typing
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from faaskit.app import App
from faaskit.auth import Principal, TokenIssuer, TokenVerifier
from faaskit.clock import Clock, SystemClock
from faaskit.config import Settings
from faaskit.context import Context, current_context
from faaskit.errors import ConfigurationError, FaaskitError
from faaskit.observability.metrics import InvocationMetrics, MetricsOff
from faaskit.runtime.invocation import current_invocation
from faaskit.runtime.recorder import FLUSH_AT, InvocationRecorder, process_age
from faaskit.runtime.steps import RETURNED, CpuTimed, Stepper
from faaskit.runtime.unit_of_work import UnitOfWork
from faaskit.secrets import Secrets
from faaskit.store import Store, create_store

if TYPE_CHECKING:
    from faaskit.ratelimit import RateLimiter
    from faaskit.runtime.relay import Relay

__all__ = ["FAULTS_VARIABLE", "InjectedFault", "KillProcess", "Runtime"]

R = TypeVar("R")
LONG_INVOCATION = 0.01
"""Seconds after which an invocation's record reads the peak memory afresh (it may have
grown it; a read costs a system call, too much for every hello)."""
logger = logging.getLogger("faaskit.runtime")
PREWARM_VARIABLE = "FAASKIT_PREWARM"
"""Set (``faaskit dev --prewarm``): every resource is created at start, not on first use."""
FAULTS_VARIABLE = "FAASKIT_FAULTS"
"""Fault points a test arms in a worker subprocess: ``POINT=kill`` (SIGKILL the process
there) or ``POINT=fail`` (raise :class:`InjectedFault`), several separated by spaces, each
once. A point is a function name (before its handler runs) or ``FUNCTION:committed``
(right after its unit of work committed, before anything is relayed), e.g.
``saga.order.reserve.do:committed``: between a saga step's commit and the next step."""


class Runtime:
    """An app bound to settings, a store and a clock. ``start()`` before invoking."""

    def __init__(
        self,
        app: App,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self.settings = settings or Settings.load()
        self.store = store or create_store(self.settings.database_url)
        self.clock = clock or SystemClock()
        self.secrets = Secrets.from_settings(self.settings, clock=self.now)
        self.metrics = MetricsOff() if self.settings.metrics == "off" else InvocationMetrics()
        """What ``/metrics`` shows (nothing is kept with ``FAASKIT_METRICS=off``)."""
        self._verifier: TokenVerifier | None = None
        self._issuer: TokenIssuer | None = None
        self._limiter: RateLimiter | None = None
        self.relay: Relay | None = None
        """Where committed deliveries are relayed (a cloud queue); None: workers poll."""
        from faaskit.resources import Resources

        self.resources = Resources(app.resources)
        """The app's per-process resources (created on first use, closed at stop)."""
        self._warm: set[str] = set()
        self._steppers: list[Stepper] = []
        """Idle steppers for timing coroutine handlers (steps.py)."""
        self._invocation_logs: dict[str, logging.Logger] = {}
        self._is_async: dict[Callable[..., Any], bool] = {}
        self._faults: dict[str, tuple[int, BaseException | None]] = armed_faults(
            os.environ.get(FAULTS_VARIABLE)
        )
        self._services: list[Callable[[asyncio.Event], Coroutine[Any, Any, None]]] = []
        self._running: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._started = False
        self.loop: asyncio.AbstractEventLoop | None = None
        from faaskit.observability.business import EmfWriter

        self.emf = EmfWriter.from_environment()
        from faaskit.observability.tracing import Tracing

        self.tracing = Tracing.from_environment(app.name)
        """Spans of every invocation, when ``FAASKIT_TRACING`` is set (None: off)."""
        """Where ``ctx.metrics`` also go as CloudWatch EMF lines (``FAASKIT_METRICS_EMF``)."""
        # Records are stamped by the wall clock, so the retention is counted on it too: a
        # test's virtual clock, years ahead, would prune every record as it was written.
        self.recorder = InvocationRecorder.from_environment(self.store, time.time)
        """Keeps every invocation's record (None: ``FAASKIT_RECORDS=off``)."""
        self.init_seconds: float | None = None
        """How long this process took to be ready (its start to the end of :meth:`start`):
        the initialisation a cold invocation's record reports."""

    async def start(self) -> None:
        """Open the store and load keys; configuration mistakes surface here, not per request."""
        if self._started:
            return
        if any(route.scopes is not None for route in self.app.routes):
            self._verifier = TokenVerifier(self.app.auth, self.secrets)
        await self.store.open()
        from faaskit.store.search_sql import declare_searches  # loaded with the store already

        await declare_searches(self.store, self.app.collections.values())
        self.loop = asyncio.get_running_loop()
        self._started = True
        self._stopping = asyncio.Event()
        services = list(self._services)
        if self.recorder is not None:
            services.append(self.recorder.run)
        metered = not isinstance(self.metrics, MetricsOff)
        if metered and (self.app.subscriptions or self.app.tasks or self.app.crons):
            services.append(self._watch_backlog)
        self._running = [asyncio.create_task(service(self._stopping)) for service in services]
        if os.environ.get(PREWARM_VARIABLE, "").lower() in ("1", "on", "true", "yes"):
            await self.prewarm()  # faaskit dev --prewarm: every resource, now
        await self.resources.prewarm()  # those declared prewarm=True
        taken = [name for function in self.app.prewarmed for name in self._taken_by(function)]
        if taken:
            await self.resources.prewarm(taken)
        if self.init_seconds is None:
            self.init_seconds = process_age()

    def add_service(self, service: Callable[[asyncio.Event], Coroutine[Any, Any, None]]) -> None:
        """Run ``service(stop)`` alongside while the runtime is started (``faaskit dev``
        runs its worker this way); ``stop`` is set when the runtime stops."""
        self._services.append(service)

    def now(self) -> float:
        """The runtime clock as epoch seconds."""
        return self.clock.now().timestamp()

    def fail_next(self, function: str, times: int = 1, error: BaseException | None = None) -> None:
        """Make ``function``'s next ``times`` invocations raise (tests and chaos drills).
        ``function`` may also be a fault point, ``FUNCTION:committed``: raise right after
        the commit (the writes stay; see :data:`FAULTS_VARIABLE`); ``error`` may be a
        :class:`KillProcess`, which SIGKILLs the process at that point instead."""
        self._faults[function] = (self._faults.get(function, (0, None))[0] + times, error)

    @property
    def started(self) -> bool:
        return self._started

    async def prewarm(self) -> None:
        """Create every resource now (``faaskit dev --prewarm``): the first request then
        pays for none — the local analogue of provisioned concurrency."""
        await self.resources.prewarm(list(self.resources.specs))

    def _taken_by(self, function: str) -> list[str]:
        """The resources ``function``'s handler takes by parameter."""
        from faaskit.resources import resource_for

        declared: list[Any] = [
            *self.app.routes,
            *self.app.subscriptions,
            *self.app.tasks.values(),
            *self.app.crons.values(),
        ]
        handler = next((d.handler for d in declared if d.name == function), None)
        if handler is None:
            return []
        try:
            hints = typing.get_type_hints(handler)
        except Exception:
            hints = {}
        found = []
        for name, parameter in inspect.signature(handler).parameters.items():
            resource = resource_for(self.resources.specs, parameter, hints.get(name))
            if resource is not None:
                found.append(resource)
        return found

    async def stop(self) -> None:
        if self._started:
            self._stopping.set()
            await asyncio.gather(*self._running, return_exceptions=True)
            self._running = []
            await self.resources.close()
            await self.store.close()
            self._started = False
            if self.tracing is not None:  # spans batched for export leave now
                self.tracing.provider.force_flush()

    @property
    def limiter(self) -> RateLimiter:
        """Token buckets kept in the store, so a limit holds across processes."""
        if self._limiter is None:
            from faaskit.ratelimit import RateLimiter

            self._limiter = RateLimiter(self.store, self.clock)
        return self._limiter

    @property
    def verifier(self) -> TokenVerifier:
        if self._verifier is None:
            self._verifier = TokenVerifier(self.app.auth, self.secrets)
        return self._verifier

    @property
    def tokens(self) -> TokenIssuer:
        """Mints tokens signed with the app's key."""
        if self._issuer is None:
            self._issuer = TokenIssuer(self.app.auth, self.secrets)
        return self._issuer

    def authenticate(self, authorization: str | None, scopes: tuple[str, ...]) -> Principal:
        principal = self.verifier.verify(authorization)
        principal.require(scopes)
        return principal

    def context(
        self,
        function: str,
        invocation_id: str,
        *,
        principal: Principal | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        trigger: str = "http",
    ) -> Context:
        """A context for one invocation of ``function``; ``trigger`` is its kind (``http``,
        ``message``, ``task``, ``cron``, ``saga_step``, ``projection``, ``event``), as its
        invocation record says."""
        if not self._started:
            raise ConfigurationError("the runtime is not started: call `await runtime.start()`")
        ctx = Context(
            invocation_id=invocation_id,
            function=function,
            uow=UnitOfWork(self.store, self.clock, self.recorder),
            runtime=self,
            collections=self.app.collections,
            correlation_id=correlation_id,
            principal=principal,
            headers=headers,
            trigger=trigger,
        )
        invocation = current_invocation.get()  # set by a cloud adapter; None under faaskit dev
        if invocation is not None:
            ctx.cold_start = invocation.cold_start
            ctx.startup_seconds = invocation.startup_seconds
            ctx.deadline = invocation.deadline
        return ctx

    async def invoke(
        self,
        ctx: Context,
        handler: Callable[..., Any],
        arguments: Mapping[str, Any],
        render: Callable[[Any], R],
    ) -> R:
        """Call ``handler(**arguments)``, ``render`` its result, then commit the unit of work.

        Rendering happens before the commit, so a result that cannot be rendered leaves
        nothing written. Any exception discards every write.
        """
        if self.tracing is not None and ctx.span is None:
            return await self._traced(ctx, handler, arguments, render)
        function = ctx.function
        if function not in self._warm:
            self._warm.add(function)
            self.metrics.cold_start(function)
            # On a cloud platform the adapter said whether the environment is cold (once
            # per environment, as the platform bills it); locally a function's first
            # invocation in the process is its cold one.
            if current_invocation.get() is None:
                ctx.cold_start = True
                if ctx.startup_seconds is None:
                    ctx.startup_seconds = self.init_seconds
        cold = ctx.cold_start
        recorder = self.recorder
        started = time.perf_counter()
        outcome = "error"
        timed: CpuTimed | _ThreadCpu | None = None
        first_cpu = 0.0
        current = current_context.set(ctx)  # for what the handler calls without the ctx
        try:
            if self._faults:
                self._inject_fault(function)
            is_async = self._is_async.get(handler)
            if is_async is None:
                is_async = self._is_async[handler] = inspect.iscoroutinefunction(handler)
            if is_async:
                if recorder is None:
                    result = await handler(**arguments)
                else:  # timed step by step (steps.py); most finish in their first
                    idle = self._steppers
                    stepper = idle.pop() if idle else Stepper()
                    coroutine = handler(**arguments)
                    clock = time.perf_counter
                    stepped = clock()
                    yielded = stepper.send(coroutine)
                    first_cpu = clock() - stepped
                    if yielded is RETURNED:
                        box = stepper.box
                        result, box[0] = box[0], None
                        idle.append(stepper)
                    else:
                        timed = CpuTimed(stepper, first_cpu, yielded, self._steppers)
                        result = await timed
            else:
                timed = _ThreadCpu(handler)
                result = await asyncio.to_thread(timed, **arguments)
                if inspect.isawaitable(result):
                    result = await result
            rendered = render(result)
            committed = await ctx._uow.commit()
            if self._faults:
                self._inject_fault(function + COMMITTED)
            # with projections, appended events are relayed too (as nudges to catch up)
            if self.relay is not None and (committed.deliveries or self.app.projections):
                from faaskit.runtime.relay import relay_after_commit

                await relay_after_commit(self, ctx._uow.write_set)
            if committed.deduplicated:
                self.metrics.count(
                    "faaskit_messages_deduplicated", function, committed.deduplicated
                )
            outcome = "success"
            return rendered
        except FaaskitError as error:
            outcome = "client_error" if error.status < 500 else "error"
            self.metrics.error(function, error)
            raise
        except BaseException as error:
            self.metrics.error(function, error)
            raise
        finally:
            current_context.reset(current)
            # The cached event store and aggregates refer back to the context: dropped
            # here, the context and its unit of work are freed at once, not by the GC.
            ctx._events = ctx._aggregates = None
            seconds = time.perf_counter() - started
            self.metrics.record(function, outcome, seconds)
            if self.emf is not None:
                self.emf.flush(function)
            log = self._invocation_logs.get(function)
            if log is None:
                from faaskit.observability.logging import invocations_logger

                log = self._invocation_logs[function] = invocations_logger(function)
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "%s %s in %.1f ms",
                    function,
                    outcome,
                    seconds * 1000,
                    extra={"fields": _invocation_fields(ctx, outcome, seconds, cold)},
                )
            initialised = (ctx.startup_seconds or self.init_seconds) if cold else None
            if initialised is not None:
                self.metrics.initialised(function, initialised)
            if recorder is not None:  # recorder.add, inlined: this runs on every invocation
                rows = recorder.rows
                rows.append(
                    (
                        function,
                        ctx.trigger,
                        time.time() - seconds,
                        seconds,
                        timed.cpu if timed is not None else first_cpu,
                        recorder.peak if seconds < LONG_INVOCATION else recorder.read_peak(),
                        cold,
                        initialised,
                        outcome,
                    )
                )
                if len(rows) >= FLUSH_AT:
                    recorder.overflowing()

    async def _watch_backlog(self, stop: asyncio.Event) -> None:
        """Keep the queue gauges (depth, oldest message's age, dead letters per target)
        current: the store is asked every BACKLOG_INTERVAL seconds, not on every scrape."""
        while not stop.is_set():
            try:
                self.metrics.backlog(await self.store.backlog(), self.now())
                if self.app.sagas:
                    from faaskit.sagas.state import SAGAS_COLLECTION

                    states = await self.store.count_by(SAGAS_COLLECTION, "status")
                    self.metrics.saga_states(states)
            except Exception:  # the store is down: the gauges keep their last values
                logger.debug("reading the backlog failed", exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), BACKLOG_INTERVAL)

    async def _traced(
        self,
        ctx: Context,
        handler: Callable[..., Any],
        arguments: Mapping[str, Any],
        render: Callable[[Any], R],
    ) -> R:
        """:meth:`invoke` inside the invocation's span (``ctx.span``)."""
        assert self.tracing is not None
        attributes = {
            "faaskit.function": ctx.function,
            "faaskit.trigger": ctx.trigger,
            "faaskit.invocation_id": ctx.invocation_id,
            "faaskit.correlation_id": ctx.correlation_id,
        }
        if ctx.step is not None:
            attributes["faaskit.saga_id"] = ctx.step.saga_id
            attributes["faaskit.saga_phase"] = ctx.step.phase
        with self.tracing.span(ctx.function, ctx.trigger, ctx.headers, attributes) as span:
            ctx.span = span
            try:
                result = await self.invoke(ctx, handler, arguments, render)
            except BaseException as error:
                if not isinstance(error, FaaskitError) or error.status >= 500:
                    span.record_exception(error)
                    span.set_attribute("faaskit.outcome", "error")
                    from opentelemetry.trace import Status, StatusCode

                    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                else:
                    span.set_attribute("faaskit.outcome", "client_error")
                raise
            span.set_attribute("faaskit.outcome", "success")
            return result

    def _inject_fault(self, function: str) -> None:
        remaining, error = self._faults.get(function, (0, None))
        if remaining <= 0:
            return
        if remaining == 1:
            del self._faults[function]
        else:
            self._faults[function] = (remaining - 1, error)
        if isinstance(error, KillProcess):
            logger.warning("fault point %s: killing the process", function)
            os.kill(os.getpid(), signal.SIGKILL)
        raise error or InjectedFault(f"injected failure of {function}")


class _ThreadCpu:
    """Calls a sync handler (in its worker thread) and keeps the CPU time it took."""

    __slots__ = ("cpu", "handler")

    def __init__(self, handler: Callable[..., Any]) -> None:
        self.handler = handler
        self.cpu = 0.0

    def __call__(self, **arguments: Any) -> Any:
        started = time.thread_time()
        try:
            return self.handler(**arguments)
        finally:
            self.cpu = time.thread_time() - started


def _invocation_fields(ctx: Context, outcome: str, seconds: float, cold: bool) -> dict[str, Any]:
    return {
        "function": ctx.function,
        "trigger": ctx.trigger,
        "request_id": ctx.invocation_id,
        "correlation_id": ctx.correlation_id,
        "outcome": outcome,
        "duration_ms": round(seconds * 1000, 3),
        "cold": cold,
    }


BACKLOG_INTERVAL = 15.0
"""Seconds between readings of the store's queues for the metrics."""
COMMITTED = ":committed"
"""The suffix of the fault point right after a function's commit."""


class InjectedFault(RuntimeError):
    """Raised in place of a handler by :meth:`Runtime.fail_next`."""


class KillProcess(BaseException):
    """Armed at a fault point (:meth:`Runtime.fail_next`), SIGKILLs the process there:
    the honest way for a subprocess test to prove a kill -9 at that point loses nothing."""


def armed_faults(spec: str | None) -> dict[str, tuple[int, BaseException | None]]:
    """The fault points :data:`FAULTS_VARIABLE` arms (``POINT=kill`` / ``POINT=fail``)."""
    faults: dict[str, tuple[int, BaseException | None]] = {}
    for item in (spec or "").split():
        point, _, action = item.rpartition("=")
        if not point or action not in ("kill", "fail"):
            raise ConfigurationError(f"{FAULTS_VARIABLE}: {item!r} is not POINT=kill or POINT=fail")
        count = faults.get(point, (0, None))[0] + 1
        faults[point] = (count, KillProcess() if action == "kill" else None)
    return faults
