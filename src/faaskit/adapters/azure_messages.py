"""The Azure functions that are not HTTP: the Service Bus queue trigger that receives the
relayed deliveries, and the timer that runs the sweeper.

A Service Bus message **without a subject** is a relay body
(:func:`faaskit.runtime.relay.relay_body`, sent by
:class:`~faaskit.adapters.azure_servicebus.ServiceBusRelay`): it is handed to
:meth:`~faaskit.runtime.worker.Worker.deliver`, which claims the delivery in the store and
runs its handler with the ack in one unit of work. A message **with a subject** comes from
outside faaskit (another service sending to the queue): it is published on the faaskit
topic its subject names — or the topic ``topics`` maps the subject to — with
``servicebus:<subject>:<message id>`` as the message id, so one Service Bus delivers
twice is published once. Its body arrives parsed when it is JSON, else as its text.

When the function raises, the host abandons the message; Service Bus delivers it again
until its ``MaxDeliveryCount`` (10 by default), then moves it to the queue's dead-letter
queue. So the function raises exactly when the message should come back or be seen:

- the store was unreachable (the delivery could not be claimed or settled);
- the message is foreign (:class:`~faaskit.runtime.relay.ForeignMessageError`: neither a
  relay body nor a message with a subject; or a body that is not UTF-8 text), or its
  topic has no subscriber (:class:`UnsubscribedTopicError`: a stray sender, refused
  rather than dropped) — both logged, and bound for the dead-letter queue.

A handler that fails is not an error here: the worker has rescheduled the delivery in the
store (or dead-lettered it there after its last attempt) and the sweeper relays it again
when it is due. Nor is a duplicate, or a delivery not due yet: nothing to do, the message
completes. (A relay message in the dead-letter queue needs no replay: its delivery is still
in the store, and the sweeper relays it again.)

The sweep timer runs :func:`faaskit.runtime.relay.sweep_round`: the first tick of any cron
that has none, relays of every delivery that is due and unleased (lost relays, retries,
cron ticks), and the projections caught up with the event log. Azure runs a timer
function on one instance at a time, however far the app scales out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson

from faaskit.adapters.notifications import Notification, publish_notifications, unsubscribed
from faaskit.ids import is_request_id
from faaskit.runtime.invocation import current_invocation
from faaskit.runtime.relay import ForeignMessageError, relayed_names

if TYPE_CHECKING:
    import azure.functions as func

    from faaskit.adapters.azure_environment import AzureEnvironment

__all__ = [
    "NOTIFICATIONS",
    "ForeignMessageError",
    "Outcome",
    "ServiceBusHandler",
    "SweepHandler",
    "UnsubscribedTopicError",
    "servicebus_notification",
]

logger = logging.getLogger("faaskit.adapters.azure")
NOTIFICATIONS = "azure.servicebus"  # the function name foreign messages are published as

Outcome = Literal["delivered", "nothing to do", "published"]
"""What became of a Service Bus message: its delivery ran (or failed and was rescheduled
in the store), there was nothing to do (a duplicate, not due, leased by another), or it
was published on a faaskit topic."""


class UnsubscribedTopicError(ForeignMessageError):
    """A Service Bus message for a faaskit topic that no subscriber takes."""

    title = "No subscriber takes the topic"


class ServiceBusHandler:
    """Handles one ``azure.functions.ServiceBusMessage`` of the relay queue."""

    def __init__(
        self, environment: AzureEnvironment, *, topics: Mapping[str, str] | None = None
    ) -> None:
        self.environment = environment
        self.topics: Mapping[str, str] = dict(topics or {})

    async def handle(self, message: func.ServiceBusMessage, context: Any = None) -> Outcome:
        """Deliver or publish what ``message`` carries; raise to have it abandoned."""
        message_id = str(getattr(message, "message_id", "") or "")
        fields = {"servicebus_message_id": message_id, "invocation_id": _invocation_id(context)}
        try:
            note = servicebus_notification(message, self.topics)
            names = relayed_names(message.get_body()) if note is None else None
            if note is not None and unsubscribed(self.environment.app, [note]) is not None:
                raise UnsubscribedTopicError(
                    f"a Service Bus message for topic {note.topic!r}, which no subscriber "
                    "takes: subscribe to it or map its subject with topics="
                )
        except ForeignMessageError as error:
            logger.error("refused a Service Bus message: %s", error, extra={"fields": fields})
            raise
        await self.environment.start()
        token = current_invocation.set(self.environment.invocation())
        try:
            if note is not None:
                invocation_id = _invocation_id(context) or note.message_id
                await publish_notifications(
                    self.environment.runtime, [note], invocation_id, source=NOTIFICATIONS
                )
                return "published"
            assert names is not None
            delivered = await self.environment.worker.deliver(*names)
        except Exception:
            logger.warning(
                "delivery failed; Service Bus will bring the message back",
                exc_info=True,
                extra={"fields": fields},
            )
            raise
        finally:
            current_invocation.reset(token)
        return "delivered" if delivered else "nothing to do"


def servicebus_notification(
    message: func.ServiceBusMessage, topics: Mapping[str, str]
) -> Notification | None:
    """The message to publish that a Service Bus message with a subject carries; None for
    one without (a relay body); ForeignMessageError when it cannot be published."""
    subject = getattr(message, "subject", None) or getattr(message, "label", None)
    if not subject:
        return None
    message_id = getattr(message, "message_id", None)
    if not message_id:
        raise ForeignMessageError("a Service Bus message with a subject but no message id")
    body = message.get_body()
    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else str(body)
    except UnicodeDecodeError:
        raise ForeignMessageError(
            f"the body of Service Bus message {message_id} is not UTF-8 text"
        ) from None
    data: Any = text
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = text
    topic = topics.get(subject) or subject
    # The sender picks message ids (often a business key): with the subject in the id, two
    # different messages sharing an id under two subjects are not taken for one.
    return Notification(topic, data, f"servicebus:{subject}:{message_id}")


class SweepHandler:
    """Runs one round of the sweeper when the timer fires."""

    def __init__(self, environment: AzureEnvironment) -> None:
        self.environment = environment

    async def handle(self, timer: func.TimerRequest | None = None, context: Any = None) -> Any:
        """One :func:`~faaskit.runtime.relay.sweep_round`; what it did."""
        from faaskit.runtime.relay import sweep_round

        await self.environment.start()
        token = current_invocation.set(self.environment.invocation())
        try:
            done = await sweep_round(self.environment.worker)
        finally:
            current_invocation.reset(token)
        fields = {**done, "invocation_id": _invocation_id(context)}
        if timer is not None and timer.past_due:
            fields["past_due"] = True  # the host was down or busy at the scheduled time
        logger.info("swept", extra={"fields": fields})
        return done


def _invocation_id(context: Any) -> str | None:
    value = getattr(context, "invocation_id", None)
    return value if is_request_id(value) else None


def register_servicebus(
    functions: func.FunctionApp,
    environment: AzureEnvironment,
    name: str,
    *,
    sessions: bool = False,
    topics: Mapping[str, str] | None = None,
) -> ServiceBusHandler:
    """Register the Service Bus queue trigger on ``functions``: the queue and connection
    are the app settings ``FAASKIT_SERVICEBUS_QUEUE`` and ``FAASKIT_SERVICEBUS``, which
    the host resolves; one message an invocation."""
    import azure.functions as func

    from faaskit.adapters.azure_servicebus import CONNECTION_SETTING, QUEUE_SETTING

    handler = ServiceBusHandler(environment, topics=topics)

    async def faaskit_servicebus(message: func.ServiceBusMessage, context: func.Context) -> None:
        await handler.handle(message, context)

    faaskit_servicebus.__annotations__ = {
        "message": func.ServiceBusMessage,
        "context": func.Context,
        "return": None,
    }
    faaskit_servicebus.faaskit_handler = handler  # type: ignore[attr-defined]
    trigger = functions.service_bus_queue_trigger(
        arg_name="message",
        queue_name=f"%{QUEUE_SETTING}%",
        connection=CONNECTION_SETTING,
        is_sessions_enabled=True if sessions else None,
    )
    functions.function_name(name=name)(trigger(faaskit_servicebus))
    return handler


def register_sweep(
    functions: func.FunctionApp, environment: AzureEnvironment, name: str, schedule: str
) -> SweepHandler:
    """Register the sweep timer on ``functions`` (``schedule``: NCRONTAB, six fields)."""
    import azure.functions as func

    handler = SweepHandler(environment)

    async def faaskit_sweep(timer: func.TimerRequest, context: func.Context) -> None:
        await handler.handle(timer, context)

    faaskit_sweep.__annotations__ = {
        "timer": func.TimerRequest,
        "context": func.Context,
        "return": None,
    }
    faaskit_sweep.faaskit_handler = handler  # type: ignore[attr-defined]
    trigger = functions.timer_trigger(arg_name="timer", schedule=schedule)
    functions.function_name(name=name)(trigger(faaskit_sweep))
    return handler
