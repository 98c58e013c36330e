"""Service Bus for the tests, with the SDKs' own types: a sender that records each
``azure.servicebus.ServiceBusMessage`` the relay sends, a queue that holds them (scheduled
ones until their time on the test's clock) and hands each to the registered function as
the ``azure.functions.ServiceBusMessage`` the Python worker decodes from the host's data,
with Service Bus's at-least-once habits: a message whose function raised comes back
(delivery count + 1) until MaxDeliveryCount, then goes to the dead-letter queue."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import azure.functions as func
from azure.functions import meta
from azure.functions.servicebus import ServiceBusMessageInConverter
from azure.functions.timer import TimerRequestConverter
from azure.servicebus import ServiceBusMessage as SentMessage

from faaskit.adapters.azure import SERVICEBUS_FUNCTION
from faaskit.clock import Clock

MAX_DELIVERY_COUNT = 10  # a queue's default


class InvocationContext:
    """The attributes of the worker's ``azure.functions.Context`` the adapter reads."""

    def __init__(self, function_name: str = SERVICEBUS_FUNCTION, invocation_id: str = "") -> None:
        self.invocation_id = invocation_id or str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = "/home/site/wwwroot"


def functions_message(
    sent: SentMessage,
    *,
    delivery_count: int = 1,
    sequence_number: int = 1,
    enqueued: datetime | None = None,
    as_bytes: bool = False,
) -> func.ServiceBusMessage:
    """The ``azure.functions.ServiceBusMessage`` the worker hands the function for a
    message sent as ``sent``: decoded by the library's own converter from the datum and
    trigger metadata the host passes (as its tests build them)."""
    body = b"".join(sent.body)
    data = meta.Datum(body, "bytes") if as_bytes else meta.Datum(body.decode("utf-8"), "string")
    enqueued = enqueued or datetime.now(UTC)
    metadata: dict[str, meta.Datum] = {
        "MessageId": meta.Datum(sent.message_id, "string"),
        "DeliveryCount": meta.Datum(delivery_count, "int"),
        "SequenceNumber": meta.Datum(sequence_number, "int"),
        "EnqueuedTimeUtc": meta.Datum(enqueued.isoformat(), "string"),
        "LockToken": meta.Datum(str(uuid.uuid4()), "string"),
        "ApplicationProperties": meta.Datum(
            json.dumps(
                {
                    str(k, "utf-8") if isinstance(k, bytes) else k: v
                    for k, v in (sent.application_properties or {}).items()
                }
            ),
            "json",
        ),
        "UserProperties": meta.Datum("{}", "json"),
    }
    optional = {
        "ContentType": sent.content_type,
        "CorrelationId": sent.correlation_id,
        "SessionId": sent.session_id,
        "Subject": sent.subject,
        "Label": sent.subject,
        "ScheduledEnqueueTimeUtc": (
            sent.scheduled_enqueue_time_utc.isoformat() if sent.scheduled_enqueue_time_utc else None
        ),
    }
    for name, value in optional.items():
        if value is not None:
            metadata[name] = meta.Datum(value, "string")
    message = ServiceBusMessageInConverter.decode(data, trigger_metadata=metadata)
    assert isinstance(message, func.ServiceBusMessage)
    return message


def sent_message(
    body: str | bytes, *, subject: str | None = None, message_id: str | None = None
) -> SentMessage:
    """A message another sender puts on the queue."""
    return SentMessage(body, subject=subject, message_id=message_id or uuid.uuid4().hex)


def timer_request(*, past_due: bool = False, now: datetime | None = None) -> func.TimerRequest:
    """The ``azure.functions.TimerRequest`` the worker decodes from the host's timer data."""
    at = (now or datetime.now(UTC)).isoformat()
    info = {
        "Schedule": {"AdjustForDST": True},
        "ScheduleStatus": {"Last": at, "Next": at, "LastUpdated": at},
        "IsPastDue": past_due,
    }
    request = TimerRequestConverter.decode(
        meta.Datum(json.dumps(info), "json"), trigger_metadata={}
    )
    assert isinstance(request, func.TimerRequest)
    return request


class RecordingSender:
    """Stands for ``azure.servicebus.aio.ServiceBusSender``: records each batch sent and
    puts its messages on ``queue``; ``down`` makes it raise, as an unreachable namespace."""

    def __init__(self, queue: Queue | None = None) -> None:
        self.queue = queue
        self.batches: list[list[SentMessage]] = []
        self.down = False

    @property
    def sent(self) -> list[SentMessage]:
        return [message for batch in self.batches for message in batch]

    async def send_messages(self, message: list[SentMessage]) -> None:
        if self.down:
            raise ConnectionError("the Service Bus namespace is unreachable")
        assert isinstance(message, list) and all(isinstance(m, SentMessage) for m in message)
        self.batches.append(list(message))
        if self.queue is not None:
            for each in message:
                self.queue.enqueue(each)

    def targets(self) -> list[str]:
        return [json.loads(str(message))["target"] for message in self.sent]


@dataclass
class Held:
    message: SentMessage
    sequence_number: int
    delivery_count: int = 0


@dataclass
class Queue:
    """A Service Bus queue on the test's clock."""

    clock: Clock
    held: list[Held] = field(default_factory=list)
    dead_letters: list[tuple[Held, str]] = field(default_factory=list)
    handed: list[func.ServiceBusMessage] = field(default_factory=list)
    _sequence: int = 0

    def enqueue(self, message: SentMessage) -> None:
        self._sequence += 1
        self.held.append(Held(message, self._sequence))

    def due(self) -> list[Held]:
        now = self.clock.now()
        return [
            held
            for held in self.held
            if held.message.scheduled_enqueue_time_utc is None
            or held.message.scheduled_enqueue_time_utc <= now
        ]

    async def pump(
        self,
        function: Callable[..., Awaitable[None]],
        *,
        duplicate: bool = False,
        as_bytes: bool = False,
    ) -> list[BaseException]:
        """Hand every due message to ``function`` until none is due, as the host does
        (complete on return, abandon on a raise); the errors raised. ``duplicate``: each
        message is handed twice, as Service Bus's at-least-once delivery may."""
        errors: list[BaseException] = []
        for _ in range(500):
            due = self.due()
            if not due:
                return errors
            held = due[0]
            self.held.remove(held)
            for _copy in range(2 if duplicate else 1):
                held.delivery_count += 1
                message = functions_message(
                    held.message,
                    delivery_count=held.delivery_count,
                    sequence_number=held.sequence_number,
                    as_bytes=as_bytes,
                )
                self.handed.append(message)
                try:
                    await function(message=message, context=InvocationContext())
                except Exception as error:
                    errors.append(error)
                    if held.delivery_count >= MAX_DELIVERY_COUNT:
                        self.dead_letters.append((held, "MaxDeliveryCountExceeded"))
                    else:
                        self.held.append(held)  # abandoned: back at once
                    break
        raise AssertionError("the queue is still not empty after 500 messages")
