"""The Lambda events that are not HTTP: SQS batches of relayed deliveries, and the schedule
that runs the sweeper.

An SQS record whose body names a delivery (:func:`faaskit.adapters.aws_sqs.relay_body`) is
handed to :meth:`~faaskit.runtime.worker.Worker.deliver`, which claims it in the store and
runs its handler with the ack in one unit of work. The answer is SQS's partial batch
response, ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` (the event
source mapping needs ``ReportBatchItemFailures``), listing only the records that should
come back:

- a record whose delivery could not be claimed or settled (the store was unreachable): it
  comes back after the queue's visibility timeout;
- a record whose body is not a faaskit relay body (:class:`ForeignMessageError`, logged):
  faaskit cannot tell what it meant, so it is never dropped silently — it comes back
  until the queue's redrive policy moves it to the dead-letter queue, where someone sees it.

A handler that fails is not listed: the worker has already rescheduled the delivery in
the store (or dead-lettered it after its last attempt) and relayed the retry with its
backoff as the delay (the sweeper relays it again if that relay is lost). A handler still
running two seconds before the Lambda's deadline is cancelled, so its failure is recorded
too; the delivery's lease lasts just past the deadline. Nor is a duplicate, or a delivery
not due yet: ``deliver`` answers False, there is nothing to do now.

The records of a batch are handled concurrently, on the environment's one event loop (a
handler waiting on I/O lets the others run); on a FIFO queue the records of one message
group are handled one after another in the order they came, and once one fails the later
ones of its group are listed without being tried, so the group's order holds.

The sweeper runs on a schedule: an event ``{"faaskit": "sweep"}`` (EventBridge
Scheduler's configured input, or a rule's constant input) or an EventBridge scheduled-rule
event (``source`` ``aws.events`` and ``detail-type`` ``Scheduled Event``). It schedules
the first tick of any cron that has none, relays again every delivery that is due and
unleased (lost relays, tasks delayed past SQS's 15 minutes, retries, cron ticks), and
catches the projections up with the event log.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from faaskit.errors import BadRequestError, ValidationError
from faaskit.runtime.relay import ForeignMessageError, relayed_names

if TYPE_CHECKING:  # the worker loads only when a message or a sweep arrives
    from faaskit.runtime.worker import Worker

__all__ = [
    "ForeignMessageError",
    "SQSRecord",
    "handle_sqs",
    "is_sqs_event",
    "is_sweep_event",
    "relayed_names",
    "run_sweep",
]

logger = logging.getLogger("faaskit.adapters.aws")
SWEEP_INPUT = {"faaskit": "sweep"}


@dataclass(frozen=True, slots=True)
class SQSRecord:
    message_id: str
    body: Any
    group: str | None


def is_sqs_event(event: Any) -> bool:
    """Whether ``event`` is an SQS batch (its records come from ``aws:sqs``)."""
    if not isinstance(event, Mapping):
        return False
    records = event.get("Records")
    return (
        isinstance(records, list)
        and bool(records)
        and all(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    )


def is_sweep_event(event: Any) -> bool:
    """Whether ``event`` asks for a sweep: ``{"faaskit": "sweep"}``, or a scheduled rule's
    event (its ``source`` and ``detail-type`` both: a custom event may say "Scheduled")."""
    if not isinstance(event, Mapping):
        return False
    if event.get("faaskit") == "sweep":
        return True
    return event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event"


Notify = Callable[[Mapping[str, Any], str], Awaitable[None]]
"""Publishes an SNS notification that reached the queue in SNS's envelope (SNS → SQS)."""


async def handle_sqs(
    worker: Worker, event: Mapping[str, Any], *, notify: Notify | None = None
) -> dict[str, Any]:
    """Deliver what each record names (or, with ``notify``, publish the SNS notification a
    record carries); the partial batch response."""
    records = [_record(raw) for raw in event["Records"]]
    lines: dict[object, list[SQSRecord]] = {}
    for position, record in enumerate(records):
        # a FIFO group is one line, in order; any other record is a line of its own
        lines.setdefault(record.group if record.group is not None else position, []).append(record)
    failed: set[str] = set()

    async def run_line(line: list[SQSRecord]) -> None:
        for index, record in enumerate(line):
            if not await _deliver(worker, record, notify):
                failed.update(r.message_id for r in line[index:])  # the rest keep order
                return

    await asyncio.gather(*(run_line(line) for line in lines.values()))
    return {
        "batchItemFailures": [
            {"itemIdentifier": record.message_id}
            for record in records
            if record.message_id in failed
        ]
    }


async def _deliver(worker: Worker, record: SQSRecord, notify: Notify | None) -> bool:
    """Whether the record is settled (handled, or nothing to do); False: it comes back."""
    fields = {"sqs_message_id": record.message_id}
    try:
        envelope = _sns_envelope(record.body) if notify is not None else None
        if envelope is not None and notify is not None:
            await notify(envelope, f"sqs:{record.message_id}")
            return True
        message_id, target = relayed_names(record.body)
        await worker.deliver(message_id, target)
    except (BadRequestError, ValidationError) as error:
        logger.error("not a faaskit relay message: %s", error, extra={"fields": fields})
        return False
    except Exception:
        logger.warning(
            "delivery failed; SQS will bring the message back",
            exc_info=True,
            extra={"fields": fields},
        )
        return False
    return True


def _sns_envelope(body: Any) -> Mapping[str, Any] | None:
    """The SNS notification an SQS body is, when SNS delivered it to the queue (not raw)."""
    if not isinstance(body, str) or '"Notification"' not in body:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    if (
        isinstance(parsed, dict)
        and parsed.get("Type") == "Notification"
        and isinstance(parsed.get("TopicArn"), str)
        and isinstance(parsed.get("MessageId"), str)
    ):
        return parsed
    return None


def _record(raw: Mapping[str, Any]) -> SQSRecord:
    attributes = raw.get("attributes")
    group = attributes.get("MessageGroupId") if isinstance(attributes, Mapping) else None
    arn = raw.get("eventSourceARN")
    fifo = isinstance(arn, str) and arn.endswith(".fifo")
    return SQSRecord(
        message_id=str(raw.get("messageId", "")),
        body=raw.get("body"),
        group=str(group) if fifo and group is not None else None,
    )


async def run_sweep(worker: Worker) -> dict[str, Any]:
    """One scheduled round (:func:`faaskit.runtime.relay.sweep_round`)."""
    from faaskit.runtime.relay import sweep_round

    return await sweep_round(worker)
