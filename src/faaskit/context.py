"""The Context a handler receives: who called, which invocation this is, and the state of
its unit of work."""

from __future__ import annotations

from contextvars import ContextVar

from faaskit.errors import AuthError

TYPE_CHECKING = False  # typing imports re, which `import faaskit` does without
if TYPE_CHECKING:
    import logging
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from datetime import datetime
    from typing import Any, TypeVar

    from faaskit.auth import Principal
    from faaskit.cqrs.aggregate import Aggregate
    from faaskit.cqrs.streams import Aggregates, EventStore
    from faaskit.documents import Collection, CollectionSpec
    from faaskit.messaging import Duration
    from faaskit.observability.business import InvocationMetricsView
    from faaskit.ratelimit import RateLimit
    from faaskit.runtime.runtime import Runtime
    from faaskit.runtime.unit_of_work import UnitOfWork
    from faaskit.sagas.definitions import Saga, StepRun
    from faaskit.sagas.state import SagaState
    from faaskit.secrets import Secrets
    from faaskit.store.protocol import PublishMessage
    from faaskit.triggers import Task

    T = TypeVar("T")
    A = TypeVar("A", bound="Aggregate")

__all__ = ["Context", "current_context"]

_documents: tuple[type[Collection], type[CollectionSpec]] | None = None
_streams: tuple[type[EventStore], type[Aggregates[Any]]] | None = None
_messaging: tuple[Callable[..., PublishMessage], Callable[..., PublishMessage]] | None = None


def _load_documents() -> tuple[type[Collection], type[CollectionSpec]]:
    # On first use, not at import: faaskit.documents needs dataclasses and re.
    global _documents
    from faaskit.documents import Collection, CollectionSpec

    _documents = Collection, CollectionSpec
    return _documents


def _load_messaging() -> tuple[Callable[..., PublishMessage], Callable[..., PublishMessage]]:
    global _messaging
    from faaskit.messaging import publication, scheduling

    _messaging = publication, scheduling
    return _messaging


def _load_streams() -> tuple[type[EventStore], type[Aggregates[Any]]]:
    global _streams
    from faaskit.cqrs.streams import Aggregates, EventStore

    _streams = EventStore, Aggregates
    return _streams


