r"""Google Cloud Functions: an :class:`~faaskit.App` as one HTTP function, for
``functions-framework``::

    # main.py, deployed with --entry-point=handler
    import functions_framework

    from faaskit.adapters.gcp import http_function
    from shop import app

    handler = functions_framework.http(http_function(app))

The function takes every path and method (functions-framework routes all of them to it),
so the whole route table sits behind it. Each ``flask.Request`` becomes a request to the
same gateway that ``faaskit dev`` serves, handed to it in-process (no ASGI messages):
routing, auth, validation, problem+json errors, CORS, security headers and
``/openapi.json`` are the local server's.
The path is taken raw from the server (``RAW_URI``/``REQUEST_URI``), so ``%2F`` inside a
path segment stays inside its path parameter; the query string is passed as it came.

Start-up is once per process, lazy and fork-safe, on one event loop on a thread of its own
(:mod:`faaskit.adapters.gcp_process`, shared with the CloudEvent function of
:mod:`faaskit.adapters.gcp_events`). Each invocation's Context carries ``cold_start`` (the
first request of the process) and ``startup_seconds``; ``Function-Execution-Id`` (set by
Cloud Functions) becomes the request id when the client sent no ``X-Request-ID``.

Messages: when ``FAASKIT_PUBSUB_TOPIC`` is set (or a ``relay`` is given), every commit
relays the deliveries it wrote to that Pub/Sub topic
(:class:`~faaskit.adapters.gcp_pubsub.PubSubRelay`); the CloudEvent function that topic
triggers claims and runs each one.

Deploy (2nd gen; the store is PostgreSQL, its URL a secret)::

    gcloud functions deploy shop-http --gen2 --runtime=python311 --region=REGION \
        --source=. --entry-point=handler --trigger-http --allow-unauthenticated \
        --set-env-vars=FAASKIT_PUBSUB_TOPIC=projects/PROJECT/topics/faaskit-relay \
        --set-secrets=FAASKIT_DATABASE_URL=faaskit-database-url:latest
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote, unquote_to_bytes

from faaskit.adapters.gcp_process import FunctionProcess, ProcessState
from faaskit.app import App
from faaskit.clock import Clock
from faaskit.config import Settings
from faaskit.http.exchange import Answer, Request
from faaskit.ids import is_request_id
from faaskit.runtime.runtime import Runtime

if TYPE_CHECKING:
    import flask

    from faaskit.http.gateway import Gateway
    from faaskit.runtime.relay import Relay

__all__ = ["HttpFunction", "gateway_request", "http_function"]

T = TypeVar("T")

# Characters a decoded path may keep literally when it has to be encoded again (RFC 3986
# pchar and "/"); "%" is not among them, so a literal percent sign becomes "%25".
_PATH_SAFE = "/!$&'()*+,;=:@"


def http_function(
    app: App,
    *,
    settings: Settings | None = None,
    trust_forwarded_for: bool = True,
    relay: Relay | None = None,
    clock: Clock | None = None,
) -> HttpFunction:
    """A functions-framework HTTP function serving all of ``app``'s HTTP routes.

    ``settings`` default to :meth:`Settings.load` (``FAASKIT_DATABASE_URL`` and the rest
    of the environment), read when the process starts. With ``trust_forwarded_for`` the
    client address is the last ``X-Forwarded-For`` entry, the one Google's front end
    appends (rate limits key on it); without it, the socket's peer. ``relay`` defaults to
    a :class:`~faaskit.adapters.gcp_pubsub.PubSubRelay` on ``FAASKIT_PUBSUB_TOPIC`` when
    that is set (else none: workers or a sweep deliver from the store). ``clock`` is for
    tests (a :class:`faaskit.testing.VirtualClock`).
    """
    return HttpFunction(
        app, settings, trust_forwarded_for=trust_forwarded_for, relay=relay, clock=clock
    )


def _gateway(runtime: Runtime) -> Gateway:
    from faaskit.http.gateway import Gateway

    return Gateway(runtime)


class HttpFunction:
    """Call it with a ``flask.Request``; it answers with a ``flask.Response``."""

    def __init__(
        self,
        app: App,
        settings: Settings | None = None,
        *,
        trust_forwarded_for: bool = True,
        relay: Relay | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.app = app
        self._trust_forwarded_for = trust_forwarded_for
        self._process: FunctionProcess[Gateway] = FunctionProcess(
            app, _gateway, settings=settings, relay=relay, clock=clock
        )
        # functions_framework.http registers a function by its name
        self.__name__ = self.__qualname__ = "faaskit_http"
        self.__doc__ = f"faaskit app {app.name!r} over HTTP"

    def start(self) -> None:
        """Start the process now (idempotent): a loop on its own thread, the runtime, the
        store and the keys. The first request does this when nothing did before."""
        self._process.start()

    @property
    def runtime(self) -> Runtime:
        """The process's runtime (started on first use)."""
        return self._process.runtime

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the process's event loop and wait for it (tests, warm-ups)."""
        return self._process.run(work)

    def close(self) -> None:
        """Stop the runtime, the loop and its thread (tests and scripts; Cloud Functions
        never does)."""
        self._process.close()

    def __call__(self, request: flask.Request) -> flask.Response:
        received = gateway_request(request, trust_forwarded_for=self._trust_forwarded_for)

        def answer(state: ProcessState[Gateway]) -> Coroutine[Any, Any, Answer]:
            return state.prepared.respond(received)

        return _flask_response(self._process.invoke(answer))


