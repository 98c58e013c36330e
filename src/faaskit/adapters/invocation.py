"""What a cloud adapter tells each Context about the invocation it belongs to: whether its
environment started cold, how long start-up took, and the platform's deadline."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from faaskit.auth import Principal
from faaskit.context import Context
from faaskit.runtime.runtime import Runtime

__all__ = ["CloudRuntime", "Invocation", "current_invocation"]


@dataclass(frozen=True, slots=True)
class Invocation:
    cold_start: bool
    startup_seconds: float | None
    deadline: float | None = None


current_invocation: ContextVar[Invocation | None] = ContextVar("faaskit_invocation", default=None)
"""Set by an adapter around each request; a context variable, so concurrent requests (a
threaded functions-framework, Azure's async worker) never see each other's."""


class CloudRuntime(Runtime):
    """The runtime, telling each Context about the invocation it belongs to."""

    def context(
        self,
        function: str,
        invocation_id: str,
        *,
        principal: Principal | None = None,
        correlation_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Context:
        ctx = super().context(
            function,
            invocation_id,
            principal=principal,
            correlation_id=correlation_id,
            headers=headers,
        )
        invocation = current_invocation.get()
        if invocation is not None:
            ctx.cold_start = invocation.cold_start
            ctx.startup_seconds = invocation.startup_seconds
            ctx.deadline = invocation.deadline
        return ctx
