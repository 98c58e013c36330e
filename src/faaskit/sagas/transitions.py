"""Saga transitions: each changes the state in memory, schedules what comes next in the
same unit of work, and :meth:`Transition.commit` writes the state expecting the version it
was read at. So a transition commits with the step's own writes, the ack of the delivery
that ran it and the next step's task — or not at all — and of two racing transitions
(a webhook completing a step while its timeout fires) one loses with ConcurrencyError and
is retried against the new state.

Every transition ends in :meth:`Transition.commit`, the one place that writes the state and
then runs the saga's :meth:`~faaskit.Saga.on_transition` hooks in the same unit of work."""

from __future__ import annotations

import copy
import secrets
from typing import TYPE_CHECKING, Any

import orjson

from faaskit.errors import ConfigurationError
from faaskit.sagas.state import (
    COMPENSATED,
    COMPENSATING,
    COMPENSATION_FAILED,
    COMPLETED,
    FAILED,
    RUNNING,
    SAGAS_COLLECTION,
    SagaState,
    StepState,
    UndoState,
)
from faaskit.secrets.redaction import redact

if TYPE_CHECKING:
    from faaskit.context import Context
    from faaskit.sagas.definitions import Saga

__all__ = [
    "Transition",
    "checked_json",
    "clone",
    "describe",
    "load",
    "new_token",
    "saga_of",
    "token_saga_id",
]

NO_OUTCOME = "no outcome: its worker stopped or lost its lease, or its commit failed"
"""The error kept for an attempt that was delivered but never recorded an outcome (the
delivery's own log may say more)."""
ATTEMPT_FAILURES = frozenset({"failed", "error", "timeout"})
"""Failure kinds that end an attempt (a deadline or a cancel stops the step instead)."""


def new_token(saga_id: str) -> str:
    """A completion token: 128 random bits, then the saga id (found without an index)."""
    return f"{secrets.token_urlsafe(16)}.{saga_id}"


def token_saga_id(token: str) -> str | None:
    random_part, dot, saga_id = token.partition(".")
    return saga_id if dot and random_part and saga_id else None


def describe(error: BaseException, timeout: float | None = None) -> str:
    """The text a saga keeps of an attempt's error (secret values redacted)."""
    if isinstance(error, TimeoutError):
        return f"TimeoutError: the step did not finish within {timeout}s"
    return redact(f"{type(error).__name__}: {error}")


def checked_json(value: Any) -> Any:
    """``value`` as stored (pydantic models dumped); TypeError when the store could not
    write it (not JSON, a key that is not text, an integer past 64 bits): the step's own
    error, not its commit's."""
    from faaskit.messaging import jsonable

    value = jsonable(value)
    orjson.dumps(value)
    return value


def clone(value: Any) -> Any:
    """A copy of stored JSON that a handler may change freely (a round trip through
    orjson: many times quicker than ``copy.deepcopy`` on the same data)."""
    return orjson.loads(orjson.dumps(value))


async def load(ctx: Context, saga_id: str) -> SagaState | None:
    doc = await ctx.documents(SAGAS_COLLECTION).get(saga_id)
    return None if doc is None else SagaState.from_document(doc)


def saga_of(ctx: Context, state: SagaState) -> Saga:
    saga = ctx._runtime.app.sagas.get(state.name)
    if saga is None:
        raise ConfigurationError(f"saga {state.id!r} is a {state.name!r}, which this app lacks")
    return saga


