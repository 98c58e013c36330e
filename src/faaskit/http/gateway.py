"""The HTTP gateway: an ASGI app built from an :class:`~faaskit.App`, served by uvicorn.

It matches the route, authenticates, reads and validates the request, asks the runtime to
invoke the handler, and answers — errors as problem+json. It is written as plain ASGI
(Starlette's path compiler and convertors, no per-request Request object) because it is
the hot path of every HTTP function.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import time
from collections.abc import Coroutine
from typing import Any
from urllib.parse import unquote

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
from faaskit.http.binding import JSON, Endpoint, Rendered, build_endpoint
from faaskit.http.headers import JSON_CSP, NO_STORE, SECURITY_HEADERS
from faaskit.http.metrics_access import MetricsAccess
from faaskit.http.paths import compile_path
from faaskit.http.problems import PROBLEM_MEDIA_TYPE, problem
from faaskit.ids import is_request_id, new_id
from faaskit.platforms import limits_for
from faaskit.runtime.runtime import Runtime

__all__ = ["Gateway", "create_asgi_app"]

logger = logging.getLogger("faaskit.http")
_JSON_TYPE = re.compile(rb"^application/([a-z0-9.+-]+\+)?json\s*(;.*)?$", re.IGNORECASE)
_INTERNAL = "An unexpected error occurred; quote the request id when you report it."
_JSON_MEDIA = frozenset({JSON, PROBLEM_MEDIA_TYPE})
_EVERY_ANSWER = (*SECURITY_HEADERS, NO_STORE)
# Stands for an encoded slash (%2F) inside one segment while a path is matched, so it
# never separates segments; a noncharacter, which no route template contains.
_ENCODED_SLASH = "\uffff"


class ClientDisconnected(Exception):
    pass


class _PathGroup:
    """The endpoints sharing one path template, by method."""

    __slots__ = ("convertors", "methods", "regex")

    def __init__(self, path: str) -> None:
        self.regex, self.convertors = compile_path(path)
        self.methods: dict[str, Endpoint] = {}

    @property
    def allow(self) -> bytes:
        methods = set(self.methods) | {"OPTIONS"} | ({"HEAD"} if "GET" in self.methods else set())
        return ", ".join(sorted(methods)).encode()


class Gateway:
    """ASGI application. Start-up opens the store (lifespan, or the first request)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.app: App = runtime.app
        self.realm = self.app.name
        self.max_body = self.app.max_body_size
        self.platform = limits_for(runtime.settings.target)
        if self.platform is not None:
            self.max_body = min(self.max_body, self.platform.max_request_bytes)
        self.endpoints: list[Endpoint] = []
        self._static: dict[str, _PathGroup] = {}
        self._dynamic: list[_PathGroup] = []
        groups: dict[str, _PathGroup] = {}
        for route in self.app.routes:
            group = groups.get(route.path)
            if group is None:
                group = groups[route.path] = _PathGroup(route.path)
                if group.convertors:
                    self._dynamic.append(group)
                else:
                    self._static[route.path] = group
            endpoint = build_endpoint(route, group.convertors)
            group.methods[route.method] = endpoint
            self.endpoints.append(endpoint)
        self._openapi: bytes | None = None
        self._start_lock = asyncio.Lock()
        self.metrics = MetricsAccess(runtime.settings.metrics, runtime.secrets)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
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

    async def _ensure_started(self) -> None:
        async with self._start_lock:
            await self.runtime.start()

    def _match(
        self, path: str, raw_path: bytes | None = None
    ) -> tuple[_PathGroup | None, dict[str, Any]]:
        # With percent escapes, split the raw path first and decode each segment, so
        # ``/files/a%2Fb`` is one parameter ``a/b``, never two segments.
        encoded = raw_path is not None and b"%" in raw_path
        if encoded:
            assert raw_path is not None
            raw = raw_path.partition(b"?")[0].decode("latin-1")
            path = "/".join(unquote(part).replace("/", _ENCODED_SLASH) for part in raw.split("/"))
        group = self._static.get(path)
        if group is not None:
            return group, {}
        for group in self._dynamic:
            match = group.regex.match(path)
            if match is not None:
                convertors = group.convertors
                params = {
                    key: convertors[key].convert(
                        value.replace(_ENCODED_SLASH, "/") if encoded else value
                    )
                    for key, value in match.groupdict().items()
                }
                return group, params
        return None, {}

    async def _http(self, scope: Any, receive: Any, send: Any) -> None:
        started = time.perf_counter()
        headers: dict[str, str] = {
            key.decode("latin-1"): value.decode("latin-1") for key, value in scope["headers"]
        }
        request_id = headers.get("x-request-id", "")
        if not is_request_id(request_id):
            request_id = new_id()
        path: str = scope["path"]
        method: str = scope["method"]
        function = "-"
        try:
            if not self.runtime.started:
                await self._ensure_started()
            group, path_params = self._match(path, scope.get("raw_path"))
            if group is None:
                rendered = self._builtin(method, path, headers)
            else:
                endpoint = group.methods.get(method)
                if endpoint is None and method == "HEAD":
                    endpoint = group.methods.get("GET")
                if endpoint is not None:
                    function = endpoint.route.name
                    invocation = self._invoke(
                        endpoint, scope, receive, headers, path_params, request_id
                    )
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
            status, error_headers, body = problem(
                error, instance=path, request_id=request_id, realm=self.realm
            )
            rendered = Rendered(status, body, None, tuple(error_headers))
        except ClientDisconnected:
            return
        except Exception:
            logger.exception(
                "unhandled error",
                extra={"fields": {"request_id": request_id, "function": function, "path": path}},
            )
            status, error_headers, body = problem(
                FaaskitError(_INTERNAL), instance=path, request_id=request_id, realm=self.realm
            )
            rendered = Rendered(status, body, None, tuple(error_headers))
        await self._send(send, rendered, request_id, head=method == "HEAD")
        if logger.isEnabledFor(logging.INFO):
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

    async def _invoke(
        self,
        endpoint: Endpoint,
        scope: Any,
        receive: Any,
        headers: dict[str, str],
        path_params: dict[str, Any],
        request_id: str,
    ) -> Rendered:
        route = endpoint.route
        if route.rate_limits:
            await self._limit(route, scope)
        principal = None
        if route.scopes is not None:
            principal = self.runtime.authenticate(headers.get("authorization"), route.scopes)
        body = None
        if endpoint.needs_body:
            content_type = headers.get("content-type", "")
            if not _JSON_TYPE.match(content_type.encode("latin-1")):
                raise UnsupportedMediaTypeError(
                    f"send the body as application/json, not {content_type or 'no content type'}"
                )
            body = await self._read_body(receive, headers.get("content-length"))
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
        arguments = endpoint.bind(path_params, scope["query_string"], body, ctx)
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

    async def _limit(self, route: Route, scope: Any) -> None:
        """Take from the route's per-client buckets (the client as uvicorn reports it;
        behind a proxy, uvicorn's ``--forwarded-allow-ips`` makes that the real one)."""
        client = scope.get("client")
        who = client[0] if client else "unknown"
        for index, rule in enumerate(route.rate_limits):
            await self.runtime.limiter.take(f"{route.name}:{index}:client:{who}", rule)

    async def _read_body(self, receive: Any, content_length: str | None) -> bytes:
        limit = self.max_body
        if content_length is not None and content_length.isdigit() and int(content_length) > limit:
            raise self._too_large()
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

    @staticmethod
    async def _send(send: Any, rendered: Rendered, request_id: str, *, head: bool) -> None:
        media = rendered.media_type
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
        await send({"type": "http.response.start", "status": rendered.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if head else rendered.body})


def create_asgi_app(app: App, runtime: Runtime | None = None) -> Any:
    """The ASGI app for ``app`` (with CORS when the app declares it)."""
    from faaskit.config import Settings

    gateway = Gateway(runtime or Runtime(app, Settings.load()))
    if app.cors is not None:
        from faaskit.http.cors import CORSMiddleware

        return CORSMiddleware(gateway, app.cors)
    return gateway
