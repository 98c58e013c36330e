"""Identifiers for requests and messages: a random per-process prefix and a counter.

Unique across processes and machines (48 random bits per process) and far cheaper than
``os.urandom`` per id, which costs tens of microseconds on some virtual machines. They are
names, not secrets: never use them as tokens.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import TypeGuard

__all__ = ["is_request_id", "new_id"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(6).hex()
    _counter = itertools.count()


_prefix = ""
_counter = itertools.count()
_reseed()
os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    """A 32-character hex id."""
    return f"{_prefix}{next(_counter):020x}"


def is_request_id(value: object) -> TypeGuard[str]:
    """Whether ``value`` may serve as a request id (``X-Request-ID``, a platform's
    invocation id): 1 to 128 letters, digits and ``._:-``, safe in logs and headers."""
    return isinstance(value, str) and _REQUEST_ID.match(value) is not None
