"""AWS Lambda HTTP events as requests to the gateway.

Four event kinds carry an HTTP request, each in its own shape:

- API Gateway REST APIs (payload 1.0, also an HTTP API's 1.0 format): ``httpMethod``,
  ``path`` (still percent-encoded), ``multiValueHeaders`` and
  ``multiValueQueryStringParameters`` (decoded values);
- API Gateway HTTP APIs (payload 2.0): ``rawPath`` (which API Gateway may already have
  decoded), ``rawQueryString``, comma-joined ``headers`` and a ``cookies`` array;
- Lambda Function URLs: the 2.0 shape, on a ``*.lambda-url.*`` domain, whose ``cookies``
  array may come beside a ``cookie`` header holding the same cookies;
- Application Load Balancers: ``requestContext.elb``; ``headers`` or, when the target group
  enables them, ``multiValueHeaders`` and ``multiValueQueryStringParameters``; query values
  arrive as the client encoded them.

:func:`http_request` reads any of them into one :class:`HttpRequest`, which the gateway
answers directly (:meth:`faaskit.http.gateway.Gateway.respond`). The path is routed without
the stage and the custom-domain base path, and keeps its percent escapes in ``raw_path`` so
the gateway decodes each segment after splitting (an encoded slash stays inside its path
parameter). Header values are latin-1 text of their UTF-8 bytes, as an HTTP server reads
them off the wire. Anything else is an :class:`UnsupportedEventError` naming what arrived.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlencode

from faaskit.errors import BadRequestError
from faaskit.http.exchange import Request

__all__ = ["EventKind", "HttpRequest", "UnsupportedEventError", "http_request"]

# Characters an encoded path may hold literally (RFC 3986 pchar and "/"), and "%" itself:
# quoting with these safe leaves an encoded path as it is and encodes a decoded one.
_PATH_SAFE = "/%!$&'()*+,;=:@"
# A path of only those characters and the ones quote() never encodes: quote leaves it as is.
_ENCODED_PATH = re.compile(r"[A-Za-z0-9_.~/%!$&'()*+,;=:@-]*")


class UnsupportedEventError(BadRequestError):
    """The Lambda event is not one this adapter handles (the message names what came)."""

    title = "Unsupported Event"


class EventKind(enum.Enum):
    REST = "API Gateway REST (payload 1.0)"
    HTTP_API = "API Gateway HTTP API (payload 2.0)"
    FUNCTION_URL = "Lambda Function URL"
    ALB = "Application Load Balancer"


class HttpRequest(Request):
    """One HTTP request read from a Lambda event: the gateway's request, and what the
    answer's shape depends on.

    ``raw_path`` is always the encoded path (``path`` its decoded form). ``multi_value``
    says the answer goes in ``multiValueHeaders`` (an ALB target group with multi-value
    headers on); ``body_error`` why a base64 body could not be decoded.
    """

    __slots__ = ("body_error", "kind", "multi_value")

    raw_path: str

    def __init__(
        self,
        kind: EventKind,
        method: str,
        raw_path: str,
        query_string: bytes,
        headers: dict[str, str],
        body: bytes,
        client: str | None,
        *,
        multi_value: bool = False,
        body_error: str | None = None,
    ) -> None:
        # Request's fields set here, not through its __init__: one call less per event
        self.method = method
        self.path = unquote(raw_path)
        self.raw_path = raw_path
        self.query_string = query_string
        self.headers = headers
        self.body = body
        self.client = (client, 0) if client else None
        self.receive = None
        self.kind = kind
        self.multi_value = multi_value
        self.body_error = body_error


def http_request(event: Any) -> HttpRequest:
    """The HTTP request an event carries; UnsupportedEventError for any other event."""
    if isinstance(event, dict):
        context = event.get("requestContext")
        if isinstance(context, dict):
            if isinstance(context.get("elb"), dict):
                return _alb(event)
            if isinstance(context.get("http"), dict) and event.get("version") == "2.0":
                return _v2(event, context)
            if isinstance(event.get("httpMethod"), str):
                return _v1(event, context)
    raise UnsupportedEventError(f"not an HTTP event this adapter knows: {describe(event)}")


def describe(event: Any) -> str:
    """A short account of an event, for an error message (never its values)."""
    if not isinstance(event, dict):
        return f"a {type(event).__name__}, not a JSON object"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        first = records[0]
        source = first.get("eventSource") or first.get("EventSource")
        if source is None and "cf" in first:
            source = "CloudFront (Lambda@Edge)"
        return f"{len(records)} record(s) from {source or 'an unknown source'}"
    if "detail-type" in event and "source" in event:
        return f"an EventBridge event ({event['source']!s:.60}, {event['detail-type']!s:.60})"
    keys = sorted(str(key) for key in event)
    shown = ", ".join(key[:40] for key in keys[:12])
    more = f" and {len(keys) - 12} more" if len(keys) > 12 else ""
    return f"an object with keys [{shown}]{more}" if keys else "an empty object"


# -- the four kinds -------------------------------------------------------------------------


def _v1(event: Mapping[str, Any], context: Mapping[str, Any]) -> HttpRequest:
    path = _encoded(event.get("path") or "/")
    resource = event.get("resource")
    if isinstance(resource, str) and resource.startswith("/"):
        path = _without_base(path, resource, event.get("pathParameters"))
    elif isinstance(context.get("path"), str) and _encoded(context["path"]) == path:
        # No resource to go by: on the execute-api domain requestContext.path is
        # /{stage}{path}; only when it is the path itself can the stage lead the path.
        path = _without_stage(path, context.get("stage"))
    query = event.get("multiValueQueryStringParameters") or event.get("queryStringParameters")
    identity = context.get("identity")
    body, error = _body(event)
    return HttpRequest(
        kind=EventKind.REST,
        method=event["httpMethod"].upper(),
        raw_path=path,
        query_string=urlencode(query, doseq=True).encode() if query else b"",
        headers=_headers(event, body),
        body=body,
        client=_text(identity.get("sourceIp")) if isinstance(identity, dict) else None,
        body_error=error,
    )


def _v2(event: Mapping[str, Any], context: Mapping[str, Any]) -> HttpRequest:
    http = context["http"]
    raw = event.get("rawPath")
    path = _encoded(raw if isinstance(raw, str) and raw else http.get("path") or "/")
    stage = context.get("stage")
    if stage != "$default":  # the default stage never leads the path
        path = _without_stage(path, stage)
    route_key = event.get("routeKey") or context.get("routeKey")
    if isinstance(route_key, str) and route_key.partition(" ")[2] != path:
        path = _without_base(path, route_key.partition(" ")[2], event.get("pathParameters"))
    domain = context.get("domainName")
    kind = (
        EventKind.FUNCTION_URL
        if ".lambda-url." in (domain if isinstance(domain, str) else str(domain or ""))
        else EventKind.HTTP_API
    )
    body, error = _body(event) if event.get("body") else (b"", None)
    headers = _headers(event, body)
    cookies = event.get("cookies")
    if isinstance(cookies, list) and cookies:
        # The array is the whole truth; a Function URL's cookie header repeats it.
        headers.pop("cookie", None)
        try:
            cookie = "; ".join(cookies)
        except TypeError:  # not all text
            cookie = "; ".join(str(c) for c in cookies)
        headers["cookie"] = cookie if cookie.isascii() else _wire(cookie)
    method = http.get("method")
    query = event.get("rawQueryString")
    # positional: the fields in HttpRequest's order (kind, method, raw_path, query_string,
    # headers, body, client), one event's worth of keyword matching saved
    return HttpRequest(
        kind,
        method.upper() if type(method) is str and method else str(method or "GET").upper(),
        path,
        query.encode() if type(query) is str else str(query or "").encode(),
        headers,
        body,
        _text(http.get("sourceIp")),
        body_error=error,
    )


def _alb(event: Mapping[str, Any]) -> HttpRequest:
    multi_value = "multiValueHeaders" in event
    query = event.get("multiValueQueryStringParameters") or event.get("queryStringParameters")
    body, error = _body(event)
    headers = _headers(event, body)
    forwarded = headers.get("x-forwarded-for", "")
    return HttpRequest(
        kind=EventKind.ALB,
        method=str(event.get("httpMethod") or "GET").upper(),
        raw_path=_encoded(event.get("path") or "/"),
        query_string=_alb_query(query) if query else b"",
        headers=headers,
        body=body,
        # the load balancer appends the address it saw: the last entry, not the first
        client=forwarded.rpartition(",")[2].strip() or None,
        multi_value=multi_value,
        body_error=error,
    )


# -- parts ----------------------------------------------------------------------------------


def _headers(event: Mapping[str, Any], body: bytes) -> dict[str, str]:
    """Lowercased names, one entry each (repeats joined as HTTP joins them), and the
    content-length of the body as decoded; names and values as the wire has them
    (:func:`_wire`)."""
    multi = event.get("multiValueHeaders")
    if isinstance(multi, dict) and multi:
        joined = _multi_valued(multi)
        ascii = None
    else:
        single = event.get("headers")
        joined, ascii = _single_valued(single) if isinstance(single, dict) else ({}, True)
    if "content-length" in joined:
        del joined["content-length"]
    if body:
        joined["content-length"] = str(len(body))
    if ascii is None:
        ascii = "".join(joined.values()).isascii() and "".join(joined).isascii()
    if not ascii:
        return {_wire(name): _wire(value) for name, value in joined.items()}
    return joined


def _multi_valued(multi: Mapping[str, Any]) -> dict[str, str]:
    merged: dict[str, list[str]] = {}
    for name, values in multi.items():
        if isinstance(values, list):
            merged.setdefault(name.lower(), []).extend(str(v) for v in values)
    return {
        name: ("; " if name == "cookie" else ", ").join(texts) for name, texts in merged.items()
    }


def _single_valued(single: Mapping[str, Any]) -> tuple[dict[str, str], bool | None]:
    """The headers, and whether they are all ASCII (None: not known)."""
    try:  # the usual event: text values (no None), names already lowercase (HTTP API)
        values = "".join(single.values())
        names = "".join(single)
    except TypeError:
        return _merged(single), None
    if names.islower():  # every name lowercase: a copy will do
        joined = dict(single)
    else:
        joined = {name.lower(): value for name, value in single.items()}
        if len(joined) < len(single):  # names that differ only in case
            return _merged(single), None
    return joined, values.isascii() and names.isascii()


def _merged(single: Mapping[str, Any]) -> dict[str, str]:
    """Headers with values that are not text (dropped when None) or names that differ
    only in case (one header, joined)."""
    joined: dict[str, str] = {}
    for name, value in single.items():
        if value is None:
            continue
        key, text = name.lower(), value if type(value) is str else str(value)
        before = joined.get(key)
        if before is None:
            joined[key] = text
        else:
            joined[key] = before + ("; " if key == "cookie" else ", ") + text
    return joined


def _wire(text: str) -> str:
    """``text`` as a server reads it off the wire: its UTF-8 bytes as latin-1 text (what
    it is already when it is ASCII)."""
    return text if text.isascii() else text.encode().decode("latin-1")


def _body(event: Mapping[str, Any]) -> tuple[bytes, str | None]:
    body = event.get("body")
    if not body:
        return b"", None
    text = body if isinstance(body, str) else str(body)
    if not event.get("isBase64Encoded"):
        return text.encode(), None
    try:
        if len(text) % 4:  # b64decode lets surplus padding through
            raise binascii.Error("length")
        return base64.b64decode(text, validate=True), None
    except (binascii.Error, ValueError):
        return b"", "the body is flagged isBase64Encoded but is not valid base64"


def _alb_query(params: Mapping[str, Any]) -> bytes:
    """The load balancer passes query values as the client encoded them: decode once,
    then encode again, so ``%3F`` stays a literal ``?`` and is never decoded twice."""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        values = value if isinstance(value, list) else [value]
        pairs.extend((unquote_plus(key), unquote_plus(str(v))) for v in values)
    return urlencode(pairs).encode()


def _encoded(path: str) -> str:
    """``path`` as an encoded path: escapes kept, characters no URL holds literally (a
    space, non-ASCII, from a gateway that decoded the path) encoded."""
    if _ENCODED_PATH.fullmatch(path) is None:
        path = quote(path, safe=_PATH_SAFE)
    return path if path.startswith("/") else "/" + path


def _without_stage(path: str, stage: Any) -> str:
    """An HTTP API's ``rawPath`` starts with ``/{stage}`` for a named stage, never for
    ``$default``."""
    if not isinstance(stage, str) or not stage or stage == "$default":
        return path
    prefix = "/" + quote(stage, safe=_PATH_SAFE)
    if path == prefix:
        return "/"
    return path[len(prefix) :] if path.startswith(prefix + "/") else path


def _without_base(path: str, template: Any, params: Any) -> str:
    """Drop a custom domain's base path: the route template that matched (``resource``,
    the route key's path) ends the path, so any segments before it are the base path.
    Their literal segments must agree, else the path is left as it is."""
    if not isinstance(template, str) or not template.startswith("/"):
        return path
    if path == template:  # a route without parameters, reached without a base path
        return path
    if template == "/":
        return "/"
    wanted = template.split("/")[1:]
    segments = path.split("/")[1:]
    count = len(wanted)
    last = wanted[-1]
    if last.startswith("{") and last.endswith("+}"):
        value = params.get(last[1:-2]) if isinstance(params, dict) else None
        if not isinstance(value, str):
            return path
        count += value.count("/")  # a greedy parameter spans its slashes
    extra = len(segments) - count
    if extra <= 0:
        return path
    tail = segments[extra:]
    for want, got in zip(wanted, tail, strict=False):
        if not want.startswith("{") and want != unquote(got):
            return path
    return "/" + "/".join(tail)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
