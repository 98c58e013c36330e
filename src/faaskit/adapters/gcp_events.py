r"""Google Cloud Functions: an :class:`~faaskit.App`'s messages as one CloudEvent function
triggered by Pub/Sub, for ``functions-framework``::

    # main.py
    import functions_framework

    from faaskit.adapters.gcp import http_function
    from faaskit.adapters.gcp_events import event_function
    from shop import app

    handler = functions_framework.http(http_function(app))          # --entry-point=handler
    events = functions_framework.cloud_event(event_function(app))   # --entry-point=events

(functions-framework finds a CloudEvent function's signature by its name: the entry point
must be the function's name, ``events`` unless ``name=`` says otherwise.)

Every shape functions-framework accepts for Pub/Sub (Eventarc's binary CloudEvent, a
structured CloudEvent, a raw push body, a 1st-gen background event;
:mod:`faaskit.adapters.gcp_messages`) arrives as one message, and its base64 data decides:

- a relay body, ``{"message_id": ..., "target": ...}`` (what
  :class:`~faaskit.adapters.gcp_pubsub.PubSubRelay` publishes after each commit):
  :meth:`~faaskit.runtime.worker.Worker.deliver` claims that delivery in the store and
  runs its handler with the ack in one unit of work. A duplicate, or a delivery not due
  yet, finds nothing to do. A handler that fails is not an error here: the worker has
  rescheduled it in the store (or dead-lettered it after its last attempt), and the sweep
  relays it when it is due;
- ``{"faaskit": "sweep"}`` (what the Cloud Scheduler job publishes):
  :func:`~faaskit.runtime.relay.sweep_round` — first cron ticks, relays of what is due
  and unleased (lost relays, delayed tasks, retries, cron ticks), projections caught up;
- anything else, from another topic: a notification published on a faaskit topic, the
  Pub/Sub topic's short name unless ``topics=`` maps its path, short name, or
  subscription to another, with ``pubsub:<topic>:<messageId>`` as its message id (a redelivered
  message is dropped). JSON data arrives parsed, other data as its UTF-8 text, empty data
  as None; the message's attributes are the faaskit message's ``headers`` (an
  ``Event``'s ``.headers``) and its ordering key the message's key.

What this function raises, functions-framework answers with a 500, and Pub/Sub redelivers
it (with the subscription's backoff) until it dead-letters it after the subscription's
last attempt — nothing is acknowledged silently:

- the store is unreachable (the delivery or the notification is still to be done);
- an event that is not a Pub/Sub message, or cannot be read as one
  (:class:`~faaskit.adapters.gcp_messages.PubSubEventError`);
- a message no subscriber takes (:class:`UnsubscribedTopicError`: subscribe to its
  topic or map it with ``topics=``), or from an unknown topic (a raw push to an endpoint
  whose path does not end in ``/projects/P/topics/T``);
- anything but a relay body or a sweep on the relay topic itself
  (:class:`~faaskit.runtime.relay.ForeignMessageError`).

Start-up is once per process, lazy and fork-safe, on one loop on its own thread
(:mod:`faaskit.adapters.gcp_process`, shared with the HTTP function); each invocation's
Context carries ``cold_start`` and ``startup_seconds``.

Deploy (2nd gen; the same source as the HTTP function)::

    gcloud pubsub topics create faaskit-relay
    gcloud pubsub topics create faaskit-relay-dead
    gcloud functions deploy shop-events --gen2 --runtime=python311 --region=REGION \
        --source=. --entry-point=events --trigger-topic=faaskit-relay --retry \
        --set-env-vars=FAASKIT_PUBSUB_TOPIC=projects/PROJECT/topics/faaskit-relay \
        --set-secrets=FAASKIT_DATABASE_URL=faaskit-database-url:latest
    # dead-letter what keeps failing (SUBSCRIPTION: the trigger's, see
    # gcloud eventarc triggers describe TRIGGER --location=REGION)
    gcloud pubsub subscriptions update SUBSCRIPTION \
        --dead-letter-topic=faaskit-relay-dead --max-delivery-attempts=10
    gcloud scheduler jobs create pubsub faaskit-sweep --location=REGION \
        --schedule="* * * * *" --topic=faaskit-relay --message-body='{"faaskit":"sweep"}'

Without ``--retry`` Cloud Functions drops a failed event: a delivery is then only
relayed again by the sweep, and a notification from another topic is lost. A push
subscription straight to the function works too; its endpoint's path names the topic::

    gcloud pubsub subscriptions create faaskit-relay-push --topic=faaskit-relay \
        --push-endpoint=https://FUNCTION_URL/projects/PROJECT/topics/faaskit-relay \
        --dead-letter-topic=faaskit-relay-dead --max-delivery-attempts=10
"""

