"""The app model: an :class:`App` is a registry of declarations. Nothing here does I/O.

    app = App("shop", auth=JWTAuth())
    users = app.collection("users", unique=["email"], casefold=["email"])

    @app.get("/users/{user_id}", auth="users:read")
    async def get_user(user_id: str, ctx: Context) -> dict[str, Any]: ...

The gateway reads these declarations to dispatch, validate and document; the runtime
calls the handlers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from faaskit.auth import JWTAuth
from faaskit.errors import ConfigurationError
from faaskit.records import Frozen, setfield

TYPE_CHECKING = False  # typing imports re, which `import faaskit` does without
if TYPE_CHECKING:
    from datetime import timedelta
    from typing import Any, TypeVar

    from faaskit.cqrs.registry import EventTypes
    from faaskit.cqrs.search import Search
    from faaskit.documents import CollectionSpec
    from faaskit.ratelimit import RateLimit
    from faaskit.resources import ResourceSpec
    from faaskit.sagas.definitions import Saga
    from faaskit.triggers import Backoff, Cron, DeliveryPolicy, Projection, Subscription, Task

    Handler = TypeVar("Handler", bound=Callable[..., Any])

__all__ = ["CORS", "App", "Response", "Route"]

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
# Checked without re (which `import faaskit` does not load): character sets, not patterns.
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_NAME_START = frozenset(_LETTERS + "_")
_NAME_CHARS = _LETTERS + "0123456789_.-"
_TOKEN_CHARS = _LETTERS + "0123456789!#$%&'*+-.^_`|~"  # RFC 9110 token
_BAD_HEADER_VALUE = frozenset([*map(chr, range(0x20)), "\x7f"]) - {"\t"}  # controls but tab


def _is_name(text: str) -> bool:
    """``[A-Za-z_][A-Za-z0-9_.-]*``: an app or saga name."""
    return text[:1] in _NAME_START and not text.strip(_NAME_CHARS)


class CORS(Frozen):
    """Cross-origin settings; ``allow_origins=["*"]`` allows any origin (without credentials)."""

    __slots__ = (  # noqa: RUF023 (the fields in __init__'s order)
        "allow_origins",
        "allow_methods",
        "allow_headers",
        "expose_headers",
        "allow_credentials",
        "max_age",
    )
    allow_origins: Sequence[str]
    allow_methods: Sequence[str]
    allow_headers: Sequence[str]
    expose_headers: Sequence[str]
    allow_credentials: bool
    max_age: int

    def __init__(
        self,
        allow_origins: Sequence[str] = (),
        allow_methods: Sequence[str] = ("GET", "POST", "PUT", "PATCH", "DELETE"),
        allow_headers: Sequence[str] = ("authorization", "content-type", "x-request-id"),
        expose_headers: Sequence[str] = ("x-request-id",),
        allow_credentials: bool = False,
        max_age: int = 600,
    ) -> None:
        setfield(self, "allow_origins", allow_origins)
        setfield(self, "allow_methods", allow_methods)
        setfield(self, "allow_headers", allow_headers)
        setfield(self, "expose_headers", expose_headers)
        setfield(self, "allow_credentials", allow_credentials)
        setfield(self, "max_age", max_age)


class Response(Frozen):
    """Return one to control the status, headers or raw body of an HTTP answer.

    ``body`` may be bytes, str, or anything JSON-serialisable (a dict, a pydantic model).
    ``headers`` is a mapping, or a sequence of ``(name, value)`` pairs when a name repeats
    (several ``Set-Cookie``)::

        Response({"ok": True}, headers=[("set-cookie", "a=1; Secure"), ("set-cookie", "b=2")])

    A name or value that could split the answer (CR, LF, NUL, a name that is not an HTTP
    token) is a ValueError here, where the response is built.
    """

    __slots__ = ("body", "status", "headers", "media_type")  # noqa: RUF023 (fields in order)
    body: Any
    status: int
    headers: Mapping[str, str] | Sequence[tuple[str, str]]
    media_type: str | None

    def __init__(
        self,
        body: Any = None,
        status: int = 200,
        headers: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
        media_type: str | None = None,
    ) -> None:
        setfield(self, "body", body)
        setfield(self, "status", status)
        setfield(self, "headers", {} if headers is None else headers)
        setfield(self, "media_type", media_type)
        for name, value in self.header_items():
            if not isinstance(name, str) or not name or name.strip(_TOKEN_CHARS):
                raise ValueError(f"Response header name {name!r} is not an HTTP token")
            if not isinstance(value, str) or not _BAD_HEADER_VALUE.isdisjoint(value):
                raise ValueError(
                    f"Response header {name!r} has a value that is not one line of text"
                )

    def header_items(self) -> list[tuple[str, str]]:
        """The headers as ``(name, value)`` pairs, repeats kept, in order."""
        headers = self.headers
        if isinstance(headers, Mapping):
            return list(headers.items())
        return [tuple(pair) for pair in headers]  # type: ignore[misc]


class Route(Frozen):
    """One HTTP function: ``scopes`` is None for a public route, else the scopes a bearer
    token must carry (empty: any valid token). ``errors`` are the extra error statuses the
    handler raises, with what each means; ``rate_limits`` the per-client limits
    (:class:`~faaskit.ratelimit.RateLimit`) the gateway enforces."""

    __slots__ = (  # noqa: RUF023 (the fields in __init__'s order)
        "method",
        "path",
        "handler",
        "name",
        "status",
        "scopes",
        "summary",
        "tags",
        "errors",
        "rate_limits",
    )
    method: str
    path: str
    handler: Callable[..., Any]
    name: str
    status: int
    scopes: tuple[str, ...] | None
    summary: str | None
    tags: tuple[str, ...]
    errors: tuple[tuple[int, str], ...]
    rate_limits: tuple[Any, ...]

    def __init__(
        self,
        method: str,
        path: str,
        handler: Callable[..., Any],
        name: str,
        status: int = 200,
        scopes: tuple[str, ...] | None = None,
        summary: str | None = None,
        tags: tuple[str, ...] = (),
        errors: tuple[tuple[int, str], ...] = (),
        rate_limits: tuple[Any, ...] = (),
    ) -> None:
        setfield(self, "method", method)
        setfield(self, "path", path)
        setfield(self, "handler", handler)
        setfield(self, "name", name)
        setfield(self, "status", status)
        setfield(self, "scopes", scopes)
        setfield(self, "summary", summary)
        setfield(self, "tags", tags)
        setfield(self, "errors", errors)
        setfield(self, "rate_limits", rate_limits)


class App:
    """A faaskit application: routes, collections and settings, declared at import time."""

    def __init__(
        self,
        name: str,
        *,
        title: str | None = None,
        version: str = "0.1.0",
        description: str = "",
        auth: JWTAuth | None = None,
        cors: CORS | None = None,
        max_body_size: int = 1024 * 1024,
    ) -> None:
        if not _is_name(name):
            raise ConfigurationError(f"app name {name!r}: use letters, digits, '_', '.', '-'")
        self.name = name
        self.title = title or name
        self.version = version
        self.description = description
        self.auth = auth or JWTAuth()
        self.cors = cors
        self.max_body_size = max_body_size
        self.routes: list[Route] = []
        self.collections: dict[str, CollectionSpec] = {}
        self.subscriptions: list[Subscription] = []
        self.tasks: dict[str, Task] = {}
        self.crons: dict[str, Cron] = {}
        self.projections: dict[str, Projection] = {}
        self.sagas: dict[str, Saga] = {}
        self._by_topic: dict[str, list[Subscription]] | None = None
        self._indexed: list[Subscription] = []
        self._event_types: EventTypes | None = None
        self.authorizers: list[Callable[..., Any]] = []
        self.resources: dict[str, ResourceSpec] = {}
        self.prewarmed: set[str] = set()
        """Functions declared ``prewarm=True``: their resources are created at start."""

    def resource(
        self, factory: Handler | None = None, *, name: str | None = None, prewarm: bool = False
    ) -> Any:
        """Declare a per-process resource (a client, a pool): ``factory()`` runs on its
        first use, its value is reused by every invocation after and closed at shutdown;
        handlers receive it by parameter name or type (:mod:`faaskit.resources`).
        ``prewarm=True`` creates it when the process starts."""

        def register(factory: Handler) -> Handler:
            from faaskit.resources import ResourceSpec

            spec = ResourceSpec(name or factory.__name__, factory, prewarm)
            if spec.name in self.resources:
                raise ConfigurationError(f"resource {spec.name!r} is declared twice")
            self.resources[spec.name] = spec
            return factory

        return register(factory) if factory is not None else register

    def authorizer(self, check: Handler) -> Handler:
        """Declare a check that runs on every protected route once the token is verified,
        before the handler: ``async def check(principal, ctx)`` raises AuthError (401) or
        PermissionDeniedError (403) to refuse, for what a signature cannot say (the
        account was deleted, the token was revoked)::

            @app.authorizer
            async def account_exists(principal: Principal, ctx: Context) -> None:
                if not await ctx.documents(users).get(principal.subject):
                    raise AuthError("the account no longer exists", invalid_token=True)
        """
        self.authorizers.append(check)
        return check

    def collection(
        self,
        name: str,
        *,
        unique: Iterable[str] = (),
        casefold: Iterable[str] = (),
        search: Search | None = None,
    ) -> CollectionSpec:
        """Declare a document collection; ``unique`` fields are enforced by the store;
        ``search`` makes some fields full-text searchable (a read model)."""
        from faaskit.documents import CollectionSpec

        spec = CollectionSpec(name, tuple(unique), frozenset(casefold), search)
        existing = self.collections.get(name)
        if existing is not None and existing != spec:
            raise ConfigurationError(f"collection {name!r} is declared twice, differently")
        self.collections[name] = spec
        return spec

    def route(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        auth: str | Sequence[str] | bool | None = None,
        name: str | None = None,
        summary: str | None = None,
        tags: Sequence[str] = (),
        errors: Mapping[int, str] | None = None,
        rate_limit: RateLimit | Sequence[RateLimit] | None = None,
        prewarm: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare an HTTP function. ``auth``: None/False public, True any valid token,
        a scope or list of scopes that the token must all carry. ``errors``: the error
        statuses the handler raises beyond those faaskit answers itself, for the OpenAPI
        document (``{401: "Invalid email or password"}``). ``rate_limit``: one or more
        per-client :class:`~faaskit.ratelimit.RateLimit` (answered 429 with Retry-After).
        ``prewarm``: create the resources it takes when the process starts."""
        method = method.upper()
        if method not in HTTP_METHODS:
            raise ConfigurationError(f"unknown HTTP method {method!r}")
        if not path.startswith("/"):
            raise ConfigurationError(f"route path {path!r} must start with '/'")
        scopes = _scopes(auth)
        declared = _errors(errors)
        rate_limits = _rate_limits(rate_limit)

        def register(handler: Handler) -> Handler:
            for route in self.routes:
                if route.method == method and route.path == path:
                    raise ConfigurationError(f"{method} {path} is declared twice")
            function = self._new_function_name(name or handler.__name__)
            doc = (handler.__doc__ or "").strip().splitlines()
            self.routes.append(
                Route(
                    method,
                    path,
                    handler,
                    function,
                    status,
                    scopes,
                    summary or (doc[0] if doc else None),
                    tuple(tags),
                    declared,
                    rate_limits,
                )
            )
            if prewarm:
                self.prewarmed.add(function)
            return handler

        return register

    def subscribe(
        self,
        topic: str,
        *,
        name: str | None = None,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        timeout: float | None = 30.0,
        concurrency: int | None = None,
        ordered: bool = False,
        prewarm: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Declare a subscriber: it gets its own copy of every message on ``topic``.

        A failed attempt is retried after ``backoff`` (exponential, full jitter) until
        ``max_attempts``, then dead-lettered. ``ordered=True`` handles one message per key
        at a time, in publish order. ``prewarm``: create the resources it takes when the
        process starts.
        """
        policy = _policy(max_attempts, backoff, timeout, concurrency)

        def register(handler: Handler) -> Handler:
            function = self._new_function_name(name or handler.__name__)
            from faaskit.triggers import Subscription

            self.subscriptions.append(Subscription(topic, function, handler, policy, ordered))
            if prewarm:
                self.prewarmed.add(function)
            return handler

        return register

    def task(
        self,
        handler: Handler | None = None,
        *,
        name: str | None = None,
        max_attempts: int = 5,
        backoff: Backoff | None = None,
        timeout: float | None = 30.0,
        concurrency: int | None = None,
        prewarm: bool = False,
    ) -> Any:
        """Declare a durable task, run later by ``ctx.schedule(task, payload, delay=...)``;
        ``prewarm``: create the resources it takes when the process starts."""
        policy = _policy(max_attempts, backoff, timeout, concurrency)

        def register(handler: Handler) -> Handler:
            function = self._new_function_name(name or handler.__name__)
            from faaskit.triggers import Task

            self.tasks[function] = Task(function, handler, policy)
            if prewarm:
                self.prewarmed.add(function)
            return handler

        return register(handler) if handler is not None else register

    def cron(
        self,
        schedule: str,
        *,
        name: str | None = None,
        max_attempts: int = 3,
        backoff: Backoff | None = None,
        timeout: float | None = 300.0,
    ) -> Callable[[Handler], Handler]:
        """Declare a function that runs on a cron schedule (``"*/5 * * * *"``, UTC), once
        per tick however many workers run. A tick missed while nothing ran fires once."""
        if len(schedule.split()) not in (5, 6):
            raise ConfigurationError(
                f"cron schedule {schedule!r} needs 5 fields (or 6 with seconds)"
            )
        policy = _policy(max_attempts, backoff, timeout, 1)

        def register(handler: Handler) -> Handler:
            function = self._new_function_name(name or handler.__name__)
            from faaskit.triggers import Cron

            self.crons[function] = Cron(schedule, function, handler, policy)
            return handler

        return register

    def saga(self, name: str, *, deadline: timedelta | float | None = None) -> Saga:
        """Declare a saga: steps added with ``@saga.step(...)`` run in declaration order,
        each as a durable task; when one fails, the completed ones are compensated in
        reverse order. Past ``deadline`` (from the start) the next transition compensates::

            order = app.saga("order", deadline=timedelta(hours=1))

            @order.step(compensate=release_inventory, max_attempts=3)
            async def reserve_inventory(input: dict, results: dict, ctx: Context) -> dict:
                ...

        Start one with ``await ctx.start_saga(order, input)``.
        """
        if not _is_name(name):
            raise ConfigurationError(f"saga name {name!r}: use letters, digits, '_', '.', '-'")
        if name in self.sagas:
            raise ConfigurationError(f"saga {name!r} is declared twice")
        from faaskit.sagas.definitions import Saga

        saga = Saga(self, name, deadline=deadline)
        self.sagas[name] = saga
        return saga

    def event_type(self, model: Any = None, *, name: str | None = None, version: int = 1) -> Any:
        """Register a pydantic model as a domain event type (by class name unless ``name``);
        bump ``version`` when its shape changes and add an :meth:`upcaster`."""

        def register(cls: Any) -> Any:
            self.event_types.register(cls, name, version)
            return cls

        return register(model) if model is not None else register

    def upcaster(self, event_type: str, *, from_version: int) -> Callable[[Handler], Handler]:
        """Declare how stored ``event_type`` data of ``from_version`` becomes the next shape."""

        def register(function: Handler) -> Handler:
            self.event_types.named(event_type).upcasters[from_version] = function
            return function

        return register

    def projection(
        self,
        name: str,
        *,
        events: Iterable[Any],
        collections: Iterable[Any] = (),
        batch_size: int = 200,
    ) -> Callable[[Handler], Handler]:
        """Declare a projection of ``events`` (models or names) into read-model documents."""
        types = tuple(e if isinstance(e, str) else self.event_types.of(e).name for e in events)
        owned = tuple(c if isinstance(c, str) else c.name for c in collections)

        def register(handler: Handler) -> Handler:
            function = self._new_function_name(name)
            from faaskit.triggers import Projection

            self.projections[function] = Projection(function, handler, types, owned, batch_size)
            return handler

        return register

    @property
    def event_types(self) -> EventTypes:
        """The registered domain event types (``@app.event_type``)."""
        if self._event_types is None:
            from faaskit.cqrs.registry import EventTypes

            self._event_types = EventTypes()
        return self._event_types

    def subscribers(self, topic: str) -> list[Subscription]:
        """The subscriptions that receive a copy of a message on ``topic``."""
        by_topic = self._by_topic
        if by_topic is None or len(self._indexed) != len(self.subscriptions):
            by_topic = {}
            for subscription in self.subscriptions:
                by_topic.setdefault(subscription.topic, []).append(subscription)
            self._by_topic, self._indexed = by_topic, list(self.subscriptions)
        return by_topic.get(topic, [])

    @property
    def has_triggers(self) -> bool:
        return bool(self.subscriptions or self.tasks or self.crons or self.projections)

    def _new_function_name(self, function: str) -> str:
        taken = {r.name for r in self.routes} | {s.name for s in self.subscriptions}
        taken |= set(self.tasks) | set(self.crons) | set(self.projections)
        if function in taken:
            raise ConfigurationError(f"function name {function!r} is used twice")
        return function

    def get(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **options)


def _policy(
    max_attempts: int, backoff: Backoff | None, timeout: float | None, concurrency: int | None
) -> DeliveryPolicy:
    if max_attempts < 1:
        raise ConfigurationError("max_attempts must be at least 1")
    if concurrency is not None and concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1")
    from faaskit.triggers import Backoff, DeliveryPolicy

    return DeliveryPolicy(max_attempts, backoff or Backoff(), timeout, concurrency)


def _errors(errors: Mapping[int, str] | None) -> tuple[tuple[int, str], ...]:
    if not errors:
        return ()
    for status in errors:
        if not isinstance(status, int) or not 400 <= status <= 599:
            raise ConfigurationError(f"error status {status!r} must be between 400 and 599")
    return tuple(sorted(errors.items()))


def _rate_limits(rate_limit: RateLimit | Sequence[RateLimit] | None) -> tuple[Any, ...]:
    if rate_limit is None:
        return ()
    if isinstance(rate_limit, Sequence):
        return tuple(rate_limit)
    return (rate_limit,)


def _scopes(auth: str | Sequence[str] | bool | None) -> tuple[str, ...] | None:
    if auth is None or auth is False:
        return None
    if auth is True:
        return ()
    if isinstance(auth, str):
        return tuple(auth.split())
    return tuple(auth)
