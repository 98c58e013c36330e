"""The internal tasks that run a saga: a step's action (``.do``), its compensation
(``.undo``), a pending step's timeout and the saga's deadline.

Each runs as an ordinary delivery. It reads the saga's state first: a delivery whose step
or phase is already past (a redelivery after a crash whose first run committed, a timeout
that lost to a completion) does nothing and is acknowledged. The step's handler runs in a
child context with its own write buffer, merged into the delivery's unit of work only when
the step succeeds, so a failed step's writes are dropped while the transition that records
the failure, and the ack, still commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from faaskit.context import Context
from faaskit.errors import ConfigurationError, not_before
from faaskit.events import Event
from faaskit.sagas.definitions import Pending, StepRun
from faaskit.sagas.errors import StepFailed
from faaskit.sagas.state import ACTIVE, COMPENSATING, SagaState
from faaskit.sagas.transitions import (
    Transition,
    checked_json,
    clone,
    describe,
    load,
    new_token,
)

if TYPE_CHECKING:
    from faaskit.sagas.definitions import Saga, Step

__all__ = ["deadline_task", "do_task", "timeout_task", "undo_task"]

logger = logging.getLogger("faaskit.sagas")
TaskHandler = Callable[[Event[dict[str, Any]], Context], Coroutine[Any, Any, None]]


def child_context(ctx: Context, run: StepRun) -> Context:
    """A context like ``ctx`` whose writes go to a buffer of their own."""
    from faaskit.runtime.unit_of_work import UnitOfWork

    uow = ctx._uow
    child = Context(
        invocation_id=ctx.invocation_id,
        function=ctx.function,
        uow=UnitOfWork(uow.store, uow.clock),
        runtime=ctx._runtime,
        collections=ctx._collections,
        correlation_id=ctx.correlation_id,
        principal=ctx.principal,
        headers=ctx.headers,
    )
    child.cold_start, child.startup_seconds = ctx.cold_start, ctx.startup_seconds
    child.deadline = ctx.deadline
    child.step = run
    return child


def merge(child: Context, ctx: Context) -> None:
    """The step succeeded: its writes join the delivery's unit of work."""
    parent, own = ctx._uow, child._uow
    parent.write_set.writes.extend(own.write_set.writes)
    parent.pending.update(own.pending)
    for key, doc in own.seen.items():
        parent.seen.setdefault(key, doc)


def _past(what: str, state: SagaState | None, payload: dict[str, Any]) -> None:
    logger.info(
        "saga %s already past: nothing to do",
        what,
        extra={"fields": {"saga_id": payload.get("saga"), "step": payload.get("step")}},
    )


def _declared_here(state: SagaState | None, index: int, name: str) -> None:
    """Refuse a stored saga whose steps are not the ones declared now (the code changed
    under it): the delivery fails, and after its attempts is dead-lettered, visibly."""
    if state is not None and (index >= len(state.steps) or state.steps[index].name != name):
        names = [s.name for s in state.steps]
        raise ConfigurationError(
            f"saga {state.id!r} was started with steps {names}; step {index} is now {name!r}"
        )


def do_task(saga: Saga, step: Step) -> TaskHandler:
    async def run_step(event: Event[dict[str, Any]], ctx: Context) -> None:
        await run_action(saga, step, event, ctx)

    return run_step


async def run_action(saga: Saga, step: Step, event: Event[dict[str, Any]], ctx: Context) -> None:
    payload = event.data
    state = await load(ctx, payload["saga"])
    _declared_here(state, step.index, step.name)
    here = None if state is None else state.steps[step.index]
    if (
        state is None
        or here is None
        or state.status not in ACTIVE
        or state.current != step.index
        or here.status != "scheduled"
        or here.round != payload["round"]
    ):
        return _past("step", state, payload)
    move = Transition(ctx, saga, state)
    attempt = here.round + event.attempt
    move.lost_attempts(here, here.round, min(attempt, step.max_attempts + 1))
    if state.deadline_at is not None and move.now >= state.deadline_at:
        reason = "the saga's deadline passed before this step ran"
        move.fail(step.index, "deadline", reason, status="cancelled")
        return await move.commit()
    if attempt > step.max_attempts:  # the last attempt ran but its outcome lost a race
        move.fail(step.index, "error", f"{step.max_attempts} attempts used")
        return await move.commit()
    token = new_token(state.id)
    child = child_context(ctx, StepRun(state.id, saga.name, step.name, "do", attempt, token))
    here.started_at, here.attempts = move.now, attempt
    values = {"input": clone(state.input), "results": clone(state.results)}
    try:
        result = await step.action.call(child, values, step.timeout)
        if not isinstance(result, Pending):
            result = checked_json(result)
    except StepFailed as failure:
        move.fail(step.index, "failed", failure.reason, checked_json(failure.details))
        return await move.commit()
    except Exception as error:
        reason = describe(error, step.timeout)
        if attempt < step.max_attempts:  # again after the step's backoff, in a new delivery
            delay = not_before(error, step.backoff.delay(attempt))  # an open breaker
            move.retry_do(step.index, attempt, reason, delay)
        else:
            move.fail(step.index, "error", reason)
        return await move.commit()
    merge(child, ctx)
    if isinstance(result, Pending):
        from faaskit.messaging import seconds

        if state.deadline_at is not None and ctx.now().timestamp() >= state.deadline_at:
            # the deadline's task came while this step ran and left it to this transition:
            # waiting now would outlive the deadline (forever, with no timeout)
            reason = "the saga's deadline passed while the step ran"
            move.fail(step.index, "deadline", reason)
            return await move.commit()

        wait = step.timeout if result.timeout is None else seconds(result.timeout)
        move.wait(step.index, token, wait)
    else:
        move.complete(step.index, result)
    await move.commit()


