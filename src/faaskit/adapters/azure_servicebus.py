"""The outbox relayed to an Azure Service Bus queue: each committed delivery becomes one
queue message that names it, ``{"message_id": ..., "target": ...}``; the Service Bus
triggered function claims that delivery in the store (:mod:`faaskit.adapters.azure_messages`).
The queue is a relay, never the truth: a lost message is relayed again by the sweeper, a
duplicated one finds its delivery done::

    from faaskit.adapters.azure_servicebus import ServiceBusRelay

    runtime.relay = ServiceBusRelay("shop", connection_string=os.environ["FAASKIT_SERVICEBUS"])

(``function_app(app, servicebus=True)`` does this itself from the app settings.)

- A delivery due later is sent *scheduled* (``scheduled_enqueue_time_utc``, rounded up to
  the second): Service Bus holds it until then, however far ahead — no cap as SQS's 15
  minutes. (Should it come early anyway, it finds its delivery not due, does nothing, and
  the sweeper relays it again once it is.)
- ``message_id`` names the delivery and its due time (a digest), so with duplicate
  detection on the queue (``--enable-duplicate-detection``) a send the SDK retried after a
  lost acknowledgement is dropped, while a later relay of the same delivery (a retry, a
  sweep) is not.
- ``session_id`` is an ordered delivery's key (``publish(..., key=...)``). On a
  session-enabled queue every message needs one: make the relay with ``sessions=True``
  (``function_app(..., sessions=True)``) and an unordered delivery gets its message id as
  its session. Without sessions the key is carried and ignored by Service Bus; the store
  still keeps a key's order (a delivery behind an earlier one of its key does nothing and
  is relayed again by the sweeper).

The connection comes from the settings the Service Bus trigger also reads:
``FAASKIT_SERVICEBUS`` (a connection string), or ``FAASKIT_SERVICEBUS__fullyQualifiedNamespace``
(``<namespace>.servicebus.windows.net``, identity-based: the function app's managed identity
through azure-identity, ``FAASKIT_SERVICEBUS__clientId`` for a user-assigned one), and the
queue ``FAASKIT_SERVICEBUS_QUEUE``. azure-servicebus is imported when the first message is
sent (install ``faaskit[azure]``); its asyncio client runs on the worker's event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from faaskit.clock import Clock, SystemClock
from faaskit.errors import ConfigurationError
from faaskit.runtime.relay import RelayedDelivery, relay_body

if TYPE_CHECKING:
    from azure.servicebus import ServiceBusMessage

__all__ = [
    "CONNECTION_SETTING",
    "NAMESPACE_SETTING",
    "QUEUE_SETTING",
    "ServiceBusRelay",
    "ServiceBusSender",
]

CONNECTION_SETTING = "FAASKIT_SERVICEBUS"
"""The app setting naming the Service Bus connection (the trigger's ``connection``)."""
NAMESPACE_SETTING = f"{CONNECTION_SETTING}__fullyQualifiedNamespace"
QUEUE_SETTING = "FAASKIT_SERVICEBUS_QUEUE"
_CLIENT_ID_SETTING = f"{CONNECTION_SETTING}__clientId"
_CREDENTIAL_SETTING = f"{CONNECTION_SETTING}__credential"
_BATCH = 100  # relay bodies are ~100 bytes: 100 of them stay far below a 256 KB batch
_MAX_ID = 128  # Service Bus's longest message and session id


class ServiceBusSender(Protocol):
    """What the relay needs of ``azure.servicebus.aio.ServiceBusSender`` (a test's
    recording sender fits too)."""

    async def send_messages(self, message: list[ServiceBusMessage]) -> None: ...


class ServiceBusRelay:
    """A :class:`~faaskit.runtime.relay.Relay` sending delivery names to one Service Bus
    queue.

    Give ``connection_string``, or ``fully_qualified_namespace`` with a ``credential``
    (an azure-identity async credential; the default credential when None), or a ready
    ``sender`` (an ``azure.servicebus.aio.ServiceBusSender``, or a test's). ``clock``
    tells what is due later (the runtime's clock; the system clock when None).
    """

    def __init__(
        self,
        queue_name: str,
        *,
        connection_string: str | None = None,
        fully_qualified_namespace: str | None = None,
        credential: Any = None,
        sender: ServiceBusSender | None = None,
        clock: Clock | None = None,
        sessions: bool = False,
    ) -> None:
        if sender is None and not (connection_string or fully_qualified_namespace):
            raise ConfigurationError(
                f"ServiceBusRelay({queue_name!r}) needs a connection string, a fully "
                "qualified namespace or a sender"
            )
        self.queue_name = queue_name
        self.sessions = sessions
        self.clock: Clock = clock or SystemClock()
        self._connection_string = connection_string
        self._namespace = fully_qualified_namespace
        self._credential = credential
        self._sender = sender
        self._client: Any = None
        self._lock: asyncio.Lock | None = None

    @classmethod
    def from_environment(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        clock: Clock | None = None,
        sessions: bool = False,
    ) -> ServiceBusRelay | None:
        """The relay the app settings describe; None when ``FAASKIT_SERVICEBUS_QUEUE``
        is not set; ConfigurationError when it is, but no connection is."""
        env = os.environ if environ is None else environ
        queue = env.get(QUEUE_SETTING, "").strip()
        if not queue:
            return None
        connection = env.get(CONNECTION_SETTING, "").strip()
        namespace = env.get(NAMESPACE_SETTING, "").strip()
        if connection:
            return cls(queue, connection_string=connection, clock=clock, sessions=sessions)
        if namespace:
            credential = _identity_credential(
                env.get(_CREDENTIAL_SETTING, ""), env.get(_CLIENT_ID_SETTING, "")
            )
            return cls(
                queue,
                fully_qualified_namespace=namespace,
                credential=credential,
                clock=clock,
                sessions=sessions,
            )
        raise ConfigurationError(
            f"{QUEUE_SETTING} is set but neither {CONNECTION_SETTING} (a connection string) "
            f"nor {NAMESPACE_SETTING} is: add one to the app settings"
        )

    async def send(self, deliveries: Sequence[RelayedDelivery]) -> None:
        """Send ``deliveries``, a batch per session, at most 100 messages a batch."""
        if not deliveries:
            return
        now = self.clock.now().timestamp()
        by_session: dict[str | None, list[ServiceBusMessage]] = {}
        for delivery in deliveries:
            message = self.message(delivery, now)
            by_session.setdefault(message.session_id, []).append(message)
        if self._lock is None:
            self._lock = asyncio.Lock()
        # The SDK's sender is not documented safe for concurrent sends (its link opens on
        # the first): concurrent invocations of one worker take turns.
        async with self._lock:
            sender = self._open()
            for messages in by_session.values():
                for start in range(0, len(messages), _BATCH):
                    await sender.send_messages(messages[start : start + _BATCH])

    def message(self, delivery: RelayedDelivery, now: float) -> ServiceBusMessage:
        """The queue message relaying ``delivery`` at ``now`` (epoch seconds)."""
        from azure.servicebus import ServiceBusMessage

        scheduled = None
        if delivery.available_at > now:
            # Rounded up: a delivery must not arrive before it is due (it would do nothing
            # and wait for the sweeper).
            scheduled = datetime.fromtimestamp(math.ceil(delivery.available_at), tz=UTC)
        session = delivery.key
        if session is None and self.sessions:
            session = delivery.message_id
        return ServiceBusMessage(
            relay_body(delivery.message_id, delivery.target),
            content_type="application/json",
            message_id=_digest(delivery.message_id, delivery.target, repr(delivery.available_at)),
            session_id=None if session is None else _service_bus_id(session),
            scheduled_enqueue_time_utc=scheduled,
        )

    def _open(self) -> ServiceBusSender:
        if self._sender is None:
            from azure.servicebus.aio import ServiceBusClient

            if self._connection_string:
                client = ServiceBusClient.from_connection_string(self._connection_string)
            else:
                assert self._namespace is not None
                credential = self._credential or _identity_credential("", "")
                client = ServiceBusClient(self._namespace, credential)
            self._client = client
            self._sender = client.get_queue_sender(self.queue_name)
        return self._sender

    async def close(self) -> None:
        """Close the client this relay made (the Functions host never needs to)."""
        client, self._client = self._client, None
        if client is not None:
            self._sender = None
            await client.close()


def _identity_credential(kind: str, client_id: str) -> Any:
    """The function app's identity, as the Functions host reads the same settings."""
    try:
        # in faaskit[azure], but a plain install of azure-servicebus may lack it (untyped)
        from azure.identity.aio import (  # type: ignore[import-untyped,unused-ignore]
            DefaultAzureCredential,
            ManagedIdentityCredential,
        )
    except ImportError as error:
        raise ConfigurationError(
            f"{NAMESPACE_SETTING} (an identity-based connection) needs azure-identity: "
            f"pip install 'faaskit[azure]', or set {CONNECTION_SETTING} to a connection string"
        ) from error
    if kind.strip().lower() == "managedidentity":
        return ManagedIdentityCredential(client_id=client_id or None)
    return DefaultAzureCredential(managed_identity_client_id=client_id or None)


def _service_bus_id(text: str) -> str:
    """``text`` when Service Bus takes it as an id (128 characters at most), else a digest."""
    return text if 0 < len(text) <= _MAX_ID else _digest(text)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
