"""Starting sagas, completing pending steps, and the hand-operated retry and cancel.

Every function that changes a saga takes the :class:`~faaskit.Context` of the invocation
it belongs to, so the change commits with that invocation's own writes; the ``Runtime``
variants (:func:`retry_saga`, :func:`cancel_saga`) run one invocation of their own, for the
CLI and scripts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from faaskit.errors import ConfigurationError, ConflictError
from faaskit.sagas.errors import SagaStateError, StepNotPendingError
from faaskit.sagas.state import (
    ACTIVE,
    COMPENSATION_FAILED,
    COMPLETED,
    FAILED,
    FINAL,
    SAGAS_COLLECTION,
    STARTED,
    SagaState,
    StepState,
)
from faaskit.sagas.transitions import Transition, checked_json, load, saga_of, token_saga_id

if TYPE_CHECKING:
    from faaskit.context import Context
    from faaskit.runtime.runtime import Runtime
    from faaskit.sagas.definitions import Saga

__all__ = [
    "cancel",
    "cancel_saga",
    "complete_step",
    "fail_step",
    "get_saga",
    "retry",
    "retry_saga",
    "saga_result",
    "start",
]

T = TypeVar("T")


async def start(ctx: Context, saga: Saga | str, input: Any, saga_id: str | None = None) -> str:
    """Insert the saga's state and schedule its first step, in ``ctx``'s unit of work;
    the saga id. An id already started returns at once (the saga does not run again).

    Two invocations racing to start one id both commit, and the saga runs once: the state
    is inserted ``if_absent`` (the later commit leaves the first's state as it is), and its
    first step and deadline are tasks with ids of the saga's, which the store
    deduplicates. The later caller gets the id of the saga the first one started (with
    the first one's input)."""
    from faaskit.ids import new_id

    declared = _declared(ctx, saga)
    saga_id = saga_id or f"{declared.name}-{new_id()}"
    docs = ctx.documents(SAGAS_COLLECTION)
    existing = await docs.get(saga_id)  # sees this unit's own pending start too
    if existing is not None:
        if existing.data.get("name") != declared.name:
            raise ConflictError(f"saga id {saga_id!r} belongs to a {existing.data.get('name')!r}")
        return saga_id
    now = ctx.now().timestamp()
    state = SagaState(
        id=saga_id,
        name=declared.name,
        status=STARTED,
        input=checked_json(input),
        steps=[StepState(step.name) for step in declared.steps],
        started_at=now,
        updated_at=now,
        deadline_at=None if declared.deadline is None else now + declared.deadline,
    )
    move = Transition(ctx, declared, state, new=True)
    if state.steps:
        move.schedule_do(0)
    else:
        state.status, state.current, state.finished_at = COMPLETED, None, now
    if state.deadline_at is not None and state.steps:
        ctx.schedule(
            declared.task_name("deadline"),
            {"saga": saga_id},
            delay=declared.deadline,
            task_id=f"saga:{saga_id}:deadline",
        )
    # Two invocations racing to start one id both miss the read: the later commit keeps
    # the saga the first one inserted, and drops its own first step and deadline (same ids).
    await move.commit()
    return saga_id


async def get(ctx: Context, saga_id: str) -> SagaState | None:
    """The saga as this unit of work sees it (its own pending transition included)."""
    return await load(ctx, saga_id)


async def complete_step(ctx: Context, token: str, result: Any = None) -> None:
    """Complete the pending step ``token`` names with ``result``, and schedule the next
    step, in ``ctx``'s unit of work. The same completion again (a webhook delivered twice)
    is a no-op; any other for a step no longer waiting is StepNotPendingError (409)."""
    value = checked_json(result)
    state, index = await _waiting(ctx, token)
    step = state.steps[index]
    if step.status == "waiting":
        move = Transition(ctx, saga_of(ctx, state), state)
        move.complete(index, value)
        return await move.commit()
    if step.status == COMPLETED and step.result == value:
        return None
    raise StepNotPendingError(
        f"step {step.name!r} of saga {state.id!r} is {step.status}, no longer pending"
    )


async def fail_step(ctx: Context, token: str, reason: str, **details: Any) -> None:
    """Fail the pending step ``token`` names (as a :class:`StepFailed` would: no retry,
    compensate the completed steps). The same failure again is a no-op; anything else
    for a step no longer waiting is StepNotPendingError (409)."""
    details = checked_json(details)
    state, index = await _waiting(ctx, token)
    step = state.steps[index]
    if step.status == "waiting":
        move = Transition(ctx, saga_of(ctx, state), state)
        move.fail(index, "failed", reason, details)
        return await move.commit()
    if step.status == FAILED and step.error == reason:
        return None
    raise StepNotPendingError(
        f"step {step.name!r} of saga {state.id!r} is {step.status}, no longer pending"
    )


async def retry(ctx: Context, saga_id: str) -> SagaState:
    """Run a ``compensation_failed`` saga's failed compensation again, with a fresh set
    of attempts; the compensations before it follow as usual."""
    state = await _existing(ctx, saga_id)
    if state.status != COMPENSATION_FAILED or state.current is None:
        raise SagaStateError(f"saga {saga_id!r} is {state.status}, not {COMPENSATION_FAILED}")
    move = Transition(ctx, saga_of(ctx, state), state)
    move.schedule_undo(state.current, new_round=True)
    await move.commit()
    return state


async def cancel(ctx: Context, saga_id: str, reason: str = "cancelled") -> SagaState:
    """Stop a started or running saga and compensate the steps that completed. A step
    attempt running meanwhile loses its race (its transition finds the saga cancelled);
    what it did outside faaskit is left to its idempotency key."""
    state = await _existing(ctx, saga_id)
    if state.status not in ACTIVE or state.current is None:
        raise SagaStateError(f"saga {saga_id!r} is {state.status}: only a running one cancels")
    move = Transition(ctx, saga_of(ctx, state), state)
    move.fail(state.current, "cancelled", reason, status="cancelled")
    await move.commit()
    return state


async def get_saga(runtime: Runtime, saga_id: str) -> SagaState | None:
    """A saga's committed state, or None."""
    doc = await runtime.store.get(SAGAS_COLLECTION, saga_id)
    return None if doc is None else SagaState.from_document(doc)


async def saga_result(
    runtime: Runtime, saga_id: str, *, within: float = 30.0, poll: float = 0.05
) -> SagaState:
    """Wait (real time) until the saga stops — completed, failed, compensated or
    compensation_failed — and return its state; TimeoutError after ``within`` seconds.
    For tests and scripts whose workers run elsewhere."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        state = await get_saga(runtime, saga_id)
        if state is not None and state.status in FINAL:
            return state
        if loop.time() >= deadline:
            status = "missing" if state is None else state.status
            raise TimeoutError(f"saga {saga_id!r} is still {status} after {within}s")
        await asyncio.sleep(poll)


async def retry_saga(runtime: Runtime, saga_id: str) -> SagaState:
    """:func:`retry` in an invocation of its own (``faaskit sagas retry ID``)."""
    return await _invoke(runtime, "faaskit.sagas.retry", lambda ctx: retry(ctx, saga_id))


async def cancel_saga(runtime: Runtime, saga_id: str, reason: str = "cancelled") -> SagaState:
    """:func:`cancel` in an invocation of its own (``faaskit sagas cancel ID``)."""
    return await _invoke(runtime, "faaskit.sagas.cancel", lambda ctx: cancel(ctx, saga_id, reason))


async def _invoke(runtime: Runtime, function: str, body: Callable[[Context], Awaitable[T]]) -> T:
    from faaskit.ids import new_id

    await runtime.start()
    ctx = runtime.context(function, new_id())

    async def handler(ctx: Context) -> T:
        return await body(ctx)

    return await runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)


def _declared(ctx: Context, saga: Saga | str) -> Saga:
    name = saga if isinstance(saga, str) else saga.name
    declared = ctx._runtime.app.sagas.get(name)
    if declared is None or (not isinstance(saga, str) and declared is not saga):
        raise ConfigurationError(f"{name!r} is not a saga of this app: declare it with app.saga")
    return declared


async def _existing(ctx: Context, saga_id: str) -> SagaState:
    from faaskit.errors import NotFoundError

    state = await load(ctx, saga_id)
    if state is None:
        raise NotFoundError(f"no saga {saga_id!r}")
    return state


async def _waiting(ctx: Context, token: str) -> tuple[SagaState, int]:
    """The saga and step index ``token`` was issued for; StepNotPendingError if none."""
    saga_id = token_saga_id(token) if isinstance(token, str) else None
    state = None if saga_id is None else await load(ctx, saga_id)
    if state is not None:
        for index, step in enumerate(state.steps):
            if step.token == token:
                return state, index
    raise StepNotPendingError("no saga step waits for this token")
