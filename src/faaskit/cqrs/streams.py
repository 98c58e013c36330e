"""Event streams and aggregates inside a unit of work (``ctx.events``, ``ctx.aggregates``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from faaskit.cqrs.aggregate import Aggregate
from faaskit.errors import NotFoundError
from faaskit.store.protocol import AppendEvents, NewEvent, RecordedEvent, SaveSnapshot

if TYPE_CHECKING:
    from faaskit.context import Context
    from faaskit.cqrs.registry import EventTypes

__all__ = ["Aggregates", "EventStore"]

A = TypeVar("A", bound=Aggregate)


def _dumper(model: type[Any]) -> Callable[..., Any]:
    """What gives ``event.model_dump(mode="json")`` as ``dumper(event, mode="json")``: the
    model's serializer itself, which skips ``model_dump``'s Python wrapper (half the cost of
    a small event's dump), unless the model overrides ``model_dump``."""
    dump: Callable[..., Any] = model.model_dump
    if dump is BaseModel.model_dump:
        dump = model.__pydantic_serializer__.to_python
    return dump


class EventStore:
    """Append to and read event streams; appends commit with the invocation."""

    __slots__ = ("_ctx", "_types")

    def __init__(self, ctx: Context, types: EventTypes) -> None:
        self._ctx = ctx
        self._types = types

    def metadata(self) -> dict[str, Any]:
        ctx = self._ctx
        principal = ctx.principal
        return {
            "correlation_id": ctx.correlation_id,
            "causation_id": ctx.invocation_id,
            "user": principal.subject if principal else None,
        }

    def append(self, stream: str, events: Sequence[Any], *, expected_version: int | None) -> None:
        """Append pydantic events; a stream not at ``expected_version`` (0: new) makes the
        invocation fail with ConcurrencyError (409 over HTTP)."""
        if not events:
            return
        base = self.metadata()
        # Per model, once per append: its name, its metadata and how to dump it. Events of
        # one schema version share their metadata dict: the store only reads it.
        known: dict[type[Any], tuple[str, dict[str, Any], Callable[..., Any]]] = {}
        by_version: dict[int, dict[str, Any]] = {}
        new = []
        for event in events:
            model = type(event)
            found = known.get(model)
            if found is None:
                event_type = self._types.of(model)
                version = event_type.version
                metadata = by_version.get(version)
                if metadata is None:
                    metadata = by_version[version] = {**base, "schema_version": version}
                found = known[model] = (event_type.name, metadata, _dumper(model))
            name, metadata, dump = found
            new.append(NewEvent(name, dump(event, mode="json"), metadata))
        uow = self._ctx._uow
        uow.add(AppendEvents(stream, new, expected_version, uow.epoch()))

    async def read(self, stream: str, *, from_version: int = 1) -> list[tuple[RecordedEvent, Any]]:
        """Each stored event with its decoded (upcast) model, in stream order."""
        stored = await self._ctx._uow.store.read_stream(stream, from_version=from_version)
        return [(e, self._types.decode(e.type, e.data, e.metadata)) for e in stored]


class Aggregates(Generic[A]):
    """Load and save one aggregate class in this unit of work."""

    __slots__ = ("events", "kind")

    def __init__(self, kind: type[A], events: EventStore) -> None:
        self.kind = kind
        self.events = events

    async def load(self, id: str) -> A | None:
        aggregate = self.kind(id)
        stream = self.kind.stream(id)
        from_version = 1
        if self.kind.snapshot_every:
            snapshot = await self.events._ctx._uow.store.snapshot(stream)
            if snapshot is not None:
                aggregate.restore(snapshot[1])
                aggregate.version = snapshot[0]
                from_version = snapshot[0] + 1
        for recorded, event in await self.events.read(stream, from_version=from_version):
            aggregate.when(event)
            aggregate.version = recorded.version
        return aggregate if aggregate.version > 0 else None

    async def get(self, id: str, *, missing: str | None = None) -> A:
        """The aggregate, or NotFoundError (``missing`` is its message)."""
        aggregate = await self.load(id)
        if aggregate is None:
            raise NotFoundError(missing or f"{self.kind.__name__} {id!r} not found")
        return aggregate

    def save(self, aggregate: A) -> None:
        """Append its new events, expecting the version it was loaded at."""
        pending = aggregate._pending
        if not pending:
            return
        expected = aggregate.version - len(pending)
        stream = self.kind.stream(aggregate.id)
        self.events.append(stream, pending, expected_version=expected)
        aggregate._pending = []
        every = self.kind.snapshot_every
        if every and aggregate.version // every > expected // every:
            self.events._ctx._uow.add(
                SaveSnapshot(stream, aggregate.version, aggregate.snapshot_state())
            )
