"""What ``ctx.publish`` and ``ctx.schedule`` write: messages and their deliveries, composed
from the app's declarations and the unit of work's clock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from faaskit.errors import ConfigurationError
from faaskit.ids import new_id
from faaskit.store.protocol import Message, NewDelivery, PublishMessage

if TYPE_CHECKING:
    from faaskit.app import App
    from faaskit.triggers import Task

__all__ = ["Duration", "new_message_id", "publication", "scheduling", "seconds"]

Duration = timedelta | float | int


def _task(app: App, task: Task | str | Callable[..., Any]) -> Task:
    """The declared task named, given, or whose handler this is."""
    if isinstance(task, str):
        found = app.tasks.get(task)
    else:
        handler = getattr(task, "handler", task)
        found = next((t for t in app.tasks.values() if t.handler is handler), None)
    if found is None:
        raise ConfigurationError(f"{task!r} is not a task of this app: declare it with @app.task")
    return found


def new_message_id() -> str:
    return new_id()


def seconds(duration: Duration | None) -> float:
    if duration is None:
        return 0.0
    value = duration.total_seconds() if isinstance(duration, timedelta) else float(duration)
    if value < 0:
        raise ValueError(f"a duration cannot be negative: {duration!r}")
    return value


def jsonable(data: Any) -> Any:
    """Payloads are stored as JSON: pydantic models become their JSON form."""
    dump = getattr(data, "model_dump", None)
    return dump(mode="json") if callable(dump) else data


def publication(
    app: App,
    now: float,
    topic: str,
    data: Any,
    *,
    key: str | None,
    message_id: str | None,
    correlation_id: str | None,
    causation_id: str | None,
    ttl: Duration | None,
    delay: Duration | None,
    headers: Mapping[str, str] | None,
) -> PublishMessage:
    """A message on ``topic`` with one delivery per subscription (fan-out)."""
    if not topic or topic.startswith(("task:", "cron:")):
        raise ValueError(f"{topic!r} is not a topic name")
    available = now + seconds(delay)
    message = Message(
        id=message_id or new_message_id(),
        topic=topic,
        data=jsonable(data),
        key=key,
        headers=dict(headers or {}),
        correlation_id=correlation_id,
        causation_id=causation_id,
        published_at=now,
        expires_at=None if ttl is None else now + seconds(ttl),
    )
    deliveries = [NewDelivery(s.target, available, s.ordered) for s in app.subscribers(topic)]
    return PublishMessage(message, deliveries, deduplicate=message_id is not None)


def scheduling(
    app: App,
    now: float,
    task: Task | str | Callable[..., Any],
    payload: Any,
    *,
    delay: Duration | None,
    at: datetime | None,
    task_id: str | None,
    correlation_id: str | None,
    causation_id: str | None,
    headers: Mapping[str, str] | None = None,
) -> PublishMessage:
    """A one-off task run at ``at`` or after ``delay``; a ``task_id`` already used is dropped."""
    declared = _task(app, task)
    if at is not None and delay is not None:
        raise ValueError("schedule() takes delay= or at=, not both")
    if at is not None and at.tzinfo is None:
        raise ValueError("schedule(at=...) needs a timezone-aware datetime")
    available = at.timestamp() if at is not None else now + seconds(delay)
    message = Message(
        id=task_id or new_message_id(),
        topic=declared.target,
        data=jsonable(payload),
        headers=dict(headers or {}),
        correlation_id=correlation_id,
        causation_id=causation_id,
        published_at=now,
    )
    return PublishMessage(
        message, [NewDelivery(declared.target, available)], deduplicate=task_id is not None
    )
