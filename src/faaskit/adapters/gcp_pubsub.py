r"""The outbox relayed to Google Cloud Pub/Sub: each committed delivery becomes one Pub/Sub
message whose data names it, ``{"message_id": ..., "target": ...}``; the CloudEvent
function that the topic triggers claims that delivery in the store
(:mod:`faaskit.adapters.gcp_events`). The topic is a relay, never the truth: a lost
message is relayed again by the sweep, a duplicated one finds its delivery done::

    from faaskit.adapters.gcp_pubsub import PubSubRelay

    runtime.relay = PubSubRelay("projects/my-project/topics/faaskit-relay")

(``http_function`` and ``event_function`` do this themselves when ``FAASKIT_PUBSUB_TOPIC``
is set.)

Pub/Sub has no per-message delay, so a delivery that is not due yet (a task scheduled for
later, a retry after its backoff, a cron's next tick) is not sent at all: the sweep (a
Cloud Scheduler job publishing ``{"faaskit": "sweep"}`` every minute) relays it once it
is due, so it runs within a sweep interval of its time. An ordered delivery (a
subscription with ``ordered=True``) is published with its key as the ``ordering_key``, on
a publisher with message ordering enabled; the subscription needs
``--enable-message-ordering`` to keep that order (the store keeps it regardless: a
delivery behind an earlier one of its key waits for the sweep).

The client (``google-cloud-pubsub``, ``faaskit[gcp]``) is imported and made when the first
message is sent, in the process that sends it (a gRPC channel does not survive a fork);
its calls block, so they run in a thread and the event loop goes on.

Create the topic (and the dead-letter topic its subscription will use)::

    gcloud pubsub topics create faaskit-relay
    gcloud pubsub topics create faaskit-relay-dead
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import os
import re
import threading
from collections.abc import Sequence
from typing import Any

from faaskit.clock import Clock, SystemClock
from faaskit.errors import ConfigurationError
from faaskit.runtime.relay import RelayedDelivery, relay_body

__all__ = [
    "TOPIC_VARIABLE",
    "PubSubRelay",
    "PubSubRelayError",
    "ordering_key",
    "relay_body",
    "topic_path",
]

TOPIC_VARIABLE = "FAASKIT_PUBSUB_TOPIC"
PUBLISH_TIMEOUT = 60.0  # seconds to wait for Pub/Sub to accept a relayed batch
_MAX_ORDERING_KEY = 1024  # Pub/Sub's longest ordering key, in bytes
_TOPIC_PATH = re.compile(r"projects/[^/\s]+/topics/[^/\s]+")


class PubSubRelayError(RuntimeError):
    """Pub/Sub did not accept some relayed deliveries (they stay in the outbox: the sweep
    relays them again). ``failed`` pairs each refused delivery with its error."""

    def __init__(self, topic: str, failed: Sequence[tuple[RelayedDelivery, BaseException]]) -> None:
        self.topic = topic
        self.failed = list(failed)
        kinds = sorted({type(error).__name__ for _, error in self.failed})
        super().__init__(
            f"Pub/Sub did not accept {len(self.failed)} relayed deliveries on {topic}: "
            + ", ".join(kinds)
        )


def topic_path(topic: str | None = None) -> str:
    """``topic`` (or ``FAASKIT_PUBSUB_TOPIC``) checked to be ``projects/P/topics/T``."""
    path = (topic if topic is not None else os.environ.get(TOPIC_VARIABLE, "")).strip()
    if not _TOPIC_PATH.fullmatch(path):
        raise ConfigurationError(
            f"{path or 'no Pub/Sub topic'!r} is not a Pub/Sub topic path: set "
            f"{TOPIC_VARIABLE} (or pass topic=) to projects/PROJECT/topics/TOPIC"
        )
    return path


class PubSubRelay:
    """A :class:`~faaskit.runtime.relay.Relay` publishing delivery names to one Pub/Sub
    topic.

    ``topic`` is a topic path ``projects/P/topics/T`` (default: ``FAASKIT_PUBSUB_TOPIC``).
    ``client`` is a ``google.cloud.pubsub_v1.PublisherClient`` or anything with its
    ``publish(topic, data, ordering_key="", **attributes) -> Future`` (made on first use
    when None, with message ordering enabled; credentials as Google's libraries find
    them, ``PUBSUB_EMULATOR_HOST`` included). ``clock`` tells what is due (the runtime's
    clock; the system clock when None).
    """

    def __init__(
        self,
        topic: str | None = None,
        *,
        client: Any = None,
        clock: Clock | None = None,
        timeout: float = PUBLISH_TIMEOUT,
    ) -> None:
        self.topic = topic_path(topic)
        self.clock: Clock = clock or SystemClock()
        self.timeout = timeout
        self._client = client
        self._own_client = client is None
        self._client_pid = os.getpid()
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The publisher client (made on first use in this process; its calls block)."""
        with self._client_lock:
            if self._own_client and (self._client is None or self._client_pid != os.getpid()):
                self._client = _publisher_client()
                self._client_pid = os.getpid()
            return self._client

    def due(self, deliveries: Sequence[RelayedDelivery]) -> list[RelayedDelivery]:
        """The deliveries that are due now: the only ones Pub/Sub can be given (it has no
        per-message delay; the sweep relays the others when they are due)."""
        now = self.clock.now().timestamp()
        return [delivery for delivery in deliveries if delivery.available_at <= now]

    async def send(self, deliveries: Sequence[RelayedDelivery]) -> None:
        """Publish the due ``deliveries`` and wait until Pub/Sub has them all;
        PubSubRelayError naming the refused ones."""
        due = self.due(deliveries)
        if due:
            await asyncio.to_thread(self._publish, due)

    def _publish(self, deliveries: list[RelayedDelivery]) -> None:
        client = self.client
        # publish() only queues a message in the client's batch; the futures say when
        # Pub/Sub accepted it, so publish them all first and wait once.
        pending = [
            (
                delivery,
                client.publish(
                    self.topic,
                    relay_body(delivery.message_id, delivery.target).encode(),
                    ordering_key=ordering_key(delivery),
                ),
            )
            for delivery in deliveries
        ]
        failed: list[tuple[RelayedDelivery, BaseException]] = []
        for delivery, future in pending:
            try:
                future.result(timeout=self.timeout)
            except Exception as error:  # the sweep relays it again; the caller logs it
                failed.append((delivery, error))
        for key in sorted({ordering_key(delivery) for delivery, _ in failed} - {""}):
            # a failed publish pauses its ordering key until resumed; the sweep's relay of
            # the same delivery must not find it paused
            client.resume_publish(self.topic, key)
        if failed:
            raise PubSubRelayError(self.topic, failed)


def ordering_key(delivery: RelayedDelivery) -> str:
    """The Pub/Sub ordering key of ``delivery``: its key when ordered (a digest when longer
    than Pub/Sub takes), else ``""`` (no ordering)."""
    key = delivery.key
    if not key:
        return ""
    if len(key.encode()) <= _MAX_ORDERING_KEY:
        return key
    return hashlib.sha256(key.encode()).hexdigest()


def _publisher_client() -> Any:
    # imported by name: google-cloud-pubsub ships no type information for mypy to read
    pubsub_v1: Any = importlib.import_module("google.cloud.pubsub_v1")
    options = pubsub_v1.types.PublisherOptions(enable_message_ordering=True)
    return pubsub_v1.PublisherClient(publisher_options=options)
