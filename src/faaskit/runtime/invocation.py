"""What a platform tells the runtime about the invocation under way: whether its
environment started cold, how long start-up took, and the platform's deadline.

A cloud adapter sets :data:`current_invocation` around each request or event; the
runtime copies it onto every Context it makes (a context variable, so concurrent requests
— a threaded functions-framework, Azure's async worker — never see each other's).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Invocation", "current_invocation"]


@dataclass(frozen=True, slots=True)
class Invocation:
    cold_start: bool
    startup_seconds: float | None
    deadline: float | None = None


current_invocation: ContextVar[Invocation | None] = ContextVar("faaskit_invocation", default=None)
