"""uvicorn's httptools protocol with a bounded request head.

httptools keeps no limit of its own: it buffers a header until its line ends, so one 64 MiB
header is read whole (and, as the parser concatenates the pieces, stalls the event loop).
:class:`LimitedHttpToolsProtocol` counts what a request head has taken so far — bytes
received before the head is complete, the request target and header lines parsed, the
header fields seen — and answers ``431 Request Header Fields Too Large`` and closes as soon
as one goes over its :class:`~faaskit.serving.HeaderLimits`, so a head never costs more than
the limit plus one read.

Built by :func:`faaskit.serving.uvicorn_config`; imported only when a server starts.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from faaskit.http.binding import JSON
from faaskit.http.headers import JSON_CSP, NO_STORE, PROBLEM_MEDIA_TYPE, SECURITY_HEADERS
from faaskit.serving import HeaderLimits

__all__ = ["LimitedHttpToolsProtocol"]

# Seconds a rejected connection keeps reading (and dropping) what the client still sends.
LINGER_SECONDS = 2.0
# ": " and CRLF around each header field, as it arrived.
_HEADER_FRAMING = 4


class KnownValid(dict[bytes, None]):
    """A stand-in for one of uvicorn's response-header patterns (``HEADER_RE``,
    ``HEADER_VALUE_RE``), which it searches on every name and value of every answer.
    ``search(part)`` is a dict lookup (None: valid) for the parts faaskit sends on every
    answer; a check for letters and digits only (``bytes.isalnum``, which both patterns
    pass) for ids and lengths; and the pattern's own search for any other: what passes is
    exactly what passed. The pattern scans byte by byte: faaskit's seven headers cost
    11,000 instructions an answer there, more than the gateway's own work for a hello."""

    def __init__(self, pattern: re.Pattern[bytes], known: Iterable[bytes]) -> None:
        super().__init__((part, None) for part in known if pattern.search(part) is None)
        self.pattern = pattern
        self.search = self.__getitem__

    def __missing__(self, part: bytes) -> re.Match[bytes] | None:
        if part.isalnum():  # letters and digits only (a generated id, a length): valid
            return None
        return self.pattern.search(part)


_SENT = (*SECURITY_HEADERS, NO_STORE, JSON_CSP)
_NAMES = (*(name for name, _ in _SENT), b"x-request-id", b"content-length", b"content-type")
_VALUES = (*(value for _, value in _SENT), JSON, PROBLEM_MEDIA_TYPE)


def _check_known_headers_by_lookup() -> None:
    """Put :class:`KnownValid` in place of uvicorn's two patterns (once per process; left
    alone if uvicorn no longer has them as patterns)."""
    for name, known in (("HEADER_RE", _NAMES), ("HEADER_VALUE_RE", _VALUES)):
        pattern = getattr(httptools_impl, name, None)
        if isinstance(pattern, re.Pattern):
            setattr(httptools_impl, name, KnownValid(pattern, known))


_check_known_headers_by_lookup()


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop httptools mid-head; the message is the reason."""


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` that answers 431 and closes when a request head is over its limits.

    Example (what :func:`faaskit.serving.uvicorn_config` does)::

        uvicorn.Config(asgi, http=functools.partial(LimitedHttpToolsProtocol, limits=limits))
    """

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HeaderLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._max_bytes = limits.max_bytes
        self._max_count = limits.max_count
        # Bytes received while the current head is incomplete; -1 between heads. The read in
        # which a head begins is not counted (it may hold the previous request's body), so a
        # head is cut within one read past the limit, never before it.
        self._unparsed_bytes = -1
        self._parsed_bytes = 0
        self._header_count = 0
        self._rejected = False

    def data_received(self, data: bytes) -> None:
        """Feed the parser, as uvicorn does, and answer 431 when the head goes over a limit."""
        if self._rejected:
            return  # lingering after a 431: drop what the client still had in flight
        if self._unparsed_bytes >= 0:
            self._unparsed_bytes += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserCallbackError as error:
            if isinstance(error.__context__, _HeadTooLarge):
                self._reject(str(error.__context__))
            else:
                self._invalid()
            return
        except httptools.HttpParserError:
            self._invalid()
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if self._unparsed_bytes > self._max_bytes:
            self._reject(f"request head over {self._max_bytes} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._unparsed_bytes = 0
        self._parsed_bytes = 0
        self._header_count = 0

    def on_url(self, url: bytes) -> None:
        self._parsed_bytes += len(url)
        if self._parsed_bytes > self._max_bytes:
            raise _HeadTooLarge(f"request head over {self._max_bytes} bytes")
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self._max_count:
            raise _HeadTooLarge(f"more than {self._max_count} request headers")
        self._parsed_bytes += len(name) + len(value) + _HEADER_FRAMING
        if self._parsed_bytes > self._max_bytes:
            raise _HeadTooLarge(f"request head over {self._max_bytes} bytes")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._unparsed_bytes = -1
        super().on_headers_complete()

    def _invalid(self) -> None:
        message = "Invalid HTTP request received."
        self.logger.warning(message)
        self.send_400_response(message)

    def _reject(self, reason: str) -> None:
        self._rejected = True
        self.logger.warning("%s: answered 431 and closed the connection", reason)
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier pipelined response is still being written: a 431 now would land in
            # the middle of it, so drop the connection instead.
            self.transport.close()
            return
        body = reason.encode("ascii")
        content = [STATUS_LINE[431]]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                body,
            ]
        )
        self.transport.write(b"".join(content))
        # Closing a socket with unread bytes makes the kernel send a reset, which can destroy
        # the 431 before the client reads it. So half-close, drop what still arrives, and close
        # when the client does (eof_received) or after a short linger, whichever comes first.
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, self.transport.close)
        else:
            self.transport.close()
