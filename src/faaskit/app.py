"""The app model: an :class:`App` is a registry of declarations. Nothing here does I/O.

    app = App("shop", auth=JWTAuth())
    users = app.collection("users", unique=["email"], casefold=["email"])

    @app.get("/users/{user_id}", auth="users:read")
    async def get_user(user_id: str, ctx: Context) -> dict[str, Any]: ...

The gateway reads these declarations to dispatch, validate and document; the runtime
calls the handlers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from faaskit.auth import JWTAuth
from faaskit.documents import CollectionSpec
from faaskit.errors import ConfigurationError

__all__ = ["CORS", "App", "Response", "Route"]

Handler = TypeVar("Handler", bound=Callable[..., Any])
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class CORS:
    """Cross-origin settings; ``allow_origins=["*"]`` allows any origin (without credentials)."""

    allow_origins: Sequence[str] = ()
    allow_methods: Sequence[str] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    allow_headers: Sequence[str] = ("authorization", "content-type", "x-request-id")
    expose_headers: Sequence[str] = ("x-request-id",)
    allow_credentials: bool = False
    max_age: int = 600


@dataclass(frozen=True)
class Response:
    """Return one to control the status, headers or raw body of an HTTP answer.

    ``body`` may be bytes, str, or anything JSON-serialisable (a dict, a pydantic model).
    """

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    media_type: str | None = None


@dataclass(frozen=True)
class Route:
    """One HTTP function: ``scopes`` is None for a public route, else the scopes a bearer
    token must carry (empty: any valid token)."""

    method: str
    path: str
    handler: Callable[..., Any]
    name: str
    status: int = 200
    scopes: tuple[str, ...] | None = None
    summary: str | None = None
    tags: tuple[str, ...] = ()


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
        if not _NAME.match(name):
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

    def collection(
        self, name: str, *, unique: Iterable[str] = (), casefold: Iterable[str] = ()
    ) -> CollectionSpec:
        """Declare a document collection; ``unique`` fields are enforced by the store."""
        spec = CollectionSpec(name, tuple(unique), frozenset(casefold))
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
    ) -> Callable[[Handler], Handler]:
        """Declare an HTTP function. ``auth``: None/False public, True any valid token,
        a scope or list of scopes that the token must all carry."""
        method = method.upper()
        if method not in HTTP_METHODS:
            raise ConfigurationError(f"unknown HTTP method {method!r}")
        if not path.startswith("/"):
            raise ConfigurationError(f"route path {path!r} must start with '/'")
        scopes = _scopes(auth)

        def register(handler: Handler) -> Handler:
            for route in self.routes:
                if route.method == method and route.path == path:
                    raise ConfigurationError(f"{method} {path} is declared twice")
            function = name or handler.__name__
            if any(route.name == function for route in self.routes):
                raise ConfigurationError(f"function name {function!r} is used twice")
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
                )
            )
            return handler

        return register

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


def _scopes(auth: str | Sequence[str] | bool | None) -> tuple[str, ...] | None:
    if auth is None or auth is False:
        return None
    if auth is True:
        return ()
    if isinstance(auth, str):
        return tuple(auth.split())
    return tuple(auth)
