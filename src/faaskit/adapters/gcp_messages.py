"""The Pub/Sub message a CloudEvent carries, in whichever shape it reached the function.

functions-framework hands a CloudEvent function a ``cloudevents`` CloudEvent whatever
came over HTTP:

- a binary CloudEvent (``ce-*`` headers; Eventarc's push for a ``--trigger-topic``
  function): the body, ``{"message": {...}, "subscription": ...}``, is the event's data;
- a structured CloudEvent (``application/cloudevents+json``): the same data inside the
  JSON (or base64 in ``data_base64``);
- a raw Pub/Sub push body (``{"message": {...}, "subscription": ...}`` to a push
  subscription's endpoint): converted, its topic taken from the request path
  (``.../projects/P/topics/T``, empty when the endpoint has none), its subscription
  dropped;
- a 1st-gen background event (``{"context": {...}, "data": {...}}``, or the legacy
  ``{"eventId", "eventType", "resource", "data"}``): converted, the message wrapped as
  ``{"message": data}``, its ``messageId`` and ``publishTime`` from the context.

So the event's ``source`` is ``//pubsub.googleapis.com/projects/P/topics/T`` when the
topic is known, and its data holds the ``PubsubMessage``. Pub/Sub writes some fields twice
(``messageId`` and ``message_id``, ``publishTime`` and ``publish_time``), and either may
be missing: the first present wins, and the event's ``id`` (the same message id) is the
last resort. ``data`` is base64 (standard or URL-safe, padded or not, as protobuf's JSON
reads it); an absent or empty ``data`` is a message of attributes only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from faaskit.errors import BadRequestError

__all__ = [
    "MESSAGE_PUBLISHED",
    "MalformedMessageError",
    "PubSubEventError",
    "PubSubMessage",
    "UnsupportedEventError",
    "pubsub_message",
    "short_name",
]

MESSAGE_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
SCHEDULER_EXECUTED = "google.cloud.scheduler.job.v1.executed"
# the 1st-gen names of a Pub/Sub event, should one arrive as a CloudEvent's type
_PUBLISHED_TYPES = {
    MESSAGE_PUBLISHED,
    "google.pubsub.topic.publish",
    "providers/cloud.pubsub/eventTypes/topic.publish",
}
_PUBSUB_MESSAGE_TYPE = "type.googleapis.com/google.pubsub.v1.PubsubMessage"
_PUBSUB_SOURCE = re.compile(r"//pubsub\.googleapis\.com/(projects/[^/]+/topics/[^/]+)")
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]*={0,2}")
_URL_SAFE = str.maketrans("-_", "+/")


class PubSubEventError(BadRequestError):
    """A CloudEvent the Pub/Sub event function cannot take (raised: functions-framework
    answers 500, Pub/Sub redelivers, and after the subscription's last attempt moves it to
    its dead-letter topic, where someone sees it)."""

    title = "Unreadable Pub/Sub event"


class UnsupportedEventError(PubSubEventError):
    """The CloudEvent is not a Pub/Sub message (a Cloud Storage event, say)."""

    title = "Unsupported CloudEvent"


class MalformedMessageError(PubSubEventError):
    """The CloudEvent says it is a Pub/Sub message, but its data cannot be read as one."""

    title = "Malformed Pub/Sub message"


@dataclass(frozen=True, slots=True)
class PubSubMessage:
    """One Pub/Sub message, whatever shape it came in."""

    message_id: str
    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)
    topic: str | None = None
    """Its topic's path, ``projects/P/topics/T``, when the event names it."""
    subscription: str | None = None
    ordering_key: str | None = None
    publish_time: str | None = None
    event_type: str = MESSAGE_PUBLISHED

    def describe(self) -> str:
        """A few words naming the message, for logs and errors."""
        where = self.topic or self.subscription or "an unknown topic"
        return f"Pub/Sub message {self.message_id!r} from {where}"


def short_name(path: str | None) -> str | None:
    """``T`` of ``projects/P/topics/T`` (or of a subscription path)."""
    if not path:
        return None
    return path.rpartition("/")[2] or None


