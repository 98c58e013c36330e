"""What ``ctx.events.append`` hands the unit of work: each event's data exactly as
``model_dump(mode="json")`` gives it (aliases, serializers and overrides included), its
registered name, and metadata shared by the events of one schema version."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from faaskit.cqrs.registry import EventTypes
from faaskit.cqrs.streams import EventStore
from faaskit.errors import ConfigurationError
from faaskit.store.protocol import AppendEvents, NewEvent


class Placed(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True)

    customer: str = Field(alias="customerName")
    at: datetime


class Priced(BaseModel):
    cents: int

    @field_serializer("cents")
    def as_euros(self, cents: int) -> str:
        return f"{cents / 100:.2f} EUR"


class Custom(BaseModel):
    text: str

    def model_dump(self, **options: Any) -> dict[str, Any]:
        return {"shouted": self.text.upper()}


class Unregistered(BaseModel):
    text: str


class _Unit:
    def __init__(self) -> None:
        self.writes: list[Any] = []

    def add(self, write: Any) -> None:
        self.writes.append(write)

    def epoch(self) -> float:
        return 1_700_000_000.0


class _Context:
    correlation_id = "corr-1"
    invocation_id = "inv-1"
    principal = None

    def __init__(self) -> None:
        self._uow = _Unit()


@pytest.fixture
def types() -> EventTypes:
    types = EventTypes()
    types.register(Placed)
    types.register(Priced, name="PriceSet", version=2)
    types.register(Custom)
    return types


def test_appended_data_is_what_model_dump_in_json_mode_gives(types: EventTypes) -> None:
    ctx = _Context()
    events = [
        Placed(customerName="Ann", at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
        Priced(cents=1999),
        Custom(text="hi"),
        Priced(cents=5),
    ]
    EventStore(ctx, types).append("order-1", events, expected_version=3)  # type: ignore[arg-type]

    [write] = ctx._uow.writes
    assert isinstance(write, AppendEvents)
    assert (write.stream, write.expected_version, write.at) == ("order-1", 3, 1_700_000_000.0)
    assert [e.type for e in write.events] == ["Placed", "PriceSet", "Custom", "PriceSet"]
    assert [e.data for e in write.events] == [e.model_dump(mode="json") for e in events]
    assert write.events[0].data == {"customerName": "Ann", "at": "2026-01-02T03:04:05Z"}
    assert write.events[1].data == {"cents": "19.99 EUR"}
    assert write.events[2].data == {"shouted": "HI"}


def test_events_of_one_schema_version_share_one_metadata(types: EventTypes) -> None:
    ctx = _Context()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    events = [Placed(customerName="a", at=at), Priced(cents=1), Custom(text="x"), Priced(cents=2)]
    EventStore(ctx, types).append("s", events, expected_version=None)  # type: ignore[arg-type]

    placed, priced, custom, priced_again = ctx._uow.writes[0].events
    base = {"correlation_id": "corr-1", "causation_id": "inv-1", "user": None}
    assert placed.metadata == custom.metadata == {**base, "schema_version": 1}
    assert priced.metadata == {**base, "schema_version": 2}
    assert placed.metadata is custom.metadata
    assert priced.metadata is priced_again.metadata


def test_an_unregistered_event_fails_the_append_and_adds_nothing(types: EventTypes) -> None:
    ctx = _Context()
    with pytest.raises(ConfigurationError, match="Unregistered is not an event type"):
        EventStore(ctx, types).append(  # type: ignore[arg-type]
            "s", [Priced(cents=1), Unregistered(text="x")], expected_version=None
        )
    assert ctx._uow.writes == []


def test_no_events_add_no_write(types: EventTypes) -> None:
    ctx = _Context()
    EventStore(ctx, types).append("s", [], expected_version=0)  # type: ignore[arg-type]
    assert ctx._uow.writes == []
    assert NewEvent("T", {}).metadata == {}
