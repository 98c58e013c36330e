"""Call an ASGI app in-process with one whole request and collect its whole answer, and
build the ASGI scope of such a request (what every cloud adapter hands faaskit's gateway)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

__all__ = ["Answer", "call_asgi", "http_scope"]


@dataclass(slots=True)
class Answer:
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


async def call_asgi(app: Any, scope: dict[str, Any], body: bytes) -> Answer:
    """Run ``app`` on ``scope`` with ``body`` as the request body; its answer.

    After the body, ``receive`` reports the client gone, as a server does once the answer
    is complete; a Lambda event has no connection to wait on.
    """
    answer = Answer()
    chunks: list[bytes] = []
    started = False
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
            answer.status = int(message["status"])
            answer.headers = [
                (k if type(k) is bytes else bytes(k), v if type(v) is bytes else bytes(v))
                for k, v in message.get("headers", ())
            ]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, send)
    if not started:
        raise RuntimeError("the ASGI app returned without starting an answer")
    answer.body = b"".join(chunks)
    return answer


def http_scope(
    *,
    method: str,
    scheme: str,
    raw_path: str,
    query_string: bytes,
    headers: list[tuple[bytes, bytes]],
    client: tuple[str, int] | None,
    path: str | None = None,
) -> dict[str, Any]:
    """The ASGI HTTP scope of a request a platform handed over: ``raw_path`` still
    percent-encoded (the gateway splits it before decoding), ``path`` decoded (by default
    from ``raw_path``), headers lowercased bytes; a scheme other than http(s) is https."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": scheme if scheme in ("http", "https") else "https",
        "path": unquote(raw_path) if path is None else path,
        "raw_path": raw_path.encode("ascii"),
        "root_path": "",
        "query_string": query_string,
        "headers": headers,
        "client": client,
        "server": None,
    }
