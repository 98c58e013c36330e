"""Declaring sagas: what ``app.saga`` and ``@saga.step`` register, and what they refuse."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from faaskit import App, Backoff, ConfigurationError, Context
from faaskit.sagas.definitions import COMMIT_RETRIES, TIMEOUT_MARGIN


class Input(BaseModel):
    n: int


def test_each_step_and_compensation_is_an_internal_task_with_the_steps_policy() -> None:
    app = App("shop")
    order = app.saga("order")

    def release(input: dict[str, Any], results: dict[str, Any], result: Any) -> None: ...

    @order.step(compensate=release, max_attempts=4, backoff=Backoff(2, 8), timeout=10)
    async def reserve(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> None: ...

    @order.step(timeout=None)
    def notify(input: dict[str, Any]) -> None: ...

    assert sorted(app.tasks) == [
        "saga.order.deadline",
        "saga.order.notify.do",
        "saga.order.reserve.do",
        "saga.order.reserve.undo",
        "saga.order.timeout",
    ]
    do = app.tasks["saga.order.reserve.do"].policy
    assert (do.max_attempts, do.backoff, do.timeout) == (
        4 + COMMIT_RETRIES,
        Backoff(2, 8),
        10 + TIMEOUT_MARGIN,
    )
    assert app.tasks["saga.order.reserve.undo"].policy == do
    assert app.tasks["saga.order.notify.do"].policy.timeout is None
    assert [s.name for s in order.steps] == ["reserve", "notify"]
    assert app.sagas == {"order": order}


def test_step_parameters_bind_by_context_annotation_name_or_position() -> None:
    app = App("binding")
    order = app.saga("order")

    @order.step
    async def by_name(ctx: Context, results: dict[str, Any], input: Input) -> None: ...

    @order.step
    def by_position(data: dict[str, Any], earlier: dict[str, Any]) -> None: ...

    first, second = order.steps
    assert first.action.context_param == "ctx"
    assert dict(first.action.params) == {"results": "results", "input": "input"}
    assert first.action.input_model is Input and first.action.is_async
    assert dict(second.action.params) == {"data": "input", "earlier": "results"}
    assert second.action.input_model is None and not second.action.is_async


def test_bad_declarations_are_refused_at_import() -> None:
    app = App("bad")
    order = app.saga("order")

    @order.step
    def reserve(input: dict[str, Any]) -> None: ...

    with pytest.raises(ConfigurationError, match="two steps 'reserve'"):
        order.step(name="reserve")(lambda input: None)
    with pytest.raises(ConfigurationError, match="cannot supply parameter 'extra'"):

        @order.step
        def greedy(input: Any, results: Any, extra: Any) -> None: ...

    with pytest.raises(ConfigurationError, match=r"\*args"):

        @order.step
        def star(**kwargs: Any) -> None: ...

    with pytest.raises(ConfigurationError, match="declared twice"):
        app.saga("order")
    with pytest.raises(ConfigurationError, match="saga name"):
        app.saga("no spaces")
    with pytest.raises(ConfigurationError, match="max_attempts"):
        order.step(max_attempts=0)