from __future__ import annotations

import logging
import os
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from faaskit.adapters.gcp_messages import (
    MalformedMessageError,
    PubSubEventError,
    PubSubMessage,
    UnsupportedEventError,
    pubsub_message,
    short_name,
)
from faaskit.adapters.gcp_process import FunctionProcess, ProcessState
from faaskit.app import App
from faaskit.clock import Clock
from faaskit.config import Settings
from faaskit.errors import BadRequestError
from faaskit.runtime.relay import ForeignMessageError, relayed_names

if TYPE_CHECKING:
    from faaskit.context import Context
    from faaskit.runtime.relay import Relay
    from faaskit.runtime.runtime import Runtime
    from faaskit.runtime.worker import Worker

__all__ = [
    "EventFunction",
    "ForeignMessageError",
    "MalformedMessageError",
    "PubSubEventError",
    "UnsubscribedTopicError",
    "UnsupportedEventError",
    "event_function",
]

logger = logging.getLogger("faaskit.adapters.gcp")
NOTIFICATIONS = "gcp.notifications"  # the function name Pub/Sub notifications run as
SWEEP_INPUT = {"faaskit": "sweep"}

T = TypeVar("T")


class UnsubscribedTopicError(PubSubEventError):
    """A Pub/Sub message for a faaskit topic that no subscriber takes, or from a topic the
    event does not name (refused, not dropped: Pub/Sub keeps it and dead-letters it)."""

    title = "No subscriber for the Pub/Sub message"


def event_function(
    app: App,
    *,
    settings: Settings | None = None,
    relay: Relay | None = None,
    topics: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    name: str = "events",
) -> EventFunction:
    """A functions-framework CloudEvent function taking the Pub/Sub messages that relay
    ``app``'s deliveries, the sweep's, and other topics' as notifications.

    ``settings`` default to :meth:`Settings.load`, read when the process starts.
    ``relay`` defaults to a :class:`~faaskit.adapters.gcp_pubsub.PubSubRelay` on
    ``FAASKIT_PUBSUB_TOPIC`` when that is set (else none: a sweep delivers what is due
    itself). ``topics`` maps a Pub/Sub topic (path or short name) or subscription to a
    faaskit topic. ``clock`` is for tests; ``name`` is the entry point's name.
    """
    return EventFunction(app, settings, relay=relay, topics=topics, clock=clock, name=name)


def _worker(runtime: Runtime) -> Worker:
    from faaskit.runtime.worker import Worker

    return Worker(runtime)


