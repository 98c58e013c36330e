"""Aggregates: state rebuilt from their events; commands validate and emit new events.

    class Order(Aggregate):
        stream_prefix = "order"

        def __init__(self, id: str) -> None:
            super().__init__(id)
            self.status = "new"

        def when(self, event: BaseModel) -> None:
            match event:
                case OrderCreated():
                    self.status = "pending"

        def cancel(self, reason: str) -> None:
            if self.status in ("cancelled", "shipped"):
                raise ConflictError(f"an order that is {self.status} cannot be cancelled")
            self.emit(OrderCancelled(reason=reason))

Load and save through the unit of work: ``orders = ctx.aggregates(Order)``,
``order = await orders.get(id)``, ``orders.save(order)``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing imports re, which `import faaskit` does without
if TYPE_CHECKING:
    from typing import Any, ClassVar

__all__ = ["Aggregate"]


class Aggregate:
    """Subclass it; implement :meth:`when`; commands call :meth:`emit`."""

    stream_prefix: ClassVar[str] = ""
    snapshot_every: ClassVar[int | None] = None
    """Save a snapshot every this many events (None: never)."""

    def __init__(self, id: str) -> None:
        self.id = id
        self.version = 0
        """Events so far, pending ones included."""
        self._pending: list[Any] = []

    @classmethod
    def stream(cls, id: str) -> str:
        return f"{cls.stream_prefix or cls.__name__.lower()}-{id}"

    def when(self, event: Any) -> None:
        """Change state for ``event`` (also while replaying); no validation here."""
        raise NotImplementedError(f"{type(self).__name__}.when()")

    def emit(self, event: Any) -> None:
        """Record a new event: applied now, appended when the invocation commits."""
        self.when(event)
        self._pending.append(event)
        self.version += 1

    @property
    def pending(self) -> list[Any]:
        return list(self._pending)

    def snapshot_state(self) -> dict[str, Any]:
        """JSON-able state for a snapshot (default: the public attributes)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def restore(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            setattr(self, key, value)
