"""What the Pub/Sub event function's tests share: the four shapes a Pub/Sub message
reaches a functions-framework CloudEvent function in, a stand-in for google-cloud-pubsub's
PublisherClient that records what it publishes (in memory, or to a spool file when it
runs inside a functions-framework server), a clock the test and its servers share, an app
whose subscriber records each run in the store, and functions-framework's own Flask app
(the real event conversion) in-process or as a server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from faaskit import App, Context, Event
from faaskit.config import Settings
from faaskit.ids import new_id
from faaskit.runtime.runtime import Runtime

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "gcp"
PROJECT = "faaskit-test"
RELAY_TOPIC = f"projects/{PROJECT}/topics/faaskit-relay"
SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/faaskit-relay-push"
PUBSUB_MESSAGE = "type.googleapis.com/google.pubsub.v1.PubsubMessage"
PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
SHAPES = ("push", "binary", "structured", "background", "legacy")
SWEEP = b'{"faaskit":"sweep"}'


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def topic_path(name: str) -> str:
    return f"projects/{PROJECT}/topics/{name}"


# -- messages and their shapes -----------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One Pub/Sub message as Pub/Sub would push it."""

    data: bytes
    message_id: str = field(default_factory=lambda: str(uuid.uuid4().int)[:16])
    attributes: dict[str, str] = field(default_factory=dict)
    topic: str = RELAY_TOPIC
    ordering_key: str = ""
    publish_time: str = "2024-05-01T12:00:00.123Z"


@dataclass(frozen=True)
class Push:
    """One HTTP request to the function."""

    path: str
    headers: dict[str, str]
    body: bytes


def message_json(message: Message, ids: str = "both") -> dict[str, Any]:
    """The PubsubMessage as push JSON; ``ids``: which of the duplicate id and time fields
    it carries ("both", "camel", "snake" or "neither")."""
    shaped: dict[str, Any] = {"data": base64.b64encode(message.data).decode()}
    if message.attributes:
        shaped["attributes"] = dict(message.attributes)
    if message.ordering_key:
        shaped["orderingKey"] = message.ordering_key
    if ids in ("both", "camel"):
        shaped["messageId"] = message.message_id
        shaped["publishTime"] = message.publish_time
    if ids in ("both", "snake"):
        shaped["message_id"] = message.message_id
        shaped["publish_time"] = message.publish_time
    return shaped


def envelope(message: Message, ids: str = "both") -> dict[str, Any]:
    return {"message": message_json(message, ids), "subscription": SUBSCRIPTION}


def shaped(message: Message, shape: str, *, ids: str = "both") -> Push:
    """``message`` as one of the requests functions-framework turns into a CloudEvent."""
    source = f"//pubsub.googleapis.com/{message.topic}"
    if shape == "push":  # a push subscription whose endpoint path names the topic
        return _json_push(f"/{message.topic}", envelope(message, ids))
    if shape == "binary":  # Eventarc
        headers = {
            "ce-specversion": "1.0",
            "ce-type": PUBLISHED,
            "ce-source": source,
            "ce-id": message.message_id,
            "ce-time": message.publish_time,
            "Content-Type": "application/json",
        }
        return Push("/", headers, json.dumps(envelope(message, ids)).encode())
    if shape == "structured":
        event = {
            "specversion": "1.0",
            "type": PUBLISHED,
            "source": source,
            "id": message.message_id,
            "time": message.publish_time,
            "datacontenttype": "application/json",
            "data": envelope(message, ids),
        }
        headers = {"Content-Type": "application/cloudevents+json"}
        return Push("/", headers, json.dumps(event).encode())
    data = {"@type": PUBSUB_MESSAGE, **message_json(message, "neither")}
    if shape == "background":
        resource = {
            "service": "pubsub.googleapis.com",
            "name": message.topic,
            "type": PUBSUB_MESSAGE,
        }
        context = {
            "eventId": message.message_id,
            "timestamp": message.publish_time,
            "eventType": "google.pubsub.topic.publish",
            "resource": resource,
        }
        return _json_push("/", {"context": context, "data": data})
    if shape == "legacy":
        return _json_push(
            "/",
            {
                "eventId": message.message_id,
                "timestamp": message.publish_time,
                "eventType": "providers/cloud.pubsub/eventTypes/topic.publish",
                "resource": message.topic,
                "data": data,
            },
        )
    raise ValueError(shape)


