"""What a saga step raises to fail for good, and what the engine raises when asked to do
something a saga's state does not allow.

StepFailed                 (a step's business failure: no retry, compensate now)
FaaskitError
└── ConflictError          409
    ├── StepNotPendingError     409  (a completion for a step that no longer waits for it)
    └── SagaStateError          409  (retry or cancel of a saga not in a state for it)
"""

from __future__ import annotations

from typing import Any

from faaskit.errors import ConflictError

__all__ = ["SagaStateError", "StepFailed", "StepNotPendingError"]


class StepFailed(Exception):
    """Raise from a saga step to fail it permanently (a business failure: "insufficient
    inventory", "card declined"): the step is not retried, its own writes are dropped and
    the steps that completed before it are compensated in reverse order::

        if stock < wanted:
            raise StepFailed("insufficient inventory", product=sku, available=stock)

    ``reason`` and ``details`` (JSON-serialisable) are stored as the saga's failure.
    Raised from ``ctx.fail_step``'s caller side it is not needed: pass the reason there.
    """

    def __init__(self, reason: str, **details: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.details = details


class StepNotPendingError(ConflictError):
    """``ctx.complete_step`` / ``ctx.fail_step`` with a token whose step no longer waits
    (it completed with another result, failed, timed out, or the saga was cancelled), or a
    token no saga issued. A webhook route that lets it through answers 409."""

    title = "Step Not Pending"


class SagaStateError(ConflictError):
    """A retry or cancel of a saga whose status does not allow it (say, retrying a saga
    that is not ``compensation_failed``)."""

    title = "Saga State Conflict"
