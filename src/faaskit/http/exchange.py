"""One HTTP exchange as the gateway sees it: the :class:`Request` a door hands in, the
:class:`Answer` it hands back.

The gateway has two doors onto one core (:meth:`faaskit.http.gateway.Gateway.respond`):
ASGI, for uvicorn and ``faaskit dev``, and a direct one, for the cloud adapters, which
already hold the whole request in-process and need no ASGI messages to pass it on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from faaskit.records import Value

__all__ = ["Answer", "Receive", "Request"]

Receive = Callable[[], Awaitable[dict[str, Any]]]
"""An ASGI ``receive``: how the ASGI door streams a request body in."""


class Request:
    """An HTTP request, whole or with its body still to come.

    ``path`` is decoded; ``raw_path`` is the path as sent, still percent-encoded, when
    it may differ (the gateway splits it into segments before decoding them, so ``%2F``
    stays inside its path parameter); None when there is none. ``headers`` maps each
    lowercased name to its value as latin-1 text (a repeated header once, its values
    joined as HTTP joins them or the last one). ``client`` is the peer as ``(host,
    port)``, rate limits key on its host. The body is ``body``, unless ``receive``
    streams it (the ASGI door).

    Example::

        Request("GET", "/users/1", headers={"authorization": "Bearer ..."})
    """

    __slots__ = (
        "body",
        "client",
        "headers",
        "method",
        "path",
        "query_string",
        "raw_path",
        "receive",
    )

    def __init__(
        self,
        method: str,
        path: str,
        *,
        raw_path: str | None = None,
        query_string: bytes = b"",
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        client: tuple[str, int] | None = None,
        receive: Receive | None = None,
    ) -> None:
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.headers: dict[str, str] = {} if headers is None else headers
        self.body = body
        self.client = client
        self.receive = receive

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.method!r}, {self.path!r})"


class Answer(Value):
    """What the gateway answers: a status, headers (lowercased names, in order, repeats
    kept: several ``set-cookie``) and the body (empty for ``HEAD``)."""

    __slots__ = ("status", "headers", "body")  # noqa: RUF023 (fields in order)

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    __hash__ = None  # type: ignore[assignment]  # mutable
