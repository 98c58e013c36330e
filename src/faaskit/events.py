"""What a subscriber, task or cron handler receives: the payload and its envelope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, TypeVar

from faaskit.records import Frozen, setfield

__all__ = ["Event"]

T = TypeVar("T")


class Event(Frozen, Generic[T]):
    """A delivered message. Declare ``event: Event[UserRegistered]`` to get ``data``
    validated as that model; ``attempt`` is 1 on the first delivery.

    A frozen value (equality, repr, ``copy.replace``) written by hand, not a dataclass:
    the worker builds one per delivery."""

    __slots__ = (  # noqa: RUF023 (fields in order)
        "data",
        "id",
        "topic",
        "key",
        "attempt",
        "correlation_id",
        "causation_id",
        "published_at",
        "headers",
    )
    data: T
    id: str
    topic: str
    key: str | None
    attempt: int
    correlation_id: str | None
    causation_id: str | None
    published_at: datetime
    headers: dict[str, str]

    def __init__(
        self,
        data: T,
        id: str,
        topic: str,
        key: str | None,
        attempt: int,
        correlation_id: str | None,
        causation_id: str | None,
        published_at: datetime,
        headers: dict[str, str] | None = None,
    ) -> None:
        setfield(self, "data", data)
        setfield(self, "id", id)
        setfield(self, "topic", topic)
        setfield(self, "key", key)
        setfield(self, "attempt", attempt)
        setfield(self, "correlation_id", correlation_id)
        setfield(self, "causation_id", causation_id)
        setfield(self, "published_at", published_at)
        setfield(self, "headers", {} if headers is None else headers)

    @staticmethod
    def timestamp(epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, UTC)