def _json_push(path: str, body: Any) -> Push:
    return Push(path, {"Content-Type": "application/json"}, json.dumps(body).encode())


def cloud_event(message: Message, *, ids: str = "both", **attributes: Any) -> Any:
    """``message`` as the cloudevents CloudEvent an Eventarc push becomes."""
    from cloudevents.http import CloudEvent

    base = {
        "type": PUBLISHED,
        "source": f"//pubsub.googleapis.com/{message.topic}",
        "id": message.message_id,
        "time": message.publish_time,
        "specversion": "1.0",
    }
    return CloudEvent({**base, **attributes}, envelope(message, ids))


# -- a PublisherClient stand-in ------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    topic: str
    data: bytes
    ordering_key: str
    attributes: dict[str, str]
    message_id: str

    def as_message(self) -> Message:
        """What Pub/Sub would push for it (a redelivery keeps the message id)."""
        return Message(
            self.data,
            self.message_id,
            dict(self.attributes),
            topic=self.topic,
            ordering_key=self.ordering_key,
        )

    def names(self) -> dict[str, str]:
        return dict(json.loads(self.data))


class RecordingPublisher:
    """``publish(topic, data, ordering_key="", retry=..., timeout=..., **attrs) -> Future``
    like ``google.cloud.pubsub_v1.PublisherClient``: it records each message (and, given a
    spool file, appends it there as a JSON line, for a test outside the server's process)
    and answers a future that holds the message id Pub/Sub would have given."""

    def __init__(self, spool: Path | None = None) -> None:
        self.spool = spool
        self.published: list[Published] = []
        self.resumed: list[tuple[str, str]] = []
        self._failures: list[BaseException] = []

    def fail_next(self, count: int, error: BaseException | None = None) -> None:
        self._failures.extend([error or RuntimeError("pubsub unavailable")] * count)

    def publish(
        self,
        topic: str,
        data: bytes,
        ordering_key: str = "",
        retry: Any = None,
        timeout: Any = None,
        **attrs: str | bytes,
    ) -> Future[str]:
        if not isinstance(data, bytes):
            raise TypeError("data must be a bytestring")  # as the real client says
        future: Future[str] = Future()
        if self._failures:
            future.set_exception(self._failures.pop(0))
            return future
        attributes = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        published = Published(topic, data, ordering_key, attributes, uuid.uuid4().hex[:16])
        self.published.append(published)
        if self.spool is not None:
            line = json.dumps({**published.__dict__, "data": data.decode()}) + "\n"
            # one write to an O_APPEND file: lines from several threads and processes
            # never interleave
            fd = os.open(self.spool, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
        future.set_result(published.message_id)
        return future

    def resume_publish(self, topic: str, ordering_key: str) -> None:
        self.resumed.append((topic, ordering_key))


class Spool:
    """Reads what RecordingPublishers in other processes appended to one file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0

    def take(self) -> list[Published]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as spool:
            spool.seek(self._offset)
            text = spool.read()
        complete = text[: text.rfind(b"\n") + 1]
        self._offset += len(complete)
        taken = []
        for line in complete.decode().splitlines():
            raw = json.loads(line)
            taken.append(Published(**{**raw, "data": raw["data"].encode()}))
        return taken


class FileClock:
    """A virtual clock kept in a file, so a test moves the time of its servers too."""

    START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def __init__(self, path: Path) -> None:
        self.path = path
        if not path.exists():
            path.write_text(self.START.isoformat())

    def now(self) -> datetime:
        return datetime.fromisoformat(self.path.read_text())

    def advance(self, delta: timedelta) -> None:
        moment = self.now() + delta
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(moment.isoformat())
        temporary.replace(self.path)  # atomic: a reader sees the old time or the new


# -- an app that records each run of its subscribers in the store -----------------------


def recording_app(name: str = "gcp-events") -> App:
    """Subscribers of ``gcf-test``, ``things`` (ordered) and ``flaky`` that store one
    ``runs`` document per run."""
    app = App(name)
    collection = app.collection("runs")

    async def record(event: Event[Any], ctx: Context) -> None:
        ctx.documents(collection).insert(
            new_id(),
            {
                "message_id": event.id,
                "topic": event.topic,
                "data": event.data,
                "headers": dict(event.headers),
                "key": event.key,
                "attempt": event.attempt,
                "handler": ctx.function,
                "cold_start": ctx.cold_start,
            },
        )

    app.subscribe("gcf-test")(record)
    app.subscribe("things", name="on_thing", ordered=True)(record)
    app.subscribe("flaky", name="on_flaky")(record)  # Runtime.fail_next makes it fail

    return app


async def stored(runtime: Runtime, collection: str) -> list[dict[str, Any]]:
    """Every document of ``collection``, read in a unit of work of its own."""
    ctx = runtime.context("tests.read", new_id())
    spec = runtime.app.collections[collection]
    return [dict(doc.data) for doc in await ctx.documents(spec).find()]


def read_runs(app: App, settings: Settings) -> list[dict[str, Any]]:
    """The ``runs`` documents in the store ``settings`` name (from outside any server)."""

    async def read() -> list[dict[str, Any]]:
        runtime = Runtime(app, settings)
        await runtime.start()
        try:
            return await stored(runtime, "runs")
        finally:
            await runtime.stop()

    return asyncio.run(read())


def publish(runtime: Runtime, topic: str, data: Any, **options: Any) -> None:
    """Publish ``data`` on ``topic`` in a unit of work of its own (on the runtime's loop)."""

    async def handler(ctx: Context) -> None:
        ctx.publish(topic, data, **options)

    async def invoke() -> None:
        ctx = runtime.context("tests.publish", new_id())
        await runtime.invoke(ctx, handler, {"ctx": ctx}, lambda result: result)

    assert runtime.loop is not None
    asyncio.run_coroutine_threadsafe(invoke(), runtime.loop).result()


# -- functions-framework, in-process and as a server ---------------------------------------

MAIN_PY = """
import functions_framework

from tests.adapters import gcp_events_support

events = functions_framework.cloud_event(gcp_events_support.SERVED["events"])
"""

SERVED: dict[str, Any] = {}


def framework_client(function: Any, tmp_path: Path, monkeypatch: Any) -> Any:
    """A Flask test client of functions-framework's app serving ``function`` as the
    CloudEvent function ``events``: the framework's own conversion of every shape."""
    import functions_framework

    source = tmp_path / "ff_main" / "gcp_events_main.py"
    source.parent.mkdir(exist_ok=True)
    source.write_text(textwrap.dedent(MAIN_PY))
    SERVED["events"] = function
    # create_app writes these to os.environ: keep them from leaking into later tests
    monkeypatch.setenv("FUNCTION_TARGET", "events")
    monkeypatch.setenv("FUNCTION_SIGNATURE_TYPE", "cloudevent")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "gcp_events_main", raising=False)
    app = functions_framework.create_app(target="events", source=str(source))
    app.testing = False  # a function's exception is a 500, as when served
    return app.test_client()


def post(client: Any, push: Push) -> tuple[int, bytes]:
    """POST ``push`` to a Flask test client or an httpx client; (status, body)."""
    if isinstance(client, httpx.Client):
        response = client.post(push.path, headers=push.headers, content=push.body)
        return response.status_code, response.content
    answer = client.post(push.path, headers=push.headers, data=push.body)
    return answer.status_code, answer.get_data()


@dataclass
class Server:
    url: str
    log: Path


@contextlib.contextmanager
def serve(
    source: Path, target: str, env: dict[str, str], tmp_path: Path, *, probe: str = "GET"
) -> Iterator[Server]:
    """``source`` served by the ``functions-framework`` command (gunicorn) on a free port,
    while the context lasts."""
    from tests.conftest import free_port

    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE")
    }
    environment.update(
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "examples"), str(REPO / "src")]),
        THREADS="4",
        **env,
    )
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        f"--target={target}",
        f"--source={source}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    log_path = tmp_path / f"functions-framework-{target}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=source.parent,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_listening(url, process, log_path, probe)
        yield Server(url, log_path)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        log.close()


def _wait_until_listening(
    url: str, process: subprocess.Popen[bytes], log: Path, probe: str
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"functions-framework exited:\n{log.read_text()}")
        try:
            httpx.request(probe, f"{url}/openapi.json", timeout=5)
            return  # any answer: the server is up (a CloudEvent function has no GET)
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"functions-framework did not serve in time:\n{log.read_text()}")
