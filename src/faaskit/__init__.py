"""faaskit: serverless applications in plain Python.

    from faaskit import App, Context

    app = App("hello")

    @app.get("/hello/{name}")
    async def hello(name: str, ctx: Context) -> dict[str, str]:
        return {"message": f"Hello, {name}!", "request_id": ctx.request_id}

Serve it with ``faaskit dev module:app``. Everything importable from here is public API;
other modules may change without notice.
"""

from faaskit.app import CORS, App, Response, Route
from faaskit.auth import JWTAuth, Principal
from faaskit.context import Context
from faaskit.documents import Collection, CollectionSpec
from faaskit.errors import (
    AuthError,
    BadRequestError,
    CircuitOpenError,
    ConcurrencyError,
    ConfigurationError,
    ConflictError,
    FaaskitError,
    MalformedJSONError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from faaskit.events import Event
from faaskit.params import Body, Query
from faaskit.triggers import Backoff

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # The store's types load on first use, so `import faaskit` stays light for cold starts.
    if name == "Document":
        from faaskit.store.protocol import Document

        return Document
    raise AttributeError(f"module 'faaskit' has no attribute {name!r}")


__all__ = [
    "CORS",
    "App",
    "AuthError",
    "Backoff",
    "BadRequestError",
    "Body",
    "CircuitOpenError",
    "Collection",
    "CollectionSpec",
    "ConcurrencyError",
    "ConfigurationError",
    "ConflictError",
    "Context",
    "Document",
    "Event",
    "FaaskitError",
    "JWTAuth",
    "MalformedJSONError",
    "NotFoundError",
    "PermissionDeniedError",
    "Principal",
    "Query",
    "Response",
    "Route",
    "ValidationError",
    "__version__",
]
