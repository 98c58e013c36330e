"""RFC 9457 problem details: every error the gateway answers is ``application/problem+json``."""

from __future__ import annotations

import math
from typing import Any

import orjson

from faaskit.errors import (
    AuthError,
    CircuitOpenError,
    FaaskitError,
    MethodNotAllowedError,
    PermissionDeniedError,
    TooManyRequestsError,
    ValidationError,
)
from faaskit.http.headers import PROBLEM_MEDIA_TYPE
from faaskit.secrets.redaction import redact

__all__ = ["PROBLEM_MEDIA_TYPE", "PROBLEM_SCHEMA", "problem"]


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status"],
}


def _retry_after_seconds(retry_after: float) -> int:
    """``Retry-After`` takes whole seconds: round up (coming back early is refused again),
    and never 0, which would invite an immediate retry loop."""
    if not math.isfinite(retry_after):  # a wait that never ends: a day is a polite "later"
        return 86_400
    return max(1, math.ceil(retry_after))


def problem(
    error: FaaskitError, *, instance: str, request_id: str, realm: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and body for ``error``."""
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": error.title,
        "status": error.status,
        "detail": redact(error.detail),  # an error's text may quote a secret
        "instance": instance,
        "request_id": request_id,
    }
    headers: list[tuple[bytes, bytes]] = [(b"content-type", PROBLEM_MEDIA_TYPE)]
    if isinstance(error, ValidationError) and error.errors:
        body["errors"] = error.errors
    if isinstance(error, MethodNotAllowedError):
        headers.append((b"allow", ", ".join(error.allowed).encode()))
    if isinstance(error, TooManyRequestsError | CircuitOpenError):
        headers.append((b"retry-after", str(_retry_after_seconds(error.retry_after)).encode()))
    if isinstance(error, PermissionDeniedError):
        headers.append(
            (b"www-authenticate", f'Bearer realm="{realm}", error="insufficient_scope"'.encode())
        )
    elif isinstance(error, AuthError):
        challenge = f'Bearer realm="{realm}"'
        if error.invalid_token:
            challenge += ', error="invalid_token"'
        headers.append((b"www-authenticate", challenge.encode()))
    return error.status, headers, orjson.dumps(body)