class EventFunction:
    """Call it with a ``cloudevents`` CloudEvent; it answers what it did (a dict, which
    functions-framework ignores) or raises for Pub/Sub to redeliver."""

    def __init__(
        self,
        app: App,
        settings: Settings | None = None,
        *,
        relay: Relay | None = None,
        topics: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        name: str = "events",
    ) -> None:
        self.app = app
        self.topics: Mapping[str, str] = dict(topics or {})
        self._process: FunctionProcess[Worker] = FunctionProcess(
            app, _worker, settings=settings, relay=relay, clock=clock
        )
        # functions_framework.cloud_event registers a function by its name
        self.__name__ = self.__qualname__ = name
        self.__doc__ = f"faaskit app {app.name!r}: Pub/Sub messages"

    def start(self) -> None:
        """Start the process now (idempotent): a loop on its own thread, the runtime, the
        store, the relay and the worker. The first event does this otherwise."""
        self._process.start()

    @property
    def runtime(self) -> Runtime:
        """The process's runtime (started on first use)."""
        return self._process.runtime

    @property
    def worker(self) -> Worker:
        """The process's worker: it claims and runs what relayed messages name."""
        return self._process.start().prepared

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the process's event loop and wait for it (tests, warm-ups)."""
        return self._process.run(work)

    def close(self) -> None:
        """Stop the runtime, the loop and its thread (tests and scripts)."""
        self._process.close()

    def __call__(self, event: Any) -> dict[str, Any]:
        message = pubsub_message(event)  # no I/O: an unreadable event fails before start-up

        async def handle(state: ProcessState[Worker]) -> dict[str, Any]:
            return await self._handle(state.prepared, message)

        return self._process.invoke(handle)

    async def _handle(self, worker: Worker, message: PubSubMessage) -> dict[str, Any]:
        fields = {"pubsub_message_id": message.message_id, "topic": message.topic}
        parsed = _json(message.data)
        if isinstance(parsed, Mapping) and parsed.get("faaskit") == "sweep":
            from faaskit.runtime.relay import sweep_round

            return await sweep_round(worker)
        names = None
        # Only the relay topic carries delivery names: a message of another topic whose
        # data happens to hold "message_id" and "target" is the user's, to publish.
        relay_topic = _relay_topic(worker.runtime)
        on_relay = message.topic is None or relay_topic is None or message.topic == relay_topic
        if on_relay and isinstance(parsed, Mapping):
            try:
                names = relayed_names(message.data)
            except ForeignMessageError:
                names = None
        try:
            if names is not None:
                delivered = await worker.deliver(*names)
                return {"delivered": delivered, "message_id": names[0], "target": names[1]}
            return await self._publish(worker.runtime, message, parsed)
        except BadRequestError as error:
            logger.error(
                "%s refused; Pub/Sub will redeliver it, then dead-letter it: %s",
                message.describe(),
                error,
                extra={"fields": fields},
            )
            raise
        except Exception as error:
            logger.warning(
                "%s failed (%s: %s); Pub/Sub will redeliver it",
                message.describe(),
                type(error).__name__,
                error,
                extra={"fields": fields},
            )
            raise

    async def _publish(
        self, runtime: Runtime, message: PubSubMessage, parsed: Any
    ) -> dict[str, Any]:
        if message.topic is not None and message.topic == _relay_topic(runtime):
            raise ForeignMessageError(
                f"{message.describe()} is on the relay topic but names no faaskit delivery"
            )
        topic = self.faaskit_topic(message)
        if topic is None:
            raise UnsubscribedTopicError(
                f"{message.describe()}: the event does not name its topic (a push "
                "endpoint's path should end in /projects/P/topics/T), so it cannot be "
                "published; map its subscription with topics="
            )
        if not self.app.subscribers(topic):
            raise UnsubscribedTopicError(
                f"{message.describe()} for topic {topic!r}, which no subscriber takes: "
                "subscribe to it or map it with topics="
            )
        data = _notification_data(message, parsed)

        # A messageId is unique within its topic only (Pub/Sub's guarantee), so the topic
        # is part of the id that drops a redelivery.
        message_id = f"pubsub:{message.topic or '-'}:{message.message_id}"

        async def publish(ctx: Context) -> None:
            ctx.publish(
                topic,
                data,
                message_id=message_id,
                key=message.ordering_key,
                headers=message.attributes,
            )

        ctx = runtime.context(NOTIFICATIONS, f"pubsub:{message.message_id}", trigger="event")
        await runtime.invoke(ctx, publish, {"ctx": ctx}, lambda result: result)
        return {"published": 1, "topic": topic}

    def faaskit_topic(self, message: PubSubMessage) -> str | None:
        """The faaskit topic ``message`` is published on: ``topics``' entry for its topic
        path, topic name, subscription path or subscription name, else its topic's name."""
        for key in (
            message.topic,
            short_name(message.topic),
            message.subscription,
            short_name(message.subscription),
        ):
            if key and key in self.topics:
                return self.topics[key]
        return short_name(message.topic)


_NOT_JSON = object()


def _json(data: bytes) -> Any:
    if not data:
        return _NOT_JSON
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _notification_data(message: PubSubMessage, parsed: Any) -> Any:
    """JSON parsed, else UTF-8 text; None for a message of attributes only."""
    if parsed is not _NOT_JSON:
        return parsed
    if not message.data:
        return None
    try:
        return message.data.decode()
    except UnicodeDecodeError:
        raise MalformedMessageError(
            f"{message.describe()}: its data is neither JSON nor UTF-8 text"
        ) from None


def _relay_topic(runtime: Runtime) -> str | None:
    """The topic path the outbox is relayed to, if it is Pub/Sub."""
    topic = getattr(runtime.relay, "topic", None)
    if isinstance(topic, str):
        return topic
    from faaskit.adapters.gcp_pubsub import TOPIC_VARIABLE

    return os.environ.get(TOPIC_VARIABLE, "").strip() or None
