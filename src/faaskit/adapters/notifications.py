"""Messages from a cloud's own services (SNS, EventBridge, Pub/Sub, Service Bus) into
faaskit's outbox, on every cloud alike.

Each becomes a message published on a faaskit topic in one unit of work, with an id the
cloud gave it as the message id (``sns:...``, ``pubsub:...``), so one delivered twice —
every such service delivers at least once — is dropped the second time. The topic's
subscribers then receive it like any other message: through the relay, or the sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faaskit.app import App
    from faaskit.context import Context
    from faaskit.runtime.runtime import Runtime

__all__ = ["Notification", "publish_notifications", "unsubscribed"]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to publish: its faaskit topic, its data, and its (cloud-given) id."""

    topic: str
    data: Any
    message_id: str


def unsubscribed(app: App, published: Sequence[Notification]) -> Notification | None:
    """The first notification whose topic no subscriber of ``app`` takes (a stray rule or
    subscription: the adapter refuses it rather than drop it), or None."""
    for note in published:
        if not app.subscribers(note.topic):
            return note
    return None


async def publish_notifications(
    runtime: Runtime, published: Sequence[Notification], invocation_id: str, *, source: str
) -> dict[str, Any]:
    """Publish every notification in one unit of work (the function is named ``source``,
    ``aws.notifications`` say); what the handler answers the platform."""

    async def publish(ctx: Context) -> None:
        for note in published:
            ctx.publish(note.topic, note.data, message_id=note.message_id)

    ctx = runtime.context(source, invocation_id, trigger="event")
    await runtime.invoke(ctx, publish, {"ctx": ctx}, lambda result: result)
    return {"published": len(published)}
