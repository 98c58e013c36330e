"""Call an ASGI app in-process with one whole request and collect its whole answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Answer", "call_asgi"]


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
            answer.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers", ())]
        elif message["type"] == "http.response.body":
            chunks.append(bytes(message.get("body", b"")))

    await app(scope, receive, send)
    if not started:
        raise RuntimeError("the ASGI app returned without starting an answer")
    answer.body = b"".join(chunks)
    return answer
