"""What a platform tells the runtime about the invocation under way: whether its
environment started cold, how long start-up took, and the platform's deadline.

A cloud adapter sets :data:`current_invocation` around each request or event; the
runtime copies it onto every Context it makes (a context variable, so concurrent requests
— a threaded functions-framework, Azure's async worker — never see each other's).
"""

from __future__ import annotations

from contextvars import ContextVar

from faaskit.records import Frozen, setfield

__all__ = ["Invocation", "current_invocation"]


class Invocation(Frozen):
    """A frozen value (built for every cloud event: no dataclass machinery per event)."""

    __slots__ = ("cold_start", "startup_seconds", "deadline")  # noqa: RUF023 (fields in order)
    cold_start: bool
    startup_seconds: float | None
    deadline: float | None

    def __init__(
        self, cold_start: bool, startup_seconds: float | None, deadline: float | None = None
    ) -> None:
        setfield(self, "cold_start", cold_start)
        setfield(self, "startup_seconds", startup_seconds)
        setfield(self, "deadline", deadline)


current_invocation: ContextVar[Invocation | None] = ContextVar("faaskit_invocation", default=None)
