"""A message handler's payload as its parameter declares it: plain ``dict`` payloads are
taken as they are (a copy, what pydantic gave), anything else is validated."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from faaskit import App, Event, ValidationError
from faaskit.runtime.handlers import message_handler
from faaskit.store.protocol import Delivery, Message

app = App("payloads")


class Order(BaseModel):
    id: str


@app.subscribe("any")
async def takes_any(data: Any) -> None: ...


@app.subscribe("dict")
async def takes_dict(data: dict) -> None:  # type: ignore[type-arg]
    ...


@app.subscribe("text-keyed")
async def takes_text_keyed(event: Event[dict[str, Any]]) -> None: ...


@app.subscribe("model")
async def takes_model(data: Order) -> None: ...


def delivery(data: Any, topic: str = "t") -> Delivery:
    return Delivery(1, "sub:x", Message("m-1", topic, data), 1, "worker", [])


def payload(handler: Any, data: Any) -> Any:
    subscription = next(s for s in app.subscriptions if s.handler is handler)
    arguments = message_handler(subscription).arguments(delivery(data), None)  # type: ignore[arg-type]
    value = arguments.get("data", arguments.get("event"))
    return value.data if isinstance(value, Event) else value


@pytest.mark.parametrize("handler", [takes_dict, takes_text_keyed])
def test_a_dict_payload_arrives_as_a_copy_with_the_same_values(handler: Any) -> None:
    data = {"items": [1, 2], "n": 1}

    given = payload(handler, data)

    assert given == data and given is not data and given["items"] is data["items"]


def test_any_takes_the_data_as_it_is() -> None:
    data = [1, "two"]

    assert payload(takes_any, data) is data


@pytest.mark.parametrize("handler", [takes_dict, takes_text_keyed])
def test_a_dict_handler_given_something_else_fails_as_pydantic_says(handler: Any) -> None:
    with pytest.raises(ValidationError) as raised:
        payload(handler, [1, 2])

    assert raised.value.errors[0]["loc"] == ["data"]
    assert raised.value.errors[0]["type"] == "dict_type"


def test_text_keys_are_required_where_declared() -> None:
    with pytest.raises(ValidationError):
        payload(takes_text_keyed, {1: "one"})
    assert payload(takes_dict, {1: "one"}) == {1: "one"}


def test_a_model_payload_is_validated() -> None:
    assert payload(takes_model, {"id": "o-1"}) == Order(id="o-1")
    with pytest.raises(ValidationError) as raised:
        payload(takes_model, {"id": 5})
    assert raised.value.errors[0]["loc"] == ["data", "id"]
