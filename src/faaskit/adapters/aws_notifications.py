"""SNS notifications and EventBridge events into faaskit's outbox.

Each notification becomes a message published on a faaskit topic, in one unit of work,
with the notification's own id as the message id, so a notification delivered twice (SNS
and EventBridge deliver at least once) is dropped the second time. The topic's
subscribers then receive it like any other message: through the relay, or the sweep.

Topics: ``topics`` maps an SNS topic ARN or name, or an EventBridge ``source/detail-type``
or ``detail-type``, to a faaskit topic; without an entry, the SNS topic's name and the
event's ``detail-type`` are the faaskit topic. An SNS message that is JSON arrives parsed,
any other as its text; an EventBridge event arrives as its ``detail``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from faaskit.adapters.notifications import Notification, publish_notifications

__all__ = [
    "Notification",
    "describe_source",
    "is_eventbridge_event",
    "is_sns_event",
    "notifications",
    "publish_notifications",
    "sns_notification",
]


def is_sns_event(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("EventSource") == "aws:sns" for r in records)
    )


def is_eventbridge_event(event: Any) -> bool:
    """An EventBridge event (a scheduled rule's is a sweep, decided before this)."""
    return isinstance(event, Mapping) and all(
        isinstance(event.get(name), str) for name in ("id", "source", "detail-type")
    )


def describe_source(event: Mapping[str, Any]) -> str:
    """A few words naming what sent ``event``, for an error message."""
    if is_sns_event(event):
        return f"an SNS notification ({event['Records'][0]['Sns'].get('TopicArn')})"
    return f"an EventBridge event ({event.get('source')}: {event.get('detail-type')})"


def notifications(event: Mapping[str, Any], topics: Mapping[str, str]) -> list[Notification]:
    """The messages an SNS or EventBridge ``event`` carries."""
    if is_sns_event(event):
        return [sns_notification(record["Sns"], topics) for record in event["Records"]]
    source, kind = event["source"], event["detail-type"]
    topic = topics.get(f"{source}/{kind}") or topics.get(kind) or kind
    return [Notification(topic, event.get("detail"), f"eventbridge:{event['id']}")]


def sns_notification(sns: Mapping[str, Any], topics: Mapping[str, str]) -> Notification:
    """The message an SNS notification (a record's ``Sns``, or the envelope SNS puts on an
    SQS queue: the same fields) carries."""
    arn = str(sns.get("TopicArn", ""))
    name = arn.rpartition(":")[2]
    topic = topics.get(arn) or topics.get(name) or name
    text = sns.get("Message")
    data: Any = text
    if isinstance(text, str):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            data = text
    return Notification(topic, data, f"sns:{sns.get('MessageId')}")
