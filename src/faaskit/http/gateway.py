"""The HTTP gateway built from an :class:`~faaskit.App`: one core, two doors.

The core (:meth:`Gateway.respond`) applies CORS, matches the route, rate-limits,
authenticates, reads and validates the request, asks the runtime to invoke the handler,
and answers — errors as problem+json, with the security headers and ``X-Request-ID``.
The doors only carry requests in and answers out: ASGI (:meth:`Gateway.__call__`, for
uvicorn and ``faaskit dev``) and the direct one, a :class:`~faaskit.http.exchange.Request`
in and an :class:`~faaskit.http.exchange.Answer` out, for the cloud adapters, which hold
the whole request in-process already. So everything a request meets is the same through
both. It is written without a framework (Starlette's path convertors only) because it is
the hot path of every HTTP function.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

import orjson

from faaskit.app import App, Route
from faaskit.errors import (
    BadGatewayError,
    FaaskitError,
    GatewayTimeoutError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from faaskit.http.binding import JSON, Endpoint, Rendered
from faaskit.http.exchange import Answer, Request
from faaskit.http.headers import JSON_CSP, NO_STORE, PROBLEM_MEDIA_TYPE, SECURITY_HEADERS
from faaskit.http.routes import RouteTable
from faaskit.ids import is_request_id, new_id
from faaskit.platforms import limits_for
from faaskit.runtime.runtime import Runtime

if TYPE_CHECKING:
    from faaskit.http.cors import CorsPolicy
    from faaskit.http.metrics_access import MetricsAccess

__all__ = ["ClientDisconnected", "Gateway", "create_asgi_app"]

logger = logging.getLogger("faaskit.http")
_JSON_TYPE = re.compile(rb"^application/([a-z0-9.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)
_INTERNAL = "An unexpected error occurred; quote the request id when you report it."
_JSON_MEDIA = frozenset({JSON, PROBLEM_MEDIA_TYPE})
_EVERY_ANSWER = (*SECURITY_HEADERS, NO_STORE)
_JSON_TYPED = ((b"content-type", JSON), JSON_CSP)
_PERCENT = ord("%")
"""Looked for in the raw path as an int: ``b"%" in raw`` first tries its operand as an
int, and raises and clears a TypeError on every request to learn it is not one."""


class ClientDisconnected(Exception):
    """The ASGI client went away before its body arrived: there is no one to answer."""


class Gateway:
    """The gateway of one runtime's app: call :meth:`respond` with a request, or serve it
    as an ASGI app. Start-up opens the store (lifespan, or the first request)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app: App = runtime.app
        self.realm = self.app.name
        self.max_body = self.app.max_body_size
        self.platform = limits_for(runtime.settings.target)
        if self.platform is not None:
            self.max_body = min(self.max_body, self.platform.max_request_bytes)
        # What few apps or requests need is imported when they do: a shorter start-up.
        self.cors: CorsPolicy | None = None
        if self.app.cors is not None:
            from faaskit.http.cors import CorsPolicy

            self.cors = CorsPolicy(self.app.cors)
        self.routes = RouteTable(self.app.routes, self.app.resources)
        self.endpoints = self.routes.endpoints
        self._openapi: bytes | None = None
        self._start_lock = asyncio.Lock()
        self._metrics: MetricsAccess | None = None

    @property
    def metrics(self) -> MetricsAccess:
        """Who may read ``GET /metrics``."""
        if self._metrics is None:
            from faaskit.http.metrics_access import MetricsAccess

            self._metrics = MetricsAccess(self.runtime.settings.metrics, self.runtime.secrets)
        return self._metrics

    # -- the ASGI door --------------------------------------------------------------------

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            raw = scope.get("raw_path")
            request = Request(
                scope["method"],
                scope["path"],
                raw_path=raw.decode("latin-1") if raw is not None and _PERCENT in raw else None,
                query_string=scope["query_string"],
                headers={
                    key.decode("latin-1"): value.decode("latin-1")
                    for key, value in scope["headers"]
                },
                client=scope.get("client"),
                receive=receive,
            )
            try:
                answer = await self.respond(request)
            except ClientDisconnected:
                return
            await send(
                {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
            )
            await send({"type": "http.response.body", "body": answer.body})
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.runtime.start()
                except Exception as error:
                    logger.error("start-up failed: %s", error)
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.runtime.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- the core -------------------------------------------------------------------------

    async def respond(
        self,
        request: Request,
        *,
        refusal: FaaskitError | None = None,
        request_id: str | None = None,
    ) -> Answer:
        """The answer to ``request`` (the direct door; the ASGI door calls it too).

        ``refusal`` answers its problem instead of routing the request: what an adapter
        could not read (a body that is not the base64 it claims). ``request_id`` is the
        door's own id for the request, already checked with
        :func:`faaskit.ids.is_request_id` (a platform's invocation id): it stands instead
        of the ``X-Request-ID`` header. ``ClientDisconnected`` when a streamed body ends
        in a disconnect.

        Example::

            answer = await gateway.respond(Request("GET", "/hello"))
            answer.status, dict(answer.headers)[b"content-type"], answer.body
        """
        cors: tuple[tuple[bytes, bytes], ...] = ()
        if self.cors is not None:
            checked = self.cors.check(request.method, request.headers)
            if isinstance(checked, Answer):  # a preflight: answered before any route
                return checked
            cors = checked
        logged = logger.isEnabledFor(logging.INFO)
        started = time.perf_counter() if logged else 0.0
        headers = request.headers
        if request_id is None:
            request_id = headers.get("x-request-id")
            if request_id is None or not is_request_id(request_id):
                request_id = new_id()
        path = request.path
        method = request.method
        function = "-"
        try:
            if refusal is not None:
                raise refusal
            if not self.runtime.started:
                await self._ensure_started()
            group, path_params = self.routes.match(path, request.raw_path)
            if group is None:
                rendered = self._builtin(method, path, headers)
            else:
                endpoint = group.methods.get(method)
                if endpoint is None and method == "HEAD":
                    endpoint = group.methods.get("GET")
                if endpoint is not None:
                    function = endpoint.route.name
                    invocation = self._invoke(endpoint, request, path_params, request_id)
                    if self.platform is None:
                        rendered = await invocation
                    else:
                        rendered = await self._within_platform(invocation)
                elif method == "OPTIONS":
                    rendered = Rendered(204, b"", None, ((b"allow", group.allow),))
                else:
                    raise MethodNotAllowedError(
                        list(group.methods), f"{method} is not allowed on {path}"
                    )
        except FaaskitError as error:
            rendered = self._problem(error, path, request_id)
        except ClientDisconnected:
            raise
        except Exception:
            logger.exception(
                "unhandled error",
                extra={"fields": {"request_id": request_id, "function": function, "path": path}},
            )
            rendered = self._problem(FaaskitError(_INTERNAL), path, request_id)
        answer = _answer(rendered, request_id, head=method == "HEAD")
        if cors:
            answer.headers += cors
        if logged:
            logger.info(
                "%s %s %s",
                method,
                path,
                rendered.status,
                extra={
                    "fields": {
                        "request_id": request_id,
                        "function": function,
                        "method": method,
                        "path": path,
                        "status": rendered.status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    }
                },
            )
        return answer

    async def _ensure_started(self) -> None:
        async with self._start_lock:
            await self.runtime.start()

    def _problem(self, error: FaaskitError, path: str, request_id: str) -> Rendered:
        from faaskit.http.problems import problem

        status, error_headers, body = problem(
            error, instance=path, request_id=request_id, realm=self.realm
        )
        return Rendered(status, body, None, tuple(error_headers))

    async def _invoke(
        self,
        endpoint: Endpoint,
        request: Request,
        path_params: dict[str, Any],
        request_id: str,
    ) -> Rendered:
        route = endpoint.route
        headers = request.headers
        if route.rate_limits:
            await self._limit(route, request.client)
        principal = None
        if route.scopes is not None:
            principal = self.runtime.authenticate(headers.get("authorization"), route.scopes)
        body = None
        if endpoint.body_model is not None:  # (needs_body, without a property's call)
            content_type = headers.get("content-type", "")
            if not _JSON_TYPE.match(content_type.encode("latin-1")):
                raise UnsupportedMediaTypeError(
                    f"send the body as application/json, not {content_type or 'no content type'}"
                )
            body = await self._read_body(request)
        ctx = self.runtime.context(
            route.name,
            request_id,
            principal=principal,
            correlation_id=headers.get("x-correlation-id"),
            headers=headers,
        )
        if principal is not None and self.app.authorizers:
            for check in self.app.authorizers:
                outcome = check(principal, ctx)
                if inspect.isawaitable(outcome):
                    await outcome
        arguments = endpoint.bind(path_params, request.query_string, body, ctx)
        for parameter, resource in endpoint.resources:
            arguments[parameter] = await self.runtime.resources.get(resource)
        return await self.runtime.invoke(ctx, route.handler, arguments, endpoint.render)

    async def _within_platform(self, invocation: Coroutine[Any, Any, Rendered]) -> Rendered:
        """What the target platform would answer: a 504 past its timeout, a 502 for an
        answer larger than it passes on (``faaskit dev --target``)."""
        platform = self.platform
        assert platform is not None
        try:
            rendered = await asyncio.wait_for(invocation, platform.timeout_seconds)
        except TimeoutError:
            raise GatewayTimeoutError(
                f"the function ran longer than {platform.timeout_seconds:g} s, "
                f"which {platform.name} waits at most"
            ) from None
        if len(rendered.body) > platform.max_response_bytes:
            raise BadGatewayError(
                f"the answer is {len(rendered.body)} bytes; {platform.name} passes on at most "
                f"{platform.max_response_bytes}"
            )
        return rendered

    async def _limit(self, route: Route, client: tuple[str, int] | None) -> None:
        """Take from the route's per-client buckets (the client as the door reports it:
        behind a proxy, uvicorn's ``--forwarded-allow-ips`` makes that the real one; a
        cloud adapter reads it from what the platform's front end saw)."""
        who = client[0] if client else "unknown"
        for index, rule in enumerate(route.rate_limits):
            await self.runtime.limiter.take(f"{route.name}:{index}:client:{who}", rule)

    async def _read_body(self, request: Request) -> bytes:
        limit = self.max_body
        content_length = request.headers.get("content-length")
        if content_length is not None and content_length.isdigit() and int(content_length) > limit:
            raise self._too_large()
        receive = request.receive
        if receive is None:  # the direct door: the whole body is here
            if len(request.body) > limit:
                raise self._too_large()
            return request.body
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> PayloadTooLargeError:
        # Worded only when a body is refused, not for every body read.
        too_large = f"the body is larger than {self.max_body} bytes"
        if self.platform is not None and self.max_body == self.platform.max_request_bytes:
            too_large += f", what {self.platform.name} accepts"
        return PayloadTooLargeError(too_large)

    def _builtin(self, method: str, path: str, headers: dict[str, str]) -> Rendered:
        if path == "/openapi.json" and method in ("GET", "HEAD"):
            if self._openapi is None:
                from faaskit.http.openapi import openapi_document

                self._openapi = orjson.dumps(openapi_document(self.app, self.endpoints))
            return Rendered(200, self._openapi)
        if path == "/metrics" and method in ("GET", "HEAD") and self.metrics.exposed:
            self.metrics.check(headers.get("authorization"))
            body, media_type = self.runtime.metrics.exposition()
            return Rendered(200, body, media_type.encode())
        if path == "/healthz" and method in ("GET", "HEAD"):
            return Rendered(200, b'{"status":"ok"}')
        raise NotFoundError(f"no route for {path}")


def _answer(rendered: Rendered, request_id: str, *, head: bool) -> Answer:
    """``rendered`` with the headers every answer carries: ``x-request-id``, the security
    headers, ``cache-control`` unless the handler set its own, the length and the type."""
    media = rendered.media_type
    if not rendered.headers and media == JSON and rendered.status != 204:  # the usual one
        length = (b"content-length", str(len(rendered.body)).encode())
        return Answer(
            rendered.status,
            [(b"x-request-id", request_id.encode()), *_EVERY_ANSWER, length, *_JSON_TYPED],
            b"" if head else rendered.body,
        )
    if rendered.headers:  # a handler's Response or a problem: it may set its own
        headers = [(b"x-request-id", request_id.encode()), *rendered.headers]
        names = {name for name, _ in rendered.headers}
        headers += SECURITY_HEADERS if b"cache-control" in names else _EVERY_ANSWER
        if media is None and b"content-type" in names:
            media = next(value for name, value in rendered.headers if name == b"content-type")
    else:
        headers = [(b"x-request-id", request_id.encode()), *_EVERY_ANSWER]
    if rendered.status != 204:
        headers.append((b"content-length", str(len(rendered.body)).encode()))
    if rendered.media_type is not None:
        headers.append((b"content-type", rendered.media_type))
    if media in _JSON_MEDIA:
        headers.append(JSON_CSP)
    return Answer(rendered.status, headers, b"" if head else rendered.body)


def create_asgi_app(app: App, runtime: Runtime | None = None) -> Gateway:
    """The ASGI app for ``app``: its :class:`Gateway` (CORS included, when the app
    declares it)."""
    from faaskit.config import Settings

    return Gateway(runtime or Runtime(app, Settings.load()))
