"""Secret values out of text faaskit shows or stores: logs, problem responses, the errors
and tracebacks of dead letters, retries and saga failures.

Every value read through :class:`faaskit.secrets.Secrets` is registered here (and each
string inside a JSON secret); :func:`redact` replaces them with ``***``. Values shorter
than :data:`MIN_LENGTH` characters are not registered: replacing every ``admin`` or
``1234`` in every log line would mangle ordinary text, and a secret that short is no
secret anyway. Values stay registered for the life of the process: a rotated-out key is
still a key.
"""

from __future__ import annotations

import threading

__all__ = ["MASK", "MIN_LENGTH", "Redactor", "redact", "redactor", "register"]

MASK = "***"
MIN_LENGTH = 8


class Redactor:
    """A set of values to hide, longest first (so a secret that contains another one is
    masked whole)."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        """Hide ``value`` from now on (ignored when shorter than MIN_LENGTH)."""
        if len(value) < MIN_LENGTH or value in self._known:
            return
        with self._lock:
            self._known.add(value)
            self._ordered = tuple(sorted(self._known, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every registered value replaced by ``***``."""
        for value in self._ordered:  # a snapshot: add() swaps the tuple whole
            if value in text:
                text = text.replace(value, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)


redactor = Redactor()
"""The process's redactor: secrets are process-wide, so is what hides them."""


def register(value: str) -> None:
    """Hide ``value`` (a secret faaskit did not read itself) from logs and stored errors."""
    redactor.add(value)


def redact(text: str) -> str:
    """``text`` without any secret value faaskit has read (``***`` in their place)."""
    return redactor.redact(text) if redactor._ordered else text
