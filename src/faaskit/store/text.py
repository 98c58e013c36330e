"""One rule for text on every backend: it never contains NUL (U+0000).

PostgreSQL cannot hold NUL in ``text`` or ``jsonb``; SQLite can. Without one rule the same
input would be stored on one backend and fail on the other, so both refuse it, with a
:class:`~faaskit.errors.ValidationError` (a 400 over HTTP), on reads and writes alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from faaskit.errors import ValidationError

__all__ = [
    "NUL_MESSAGE",
    "dump_json",
    "error_log",
    "nul_error",
    "nul_places",
    "refuse_nul",
    "without_nul",
]

NUL_MESSAGE = "text must not contain the NUL character (U+0000)"
_ESCAPED_NUL = b"\\u0000"


def nul_error() -> ValidationError:
    return ValidationError(NUL_MESSAGE, [{"loc": ["body"], "msg": NUL_MESSAGE, "type": "nul"}])


def refuse_nul(values: Iterable[Any]) -> None:
    """ValidationError when a string among ``values`` (statement parameters) holds NUL."""
    for value in values:
        if type(value) is str and "\x00" in value:
            raise nul_error()


def nul_places(value: Any) -> list[tuple[list[Any], bool]]:
    """Where NUL stands in ``value`` (parsed JSON): each string's path, or an object's path
    with True when one of its keys holds it; in document order."""
    found: list[tuple[list[Any], bool]] = []
    pending: list[tuple[Any, list[Any]]] = [(value, [])]
    while pending:  # a loop, not recursion: JSON may nest deeper than Python's stack
        item, path = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                found.append((path, False))
        elif isinstance(item, dict):
            if any(isinstance(key, str) and "\x00" in key for key in item):
                found.append((path, True))
            pending.extend((child, [*path, key]) for key, child in reversed(item.items()))
        elif isinstance(item, list | tuple):
            pending.extend(
                (child, [*path, index]) for index, child in reversed(list(enumerate(item)))
            )
    return found


def without_nul(value: Any) -> bool:
    """True when no string in ``value`` (keys included, at any depth) holds NUL."""
    return not nul_places(value)


def dump_json(value: Any) -> bytes:
    """``value`` as JSON; ValidationError when any of its strings holds NUL.

    orjson writes NUL as the escape ``\\u0000``, so the scan of the encoded bytes is the
    fast check; a hit can be a literal backslash before ``u0000``, hence the exact walk.
    """
    encoded = orjson.dumps(value)
    if _ESCAPED_NUL in encoded and not without_nul(orjson.loads(encoded)):
        raise nul_error()
    return encoded


def error_log(errors: Any) -> str:
    """A delivery's attempt errors as JSON text, NUL shown as U+FFFD: an exception's message
    may quote the input that caused it, and recording a failure must not fail."""
    return orjson.dumps(errors).decode().replace("\\u0000", "\\ufffd")
