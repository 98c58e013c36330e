"""faaskit's exceptions, one tree, each mapped once to an HTTP status by the gateway.

FaaskitError                      500
├── ConfigurationError            500  (raised at start-up, never per request)
├── BadRequestError               400
│   ├── MalformedJSONError        400
│   └── ValidationError           400  (lists every failing field)
├── AuthError                     401  (missing, malformed, expired, badly signed token)
│   └── PermissionDeniedError     403  (valid token, missing scope)
├── NotFoundError                 404
├── MethodNotAllowedError         405
├── ConflictError                 409  (duplicate)
│   └── ConcurrencyError          409  (stale expected version)
├── PayloadTooLargeError          413
├── UnsupportedMediaTypeError     415
├── TooManyRequestsError          429  (rate limited; Retry-After says when to come back)
├── BadGatewayError               502  (an answer the target platform would not pass on)
├── CircuitOpenError              503  (a circuit breaker is open; Retry-After too)
└── GatewayTimeoutError           504  (slower than the target platform waits)
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re, which `import faaskit` does without
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, ClassVar

__all__ = [
    "AuthError",
    "BadGatewayError",
    "BadRequestError",
    "CircuitOpenError",
    "ConcurrencyError",
    "ConfigurationError",
    "ConflictError",
    "FaaskitError",
    "FieldError",
    "GatewayTimeoutError",
    "LeaseLostError",
    "MalformedJSONError",
    "MethodNotAllowedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "TooManyRequestsError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "not_before",
]

if TYPE_CHECKING:
    FieldError = dict[str, Any]
else:
    FieldError = dict
"""One failing field: ``{"loc": [...], "msg": "...", "type": "..."}``."""


class FaaskitError(Exception):
    """Root of every error faaskit raises on purpose.

    ``status`` and ``title`` say how the HTTP gateway answers it; ``detail`` is the
    human sentence shown to the caller (never internals).
    """

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.title
        super().__init__(self.detail)


class ConfigurationError(FaaskitError):
    """The app or its settings are wrong; raised at start-up with what to change."""


class BadRequestError(FaaskitError):
    status = 400
    title = "Bad Request"


class MalformedJSONError(BadRequestError):
    title = "Malformed JSON"


class ValidationError(BadRequestError):
    """Input failed validation; ``errors`` lists every failing field."""

    title = "Validation Failed"

    def __init__(self, detail: str | None = None, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.errors = list(errors)


class AuthError(FaaskitError):
    """Not authenticated. ``invalid_token`` when a bearer token was presented and refused
    (the gateway's challenge then says ``error="invalid_token"``, RFC 6750)."""

    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str | None = None, *, invalid_token: bool = False) -> None:
        super().__init__(detail)
        self.invalid_token = invalid_token


class PermissionDeniedError(AuthError):
    status = 403
    title = "Forbidden"


class NotFoundError(FaaskitError):
    status = 404
    title = "Not Found"


class MethodNotAllowedError(FaaskitError):
    status = 405
    title = "Method Not Allowed"

    def __init__(self, allowed: Sequence[str], detail: str | None = None) -> None:
        super().__init__(detail)
        self.allowed = sorted(allowed)


class ConflictError(FaaskitError):
    status = 409
    title = "Conflict"


class ConcurrencyError(ConflictError):
    """Someone else changed the thing first: reload and try again."""

    title = "Concurrent Modification"


class LeaseLostError(ConcurrencyError):
    """A worker held a message past its lease and another took it; this result is dropped."""


class PayloadTooLargeError(FaaskitError):
    status = 413
    title = "Payload Too Large"


class UnsupportedMediaTypeError(FaaskitError):
    status = 415
    title = "Unsupported Media Type"


class TooManyRequestsError(FaaskitError):
    """A rate limit refused the request; ``retry_after`` is the seconds until it would pass
    (the gateway sends it as ``Retry-After``)."""

    status = 429
    title = "Too Many Requests"

    def __init__(self, detail: str | None = None, *, retry_after: float) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class BadGatewayError(FaaskitError):
    """The handler answered, but not so that the platform in front would pass it on (an
    answer over AWS Lambda's 6 MB under ``faaskit dev --target aws``)."""

    status = 502
    title = "Bad Gateway"


class GatewayTimeoutError(FaaskitError):
    """The handler took longer than the platform in front waits (API Gateway's 29 s)."""

    status = 504
    title = "Gateway Timeout"


class CircuitOpenError(FaaskitError):
    """A circuit breaker is open: the call was refused without trying (fail fast).
    ``breaker`` names it; ``retry_after`` is the seconds until it may let a call through
    (the gateway sends it as ``Retry-After``; a message or saga step that raises it is a
    failed attempt, retried later)."""

    status = 503
    title = "Service Unavailable"

    def __init__(
        self, detail: str | None = None, *, retry_after: float = 1.0, breaker: str | None = None
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.breaker = breaker


def not_before(error: BaseException, delay: float) -> float:
    """A retry's ``delay`` in seconds, made longer when ``error`` says when to come back
    (an open circuit breaker's or a rate limit's ``retry_after``): sooner, the retry would
    only be refused again, spending an attempt for nothing."""
    wait = getattr(error, "retry_after", None)
    if isinstance(wait, int | float) and delay < wait < float("inf"):
        return float(wait)
    return delay
