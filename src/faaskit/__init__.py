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
from faaskit.cqrs.aggregate import Aggregate
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
    TooManyRequestsError,
    ValidationError,
)

# Neither typing, dataclasses, datetime nor re loads with `import faaskit` (~15 ms of a
# cold start); the names below load them, on first use (see __getattr__).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from faaskit.breakers import CircuitBreaker
    from faaskit.cqrs.projections import Recorded
    from faaskit.cqrs.search import Search
    from faaskit.documents import Collection, CollectionSpec
    from faaskit.events import Event
    from faaskit.params import Body, Query
    from faaskit.ratelimit import RateLimit
    from faaskit.retries import retry
    from faaskit.sagas import Pending, Saga, SagaState, StepFailed, StepNotPendingError
    from faaskit.store.protocol import Document
    from faaskit.triggers import Backoff

__version__ = "0.1.0"


_LAZY = {
    "Backoff": "faaskit.triggers",
    "Body": "faaskit.params",
    "CircuitBreaker": "faaskit.breakers",
    "Collection": "faaskit.documents",
    "CollectionSpec": "faaskit.documents",
    "Document": "faaskit.store.protocol",
    "Event": "faaskit.events",
    "Query": "faaskit.params",
    "RateLimit": "faaskit.ratelimit",
    "retry": "faaskit.retries",
    "Pending": "faaskit.sagas",
    "Recorded": "faaskit.cqrs.projections",
    "Saga": "faaskit.sagas",
    "SagaState": "faaskit.sagas",
    "Search": "faaskit.cqrs.search",
    "StepFailed": "faaskit.sagas",
    "StepNotPendingError": "faaskit.sagas",
}


def __getattr__(name: str) -> object:
    # These load on first use, so `import faaskit` stays light for cold starts.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'faaskit' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(module), name)


__all__ = [
    "CORS",
    "Aggregate",
    "App",
    "AuthError",
    "Backoff",
    "BadRequestError",
    "Body",
    "CircuitBreaker",
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
    "Pending",
    "PermissionDeniedError",
    "Principal",
    "Query",
    "RateLimit",
    "Recorded",
    "Response",
    "Route",
    "Saga",
    "SagaState",
    "Search",
    "StepFailed",
    "StepNotPendingError",
    "TooManyRequestsError",
    "ValidationError",
    "__version__",
    "retry",
]