class Context:
    """Handed to a handler that declares a parameter of type ``Context``.

    ``invocation_id`` is the request id (echoed in ``X-Request-ID`` and every log line);
    ``principal`` is the verified caller on an authenticated route, else None.

    On a cloud platform the adapter also tells the invocation about its environment:
    ``cold_start`` is True for the first invocation of an execution environment,
    ``startup_seconds`` how long that environment's start-up took (None when unknown)
    and ``deadline`` the moment (epoch seconds) the platform stops the invocation (None
    under the local gateway, which has no such limit)::

        if ctx.deadline is not None and ctx.deadline - time.time() < 2:
            ...  # leave the rest for a retry
    """

    __slots__ = (
        "_aggregates",
        "_collections",
        "_events",
        "_log",
        "_runtime",
        "_timeout_at",
        "_uow",
        "cold_start",
        "correlation_id",
        "deadline",
        "function",
        "headers",
        "invocation_id",
        "principal",
        "span",
        "startup_seconds",
        "step",
        "trigger",
    )

    def __init__(
        self,
        *,
        invocation_id: str,
        function: str,
        uow: UnitOfWork,
        runtime: Runtime,
        collections: Mapping[str, CollectionSpec],
        correlation_id: str | None = None,
        principal: Principal | None = None,
        headers: Mapping[str, str] | None = None,
        trigger: str = "http",
    ) -> None:
        self.invocation_id = invocation_id
        self.trigger = trigger
        """What kind of invocation this is: ``http``, ``message``, ``task``, ``cron``,
        ``saga_step``, ``projection`` or ``event`` (a cloud notification)."""
        self.function = function
        self.correlation_id = correlation_id or invocation_id
        self.principal = principal
        self.headers: Mapping[str, str] = headers or {}
        self._log: logging.LoggerAdapter[logging.Logger] | None = None
        self._uow = uow
        self._runtime = runtime
        self._collections = collections
        self._events: EventStore | None = None
        self._aggregates: dict[type[Aggregate], Aggregates[Any]] | None = None
        self.cold_start = False
        self.startup_seconds: float | None = None
        self.deadline: float | None = None
        self._timeout_at: float | None = None
        """When (``time.monotonic()``) the worker cancels this invocation: its timeout, or
        the platform's deadline less a margin (None: nothing bounds it)."""
        self.span: Any = None
        """The invocation's OpenTelemetry span when tracing is on (``FAASKIT_TRACING``):
        ``ctx.span.set_attribute("order.id", order_id)``; None otherwise."""
        self.step: StepRun | None = None
        """Inside a saga step or compensation: which, the attempt, the completion token."""

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose JSON lines carry the function, the request id, the correlation
        id, the trigger and (tracing on) the trace id; at the function's level."""
        if self._log is None:
            from faaskit.observability.logging import invocation_logger

            self._log = invocation_logger(
                self.function,
                request_id=self.invocation_id,
                correlation_id=self.correlation_id,
                trigger=self.trigger,
            )
        return self._log

    @property
    def secrets(self) -> Secrets:
        """The app's secrets, looked up by name through the providers ``FAASKIT_SECRETS``
        names (by default the environment, then a file under the data dir)::

            key = ctx.secrets["stripe"]          # SecretNotFoundError (a KeyError) if unset
            hook = ctx.secrets.get("webhook-secret", None)
            db = ctx.secrets.json("shop/db")     # a JSON object secret as a dict

        ``.create(name, value)`` stores a development default. The same store for every
        invocation; remote values are kept ``FAASKIT_SECRETS_TTL`` seconds, then read again
        (rotation); every value read is hidden from logs and stored errors."""
        return self._runtime.secrets

    async def resource(self, name: str) -> Any:
        """The per-process resource ``name`` (``@app.resource``), created on first use."""
        return await self._runtime.resources.get(name)

    @property
    def metrics(self) -> InvocationMetricsView:
        """Business metrics: ``ctx.metrics.count("UserRegistrationSuccess", tags={"plan":
        "pro"})``, ``.gauge(name, value)``, ``.timing(name, seconds)`` — on ``/metrics`` as
        ``app_<name>``, and as CloudWatch EMF lines when ``FAASKIT_METRICS_EMF`` is set.
        Tags are for a few values each (a plan, a region), never ids."""
        from faaskit.observability.business import InvocationMetricsView

        runtime = self._runtime
        return InvocationMetricsView(runtime.metrics.business, self.function, runtime.emf)

    @property
    def request_id(self) -> str:
        return self.invocation_id

    @property
    def subject(self) -> str:
        """The caller's id (the token's ``sub``); AuthError on a public route without one."""
        if self.principal is None:
            raise AuthError("this function needs an authenticated caller")
        return self.principal.subject

    @property
    def scopes(self) -> frozenset[str]:
        """The caller's scopes (empty on a public route)."""
        return self.principal.scopes if self.principal is not None else frozenset()

    def documents(self, collection: CollectionSpec | str) -> Collection:
        """A collection whose writes commit with this invocation."""
        collection_class, spec_class = _documents or _load_documents()
        if isinstance(collection, str):
            collection = self._collections.get(collection) or spec_class(collection)
        return collection_class(collection, self._uow)

    @property
    def events(self) -> EventStore:
        """Event streams: ``append(stream, events, expected_version=...)`` and ``read``."""
        events = self._events
        if events is None:
            store_class = (_streams or _load_streams())[0]
            events = self._events = store_class(self, self._runtime.app.event_types)
        return events

    def aggregates(self, kind: type[A]) -> Aggregates[A]:
        """Load and save aggregates of ``kind`` in this invocation."""
        cached = self._aggregates
        if cached is None:
            cached = self._aggregates = {}
        found = cached.get(kind)
        if found is None:
            found = cached[kind] = (_streams or _load_streams())[1](kind, self.events)
        return found  # keyed by kind: an Aggregates[kind]

    def now(self) -> datetime:
        """The runtime's clock (virtual under ``faaskit.testing``)."""
        return self._uow.clock.now()

    def idempotency_key(self, purpose: str = "") -> str:
        """A key stable for this invocation, for effects outside faaskit (a payment API);
        inside a saga step ``{saga_id}:{step}:do`` (``:undo`` in its compensation), the
        same on every attempt."""
        base = self.invocation_id if self.step is None else self.step.idempotency_key
        return f"{base}:{purpose}" if purpose else base

    def publish(
        self,
        topic: str,
        data: Any,
        *,
        key: str | None = None,
        message_id: str | None = None,
        correlation_id: str | None = None,
        ttl: Duration | None = None,
        delay: Duration | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> str:
        """Publish when this invocation commits (a transactional outbox); returns the id.

        Each subscription of ``topic`` gets a copy. A caller-chosen ``message_id`` (say
        ``f"{order_id}-created"``) deduplicates: a second publish of it is dropped.
        """
        write = (_messaging or _load_messaging())[0](
            self._runtime.app,
            self._uow.epoch(),
            topic,
            data,
            key=key,
            message_id=message_id,
            correlation_id=correlation_id or self.correlation_id,
            causation_id=self.invocation_id,
            ttl=ttl,
            delay=delay,
            headers=self._traced(headers),
        )
        self._uow.add(write)
        return write.message.id

    def _traced(self, headers: Mapping[str, str] | None) -> Mapping[str, str] | None:
        """``headers`` with this invocation's span as ``traceparent`` when tracing is on."""
        tracing = self._runtime.tracing
        if tracing is None or self.span is None:
            return headers
        traced = dict(headers or {})
        tracing.inject(traced)
        return traced

    def schedule(
        self,
        task: Task | str | Callable[..., Any],
        payload: Any = None,
        *,
        delay: Duration | None = None,
        at: datetime | None = None,
        task_id: str | None = None,
    ) -> str:
        """Run ``task`` later (durably, when this invocation commits); returns the task id."""
        write = (_messaging or _load_messaging())[1](
            self._runtime.app,
            self._uow.epoch(),
            task,
            payload,
            delay=delay,
            at=at,
            task_id=task_id,
            correlation_id=self.correlation_id,
            causation_id=self.invocation_id,
            headers=self._traced(None),
        )
        self._uow.add(write)
        return write.message.id

    async def start_saga(self, saga: Saga | str, input: Any, saga_id: str | None = None) -> str:
        """Start ``saga`` when this invocation commits (its state and first step are written
        with it); returns the saga id. An id already started is not started again."""
        from faaskit.sagas import engine

        return await engine.start(self, saga, input, saga_id)

    async def get_saga(self, saga_id: str) -> SagaState | None:
        """A saga's state (with this invocation's own changes), or None."""
        from faaskit.sagas import engine

        return await engine.get(self, saga_id)

    async def complete_step(self, token: str, result: Any = None) -> None:
        """Complete the pending saga step ``token`` names, with this invocation's unit of
        work; StepNotPendingError (409) when that step no longer waits (the same
        completion twice is a no-op)."""
        from faaskit.sagas import engine

        await engine.complete_step(self, token, result)

    async def fail_step(self, token: str, reason: str, **details: Any) -> None:
        """Fail the pending saga step ``token`` names (no retry: its saga compensates)."""
        from faaskit.sagas import engine

        await engine.fail_step(self, token, reason, **details)

    def issue_token(
        self,
        subject: str,
        scopes: Sequence[str] = (),
        *,
        ttl: int | None = None,
        claims: Mapping[str, Any] | None = None,
    ) -> tuple[str, int]:
        """A bearer token signed with the app's key, and its lifetime in seconds."""
        lifetime = ttl if ttl is not None else self._runtime.app.auth.token_ttl
        return self._runtime.tokens.mint(subject, scopes, ttl=lifetime, claims=claims), lifetime

    async def rate_limit(self, name: str, key: str, rule: RateLimit, *, cost: int = 1) -> None:
        """Take ``cost`` from the bucket ``name``/``key`` (say, the account a login names),
        or raise TooManyRequestsError (429 with Retry-After). The take is committed at
        once, whatever this invocation then does: a failed login still spends it."""
        await self._runtime.limiter.take(f"{name}:key:{key}", rule, cost=cost)

    def run(self, awaitable: Awaitable[T]) -> T:
        """Wait for an async Context operation from a sync (``def``) handler's thread::

        doc = ctx.run(ctx.documents("users").get(user_id))
        """

        async def wrapper() -> T:
            return await awaitable

        from asyncio import run_coroutine_threadsafe

        loop = self._runtime.loop
        if loop is None:
            raise RuntimeError("ctx.run() needs a started runtime")
        return run_coroutine_threadsafe(wrapper(), loop).result()


current_context: ContextVar[Context | None] = ContextVar("faaskit_context", default=None)
"""The Context of the invocation under way (set by the runtime around each handler), for
code a handler calls without passing the ctx (:func:`faaskit.retry` bounds its waits by it)."""
