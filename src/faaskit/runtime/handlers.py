"""Message handlers (subscribers, tasks, crons): how a delivery becomes their arguments.

A parameter annotated ``Event[Model]`` gets the envelope with ``data`` validated as
``Model``; one annotated with a model (or any type pydantic knows) gets the payload alone;
a ``Context`` parameter gets the context. Analysed once per handler.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args, get_origin

from faaskit.context import Context
from faaskit.errors import ConfigurationError, ValidationError
from faaskit.events import Event
from faaskit.resources import ResourceSpec, resource_for
from faaskit.store.protocol import Delivery
from faaskit.triggers import Cron, DeliveryPolicy, Subscription, Task

__all__ = ["MessageHandler", "message_handler"]

Trigger = Subscription | Task | Cron


@dataclass(slots=True)
class MessageHandler:
    trigger: Trigger
    context_param: str | None
    event_param: str | None
    payload_param: str | None
    adapter: Any  # a pydantic TypeAdapter of the payload type, or None for raw data
    plain: Callable[[Any], bool] | None = None
    """For ``dict`` and ``dict[str, Any]``: whether the data is one already (JSON gives
    one), which then needs no validation, only the copy pydantic would have made."""
    payload_type: Any = None
    kind: str = "task"
    """The kind its invocation records name: ``message``, ``task``, ``cron``, ``saga_step``."""
    resources: tuple[tuple[str, str], ...] = ()
    """(parameter, resource) of the per-process resources it takes."""

    @property
    def name(self) -> str:
        return self.trigger.name

    @property
    def policy(self) -> DeliveryPolicy:
        return self.trigger.policy

    @property
    def handler(self) -> Callable[..., Any]:
        return self.trigger.handler

    def arguments(self, delivery: Delivery, ctx: Context) -> dict[str, Any]:
        """ValidationError when the payload does not fit the declared type (not retried)."""
        message = delivery.message
        data = message.data
        plain = self.plain
        if plain is not None and plain(data):
            data = dict(data)
        elif self.adapter is not None or plain is not None:
            data = self._validate(data, message.topic)
        arguments: dict[str, Any] = {}
        if self.context_param:
            arguments[self.context_param] = ctx
        if self.payload_param:
            arguments[self.payload_param] = data
        if self.event_param:
            arguments[self.event_param] = Event(
                data=data,
                id=message.id,
                topic=message.topic,
                key=message.key,
                attempt=delivery.attempt,
                correlation_id=message.correlation_id,
                causation_id=message.causation_id,
                published_at=Event.timestamp(message.published_at),
                headers=message.headers,
            )
        return arguments

    def _validate(self, data: Any, topic: str) -> Any:
        adapter = self.adapter
        if adapter is None:  # a plain dict type, given something else: pydantic says what
            from pydantic import TypeAdapter

            adapter = self.adapter = TypeAdapter(self.payload_type)
        try:
            return adapter.validate_python(data)
        except ValueError as error:  # pydantic's ValidationError is one; imported only then
            import pydantic

            if not isinstance(error, pydantic.ValidationError):
                raise
            details = error.errors(include_url=False, include_input=False)
            raise ValidationError(
                f"payload of {topic!r} is invalid",
                [{"loc": ["data", *d["loc"]], "msg": d["msg"], "type": d["type"]} for d in details],
            ) from None


def _is_dict(data: Any) -> bool:
    return type(data) is dict


def _is_text_keyed_dict(data: Any) -> bool:
    return type(data) is dict and all(type(key) is str for key in data)


def message_handler(
    trigger: Trigger, resources: dict[str, ResourceSpec] | None = None
) -> MessageHandler:
    handler = trigger.handler
    try:
        hints = typing.get_type_hints(handler)
    except Exception as error:
        raise ConfigurationError(f"{trigger.name}: cannot read type hints: {error}") from error
    result = MessageHandler(trigger, None, None, None, None)
    if isinstance(trigger, Subscription):
        result.kind = "message"
    elif isinstance(trigger, Cron):
        result.kind = "cron"
    elif trigger.name.startswith("saga."):
        result.kind = "saga_step"
    payload_type: Any = None
    taken: list[tuple[str, str]] = []
    for name, parameter in inspect.signature(handler).parameters.items():
        annotation = hints.get(name, Any)
        resource = resource_for(resources, parameter, annotation) if resources else None
        if resource is not None:
            taken.append((name, resource))
        elif annotation is Context:
            result.context_param = name
        elif annotation is Event or get_origin(annotation) is Event:
            result.event_param = name
            args = get_args(annotation)
            payload_type = args[0] if args else None
        elif result.payload_param is None and parameter.kind is not parameter.VAR_KEYWORD:
            result.payload_param = name
            payload_type = annotation
        else:
            raise ConfigurationError(f"{trigger.name}: cannot supply parameter {name!r}")
    if result.event_param and result.payload_param:
        raise ConfigurationError(f"{trigger.name}: take an Event or a payload, not both")
    result.resources = tuple(taken)
    if payload_type is dict:
        result.plain, result.payload_type = _is_dict, payload_type
    elif get_origin(payload_type) is dict and get_args(payload_type) == (str, Any):
        result.plain, result.payload_type = _is_text_keyed_dict, payload_type
    elif payload_type is not None and payload_type is not Any:
        from pydantic import TypeAdapter

        result.adapter = TypeAdapter(payload_type)
    return result
