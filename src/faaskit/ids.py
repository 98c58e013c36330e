"""Identifiers for requests and messages: a random per-process prefix and a counter.

Unique across processes and machines (48 random bits per process) and far cheaper than
``os.urandom`` per id, which costs tens of microseconds on some virtual machines. They are
names, not secrets: never use them as tokens.
"""

from __future__ import annotations

import itertools
import os

__all__ = ["new_id"]


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