def pubsub_message(event: Any) -> PubSubMessage:
    """The Pub/Sub message ``event`` carries: a ``cloudevents`` CloudEvent, or a
    structured CloudEvent's JSON as a mapping. UnsupportedEventError for another kind of
    event, MalformedMessageError for a Pub/Sub event that cannot be read."""
    attributes, data = _cloud_event(event)
    kind = attributes.get("type")
    event_id = _text(attributes.get("id"))
    if kind == SCHEDULER_EXECUTED:  # Cloud Scheduler's own event: its customData is all
        body = _envelope(data, kind)
        return PubSubMessage(
            event_id or "", _decoded(body.get("customData"), "customData"), event_type=kind
        )
    if kind not in _PUBLISHED_TYPES:
        raise UnsupportedEventError(
            f"a CloudEvent of type {kind!r} from {attributes.get('source')!r} is not a "
            f"Pub/Sub message ({MESSAGE_PUBLISHED}); this function takes only those"
        )
    envelope = _envelope(data, str(kind))
    message = envelope.get("message")
    if message is None and envelope.get("@type") == _PUBSUB_MESSAGE_TYPE:
        message = envelope  # the PubsubMessage itself as the data
    if not isinstance(message, Mapping):
        raise MalformedMessageError("the Pub/Sub event's data has no 'message' object")
    message_id = _first(message, "messageId", "message_id") or event_id
    if not message_id:
        raise MalformedMessageError("the Pub/Sub message has no messageId (nor the event an id)")
    source = _PUBSUB_SOURCE.fullmatch(str(attributes.get("source") or ""))
    return PubSubMessage(
        message_id=message_id,
        data=_decoded(message.get("data"), "data"),
        attributes=_attributes(message.get("attributes")),
        topic=source.group(1) if source else None,
        subscription=_text(envelope.get("subscription")),
        ordering_key=_first(message, "orderingKey", "ordering_key"),
        publish_time=(
            _first(message, "publishTime", "publish_time") or _text(attributes.get("time"))
        ),
    )


def _cloud_event(event: Any) -> tuple[Mapping[str, Any], Any]:
    """A CloudEvent's attributes and data."""
    get_attributes = getattr(event, "get_attributes", None)
    if callable(get_attributes) and hasattr(event, "data"):  # cloudevents' CloudEvent
        return get_attributes(), event.data
    if isinstance(event, Mapping) and "type" in event:  # structured mode, parsed
        if "data_base64" in event:
            return event, _decoded(event["data_base64"], "data_base64")
        return event, event.get("data")
    raise UnsupportedEventError(
        f"expected a CloudEvent (functions_framework.cloud_event), got {type(event).__name__}"
    )


def _envelope(data: Any, kind: str) -> Mapping[str, Any]:
    """The event's data as a JSON object (a binary event's body may still be text)."""
    if isinstance(data, bytes | bytearray | str):
        try:
            data = json.loads(data)
        except ValueError:  # UnicodeDecodeError is one
            raise MalformedMessageError(f"the data of the {kind} event is not JSON") from None
    if not isinstance(data, Mapping):
        got = "no data" if data is None else type(data).__name__
        raise MalformedMessageError(f"the data of the {kind} event is not a JSON object: {got}")
    return data


def _decoded(value: Any, name: str) -> bytes:
    """Base64 ``value`` decoded, as protobuf's JSON reads ``bytes``: the standard or the
    URL-safe alphabet, padded or not; None or "" is empty."""
    if value is None or value == "":
        return b""
    if not isinstance(value, str):
        raise MalformedMessageError(f"the message's {name} is not a base64 string")
    body = value.rstrip("=")
    if not _BASE64.fullmatch(value) or len(body) % 4 == 1:
        raise MalformedMessageError(f"the message's {name} is not valid base64")
    padded = body.translate(_URL_SAFE) + "=" * (-len(body) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except binascii.Error:
        raise MalformedMessageError(f"the message's {name} is not valid base64") from None


def _attributes(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MalformedMessageError("the message's attributes are not a map of strings")
    return dict(value)


def _first(message: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        text = _text(message.get(name))
        if text:
            return text
    return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
