"""A small Lambda Runtime API server for tests: the four documented endpoints of API
version 2018-06-01, which a runtime client (``awslambdaric``) polls and answers.

- ``GET /2018-06-01/runtime/invocation/next`` blocks until an event is queued, then
  answers its body with ``Lambda-Runtime-Aws-Request-Id``, ``Lambda-Runtime-Deadline-Ms``,
  ``Lambda-Runtime-Invoked-Function-Arn`` and ``Lambda-Runtime-Trace-Id`` (and
  ``Lambda-Runtime-Client-Context`` / ``Lambda-Runtime-Cognito-Identity`` when given);
- ``POST /2018-06-01/runtime/invocation/{id}/response`` takes the function's answer;
- ``POST /2018-06-01/runtime/invocation/{id}/error`` takes its error document
  (``errorMessage``, ``errorType``, ``requestId``, ``stackTrace``);
- ``POST /2018-06-01/runtime/init/error`` takes the error of a runtime that failed to start.

What ``awslambdaric`` 4.x sends (its C extension, aws-lambda-cpp over libcurl, for ``next``,
``response`` and ``error``; Python's http.client for ``init/error``): every POST has a
``Content-Length`` (never chunked, no ``Expect``) on a kept-alive connection; an
invocation error carries ``Lambda-Runtime-Function-XRay-Error-Cause`` (a JSON X-Ray cause)
but no ``Lambda-Runtime-Function-Error-Type`` (the type is in the body); an init error
carries ``Lambda-Runtime-Function-Error-Type``, set to the error's type.

Each POST answers ``202 {"status": "OK"}``; an unknown request id, or a second answer for
one, answers ``400`` as the service does and is kept in :attr:`LambdaRuntimeAPI.protocol_errors`
so a test can assert the client kept to the protocol. A client that goes away while its
``next`` is blocked (a runtime killed with SIGKILL) is noticed, so the next event goes to
the next process that polls, not to a dead socket. ::

    with LambdaRuntimeAPI() as api:
        # start `python -m awslambdaric module.handler` with AWS_LAMBDA_RUNTIME_API=api.address
        result = api.invoke({"hello": "world"}, deadline_in=30.0)
        assert result.payload == {...}
"""

from __future__ import annotations

import json
import queue
import re
import select
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["InitError", "LambdaRuntimeAPI", "Result"]