def gateway_request(request: flask.Request, *, trust_forwarded_for: bool = True) -> Request:
    """The gateway's request for a ``flask.Request``, body included."""
    environ = request.environ
    raw_path = _raw_path(environ)
    # WSGI header values are latin-1 text already, as the gateway reads them
    headers = {name.lower(): value for name, value in request.headers.items()}
    execution_id = request.headers.get("Function-Execution-Id", "")
    if "x-request-id" not in headers and is_request_id(execution_id):
        headers["x-request-id"] = execution_id
    return Request(
        request.method.upper(),
        unquote(raw_path),
        raw_path=raw_path,
        query_string=str(environ.get("QUERY_STRING", "")).encode("latin-1"),
        headers=headers,
        body=request.get_data(),
        client=_client(request, trust_forwarded_for),
    )


def _raw_path(environ: Mapping[str, Any]) -> str:
    """The path as the client sent it, still percent-encoded.

    WSGI's ``PATH_INFO`` is decoded (``%2F`` is already a ``/`` there), so the path comes
    from the request target that gunicorn (``RAW_URI``) and werkzeug (``REQUEST_URI``)
    keep, when it decodes to ``PATH_INFO``; otherwise ``PATH_INFO`` encoded again.
    """
    decoded = str(environ.get("PATH_INFO", "")).encode("latin-1")
    if not environ.get("SCRIPT_NAME"):
        for key in ("RAW_URI", "REQUEST_URI"):
            target = environ.get(key)
            if not isinstance(target, str) or not target:
                continue
            path = target.partition("?")[0].partition("#")[0]
            if not path.startswith("/") and "://" in path:  # absolute-form request target
                path = "/" + path.partition("://")[2].partition("/")[2]
            if path.isascii() and unquote_to_bytes(path) == decoded:
                return path
    return quote(decoded, safe=_PATH_SAFE) or "/"


def _client(request: flask.Request, trust_forwarded_for: bool) -> tuple[str, int] | None:
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return (last, 0)
    if request.remote_addr:
        port = str(request.environ.get("REMOTE_PORT") or "")
        return (request.remote_addr, int(port) if port.isdigit() else 0)
    return None


def _flask_response(answer: Answer) -> flask.Response:
    import flask
    from werkzeug.datastructures import Headers

    response = flask.Response(answer.body, status=answer.status)
    # the gateway's headers exactly (repeated Set-Cookie too), not Flask's defaults
    response.headers = Headers(
        [(name.decode("latin-1"), value.decode("latin-1")) for name, value in answer.headers]
    )
    return response
