"""Saga declarations: an ordered list of steps, each an action with an optional
compensation, a retry policy and a timeout. Nothing here does I/O.

    order = app.saga("order", deadline=timedelta(hours=1))

    @order.step(compensate=release_inventory, max_attempts=3, backoff=Backoff(1, 30))
    async def reserve_inventory(input: dict, results: dict, ctx: Context) -> dict: ...

Each action and each compensation is registered on the App as an internal task
(``saga.order.reserve_inventory.do`` / ``.undo``), so a step runs as an ordinary delivery:
claimed, leased, retried and acknowledged by any worker, relayed by any cloud queue.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from faaskit.errors import ConfigurationError

if TYPE_CHECKING:
    from faaskit.app import App
    from faaskit.context import Context
    from faaskit.triggers import Backoff

__all__ = ["Pending", "Saga", "Step", "StepRun"]

Handler = TypeVar("Handler", bound=Callable[..., Any])
_STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TIMEOUT_MARGIN = 5.0
"""Seconds the internal task's own timeout exceeds the step's, so the worker's watchdog
never cancels the engine while it records a step that timed out."""
COMMIT_RETRIES = 1
"""Deliveries the internal task may use beyond the step's attempts. A transition that loses
a race at commit (ConcurrencyError) is retried by the worker without counting, a few times
per attempt (``faaskit.runtime.worker.LOST_RACE_RETRIES``); should the last attempt's
transition lose more often than that, this one more delivery records the step as failed
without running it again, rather than the delivery being dead-lettered, the saga stuck."""


@dataclass(frozen=True)
class Pending:
    """Return from a step action to finish the step later, from any invocation, with
    ``ctx.complete_step(token, result)`` or ``ctx.fail_step(token, reason)``; the token is
    ``ctx.step.token``, handed to the outside service (a payment provider's webhook)::

        @order.step(timeout=600)
        async def process_payment(input: dict, results: dict, ctx: Context) -> Pending:
            await provider.charge(input["amount"], callback_token=ctx.step.token,
                                  idempotency_key=ctx.idempotency_key())
            return Pending()

    A step still pending after ``timeout`` (default: the step's timeout) fails that
    attempt: the action runs again while attempts remain, then the saga compensates."""

    timeout: timedelta | float | None = None


@dataclass(frozen=True)
class StepRun:
    """What ``ctx.step`` tells a saga step's action (``phase="do"``) or compensation
    (``phase="undo"``) about itself; None outside sagas."""

    saga_id: str
    saga: str
    step: str
    phase: str
    attempt: int
    token: str | None = None
    """The completion token an action hands out when it returns :class:`Pending`."""

    @property
    def idempotency_key(self) -> str:
        """``{saga_id}:{step}:{phase}``, the same on every attempt (what a provider that
        honours idempotency keys needs to charge once)."""
        return f"{self.saga_id}:{self.step}:{self.phase}"


@dataclass(frozen=True)
class Bound:
    """A step handler and how its parameters are filled: by a ``Context`` annotation, by
    name (``input``, ``results``, ``result``), else by position in that order."""

    handler: Callable[..., Any]
    is_async: bool
    context_param: str | None
    params: tuple[tuple[str, str], ...]
    input_model: Any

    async def call(self, ctx: Context, values: Mapping[str, Any], limit: float | None) -> Any:
        arguments = {param: values[what] for param, what in self.params}
        if self.input_model is not None:
            for param, what in self.params:
                if what == "input":
                    arguments[param] = self.input_model.model_validate(arguments[param])
        if self.context_param is not None:
            arguments[self.context_param] = ctx
        if self.is_async:
            running = self.handler(**arguments)
        else:  # a thread cannot be stopped at the timeout; its writes are dropped all the same
            running = asyncio.to_thread(self.handler, **arguments)
        result = await (running if limit is None else asyncio.wait_for(running, limit))
        if inspect.isawaitable(result):
            result = await result
        return result


def bind(handler: Callable[..., Any], what: tuple[str, ...], label: str) -> Bound:
    from faaskit.context import Context

    try:
        hints = typing.get_type_hints(handler)
    except Exception as error:
        raise ConfigurationError(f"{label}: cannot read type hints: {error}") from error
    context_param = None
    named: dict[str, str] = {}
    positional: list[str] = []
    for name, parameter in inspect.signature(handler).parameters.items():
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            raise ConfigurationError(f"{label}: cannot supply *args or **kwargs ({name})")
        if hints.get(name) is Context:
            context_param = name
        elif name in what and name not in named.values():
            named[name] = name
        else:
            positional.append(name)
    free = [w for w in what if w not in named.values()]
    if len(positional) > len(free):
        raise ConfigurationError(
            f"{label}: cannot supply parameter {positional[len(free)]!r} "
            f"(a step takes {', '.join(what)} and a Context)"
        )
    params = tuple(named.items()) + tuple(zip(positional, free, strict=False))
    input_param = next((p for p, w in params if w == "input"), None)
    model = hints.get(input_param) if input_param else None
    input_model = model if inspect.isclass(model) and hasattr(model, "model_validate") else None
    is_async = inspect.iscoroutinefunction(handler)
    return Bound(handler, is_async, context_param, params, input_model)


@dataclass(frozen=True)
class Step:
    """A declared step: its position, handlers and policy."""

    saga: str
    name: str
    index: int
    action: Bound
    compensation: Bound | None
    max_attempts: int
    backoff: Backoff
    timeout: float | None

    def task_name(self, phase: str) -> str:
        return f"saga.{self.saga}.{self.name}.{phase}"


class Saga:
    """A saga declared with ``app.saga(name)``; add steps with :meth:`step`, in order."""

    def __init__(self, app: App, name: str, *, deadline: timedelta | float | None = None) -> None:
        from faaskit.messaging import seconds

        self.app = app
        self.name = name
        self.deadline = None if deadline is None else seconds(deadline)
        self.steps: list[Step] = []
        self.transition_hooks: list[Bound] = []
        from faaskit.sagas import tasks

        # one timeout and one deadline task per saga; the payload names the step
        app.task(tasks.timeout_task(self), name=self.task_name("timeout"), max_attempts=10)
        app.task(tasks.deadline_task(self), name=self.task_name("deadline"), max_attempts=10)

    def task_name(self, purpose: str) -> str:
        return f"saga.{self.name}.{purpose}"

    def on_transition(self, handler: Handler) -> Handler:
        """Declare a hook run after every transition of this saga (a decorator; several
        run in declaration order)::

            @order.on_transition
            async def changed(before: SagaState | None, after: SagaState, ctx: Context): ...

        ``before`` is the state as the transition read it (None when the saga starts),
        ``after`` the state it saves. Every transition calls it: a step's outcome, a
        compensation's, a pending step's timeout, the deadline, ``ctx.start_saga``,
        ``ctx.complete_step``, ``ctx.fail_step``, a manual retry and a cancel; a delivery
        that finds its step already past changes nothing and calls nothing.

        The hook runs in the unit of work that saves the transition, so what it writes or
        publishes commits with the transition or not at all. A transition that is run
        again (a lost race, a redelivery before commit, a retry) runs the hook again with
        the same ``before``/``after``: publish with stable message ids (say
        ``f"{order_id}-confirmed"``) and write idempotently; two racing starts of one saga
        id both run it (the later start's insert is dropped, its hook's writes are not).

        A hook that raises fails that unit of work like any error: the transition is
        dropped with it and retried as its invocation is (a step's action runs again,
        using an attempt; a route answers 500), so a hook that always raises ends with
        the delivery dead-lettered.

        The hook may be ``async def`` or plain ``def`` (run in a thread); its parameters
        are filled like a step's: a ``Context`` annotation, by name (``before``,
        ``after``), else by position in that order."""
        label = f"saga {self.name!r} transition hook {getattr(handler, '__name__', handler)!r}"
        self.transition_hooks.append(bind(handler, ("before", "after"), label))
        return handler

    def step(
        self,
        handler: Handler | None = None,
        *,
        name: str | None = None,
        compensate: Callable[..., Any] | None = None,
        max_attempts: int = 3,
        backoff: Backoff | None = None,
        timeout: float | None = 30.0,
    ) -> Any:
        """Declare the next step: ``handler(input, results, ctx)`` returns the step's
        result (JSON-serialisable) or :class:`Pending`; ``compensate(input, results,
        result, ctx)`` undoes it when a later step fails. A :class:`StepFailed` fails the
        step at once; any other exception is retried after ``backoff`` until
        ``max_attempts``, then fails it. ``timeout`` bounds each attempt (and the wait of
        a pending step)."""
        from faaskit.sagas import tasks
        from faaskit.triggers import Backoff

        if max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")

        def register(handler: Handler) -> Handler:
            step_name = name or handler.__name__
            if not _STEP_NAME.match(step_name):
                raise ConfigurationError(f"step name {step_name!r}: use letters, digits, '_'")
            if any(s.name == step_name for s in self.steps):
                raise ConfigurationError(f"saga {self.name!r} has two steps {step_name!r}")
            label = f"saga {self.name!r} step {step_name!r}"
            step = Step(
                self.name,
                step_name,
                len(self.steps),
                bind(handler, ("input", "results"), label),
                None if compensate is None else bind(compensate, _UNDO, label + " compensation"),
                max_attempts,
                backoff or Backoff(),
                timeout,
            )
            task_timeout = None if timeout is None else timeout + TIMEOUT_MARGIN
            options: dict[str, Any] = {
                "max_attempts": max_attempts + COMMIT_RETRIES,
                "backoff": step.backoff,
                "timeout": task_timeout,
            }
            self.app.task(tasks.do_task(self, step), name=step.task_name("do"), **options)
            if compensate is not None:
                self.app.task(tasks.undo_task(self, step), name=step.task_name("undo"), **options)
            self.steps.append(step)
            return handler

        return register(handler) if handler is not None else register


_UNDO = ("input", "results", "result")