PREFIX = "/2018-06-01/runtime"
NEXT = f"{PREFIX}/invocation/next"
INIT_ERROR = f"{PREFIX}/init/error"
ANSWER = re.compile(rf"^{re.escape(PREFIX)}/invocation/(?P<id>[^/]+)/(?P<kind>response|error)$")
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024  # the synchronous invocation's documented limit
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Result:
    """How one invocation ended: the function's answer, or the error it posted."""

    request_id: str
    payload: Any = None
    """The JSON the runtime posted to ``/response`` (None after an error)."""
    error: Mapping[str, Any] | None = None
    """The error document posted to ``/error`` (None after a response)."""
    error_type: str | None = None
    """The ``Lambda-Runtime-Function-Error-Type`` header of the error, if sent (awslambdaric
    4.x does not send it with invocation errors: read ``error["errorType"]``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """The headers of the runtime's POST (names lower-cased)."""

    @property
    def succeeded(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class InitError:
    """What a runtime that failed to start posted to ``/init/error``."""

    error: Mapping[str, Any]
    error_type: str | None
    headers: Mapping[str, str]


@dataclass
class _Invocation:
    request_id: str
    body: bytes
    headers: dict[str, str]
    taken: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: Result | None = None


class LambdaRuntimeAPI:
    """The Runtime API on a loopback port, served from a background thread."""

    def __init__(
        self,
        *,
        function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:faaskit-test",
        host: str = "127.0.0.1",
    ) -> None:
        self.function_arn = function_arn
        self.protocol_errors: list[str] = []
        """Requests the API refused: unknown paths, unknown request ids, second answers."""
        self.polls = 0
        """How many ``next`` requests arrived (each runtime process polls once per event)."""
        self._queued: queue.Queue[_Invocation] = queue.Queue()
        self._invocations: dict[str, _Invocation] = {}
        self._init_errors: list[InitError] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._closing = threading.Event()
        self._server = _Server((host, 0), _handler_class(self))
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": POLL_SECONDS},
            name="lambda-runtime-api",
            daemon=True,
        )

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> LambdaRuntimeAPI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- the caller's side: invoke and wait ---------------------------------------------------

    def submit(
        self,
        event: Any,
        *,
        deadline_in: float = 30.0,
        request_id: str | None = None,
        client_context: Mapping[str, Any] | None = None,
        cognito_identity: Mapping[str, Any] | None = None,
    ) -> str:
        """Queue ``event`` for the next ``next``; its request id. The deadline is
        ``deadline_in`` seconds from now, as ``Lambda-Runtime-Deadline-Ms`` (epoch ms)."""
        request_id = request_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": str(int((time.time() + deadline_in) * 1000)),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": _trace_id(),
        }
        if client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = json.dumps(client_context)
        if cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = json.dumps(cognito_identity)
        invocation = _Invocation(request_id, json.dumps(event).encode(), headers)
        with self._lock:
            if request_id in self._invocations:
                raise ValueError(f"request id {request_id!r} was already used")
            self._invocations[request_id] = invocation
        self._queued.put(invocation)
        return request_id

    def deadline_ms(self, request_id: str) -> int:
        """The ``Lambda-Runtime-Deadline-Ms`` that the invocation was handed."""
        return int(self._invocations[request_id].headers["Lambda-Runtime-Deadline-Ms"])

    def taken(
        self, request_id: str, *, timeout: float = 30.0, alive: Callable[[], bool] | None = None
    ) -> None:
        """Wait until a runtime's ``next`` has taken the invocation."""
        self._wait(self._invocations[request_id].taken, f"{request_id} taken", timeout, alive)

    def answered(self, request_id: str) -> bool:
        """Whether the runtime posted a response or an error for the invocation."""
        return self._invocations[request_id].done.is_set()

    def result(
        self, request_id: str, *, timeout: float = 30.0, alive: Callable[[], bool] | None = None
    ) -> Result:
        """Wait for the invocation's response or error. ``alive`` (called while waiting):
        False stops the wait at once, with an AssertionError (the runtime died)."""
        invocation = self._invocations[request_id]
        self._wait(invocation.done, f"the answer to {request_id}", timeout, alive)
        assert invocation.result is not None
        return invocation.result

    def invoke(
        self,
        event: Any,
        *,
        deadline_in: float = 30.0,
        timeout: float = 30.0,
        alive: Callable[[], bool] | None = None,
        **options: Any,
    ) -> Result:
        """Queue ``event`` and wait for how it ended."""
        request_id = self.submit(event, deadline_in=deadline_in, **options)
        return self.result(request_id, timeout=timeout, alive=alive)

    def init_error(
        self, *, timeout: float = 30.0, alive: Callable[[], bool] | None = None
    ) -> InitError:
        """Wait for a runtime's ``/init/error``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not self._init_errors:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no /init/error within {timeout} s")
                self._changed.wait(min(left, POLL_SECONDS * 4))
                if alive is not None and not self._init_errors and not alive():
                    raise AssertionError("the runtime exited without posting /init/error")
            return self._init_errors[0]

    @property
    def init_errors(self) -> list[InitError]:
        with self._lock:
            return list(self._init_errors)

    @staticmethod
    def _wait(
        event: threading.Event, what: str, timeout: float, alive: Callable[[], bool] | None
    ) -> None:
        deadline = time.monotonic() + timeout
        while not event.wait(POLL_SECONDS * 4):
            if alive is not None and not alive() and not event.is_set():
                raise AssertionError(f"the runtime exited while waiting for {what}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout} s for {what}")

    # -- the runtime's side (called from the server's request threads) ------------------------

    def _next(self, connection: socket.socket) -> _Invocation | None:
        """The next queued invocation, once there is one; None when the client went away
        (its invocation stays queued for the next poll) or the server closes."""
        with self._lock:
            self.polls += 1
        while not self._closing.is_set():
            if _hung_up(connection):
                return None
            try:
                invocation = self._queued.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if _hung_up(connection):  # gone while we waited: give it to the next poll
                self._requeue(invocation)
                return None
            invocation.taken.set()
            return invocation
        return None

    def _requeue(self, invocation: _Invocation) -> None:
        # put it back in front: the order events were submitted in is kept
        with self._queued.mutex:
            self._queued.queue.appendleft(invocation)
            self._queued.not_empty.notify()

    def _answer(
        self, request_id: str, kind: str, body: bytes, headers: Mapping[str, str]
    ) -> str | None:
        """Record a response or an error; the refusal when there is one."""
        with self._changed:
            invocation = self._invocations.get(request_id)
            if invocation is None or not invocation.taken.is_set():
                return self._refuse(f"{kind} for unknown request id {request_id!r}")
            if invocation.result is not None:
                return self._refuse(f"a second {kind} for {request_id!r}")
            try:
                document = json.loads(body) if body else None
            except ValueError:
                return self._refuse(f"{kind} for {request_id!r} is not JSON: {body[:200]!r}")
            if kind == "response":
                invocation.result = Result(request_id, payload=document, headers=dict(headers))
            else:
                invocation.result = Result(
                    request_id,
                    error=document if isinstance(document, dict) else {"raw": document},
                    error_type=headers.get(ERROR_TYPE_HEADER.lower()),
                    headers=dict(headers),
                )
            return None

    def _settle(self, request_id: str) -> None:
        """The invocation's answer was acknowledged (202): its waiter may go on."""
        self._invocations[request_id].done.set()

    def _init_error(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        with self._changed:
            try:
                document = json.loads(body)
            except ValueError:
                return self._refuse(f"init error is not JSON: {body[:200]!r}")
            self._init_errors.append(
                InitError(document, headers.get(ERROR_TYPE_HEADER.lower()), dict(headers))
            )
            self._changed.notify_all()
            return None

    def _refuse(self, why: str) -> str:
        self.protocol_errors.append(why)
        return why


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a runtime killed mid-request (the SIGKILL tests) resets its connection: expected
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _trace_id() -> str:
    epoch = f"{int(time.time()):08x}"
    return f"Root=1-{epoch}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=0"


def _hung_up(connection: socket.socket) -> bool:
    """Whether the peer closed the connection (readable, and nothing to read)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        if not readable:
            return False
        return connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _handler_class(api: LambdaRuntimeAPI) -> type[BaseHTTPRequestHandler]:
    class RuntimeAPIHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # the client keeps its connection alive

        def do_GET(self) -> None:
            if self.path != NEXT:
                self._send(404, {"errorMessage": "unknown path", "errorType": "NotFound"})
                api._refuse(f"GET {self.path}")
                return
            invocation = api._next(self.connection)
            if invocation is None:
                self.close_connection = True
                return
            self.send_response(200)
            for name, value in invocation.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(invocation.body)))
            self.end_headers()
            self.wfile.write(invocation.body)

        def do_POST(self) -> None:
            body = self._body()
            if body is None:
                return
            headers = {name.lower(): value for name, value in self.headers.items()}
            matched = ANSWER.match(self.path)
            refusal: str | None
            if self.path == INIT_ERROR:
                refusal = api._init_error(body, headers)
            elif matched is not None:
                refusal = api._answer(matched["id"], matched["kind"], body, headers)
            else:
                api._refuse(f"POST {self.path}")
                self._send(404, {"errorMessage": "unknown path", "errorType": "NotFound"})
                return
            if refusal is None:
                try:
                    self._send(202, {"status": "OK"})
                finally:  # acknowledged: only now may a waiter see it (and kill the runtime)
                    if matched is not None:
                        api._settle(matched["id"])
            else:
                self._send(400, {"errorMessage": refusal, "errorType": "InvalidRequestID"})

        def _body(self) -> bytes | None:
            length = self.headers.get("Content-Length")
            if length is None or not length.isdigit():
                api._refuse(f"POST {self.path} without a Content-Length")
                self._send(411, {"errorMessage": "Content-Length required"})
                return None
            size = int(length)
            if size > MAX_RESPONSE_BYTES:
                api._refuse(f"POST {self.path} of {size} bytes")
                self.close_connection = True
                self._send(413, {"errorMessage": "payload too large", "errorType": "TooLarge"})
                return None
            return self.rfile.read(size)

        def _send(self, status: int, document: Mapping[str, Any]) -> None:
            encoded = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's assertions say what matters; keep pytest's output clean

    return RuntimeAPIHandler
