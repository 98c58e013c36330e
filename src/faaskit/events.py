"""What a subscriber, task or cron handler receives: the payload and its envelope."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

__all__ = ["Event"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Event(Generic[T]):
    """A delivered message. Declare ``event: Event[UserRegistered]`` to get ``data``
    validated as that model; ``attempt`` is 1 on the first delivery."""

    data: T
    id: str
    topic: str
    key: str | None
    attempt: int
    correlation_id: str | None
    causation_id: str | None
    published_at: datetime
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def timestamp(epoch: float) -> datetime:
        return datetime.fromtimestamp(epoch, UTC)
