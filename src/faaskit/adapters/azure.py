"""Azure Functions: an :class:`~faaskit.App` as one HTTP-triggered function of the Python
v2 programming model::

    # function_app.py
    from faaskit.adapters.azure import function_app
    from shop import app as shop

    app = function_app(shop)

:func:`function_app` answers an ``azure.functions.FunctionApp`` with one function,
``faaskit_http``: an HTTP trigger on the route ``{*path}`` for every method, auth level
ANONYMOUS (faaskit checks its own bearer tokens, so a function key would only be in the
way). Each ``azure.functions.HttpRequest`` becomes an ASGI request to the same gateway that
``faaskit dev`` serves, in-process: routing, auth, validation, problem+json errors, CORS,
security headers and ``/openapi.json`` are the local server's.

The Functions host puts every HTTP route behind a prefix, ``api`` unless ``host.json`` says
otherwise (``extensions.http.routePrefix``); the adapter strips it before routing, so give
it the same ``route_prefix`` as host.json (``""`` for none). The path is read from the
request URL as the host passes it, still percent-encoded, so ``%2F`` stays inside its
path parameter; the query string is the URL's own, repeats included (``HttpRequest.params``
keeps one value per name).

The function is ``async def``: the Python worker awaits it on its event loop, which lives
as long as the worker process, and runs only ``def`` functions in its thread pool. So the
runtime starts on that loop once, on the first request, and every request after runs on
it, interleaved as under uvicorn, with no thread hop. Each invocation's Context carries
``cold_start`` (the first request of the process) and ``startup_seconds``; the host's
invocation id becomes the request id when the client sent no ``X-Request-ID``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from faaskit.adapters.asgi_call import Answer, call_asgi, http_scope
from faaskit.app import App
from faaskit.config import Settings
from faaskit.ids import is_request_id

# One Runtime subclass for the adapters whose platforms run requests concurrently.
from faaskit.runtime.invocation import Invocation, current_invocation
from faaskit.runtime.runtime import Runtime

if TYPE_CHECKING:
    import azure.functions as func

__all__ = ["AzureHttpHandler", "function_app", "http_handler", "request_scope"]

logger = logging.getLogger("faaskit.adapters.azure")

FUNCTION_NAME = "faaskit_http"
ROUTE = "{*path}"
# Characters an encoded path may hold literally (RFC 3986 pchar and "/"), and "%" itself:
# quoting with these safe leaves an encoded path as it is and encodes what is not ASCII.
_PATH_SAFE = "/%!$&'()*+,;=:@"


def function_app(
    app: App,
    *,
    settings: Settings | None = None,
    route_prefix: str = "api",
    function_name: str = FUNCTION_NAME,
) -> func.FunctionApp:
    """An ``azure.functions.FunctionApp`` serving all of ``app``'s HTTP routes through one
    HTTP trigger (route ``{*path}``, every method, auth level ANONYMOUS).

    ``settings`` default to :meth:`Settings.load` (``FAASKIT_DATABASE_URL`` and the rest
    of the environment, the function app's application settings on Azure), read when the
    worker serves its first request. ``route_prefix`` is host.json's
    ``extensions.http.routePrefix`` (``api`` when host.json does not set it).
    """
    import azure.functions as func

    handler = http_handler(app, settings=settings, route_prefix=route_prefix)
    functions = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    async def faaskit_http(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
        return await handler.handle(req, context)

    # The worker matches parameters to bindings by their annotations: real classes, not
    # the strings postponed evaluation leaves.
    faaskit_http.__annotations__ = {
        "req": func.HttpRequest,
        "context": func.Context,
        "return": func.HttpResponse,
    }
    faaskit_http.faaskit_handler = handler  # type: ignore[attr-defined]
    route = functions.route(
        route=ROUTE,
        methods=list(func.HttpMethod),
        auth_level=func.AuthLevel.ANONYMOUS,
    )
    functions.function_name(name=function_name)(route(faaskit_http))
    return functions


def http_handler(
    app: App, *, settings: Settings | None = None, route_prefix: str = "api"
) -> AzureHttpHandler:
    """The handler behind :func:`function_app`: ``await handler.handle(req, context)``
    answers an ``HttpRequest`` with an ``HttpResponse`` (register it yourself to add
    bindings or a different route)."""
    return AzureHttpHandler(app, settings, route_prefix=route_prefix)


class AzureHttpHandler:
    """Answers ``azure.functions.HttpRequest`` with ``azure.functions.HttpResponse``."""

    def __init__(
        self, app: App, settings: Settings | None = None, *, route_prefix: str = "api"
    ) -> None:
        self.app = app
        self.route_prefix = route_prefix.strip("/")
        self._settings = settings
        self._runtime: Runtime | None = None
        self._asgi: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None
        self._startup_seconds: float | None = None
        self._served = False

    async def start(self) -> None:
        """Start on the running loop now (idempotent): the runtime, the store, the keys.
        The first request does this when nothing did before."""
        loop = asyncio.get_running_loop()
        if self._runtime is not None and self._loop is loop:
            return
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:
            if self._runtime is not None and self._loop is loop:
                return
            if self._runtime is not None:
                # started on a loop that is gone (the worker keeps one; a script may not)
                logger.warning("the event loop changed: starting the runtime again")
                self._runtime = None
            from faaskit.http.gateway import create_asgi_app

            began = time.perf_counter()
            runtime = Runtime(self.app, self._settings or Settings.load())
            asgi = create_asgi_app(self.app, runtime)
            await runtime.start()
            self._runtime, self._asgi, self._loop = runtime, asgi, loop
            self._startup_seconds = time.perf_counter() - began
            self._served = False

    @property
    def runtime(self) -> Runtime:
        """The runtime (after :meth:`start` or the first request)."""
        if self._runtime is None:
            raise RuntimeError("the Azure handler has not started: await handler.start()")
        return self._runtime

    async def close(self) -> None:
        """Stop the runtime (tests and scripts; the Functions host never does)."""
        runtime, self._runtime, self._asgi, self._loop = self._runtime, None, None, None
        if runtime is not None:
            await runtime.stop()

    async def handle(self, req: func.HttpRequest, context: Any = None) -> func.HttpResponse:
        """Answer one request; ``context`` is the ``azure.functions.Context`` (optional)."""
        scope = request_scope(req, route_prefix=self.route_prefix)
        _request_id(scope, context)
        await self.start()
        cold, self._served = not self._served, True
        current_invocation.set(Invocation(cold, self._startup_seconds if cold else None))
        answer = await call_asgi(self._asgi, scope, req.get_body() or b"")
        return _http_response(answer)


def request_scope(req: func.HttpRequest, *, route_prefix: str = "api") -> dict[str, Any]:
    """The ASGI HTTP scope of an ``azure.functions.HttpRequest`` (its body is read apart),
    with ``route_prefix`` taken off the path."""
    url = urlsplit(req.url)
    raw_path = _strip_prefix(quote(url.path or "/", safe=_PATH_SAFE), route_prefix.strip("/"))
    query = url.query
    if not query and req.params:  # a request built with params and a bare URL
        query = urlencode(dict(req.params))
    headers = [
        (name.lower().encode("latin-1"), _header_value(value))
        for name, value in req.headers.items()
    ]
    scheme = str(req.headers.get("x-forwarded-proto") or url.scheme or "https")
    return http_scope(
        method=req.method,
        scheme=scheme,
        raw_path=raw_path,
        query_string=query.encode("latin-1", "replace"),
        headers=headers,
        client=_client(req.headers),
    )


def _strip_prefix(raw_path: str, prefix: str) -> str:
    """``/api/users/1`` less the ``api`` prefix is ``/users/1`` (ASP.NET Core routes match
    case-insensitively, so ``/API/`` reaches the function too)."""
    if not prefix:
        return raw_path
    head = "/" + prefix
    if raw_path.lower() == head.lower():
        return "/"
    if raw_path[: len(head) + 1].lower() == head.lower() + "/":
        return raw_path[len(head) :]
    return raw_path


def _header_value(value: str) -> bytes:
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _client(headers: Mapping[str, str]) -> tuple[str, int] | None:
    """The client as the front end saw it: the last ``X-Forwarded-For`` entry, which App
    Service writes as ``address:port``."""
    forwarded = str(headers.get("x-forwarded-for") or "").rsplit(",", 1)[-1].strip()
    if not forwarded:
        return None
    if forwarded.startswith("["):  # [v6]:port
        address, _, rest = forwarded[1:].partition("]")
        port = rest.removeprefix(":")
    elif forwarded.count(":") == 1:  # v4:port
        address, _, port = forwarded.partition(":")
    else:  # v4 or bare v6
        address, port = forwarded, ""
    return (address, int(port) if port.isdigit() else 0)


def _request_id(scope: dict[str, Any], context: Any) -> None:
    """The host's invocation id as ``X-Request-ID`` when the client sent none."""
    invocation_id = getattr(context, "invocation_id", None)
    if not is_request_id(invocation_id):
        return
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    if all(name != b"x-request-id" for name, _ in headers):
        headers.append((b"x-request-id", invocation_id.encode("ascii")))


def _http_response(answer: Answer) -> func.HttpResponse:
    import azure.functions as func

    response = func.HttpResponse(answer.body, status_code=answer.status)
    for name, value in answer.headers:
        # Headers keeps repeats (several Set-Cookie); the worker sends each as a cookie
        response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
    return response
