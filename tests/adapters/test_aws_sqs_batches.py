"""How the Lambda handler walks one SQS batch: records run concurrently, a FIFO group's in
order, and the partial batch response lists exactly the records that must come back (a
failed record's later group-mates too, untried)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from faaskit.adapters.aws_messages import handle_sqs
from faaskit.runtime.relay import relay_body
from faaskit.runtime.worker import Worker


class ScriptedWorker:
    """Stands in for the worker: ``deliver`` follows a script per message id, and records
    the order deliveries started in."""

    def __init__(self, script: dict[str, Any] | None = None) -> None:
        self.script = script or {}
        self.started: list[str] = []

    async def deliver(self, message_id: str, target: str) -> bool:
        self.started.append(message_id)
        step = self.script.get(message_id)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            await step()
        return True


def record(message_id: str, *, group: str | None = None, fifo: bool = False) -> dict[str, Any]:
    queue = "arn:aws:sqs:eu-west-1:123456789012:relay" + (".fifo" if fifo else "")
    attributes = {"MessageGroupId": group} if group is not None else {}
    return {
        "messageId": f"sqs-{message_id}",
        "body": relay_body(message_id, "sub:handle"),
        "attributes": attributes,
        "eventSource": "aws:sqs",
        "eventSourceARN": queue,
    }


def run(worker: ScriptedWorker, *records: dict[str, Any]) -> list[str]:
    answer = asyncio.run(
        asyncio.wait_for(handle_sqs(cast(Worker, worker), {"Records": list(records)}), 5)
    )
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


def test_records_of_a_standard_queue_run_concurrently() -> None:
    # "a" waits until "b" has run: one after another, this batch would never finish
    b_ran = asyncio.Event()

    async def wait_for_b() -> None:
        await b_ran.wait()

    async def run_b() -> None:
        b_ran.set()

    worker = ScriptedWorker({"a": wait_for_b, "b": run_b})
    assert run(worker, record("a"), record("b")) == []
    assert sorted(worker.started) == ["a", "b"]


def test_a_failed_record_is_listed_and_the_others_are_not() -> None:
    worker = ScriptedWorker({"b": ConnectionError("the database went away")})
    assert run(worker, record("a"), record("b"), record("c")) == ["sqs-b"]
    assert sorted(worker.started) == ["a", "b", "c"]


def test_a_fifo_group_runs_in_order_and_stops_at_its_first_failure() -> None:
    worker = ScriptedWorker({"g1-2": ConnectionError("the database went away")})
    failures = run(
        worker,
        record("g1-1", group="g1", fifo=True),
        record("g2-1", group="g2", fifo=True),
        record("g1-2", group="g1", fifo=True),
        record("g1-3", group="g1", fifo=True),
        record("g2-2", group="g2", fifo=True),
    )

    assert failures == ["sqs-g1-2", "sqs-g1-3"]  # in the batch's order, the rest untried
    assert "g1-3" not in worker.started
    group_one = [m for m in worker.started if m.startswith("g1")]
    group_two = [m for m in worker.started if m.startswith("g2")]
    assert group_one == ["g1-1", "g1-2"]
    assert group_two == ["g2-1", "g2-2"]


def test_groups_of_a_standard_queue_are_not_groups() -> None:
    # a MessageGroupId on a standard queue (SQS fair queues) orders nothing
    worker = ScriptedWorker({"a": ConnectionError("down")})
    assert run(worker, record("a", group="g"), record("b", group="g")) == ["sqs-a"]
    assert sorted(worker.started) == ["a", "b"]
