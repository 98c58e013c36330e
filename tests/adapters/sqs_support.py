"""SQS for the tests: moto in server mode on a loopback port (started once per session),
fake credentials, a fresh queue per test, and the part of Lambda's SQS poller the tests
need: receive a batch, hand it to the handler as an SQS event, delete what succeeded.
A test module imports the ``*_fixture`` functions to use the fixtures."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.adapters.aws_support import LambdaContext

REGION = "us-east-1"
COPY = "faaskit-test-copy"  # a message attribute marking a duplicate the tests sent


@pytest.fixture(scope="session", name="moto_endpoint")
def moto_endpoint_fixture() -> Iterator[str]:
    """The endpoint of a moto server running in this process, on a free loopback port."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(name="aws_env")
def aws_env_fixture(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> str:
    """Fake credentials and region, and boto3 pointed at moto (``AWS_ENDPOINT_URL_SQS``)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    return moto_endpoint


@pytest.fixture(name="sqs_client")
def sqs_client_fixture(aws_env: str) -> Any:
    import boto3

    return boto3.session.Session().client("sqs")


@pytest.fixture(name="make_queue")
def make_queue_fixture(sqs_client: Any) -> Callable[..., Queue]:
    """``make_queue(fifo=False)``: a new, empty queue of its own for the test."""

    def make(*, fifo: bool = False) -> Queue:
        name = f"faaskit-{uuid.uuid4().hex[:12]}" + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        url = sqs_client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        return Queue(sqs_client, url, f"arn:aws:sqs:{REGION}:123456789012:{name}")

    return make


@pytest.fixture(name="queue")
def queue_fixture(make_queue: Callable[..., Queue]) -> Queue:
    return make_queue()


class RecordingClient:
    """A boto3 SQS client that remembers each SendMessageBatch call's entries."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[list[dict[str, Any]]] = []

    @property
    def entries(self) -> list[dict[str, Any]]:
        return [entry for call in self.calls for entry in call]

    def send_message_batch(self, **arguments: Any) -> Any:
        self.calls.append(list(arguments["Entries"]))
        return self.inner.send_message_batch(**arguments)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class Round:
    """One batch through the handler: the SQS event it got and its answer."""

    event: dict[str, Any]
    answer: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        return [item["itemIdentifier"] for item in self.answer["batchItemFailures"]]

    def body_of(self, message_id: str) -> str:
        (record,) = [r for r in self.event["Records"] if r["messageId"] == message_id]
        return str(record["body"])


@dataclass
class Queue:
    client: Any
    url: str
    arn: str
    rounds: list[Round] = field(default_factory=list)

    @property
    def fifo(self) -> bool:
        return self.url.endswith(".fifo")

    def send(self, body: str, *, copy: bool = False, group: str | None = None) -> None:
        extra: dict[str, Any] = {}
        if copy:
            extra["MessageAttributes"] = {COPY: {"DataType": "String", "StringValue": "1"}}
        if self.fifo:
            extra["MessageGroupId"] = group or "tests"
            extra["MessageDeduplicationId"] = uuid.uuid4().hex
        self.client.send_message(QueueUrl=self.url, MessageBody=body, **extra)

    def receive(self) -> list[dict[str, Any]]:
        answer = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(answer.get("Messages", []))

    def bodies(self) -> list[str]:
        """Take every visible message off the queue; their bodies."""
        taken = []
        while messages := self.receive():
            for message in messages:
                taken.append(message["Body"])
                self.delete(message)
        return taken

    def delete(self, message: dict[str, Any]) -> None:
        self.client.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])

    def lambda_event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """The SQS event Lambda's poller would invoke the function with (its documented
        record shape, as in the reference events)."""
        records = []
        for message in messages:
            records.append(
                {
                    "messageId": message["MessageId"],
                    "receiptHandle": message["ReceiptHandle"],
                    "body": message["Body"],
                    "attributes": message.get("Attributes", {}),
                    "messageAttributes": {
                        name: {
                            "stringValue": value.get("StringValue"),
                            "dataType": value["DataType"],
                        }
                        for name, value in message.get("MessageAttributes", {}).items()
                    },
                    "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.arn,
                    "awsRegion": REGION,
                }
            )
        return {"Records": records}

    def pump(
        self, handler: Callable[..., dict[str, Any]], *, duplicate: bool = False
    ) -> list[Round]:
        """Feed the queue to ``handler`` until it is empty, like Lambda's poller: delete
        what succeeded; what failed is made visible again at once (the visibility timeout,
        shortened). ``duplicate``: every message is also sent a second time, as SQS's
        at-least-once delivery may."""
        rounds: list[Round] = []
        for _ in range(50):
            done = self.once(handler, duplicate=duplicate)
            if done is None:
                return rounds
            rounds.append(done)
            if len(done.failed) == len(done.event["Records"]):
                return rounds  # nothing but failures: do not spin on them
        raise AssertionError("the queue is still not empty after 50 batches")

    def once(
        self, handler: Callable[..., dict[str, Any]], *, duplicate: bool = False
    ) -> Round | None:
        """One batch through ``handler`` (None: the queue had nothing visible)."""
        messages = self.receive()
        if not messages:
            return None
        if duplicate:
            for message in messages:
                if COPY not in message.get("MessageAttributes", {}):
                    group = message.get("Attributes", {}).get("MessageGroupId")
                    self.send(message["Body"], copy=True, group=group)
        shaped = self.lambda_event(messages)
        answer = handler(shaped, LambdaContext(request_id=f"sqs-{uuid.uuid4().hex[:8]}"))
        done = Round(shaped, answer)
        self.rounds.append(done)
        for message in messages:
            if message["MessageId"] in done.failed:
                self.client.change_message_visibility(
                    QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
                )
            else:
                self.delete(message)
        return done
