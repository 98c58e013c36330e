"""CORS as a pure ASGI middleware: preflights answer 204, other requests get their headers
(every request, Origin or not, when any origin is allowed without credentials)."""

from __future__ import annotations

from typing import Any

import orjson

from faaskit.app import CORS
from faaskit.http.headers import JSON_CSP, NO_STORE, SECURITY_HEADERS

__all__ = ["CORSMiddleware"]

ASGIApp = Any


class CORSMiddleware:
    def __init__(self, app: ASGIApp, cors: CORS) -> None:
        self.app = app
        self.any_origin = "*" in cors.allow_origins
        self.origins = frozenset(cors.allow_origins)
        self.methods = frozenset(m.upper() for m in cors.allow_methods)
        self.allowed_headers = frozenset(h.lower() for h in cors.allow_headers)
        self.credentials = cors.allow_credentials
        self.preflight_headers = [
            (b"access-control-allow-methods", ", ".join(sorted(self.methods)).encode()),
            (b"access-control-allow-headers", ", ".join(sorted(self.allowed_headers)).encode()),
            (b"access-control-max-age", str(cors.max_age).encode()),
        ]
        self.simple_headers = []
        if cors.expose_headers:
            self.simple_headers.append(
                (b"access-control-expose-headers", ", ".join(cors.expose_headers).encode())
            )
        if self.credentials:
            self.simple_headers.append((b"access-control-allow-credentials", b"true"))
            self.preflight_headers.append((b"access-control-allow-credentials", b"true"))

    def _allow_origin(self, origin: bytes) -> bytes | None:
        if self.any_origin and not self.credentials:
            return b"*"
        if self.any_origin or origin.decode("latin-1") in self.origins:
            return origin
        return None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        origin = headers.get(b"origin")
        if origin is None and not (self.any_origin and not self.credentials):
            await self.app(scope, receive, send)
            return
        # With any origin and no credentials the answer is the same for every caller, so
        # it says so on every answer (errors too), as a cache or a non-browser client sees.
        allowed = self._allow_origin(origin or b"")
        requested = headers.get(b"access-control-request-method")
        if scope["method"] == "OPTIONS" and requested is not None:
            await self._preflight(allowed, requested, headers, send)
            return
        if allowed is None:
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", []),
                    (b"access-control-allow-origin", allowed),
                    (b"vary", b"Origin"),
                    *self.simple_headers,
                ]
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, allowed: bytes | None, requested: bytes, headers: dict[bytes, bytes], send: Any
    ) -> None:
        wanted = {
            h.strip().lower()
            for h in headers.get(b"access-control-request-headers", b"")
            .decode("latin-1")
            .split(",")
            if h.strip()
        }
        refused = None
        if allowed is None:
            refused = "origin is not allowed"
        elif requested.decode("latin-1").upper() not in self.methods:
            refused = f"method {requested.decode('latin-1')} is not allowed"
        elif not wanted <= self.allowed_headers:
            refused = f"headers not allowed: {', '.join(sorted(wanted - self.allowed_headers))}"
        if refused is not None:
            body = orjson.dumps(
                {
                    "type": "about:blank",
                    "title": "Forbidden",
                    "status": 403,
                    "detail": f"CORS preflight: {refused}",
                }
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [
                        (b"content-type", b"application/problem+json"),
                        (b"content-length", str(len(body)).encode()),
                        *SECURITY_HEADERS,
                        NO_STORE,
                        JSON_CSP,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        assert allowed is not None
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", allowed),
                    (b"vary", b"Origin"),
                    *self.preflight_headers,
                    *SECURITY_HEADERS,
                    NO_STORE,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
