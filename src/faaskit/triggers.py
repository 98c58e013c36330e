"""Declared triggers other than HTTP: subscriptions, tasks and crons, with their policies.

These are declarations only; the worker (``faaskit.runtime.worker``) delivers to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import random

__all__ = ["Backoff", "Cron", "Projection", "Subscription", "Task"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base·2ⁿ⁻¹))."""

    base: float = 1.0
    cap: float = 300.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(attempt - 1, 0))
        if rng is None:
            import random

            return random.uniform(0, ceiling)
        return rng.uniform(0, ceiling)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How a delivered message is retried and bounded."""

    max_attempts: int = 5
    backoff: Backoff = field(default_factory=Backoff)
    timeout: float | None = 30.0
    concurrency: int | None = None


@dataclass(frozen=True)
class Subscription:
    """``@app.subscribe(topic)``: each subscription gets its own copy of every message."""

    topic: str
    name: str
    handler: Callable[..., Any]
    policy: DeliveryPolicy
    ordered: bool = False

    @property
    def target(self) -> str:
        return f"sub:{self.name}"


@dataclass(frozen=True)
class Task:
    """``@app.task``: a durable one-off job scheduled with ``ctx.schedule``."""

    name: str
    handler: Callable[..., Any]
    policy: DeliveryPolicy

    @property
    def target(self) -> str:
        return f"task:{self.name}"


@dataclass(frozen=True)
class Cron:
    """``@app.cron("*/5 * * * *")``: runs once per tick however many workers run."""

    schedule: str
    name: str
    handler: Callable[..., Any]
    policy: DeliveryPolicy

    @property
    def target(self) -> str:
        return f"cron:{self.name}"


@dataclass(frozen=True)
class Projection:
    """``@app.projection(name, events=[...])``: consumes the global log in order; its
    checkpoint commits with its read-model writes. ``collections`` are the documents it
    owns (cleared by a rebuild)."""

    name: str
    handler: Callable[..., Any]
    event_types: tuple[str, ...]
    collections: tuple[str, ...] = ()
    batch_size: int = 200
