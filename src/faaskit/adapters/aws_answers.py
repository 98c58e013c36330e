"""The gateway's answer as the Lambda answer each HTTP event kind expects.

- REST (payload 1.0): ``headers``, and ``multiValueHeaders`` for a header sent more than
  once (several ``Set-Cookie``);
- HTTP API and Function URL (payload 2.0): ``headers`` (repeats comma-joined) and every
  ``Set-Cookie`` in the ``cookies`` array;
- ALB with multi-value headers: every header in ``multiValueHeaders``;
- ALB with single-value headers: ``headers``, repeats comma-joined, except ``Set-Cookie``,
  which must never be joined: each one goes under a differently cased name
  (``set-cookie``, ``Set-cookie``, ``sEt-cookie``, ...), as Mangum does, since the load
  balancer passes header names through as they are and a browser reads them without
  regard to case. 512 casings exist; past them a cookie is dropped with a warning.

A body whose media type is not text (or that is compressed, or not UTF-8) is sent
base64-encoded with ``isBase64Encoded: true``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from http import HTTPStatus
from itertools import islice
from typing import Any

from faaskit.adapters.aws_events import EventKind, HttpRequest
from faaskit.http.headers import JSON_CSP, NO_STORE, PROBLEM_MEDIA_TYPE, SECURITY_HEADERS

__all__ = ["lambda_answer"]

logger = logging.getLogger("faaskit.adapters.aws")

_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/x-ndjson",
        "application/yaml",
        "application/graphql",
    }
)


# The headers the gateway puts on most answers, as text once: looked up, not decoded, per
# answer (the gateway hands the same tuples every time; an equal one is found as well).
_DECODED: dict[tuple[bytes, bytes], tuple[str, str]] = {
    pair: (pair[0].decode("latin-1"), pair[1].decode("latin-1"))
    for pair in (
        *SECURITY_HEADERS,
        NO_STORE,
        JSON_CSP,
        (b"content-type", b"application/json"),
        (b"content-type", PROBLEM_MEDIA_TYPE),
    )
}
_TEXT_MEDIA: dict[str, bool] = {}
"""Whether a content type is text, by the content types answers have had (a few)."""
_TEXT_MEDIA_KEPT = 64


def lambda_answer(
    request: HttpRequest, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> dict[str, Any]:
    """The answer to ``request`` for Lambda, from the gateway's status, headers and body."""
    known = _DECODED.get
    single = dict(
        [
            known(pair) or (pair[0].decode("latin-1").lower(), pair[1].decode("latin-1"))
            for pair in headers
        ]
    )
    if len(single) < len(headers):  # a header more than once (several Set-Cookie)
        return _with_repeats(request, status, headers, body)
    content_type = single.get("content-type", "")
    text, encoded = _body(body, content_type, single.get("content-encoding"))
    answer: dict[str, Any] = {"statusCode": status}
    kind = request.kind
    if kind is EventKind.REST:
        answer["headers"] = single
        answer["multiValueHeaders"] = {}
    elif kind is EventKind.HTTP_API or kind is EventKind.FUNCTION_URL:
        cookie = single.pop("set-cookie", None)
        answer["headers"] = single
        answer["cookies"] = [] if cookie is None else [cookie]
    else:
        answer["statusDescription"] = _status_line(status)
        if request.multi_value:
            answer["multiValueHeaders"] = {name: [value] for name, value in single.items()}
        else:
            answer["headers"] = single
    answer["body"] = text
    answer["isBase64Encoded"] = encoded
    return answer


def _with_repeats(
    request: HttpRequest, status: int, headers: list[tuple[bytes, bytes]], body: bytes
) -> dict[str, Any]:
    by_name: dict[str, list[str]] = {}
    for raw_name, raw_value in headers:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        values = by_name.get(name)
        if values is None:
            by_name[name] = [value]
        else:
            values.append(value)
    content_type = by_name.get("content-type", [""])[-1]
    text, encoded = _body(body, content_type, by_name.get("content-encoding", ["identity"])[-1])
    answer: dict[str, Any] = {"statusCode": status}
    kind = request.kind
    if kind is EventKind.REST:
        answer["headers"] = {k: v[0] for k, v in by_name.items() if len(v) == 1}
        answer["multiValueHeaders"] = {k: v for k, v in by_name.items() if len(v) > 1}
    elif kind in (EventKind.HTTP_API, EventKind.FUNCTION_URL):
        cookies = by_name.pop("set-cookie", [])
        answer["headers"] = {k: v[0] if len(v) == 1 else ", ".join(v) for k, v in by_name.items()}
        answer["cookies"] = cookies
    else:
        answer["statusDescription"] = _status_line(status)
        if request.multi_value:
            answer["multiValueHeaders"] = by_name
        else:
            answer["headers"] = _single_valued(by_name)
    answer["body"] = text
    answer["isBase64Encoded"] = encoded
    return answer


def _single_valued(by_name: dict[str, list[str]]) -> dict[str, str]:
    single: dict[str, str] = {}
    for name, values in by_name.items():
        if name != "set-cookie":
            single[name] = ", ".join(values)
            continue
        names = list(islice(_casings(name), len(values)))
        if len(names) < len(values):
            logger.warning(
                "an ALB answer without multi-value headers holds at most %d Set-Cookie; "
                "%d dropped (turn on multi-value headers in the target group)",
                len(names),
                len(values) - len(names),
            )
        single.update(zip(names, values, strict=False))
    return single


def _casings(name: str) -> Iterator[str]:
    """Every casing of ``name``, the lowercase one first."""
    letters = [index for index, char in enumerate(name) if char.isalpha()]
    for mask in range(2 ** len(letters)):
        chars = list(name)
        for bit, index in enumerate(letters):
            if mask >> bit & 1:
                chars[index] = chars[index].upper()
        yield "".join(chars)


def _body(body: bytes, content_type: str, content_encoding: str | None) -> tuple[str, bool]:
    if not body:
        return "", False
    encoding = "" if content_encoding is None else content_encoding.strip().lower()
    if encoding in ("", "identity") and _is_text(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def _is_text(content_type: str) -> bool:
    text = _TEXT_MEDIA.get(content_type)
    if text is None:
        media = content_type.partition(";")[0].strip().lower()
        text = (
            media.startswith("text/")
            or media in _TEXT_TYPES
            or media.endswith(("+json", "+xml", "+yaml"))
        )
        if len(_TEXT_MEDIA) < _TEXT_MEDIA_KEPT:
            _TEXT_MEDIA[content_type] = text
    return text


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)
