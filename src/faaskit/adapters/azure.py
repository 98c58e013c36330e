"""Azure Functions: an :class:`~faaskit.App` as the functions of one function app on the
Python v2 programming model::

    # function_app.py
    from faaskit.adapters.azure import function_app
    from shop import app as shop

    app = function_app(shop)                  # HTTP (+ Service Bus and the sweep when
                                              # FAASKIT_SERVICEBUS_QUEUE is set)
    app = function_app(shop, servicebus=True)  # Service Bus and the sweep, always

:func:`function_app` answers an ``azure.functions.FunctionApp`` with these functions:

``faaskit_http``
    an HTTP trigger on the route ``{*path}`` for every method, auth level ANONYMOUS
    (faaskit checks its own bearer tokens, so a function key would only be in the way).
    Each ``azure.functions.HttpRequest`` becomes a request to the same gateway that
    ``faaskit dev`` serves, handed to it in-process (no ASGI messages): routing, auth,
    validation, problem+json errors, CORS, security headers and ``/openapi.json`` are the
    local server's.
``faaskit_servicebus``
    a Service Bus queue trigger on the queue the app setting ``FAASKIT_SERVICEBUS_QUEUE``
    names, through the connection ``FAASKIT_SERVICEBUS`` (a connection string, or
    ``FAASKIT_SERVICEBUS__fullyQualifiedNamespace`` for the app's managed identity). Every
    commit relays the deliveries it wrote to that queue
    (:class:`~faaskit.adapters.azure_servicebus.ServiceBusRelay`); this function claims
    and runs each one in the store; a message from another sender, with a ``subject``, is
    published on a faaskit topic (:mod:`faaskit.adapters.azure_messages`).
``faaskit_sweep``
    a timer trigger (NCRONTAB ``sweep_schedule``, every minute by default) that relays
    again what was lost or is due, schedules the crons and catches up the projections. With
    no Service Bus, it delivers what is due itself, once a minute.

The Service Bus and timer functions are registered when ``servicebus`` is True, or when
it is None (the default) and ``FAASKIT_SERVICEBUS_QUEUE`` is set where the worker indexes
the functions (the app settings, or local.settings.json under ``func start``); ``sweep``
alone registers the timer without Service Bus. An app with no subscribers, tasks or crons
needs neither.

The Functions host puts every HTTP route behind a prefix, ``api`` unless ``host.json`` says
otherwise (``extensions.http.routePrefix``); the adapter strips it before routing, so give
it the same ``route_prefix`` as host.json (``""`` for none). The path is read from the
request URL as the host passes it, still percent-encoded, so ``%2F`` stays inside its
path parameter; the query string is the URL's own, repeats included (``HttpRequest.params``
keeps one value per name).

The functions are ``async def``: the Python worker awaits them on its event loop, which
lives as long as the worker process, and runs only ``def`` functions in its thread pool.
So one runtime (:class:`~faaskit.adapters.azure_environment.AzureEnvironment`) starts on
that loop once, at the first invocation of any of them, and every invocation after runs on
it, interleaved as under uvicorn, with no thread hop. Each invocation's Context carries
``cold_start`` (the first invocation of the process) and ``startup_seconds``; the host's
invocation id becomes the request id when the client sent no ``X-Request-ID``, and the
invocation id of a published Service Bus message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from faaskit.adapters.azure_environment import AzureEnvironment
from faaskit.app import App
from faaskit.clock import Clock
from faaskit.config import Settings
from faaskit.http.exchange import Answer, Request
from faaskit.ids import is_request_id
from faaskit.runtime.invocation import current_invocation
from faaskit.runtime.runtime import Runtime

if TYPE_CHECKING:
    import azure.functions as func

    from faaskit.runtime.relay import Relay

__all__ = [
    "SERVICEBUS_FUNCTION",
    "SWEEP_FUNCTION",
    "SWEEP_SCHEDULE",
    "AzureEnvironment",
    "AzureHttpHandler",
    "function_app",
    "gateway_request",
    "http_handler",
]

logger = logging.getLogger("faaskit.adapters.azure")

FUNCTION_NAME = "faaskit_http"
SERVICEBUS_FUNCTION = "faaskit_servicebus"
SWEEP_FUNCTION = "faaskit_sweep"
SWEEP_SCHEDULE = "0 */1 * * * *"  # NCRONTAB, seconds first: every minute
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
    servicebus: bool | None = None,
    sweep: bool | None = None,
    sweep_schedule: str = SWEEP_SCHEDULE,
    sessions: bool = False,
    relay: Relay | None = None,
    topics: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> func.FunctionApp:
    """An ``azure.functions.FunctionApp`` serving all of ``app``'s HTTP routes through one
    HTTP trigger (route ``{*path}``, every method, auth level ANONYMOUS), and its messages
    through a Service Bus queue trigger and a sweep timer when asked or configured.

    ``settings`` default to :meth:`Settings.load` (``FAASKIT_DATABASE_URL`` and the rest
    of the environment, the function app's application settings on Azure), read when the
    worker serves its first invocation. ``route_prefix`` is host.json's
    ``extensions.http.routePrefix`` (``api`` when host.json does not set it).

    ``servicebus``: register ``faaskit_servicebus`` and relay every commit's deliveries to
    its queue (None: when ``FAASKIT_SERVICEBUS_QUEUE`` is set). ``sweep``: register
    ``faaskit_sweep`` (None: with Service Bus) on ``sweep_schedule`` (NCRONTAB with
    seconds, or an app-setting expression such as ``"%FAASKIT_SWEEP_SCHEDULE%"``).
    ``sessions``: the queue is session-enabled (the trigger says so, and every relayed
    message gets a session). ``relay`` replaces the
    :class:`~faaskit.adapters.azure_servicebus.ServiceBusRelay` made from the app settings
    (tests); ``topics`` maps a foreign message's subject to a faaskit topic; ``clock`` is
    for tests (a :class:`faaskit.testing.VirtualClock`).
    """
    import azure.functions as func

    from faaskit.adapters.azure_servicebus import QUEUE_SETTING

    if servicebus is None:
        import os

        servicebus = bool(os.environ.get(QUEUE_SETTING, "").strip())
    if sweep is None:
        sweep = servicebus
    if app.has_triggers and not (servicebus or sweep):
        logger.warning(
            "%s has subscriptions, tasks, crons or projections but no function delivers "
            "them: set %s (or pass servicebus=True), or pass sweep=True",
            app.name,
            QUEUE_SETTING,
        )
    environment = AzureEnvironment(
        app, settings, relay=relay, servicebus_relay=servicebus, sessions=sessions, clock=clock
    )
    handler = AzureHttpHandler(app, route_prefix=route_prefix, environment=environment)
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
    if servicebus or sweep:
        from faaskit.adapters import azure_messages

        if servicebus:
            azure_messages.register_servicebus(
                functions, environment, SERVICEBUS_FUNCTION, sessions=sessions, topics=topics
            )
        if sweep:
            azure_messages.register_sweep(functions, environment, SWEEP_FUNCTION, sweep_schedule)
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
        self,
        app: App,
        settings: Settings | None = None,
        *,
        route_prefix: str = "api",
        environment: AzureEnvironment | None = None,
    ) -> None:
        self.app = app
        self.route_prefix = route_prefix.strip("/")
        self.environment = environment or AzureEnvironment(app, settings)
        """The runtime this process shares with the app's other functions."""
        self.environment.serve_http = True

    async def start(self) -> None:
        """Start on the running loop now (idempotent): the runtime, the store, the keys.
        The first invocation does this when nothing did before."""
        await self.environment.start()

    @property
    def runtime(self) -> Runtime:
        """The runtime (after :meth:`start` or the first request)."""
        return self.environment.runtime

    async def close(self) -> None:
        """Stop the runtime (tests and scripts; the Functions host never does)."""
        await self.environment.close()

    async def handle(self, req: func.HttpRequest, context: Any = None) -> func.HttpResponse:
        """Answer one request; ``context`` is the ``azure.functions.Context`` (optional)."""
        request = gateway_request(req, route_prefix=self.route_prefix)
        _request_id(request, context)
        await self.environment.start()
        current_invocation.set(self.environment.invocation())
        return _http_response(await self.environment.gateway.respond(request))


def gateway_request(req: func.HttpRequest, *, route_prefix: str = "api") -> Request:
    """The gateway's request for an ``azure.functions.HttpRequest``, body included, with
    ``route_prefix`` taken off the path."""
    url = urlsplit(req.url)
    raw_path = _strip_prefix(quote(url.path or "/", safe=_PATH_SAFE), route_prefix.strip("/"))
    query = url.query
    if not query and req.params:  # a request built with params and a bare URL
        query = urlencode(dict(req.params))
    headers = {_wire(name.lower()): _wire(value) for name, value in req.headers.items()}
    return Request(
        req.method.upper(),
        unquote(raw_path),
        raw_path=raw_path,
        query_string=query.encode("latin-1", "replace"),
        headers=headers,
        body=req.get_body() or b"",
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


def _wire(text: str) -> str:
    """``text`` as latin-1 text, the gateway's reading of header bytes: as it is when
    latin-1 can hold it, else its UTF-8 bytes."""
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8").decode("latin-1")
    return text


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


def _request_id(request: Request, context: Any) -> None:
    """The host's invocation id as ``X-Request-ID`` when the client sent none."""
    invocation_id = getattr(context, "invocation_id", None)
    if is_request_id(invocation_id) and "x-request-id" not in request.headers:
        request.headers["x-request-id"] = invocation_id


def _http_response(answer: Answer) -> func.HttpResponse:
    import azure.functions as func

    response = func.HttpResponse(answer.body, status_code=answer.status)
    for name, value in answer.headers:
        # Headers keeps repeats (several Set-Cookie); the worker sends each as a cookie
        response.headers.add(name.decode("latin-1"), value.decode("latin-1"))
    return response
