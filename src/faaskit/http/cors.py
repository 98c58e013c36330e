"""CORS, as the gateway applies it through either of its doors: preflights answer 204 (or
403), other requests get their headers (every request, Origin or not, when any origin is
allowed without credentials)."""

from __future__ import annotations

import orjson

from faaskit.app import CORS
from faaskit.http.exchange import Answer
from faaskit.http.headers import JSON_CSP, NO_STORE, SECURITY_HEADERS

__all__ = ["CorsPolicy"]

Headers = tuple[tuple[bytes, bytes], ...]


class CorsPolicy:
    """The app's :class:`~faaskit.app.CORS` declaration, ready to apply to requests."""

    def __init__(self, cors: CORS) -> None:
        self.any_origin = "*" in cors.allow_origins
        self.origins = frozenset(cors.allow_origins)
        self.methods = frozenset(m.upper() for m in cors.allow_methods)
        self.allowed_headers = frozenset(h.lower() for h in cors.allow_headers)
        self.credentials = cors.allow_credentials
        # With any origin and no credentials the answer is the same for every caller, so
        # it says so on every answer (errors too), as a cache or a non-browser client sees.
        self.everyone = self.any_origin and not self.credentials
        preflight = [
            (b"access-control-allow-methods", ", ".join(sorted(self.methods)).encode()),
            (b"access-control-allow-headers", ", ".join(sorted(self.allowed_headers)).encode()),
            (b"access-control-max-age", str(cors.max_age).encode()),
        ]
        simple = []
        if cors.expose_headers:
            simple.append(
                (b"access-control-expose-headers", ", ".join(cors.expose_headers).encode())
            )
        if self.credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
            preflight.append((b"access-control-allow-credentials", b"true"))
        self.preflight_headers: Headers = tuple(preflight)
        self.simple_headers: Headers = tuple(simple)

    def check(self, method: str, headers: dict[str, str]) -> Answer | Headers:
        """The preflight's whole answer, or the headers to add to the request's answer
        (none when the origin is not allowed or there is none)."""
        origin = headers.get("origin")
        if origin is None and not self.everyone:
            return ()
        allowed = self._allow_origin(origin or "")
        requested = headers.get("access-control-request-method")
        if method == "OPTIONS" and requested is not None:
            return self._preflight(allowed, requested, headers)
        if allowed is None:
            return ()
        return (
            (b"access-control-allow-origin", allowed),
            (b"vary", b"Origin"),
            *self.simple_headers,
        )

    def _allow_origin(self, origin: str) -> bytes | None:
        if self.everyone:
            return b"*"
        if self.any_origin or origin in self.origins:
            return origin.encode("latin-1")
        return None

    def _preflight(self, allowed: bytes | None, requested: str, headers: dict[str, str]) -> Answer:
        wanted = {
            h.strip().lower()
            for h in headers.get("access-control-request-headers", "").split(",")
            if h.strip()
        }
        refused = None
        if allowed is None:
            refused = "origin is not allowed"
        elif requested.upper() not in self.methods:
            refused = f"method {requested} is not allowed"
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
            return Answer(
                403,
                [
                    (b"content-type", b"application/problem+json"),
                    (b"content-length", str(len(body)).encode()),
                    *SECURITY_HEADERS,
                    NO_STORE,
                    JSON_CSP,
                ],
                body,
            )
        assert allowed is not None
        return Answer(
            204,
            [
                (b"access-control-allow-origin", allowed),
                (b"vary", b"Origin"),
                *self.preflight_headers,
                *SECURITY_HEADERS,
                NO_STORE,
            ],
            b"",
        )
