"""The headers every answer carries, whoever sends it (the gateway, the CORS middleware).

An API's answers are data, never pages to sniff, frame, refer from or cache.
"""

from __future__ import annotations

__all__ = ["JSON_CSP", "NO_STORE", "PROBLEM_MEDIA_TYPE", "SECURITY_HEADERS"]

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE = (b"cache-control", b"no-store")
"""Unless the handler set its own: answers carry tokens and personal data (RFC 6749 §5.1)."""
JSON_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
"""On JSON and problem+json answers: nothing in them may load or be framed."""
PROBLEM_MEDIA_TYPE = b"application/problem+json"
"""The media type of every error answer (RFC 9457)."""
