"""The outbox relayed to Amazon SQS: each committed delivery becomes one queue message that
names it, ``{"message_id": ..., "target": ...}``; the SQS-triggered Lambda claims that
delivery in the store (:mod:`faaskit.adapters.aws_messages`). The queue is a relay, never
the truth: a lost message is relayed again by the sweeper, a duplicated one finds its
delivery done::

    from faaskit.adapters.aws_sqs import SQSRelay

    runtime.relay = SQSRelay("https://sqs.eu-west-1.amazonaws.com/123456789012/shop")

(``lambda_handler`` does this itself when ``FAASKIT_SQS_QUEUE_URL`` is set.)

A delivery due later is sent with ``DelaySeconds`` (at most SQS's 900); one due later
than that arrives early, finds its delivery not due and does nothing, and the sweeper
relays it again once it is due. FIFO queues (``.fifo``) take no per-message delay, so
there every delayed delivery waits for the sweeper; their ``MessageGroupId`` is an
ordered delivery's key (order within a key, parallel across keys) or else the message
id, and their ``MessageDeduplicationId`` names the delivery and its due time, so a
retried send is dropped by SQS while a later relay of the same delivery is not.

boto3 is imported when the first message is sent (install ``faaskit[aws]``); its calls
block, so they run in a thread and the event loop goes on.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

from faaskit.clock import Clock, SystemClock
from faaskit.runtime.relay import RelayedDelivery, relay_body

__all__ = ["MAX_DELAY_SECONDS", "SQSRelay", "SQSRelayError", "relay_body"]

MAX_DELAY_SECONDS = 900  # SQS's longest per-message delay (15 minutes)
_BATCH = 10  # SendMessageBatch's most entries a call
_SQS_ID = re.compile(r"[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}")


class SQSRelayError(RuntimeError):
    """Some deliveries were not accepted by SQS (they stay in the outbox: the sweeper
    relays them again). ``failed`` holds SQS's entries: ``Id``, ``Code``, ``Message``."""

    def __init__(self, queue_url: str, failed: Sequence[dict[str, Any]]) -> None:
        self.queue_url = queue_url
        self.failed = list(failed)
        codes = sorted({str(entry.get("Code", "?")) for entry in self.failed})
        super().__init__(
            f"SQS refused {len(self.failed)} relayed deliveries on {queue_url}: {', '.join(codes)}"
        )


class SQSRelay:
    """A :class:`~faaskit.runtime.relay.Relay` sending delivery names to one SQS queue.

    ``client`` is a boto3 SQS client (made from the environment on first use when None:
    region and credentials as boto3 finds them, ``AWS_ENDPOINT_URL_SQS`` included);
    ``clock`` tells the delays (the runtime's clock; the system clock when None).
    """

    def __init__(self, queue_url: str, *, client: Any = None, clock: Clock | None = None) -> None:
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        self.clock: Clock = clock or SystemClock()
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 SQS client (made on first use; blocking: call it in a thread)."""
        with self._client_lock:
            if self._client is None:
                import boto3

                self._client = boto3.session.Session().client("sqs")
            return self._client

    async def send(self, deliveries: Sequence[RelayedDelivery]) -> None:
        """Send ``deliveries`` in batches of ten; SQSRelayError naming the refused ones."""
        if not deliveries:
            return
        now = self.clock.now().timestamp()
        entries = [self.entry(str(i), delivery, now) for i, delivery in enumerate(deliveries)]
        await asyncio.to_thread(self._send_batches, entries)

    def entry(self, entry_id: str, delivery: RelayedDelivery, now: float) -> dict[str, Any]:
        """The SendMessageBatch entry relaying ``delivery`` at ``now`` (epoch seconds)."""
        entry: dict[str, Any] = {
            "Id": entry_id,
            "MessageBody": relay_body(delivery.message_id, delivery.target),
        }
        if self.fifo:
            group = delivery.key or delivery.message_id
            entry["MessageGroupId"] = _sqs_id(group)
            entry["MessageDeduplicationId"] = _digest(
                delivery.message_id, delivery.target, repr(delivery.available_at)
            )
        else:
            # Rounded up: a delivery must not arrive before it is due (it would do nothing
            # and wait for the sweeper).
            delay = math.ceil(delivery.available_at - now)
            entry["DelaySeconds"] = min(max(delay, 0), MAX_DELAY_SECONDS)
        return entry

    def _send_batches(self, entries: list[dict[str, Any]]) -> None:
        client = self.client
        failed: list[dict[str, Any]] = []
        for start in range(0, len(entries), _BATCH):
            answer = client.send_message_batch(
                QueueUrl=self.queue_url, Entries=entries[start : start + _BATCH]
            )
            failed.extend(answer.get("Failed") or [])
        if failed:
            raise SQSRelayError(self.queue_url, failed)


def _sqs_id(text: str) -> str:
    """``text`` when SQS takes it as a group id, else a digest of it."""
    return text if _SQS_ID.fullmatch(text) else _digest(text)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()
