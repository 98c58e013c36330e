"""ServiceBusRelay alone, with the SDK's own ``azure.servicebus.ServiceBusMessage``: what
each relayed message carries (body, id for duplicate detection, schedule, session), how
sends are batched, and the app settings that make it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from faaskit.adapters.azure_servicebus import ServiceBusRelay
from faaskit.errors import ConfigurationError
from faaskit.runtime.relay import RelayedDelivery, relay_body
from tests.adapters.servicebus_support import RecordingSender

CONNECTION = "Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s"


def test_message_ids_name_the_delivery_and_its_due_time() -> None:
    relay = ServiceBusRelay("q", sender=RecordingSender())
    now = 1_700_000_000.0
    first = relay.message(RelayedDelivery("m1", "sub:a", now), now)
    retried = relay.message(RelayedDelivery("m1", "sub:a", now), now)
    later = relay.message(RelayedDelivery("m1", "sub:a", now + 30), now + 30)
    other = relay.message(RelayedDelivery("m1", "sub:b", now), now)

    assert first.message_id == retried.message_id  # duplicate detection drops a resend
    assert len({first.message_id, later.message_id, other.message_id}) == 3
    assert str(first) == relay_body("m1", "sub:a")
    assert first.session_id is None and first.scheduled_enqueue_time_utc is None


def test_a_due_time_is_rounded_up_to_the_second() -> None:
    relay = ServiceBusRelay("q", sender=RecordingSender())
    now = 1_700_000_000.0

    message = relay.message(RelayedDelivery("m1", "task:t", now + 12.25), now)

    assert message.scheduled_enqueue_time_utc == datetime.fromtimestamp(now + 13, tz=UTC)


def test_sessions_carry_the_ordering_key() -> None:
    loose = RelayedDelivery("m2", "sub:a", 0.0)
    ordered = RelayedDelivery("m1", "sub:a", 0.0, key="order-7")
    long_key = RelayedDelivery("m3", "sub:a", 0.0, key="k" * 200)
    plain = ServiceBusRelay("q", sender=RecordingSender())
    sessions = ServiceBusRelay("q", sender=RecordingSender(), sessions=True)

    assert plain.message(ordered, 0.0).session_id == "order-7"
    assert plain.message(loose, 0.0).session_id is None
    assert sessions.message(loose, 0.0).session_id == "m2"
    assert len(plain.message(long_key, 0.0).session_id or "") == 64  # a digest


def test_send_batches_at_most_a_hundred_messages_a_session() -> None:
    sender = RecordingSender()
    relay = ServiceBusRelay("q", sender=sender)
    deliveries = [RelayedDelivery(f"m{i}", "sub:a", 0.0) for i in range(230)]
    deliveries += [RelayedDelivery(f"o{i}", "sub:a", 0.0, key="order-1") for i in range(3)]

    asyncio.run(relay.send(deliveries))

    assert [len(batch) for batch in sender.batches] == [100, 100, 30, 3]
    assert {m.session_id for m in sender.batches[-1]} == {"order-1"}
    assert len({m.message_id for m in sender.sent}) == 233


def test_the_settings_make_the_relay() -> None:

    made = ServiceBusRelay.from_environment(
        {"FAASKIT_SERVICEBUS_QUEUE": "shop", "FAASKIT_SERVICEBUS": CONNECTION}
    )

    assert ServiceBusRelay.from_environment({"FAASKIT_SERVICEBUS": CONNECTION}) is None
    assert made is not None and made.queue_name == "shop"
    with pytest.raises(ConfigurationError, match="FAASKIT_SERVICEBUS"):
        ServiceBusRelay.from_environment({"FAASKIT_SERVICEBUS_QUEUE": "shop"})


def test_a_connection_string_makes_the_sdks_async_sender() -> None:
    from azure.servicebus.aio import ServiceBusSender

    relay = ServiceBusRelay("shop", connection_string=CONNECTION)

    sender = relay._open()  # no connection yet: the link opens on the first send

    assert isinstance(sender, ServiceBusSender)
    assert sender.entity_name == "shop"
    assert sender.fully_qualified_namespace == "shop.servicebus.windows.net"
    asyncio.run(relay.close())


def test_an_identity_connection_without_azure_identity_says_what_to_install() -> None:
    try:
        import azure.identity  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("azure-identity is installed here")

    with pytest.raises(ConfigurationError, match="azure-identity"):
        ServiceBusRelay.from_environment(
            {
                "FAASKIT_SERVICEBUS_QUEUE": "shop",
                "FAASKIT_SERVICEBUS__fullyQualifiedNamespace": "shop.servicebus.windows.net",
            }
        )


def test_a_relay_needs_somewhere_to_send() -> None:
    with pytest.raises(ConfigurationError, match="connection string"):
        ServiceBusRelay("q")
