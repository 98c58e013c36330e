"""Event types by name, with the upcasters that read old shapes as the current one.

@app.event_type(version=2)
class OrderCreated(BaseModel): ...

@app.upcaster("OrderCreated", from_version=1)
def add_currency(data: dict) -> dict:
    return {**data, "currency": "EUR"}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from faaskit.errors import ConfigurationError

__all__ = ["EventType", "EventTypes", "Upcaster"]

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class EventType:
    name: str
    model: type[Any]
    version: int = 1
    upcasters: dict[int, Upcaster] = field(default_factory=dict)
    """from_version → the function that turns that shape into the next version's."""

    def upcast(self, data: dict[str, Any], version: int) -> dict[str, Any]:
        while version < self.version:
            step = self.upcasters.get(version)
            if step is None:
                raise ConfigurationError(
                    f"{self.name} v{version} is stored but no upcaster reads it as v{version + 1}"
                )
            data = step(data)
            version += 1
        return data


class EventTypes:
    """The registry an App holds."""

    def __init__(self) -> None:
        self.by_name: dict[str, EventType] = {}
        self.by_model: dict[type[Any], EventType] = {}

    def register(self, model: type[Any], name: str | None = None, version: int = 1) -> EventType:
        name = name or model.__name__
        if name in self.by_name and self.by_name[name].model is not model:
            raise ConfigurationError(f"event type {name!r} is registered twice")
        if version < 1:
            raise ConfigurationError("event type versions start at 1")
        event_type = EventType(name, model, version)
        self.by_name[name] = event_type
        self.by_model[model] = event_type
        return event_type

    def of(self, model: type[Any]) -> EventType:
        try:
            return self.by_model[model]
        except KeyError:
            raise ConfigurationError(
                f"{model.__name__} is not an event type: decorate it with @app.event_type()"
            ) from None

    def named(self, name: str) -> EventType:
        try:
            return self.by_name[name]
        except KeyError:
            raise ConfigurationError(f"unknown event type {name!r}") from None

    def decode(self, name: str, data: dict[str, Any], metadata: dict[str, Any]) -> Any:
        """The stored event as its current model (upcast first when stored older)."""
        event_type = self.by_name.get(name) or self.named(name)
        version = int(metadata.get("schema_version", 1))
        if version < event_type.version:
            data = event_type.upcast(data, version)
        return event_type.model.model_validate(data)
