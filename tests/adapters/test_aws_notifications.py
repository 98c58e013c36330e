"""SNS notifications and EventBridge events reach subscribers through the outbox, once
each however often AWS delivers them, on both backends."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context, Event
from faaskit.adapters.aws import LambdaHandler, UnsupportedEventError, lambda_handler
from faaskit.config import Settings
from tests.adapters.aws_support import LambdaContext, event

SWEEP = {"faaskit": "sweep"}


def notified_app(seen: list[tuple[str, Any]]) -> App:
    app = App("notified")

    @app.subscribe("sns-lambda")
    async def on_sns(message: Event[Any], ctx: Context) -> None:
        seen.append(("sns-lambda", message.data))

    @app.subscribe("instance.changed")
    async def on_instance(message: Event[dict[str, Any]], ctx: Context) -> None:
        seen.append(("instance.changed", message.data))

    return app


@pytest.fixture
def seen() -> list[tuple[str, Any]]:
    return []


@pytest.fixture
def handler(
    backend_url: str, tmp_path: Path, seen: list[tuple[str, Any]]
) -> Iterator[LambdaHandler]:
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    made = lambda_handler(
        notified_app(seen),
        settings=settings,
        topics={
            "aws.ec2/EC2 Instance State-change Notification": "instance.changed",
            "arn:aws:sns:eu-west-1:231436140809:Test.fifo": "sns-lambda",
        },
    )
    yield made
    made.close()


def test_an_sns_notification_reaches_the_subscriber_of_its_topic_once(
    handler: LambdaHandler, seen: list[tuple[str, Any]]
) -> None:
    notification = event("powertools-snsEvent")

    assert handler(notification, LambdaContext("sns-1")) == {"published": 1}
    assert handler(copy.deepcopy(notification), LambdaContext("sns-2")) == {"published": 1}
    handler(SWEEP, LambdaContext())

    assert seen == [("sns-lambda", "Hello from SNS!")]  # the redelivery was dropped


def test_an_sns_message_that_is_json_arrives_parsed(
    handler: LambdaHandler, seen: list[tuple[str, Any]]
) -> None:
    notification = event("powertools-snsEvent")
    notification["Records"][0]["Sns"]["Message"] = '{"order_id": "o-1", "total": 12.5}'

    handler(notification, LambdaContext())
    handler(SWEEP, LambdaContext())

    assert seen == [("sns-lambda", {"order_id": "o-1", "total": 12.5})]


def test_an_eventbridge_event_reaches_the_topic_it_is_mapped_to_once(
    handler: LambdaHandler, seen: list[tuple[str, Any]]
) -> None:
    change = event("powertools-eventBridgeEvent")

    handler(change, LambdaContext("eb-1"))
    handler(change, LambdaContext("eb-2"))
    handler(SWEEP, LambdaContext())

    assert seen == [
        ("instance.changed", {"instance_id": "i-1234567890abcdef0", "state": "terminated"})
    ]


def test_a_notification_no_subscriber_takes_is_refused_not_dropped(
    handler: LambdaHandler, seen: list[tuple[str, Any]]
) -> None:
    stray = event("powertools-snsEvent")
    stray["Records"][0]["Sns"]["TopicArn"] = "arn:aws:sns:us-east-2:123456789012:nobody"

    with pytest.raises(UnsupportedEventError, match="'nobody', which no subscriber takes"):
        handler(stray, LambdaContext())
    handler(SWEEP, LambdaContext())
    assert seen == []


def test_an_sns_notification_through_an_sqs_queue_reaches_the_subscriber_once(
    handler: LambdaHandler, seen: list[tuple[str, Any]]
) -> None:
    fan_out = event("powertools-snsSqsFifoEvent")  # SNS → SQS → Lambda, in SNS's envelope

    assert handler(fan_out, LambdaContext("q-1")) == {"batchItemFailures": []}
    assert handler(copy.deepcopy(fan_out), LambdaContext("q-2")) == {"batchItemFailures": []}
    handler(SWEEP, LambdaContext())

    assert seen == [("sns-lambda", {"message": "hello world", "username": "lessa"})]


def test_an_enveloped_notification_no_subscriber_takes_is_a_batch_item_failure(
    handler: LambdaHandler, seen: list[tuple[str, Any]]
) -> None:
    stray = event("powertools-snsSqsFifoEvent")
    record = stray["Records"][0]
    record["body"] = record["body"].replace("Test.fifo", "Nobody.fifo")

    answer = handler(stray, LambdaContext())

    assert answer == {"batchItemFailures": [{"itemIdentifier": record["messageId"]}]}