class Transition:
    """One change of one saga inside one unit of work."""

    def __init__(self, ctx: Context, saga: Saga, state: SagaState, *, new: bool = False) -> None:
        self.ctx = ctx
        self.saga = saga
        self.state = state
        self.new = new
        """A start: :meth:`commit` inserts the state (if absent) rather than updating it."""
        self.original = None if new or not saga.transition_hooks else copy.deepcopy(state)
        """The state as read at the start of the transition (None for a start)."""
        self.now = ctx.now().timestamp()
        self.before = state.status
        self.observed: list[tuple[Any, ...]] = []
        """Metrics of this transition, counted once its unit of work commits."""

    async def commit(self) -> None:
        """Write the state in the unit of work, then run the saga's transition hooks there.

        The only way a transition is saved, so no caller can skip the hooks. A hook that
        raises fails the unit of work: the transition, its writes and the hook's own are
        dropped, and the invocation fails like any other (a delivery is retried)."""
        docs = self.ctx.documents(SAGAS_COLLECTION)
        if self.new:
            # two racing starts of one id both commit: the later insert is dropped (and
            # its first step and deadline, same task ids), its hooks' writes are not
            docs.insert(self.state.id, self.state.to_data(), if_absent=True)
        else:
            self.state.updated_at = self.now
            docs.update(self.state.id, self.state.to_data(), expected_version=self.state.version)
            if self.state.status != self.before:
                self.observed.append(("status", self.state.name, self.state.status))
            self.ctx._runtime.metrics.sagas.observe(self.ctx._uow, self.observed)
        if self.saga.transition_hooks:
            after = copy.deepcopy(self.state)
            for hook in self.saga.transition_hooks:
                values = {"before": self.original, "after": after}
                await hook.call(self.ctx, values, None)

    def _observed(
        self, step: str, phase: str, outcome: str, since: float | None, tries: int
    ) -> None:
        seconds = None if since is None else self.now - since
        self.observed.append(("step", self.state.name, step, phase, outcome, seconds, tries))

    def failed_attempt(
        self,
        record: StepState | UndoState,
        attempt: int,
        error: str,
        retry_in: float | None,
    ) -> None:
        """Keep attempt ``attempt``'s error in the saga (``retry_in``: None for the last)."""
        failure: dict[str, Any] = {"attempt": attempt, "at": self.now, "error": error}
        failure["retry_in"] = retry_in
        if isinstance(record, UndoState):
            failure["round"] = record.round
        record.failures.append(failure)

    def lost_attempts(self, record: StepState | UndoState, before: int, attempt: int) -> None:
        """Attempts ``before + 1 .. attempt - 1`` were delivered but left no outcome in the
        saga: their worker died or lost its lease, or their commit failed."""
        for lost in range(before + 1, attempt):
            self.failed_attempt(record, lost, NO_OUTCOME, 0.0)

    def retry_do(self, index: int, attempt: int, error: str, delay: float) -> None:
        """Attempt ``attempt`` of step ``index`` failed transiently: the next in ``delay``."""
        step = self.state.steps[index]
        self.failed_attempt(step, attempt, error, delay)
        step.error, step.round = error, attempt
        self.schedule_do(index, delay)

    def retry_undo(self, index: int, attempt: int, error: str, delay: float) -> None:
        """Attempt ``attempt`` of a compensation failed: the next in ``delay`` seconds."""
        undo = self.state.steps[index].undo
        assert undo is not None
        self.failed_attempt(undo, attempt, error, delay)
        undo.error, undo.used = error, attempt
        self.schedule_undo(index, delay=delay)

    def schedule_do(self, index: int, delay: float = 0.0) -> None:
        state, step = self.state, self.state.steps[index]
        step.status = "scheduled"
        step.token = None
        if step.scheduled_at is None:
            step.scheduled_at = self.now
        if state.version == 0 and index == 0:  # a start (saved by an insert, not by save())
            self.ctx._runtime.metrics.sagas.observe(
                self.ctx._uow, [("status", state.name, state.status)]
            )
        state.current = index
        if index > 0:
            state.status = RUNNING
        payload = {"saga": state.id, "step": index, "round": step.round}
        task = self.saga.steps[index].task_name("do")
        task_id = f"saga:{state.id}:{index}:do:{step.round}"
        self.ctx.schedule(task, payload, delay=delay, task_id=task_id)

    def wait(self, index: int, token: str, timeout: float | None) -> None:
        """The action returned Pending: wait for ``token``, at most ``timeout`` seconds."""
        step = self.state.steps[index]
        step.status, step.token = "waiting", token
        self.state.status = RUNNING
        if timeout is None:
            step.timeout_at = None
            return
        step.timeout_at = self.now + timeout
        payload = {"saga": self.state.id, "step": index, "token": token}
        task_id = f"saga:{self.state.id}:{index}:timeout:{step.attempts}"
        self.ctx.schedule(self.saga.task_name("timeout"), payload, delay=timeout, task_id=task_id)

    def complete(self, index: int, result: Any) -> None:
        """Step ``index`` is done: store its result, schedule the next or finish."""
        step = self.state.steps[index]
        step.status, step.result, step.error = COMPLETED, result, None
        step.finished_at = self.now
        self._observed(step.name, "do", COMPLETED, step.scheduled_at, step.attempts)
        if index + 1 < len(self.state.steps):
            self.schedule_do(index + 1)
        else:
            self.state.status, self.state.current = COMPLETED, None
            self.state.finished_at = self.now

    def fail(
        self,
        index: int,
        kind: str,
        reason: str,
        details: dict[str, Any] | None = None,
        *,
        status: str = FAILED,
    ) -> None:
        """Step ``index`` failed (or was cancelled): record why, compensate the rest."""
        step = self.state.steps[index]
        reason = redact(reason)  # a StepFailed's or fail_step's own words may quote a secret
        step.status, step.error, step.finished_at = status, reason, self.now
        if kind in ATTEMPT_FAILURES:
            self.failed_attempt(step, step.attempts, reason, None)
        self._observed(step.name, "do", status, step.scheduled_at, step.attempts)
        self.state.failure = {
            "step": step.name,
            "kind": kind,
            "reason": reason,
            "details": details or {},
            "at": self.now,
        }
        self.compensate_before(index)

    def compensate_before(self, index: int) -> None:
        """Schedule the compensation of the last completed step before ``index`` that has
        one; with none left the saga is compensated (or failed: nothing to undo)."""
        state = self.state
        for earlier in range(index - 1, -1, -1):
            step = state.steps[earlier]
            if step.status == COMPLETED and self.saga.steps[earlier].compensation is not None:
                self.schedule_undo(earlier)
                return
        undone = any(s.undo is not None and s.undo.status == COMPENSATED for s in state.steps)
        state.status = COMPENSATED if undone else FAILED
        state.current, state.finished_at = None, self.now

    def schedule_undo(self, index: int, *, new_round: bool = False, delay: float = 0.0) -> None:
        state, step = self.state, self.state.steps[index]
        undo = step.undo or UndoState(scheduled_at=self.now)
        if new_round:
            undo.round, undo.used = undo.round + 1, 0
        undo.status = "scheduled"
        step.undo = undo
        state.status, state.current, state.finished_at = COMPENSATING, index, None
        payload = {"saga": state.id, "step": index, "round": undo.round, "used": undo.used}
        task = self.saga.steps[index].task_name("undo")
        task_id = f"saga:{state.id}:{index}:undo:{undo.round}"
        if undo.used:
            task_id += f".{undo.used}"
        self.ctx.schedule(task, payload, delay=delay, task_id=task_id)

    def compensated(self, index: int, result: Any) -> None:
        undo = self.state.steps[index].undo
        assert undo is not None
        undo.status, undo.result, undo.error = COMPENSATED, result, None
        undo.finished_at = self.now
        name = self.state.steps[index].name
        self._observed(name, "undo", COMPENSATED, undo.scheduled_at, undo.attempts)
        self.compensate_before(index)

    def compensation_failed(self, index: int, error: str) -> None:
        """Stop here, visibly: a human retries it (:func:`faaskit.sagas.retry_saga`)."""
        undo = self.state.steps[index].undo
        assert undo is not None
        undo.status, undo.error, undo.finished_at = FAILED, error, self.now
        self.failed_attempt(undo, undo.attempts, error, None)
        name = self.state.steps[index].name
        self._observed(name, "undo", FAILED, undo.scheduled_at, undo.attempts)
        self.state.status, self.state.current = COMPENSATION_FAILED, index