def undo_task(saga: Saga, step: Step) -> TaskHandler:
    async def run_undo(event: Event[dict[str, Any]], ctx: Context) -> None:
        await run_compensation(saga, step, event, ctx)

    return run_undo


async def run_compensation(
    saga: Saga, step: Step, event: Event[dict[str, Any]], ctx: Context
) -> None:
    payload = event.data
    state = await load(ctx, payload["saga"])
    _declared_here(state, step.index, step.name)
    undo = None if state is None else state.steps[step.index].undo
    if (
        state is None
        or undo is None
        or state.status != COMPENSATING
        or state.current != step.index
        or undo.status != "scheduled"
        or undo.round != payload["round"]
        or undo.used != payload.get("used", 0)
    ):
        return _past("compensation", state, payload)
    assert step.compensation is not None
    move = Transition(ctx, saga, state)
    attempt = undo.used + event.attempt
    move.lost_attempts(undo, undo.used, min(attempt, step.max_attempts + 1))
    if attempt > step.max_attempts:
        move.compensation_failed(step.index, f"{step.max_attempts} attempts used")
        return await move.commit()
    child = child_context(ctx, StepRun(state.id, saga.name, step.name, "undo", attempt))
    undo.started_at, undo.attempts = move.now, attempt
    values = {
        "input": clone(state.input),
        "results": clone(state.results),
        "result": clone(state.steps[step.index].result),
    }
    try:
        result = checked_json(await step.compensation.call(child, values, step.timeout))
    except Exception as error:
        # a compensation has no business failure to fall back on: StepFailed stops at once
        reason = describe(error, step.timeout)
        if not isinstance(error, StepFailed) and attempt < step.max_attempts:
            delay = not_before(error, step.backoff.delay(attempt))
            move.retry_undo(step.index, attempt, reason, delay)
        else:
            move.compensation_failed(step.index, reason)
        return await move.commit()
    merge(child, ctx)
    move.compensated(step.index, result)
    await move.commit()


def timeout_task(saga: Saga) -> TaskHandler:
    async def pending_timeout(event: Event[dict[str, Any]], ctx: Context) -> None:
        """A pending step's time is up: retry its action while attempts remain, else fail
        it (and compensate). A step completed meanwhile makes this a no-op."""
        payload = event.data
        state = await load(ctx, payload["saga"])
        index = payload["step"]
        _declared_here(state, index, saga.steps[index].name if index < len(saga.steps) else "?")
        here = None if state is None else state.steps[index]
        if (
            state is None
            or here is None
            or state.status not in ACTIVE
            or state.current != index
            or here.status != "waiting"
            or here.token != payload["token"]
        ):
            return _past("timeout", state, payload)
        step = saga.steps[index]
        move = Transition(ctx, saga, state)
        reason = f"TimeoutError: still pending after {step.timeout}s"
        if here.attempts < step.max_attempts:
            move.retry_do(index, here.attempts, reason, step.backoff.delay(here.attempts))
        else:
            move.fail(index, "timeout", reason)
        await move.commit()

    return pending_timeout


def deadline_task(saga: Saga) -> TaskHandler:
    async def saga_deadline(event: Event[dict[str, Any]], ctx: Context) -> None:
        """The saga's deadline: a step waiting for completion fails now; a step scheduled
        or running is stopped by its own transition, which checks the deadline."""
        payload = event.data
        state = await load(ctx, payload["saga"])
        if state is None or state.status not in ACTIVE or state.current is None:
            return _past("deadline", state, payload)
        if state.steps[state.current].status != "waiting":
            return None
        move = Transition(ctx, saga, state)
        move.fail(state.current, "deadline", "the saga's deadline passed while the step waited")
        await move.commit()

    return saga_deadline
