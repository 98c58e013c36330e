"""The Azure Functions Service Bus queue trigger, the sweep timer and the ServiceBusRelay,
with the SDKs' own types (``azure.functions.ServiceBusMessage`` and ``TimerRequest`` as the
worker decodes them, ``azure.servicebus.ServiceBusMessage`` as the relay sends them), on
both backends: the queue names deliveries, the store decides."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.servicebus import ServiceBusMessageInConverter
from azure.functions.timer import TimerRequestConverter
from pydantic import BaseModel

from faaskit import App, Context, Event
from faaskit.adapters.azure import (
    FUNCTION_NAME,
    SERVICEBUS_FUNCTION,
    SWEEP_FUNCTION,
    AzureHttpHandler,
    function_app,
)
from faaskit.adapters.azure_messages import (
    ForeignMessageError,
    ServiceBusHandler,
    SweepHandler,
    UnsubscribedTopicError,
)
from faaskit.adapters.azure_servicebus import ServiceBusRelay
from faaskit.config import Settings
from faaskit.testing import VirtualClock
from tests.adapters.servicebus_support import (
    MAX_DELIVERY_COUNT,
    InvocationContext,
    Queue,
    RecordingSender,
    functions_message,
    sent_message,
    timer_request,
)
from tests.adapters.test_azure_http import request

CONNECTION = "Endpoint=sb://shop.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=s"

app = App("relayed-over-servicebus")
handled: list[str] = []
seen: list[dict[str, Any]] = []


class NoteIn(BaseModel):
    id: str
    remind_in: float | None = None


@app.post("/notes")
async def add_note(body: NoteIn, ctx: Context) -> dict[str, str]:
    ctx.publish("note.added", {"id": body.id}, key=f"key-{body.id}", message_id=f"note-{body.id}")
    if body.remind_in is not None:
        ctx.schedule(remind, {"id": body.id}, delay=timedelta(seconds=body.remind_in))
    return {"id": body.id}


@app.subscribe("note.added")
async def count_note(event: Event[dict[str, Any]], ctx: Context) -> None:
    handled.append(event.data["id"])
    seen.append(
        {
            "cold_start": ctx.cold_start,
            "startup_seconds": ctx.startup_seconds,
            "causation_id": event.causation_id,
            "event_id": event.id,
        }
    )


@app.subscribe("inventory.imported")
async def take_import(event: Event[Any], ctx: Context) -> None:
    handled.append(f"import:{json.dumps(event.data, sort_keys=True)}")
    seen.append({"event_id": event.id, "causation_id": event.causation_id})


@app.task
async def remind(payload: dict[str, Any], ctx: Context) -> None:
    handled.append(f"reminder-{payload['id']}")


@dataclass
class OverServiceBus:
    """The app's three functions, as the worker indexed them, with a recording sender
    and a queue on a virtual clock between them."""

    functions: func.FunctionApp
    sender: RecordingSender
    queue: Queue
    clock: VirtualClock

    def __post_init__(self) -> None:
        # get_functions() indexes once: a second call finds every name taken
        self.users = {
            f.get_function_name(): f.get_user_function() for f in self.functions.get_functions()
        }

    def user(self, name: str) -> Callable[..., Any]:
        return self.users[name]  # type: ignore[no-any-return]

    @property
    def http(self) -> AzureHttpHandler:
        return self.user(FUNCTION_NAME).faaskit_handler  # type: ignore[no-any-return]

    @property
    def servicebus(self) -> ServiceBusHandler:
        return self.user(SERVICEBUS_FUNCTION).faaskit_handler  # type: ignore[no-any-return]

    async def add_note(self, id: str, *, remind_in: float | None = None) -> None:
        body = json.dumps({"id": id, "remind_in": remind_in}).encode()
        response = await self.user(FUNCTION_NAME)(
            req=request("POST", "/notes", headers={"Content-Type": "application/json"}, body=body),
            context=InvocationContext(FUNCTION_NAME),
        )
        assert response.status_code == 200, response.get_body()

    async def pump(self, **options: Any) -> list[BaseException]:
        return await self.queue.pump(self.user(SERVICEBUS_FUNCTION), **options)

    async def sweep(self) -> Any:
        return await self.user(SWEEP_FUNCTION).faaskit_handler.handle(
            timer_request(), InvocationContext(SWEEP_FUNCTION)
        )

    async def tick(self) -> None:
        """The timer as the worker calls it (the function answers nothing)."""
        answer = await self.user(SWEEP_FUNCTION)(
            timer=timer_request(), context=InvocationContext(SWEEP_FUNCTION)
        )
        assert answer is None


def settings_for(backend_url: str, tmp_path: Path) -> Settings:
    return Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")


@pytest.fixture
async def over(backend_url: str, tmp_path: Path) -> AsyncIterator[OverServiceBus]:
    clock = VirtualClock()
    queue = Queue(clock)
    sender = RecordingSender(queue)
    relay = ServiceBusRelay("faaskit-tests", sender=sender, clock=clock)
    functions = function_app(
        app,
        settings=settings_for(backend_url, tmp_path),
        servicebus=True,
        relay=relay,
        clock=clock,
        topics={"stock-import": "inventory.imported"},
    )
    handled.clear()
    seen.clear()
    shaped = OverServiceBus(functions, sender, queue, clock)
    try:
        yield shaped
    finally:
        await shaped.http.close()


# -- what function_app registers ----------------------------------------------------------


def bindings(functions: func.FunctionApp) -> dict[str, list[dict[str, Any]]]:
    """Each function's bindings as the host indexes them (its function.json)."""
    return {
        f.get_function_name(): json.loads(f.get_function_json())["bindings"]
        for f in functions.get_functions()
    }


def test_servicebus_registers_a_queue_trigger_and_a_timer_beside_http() -> None:
    registered = bindings(function_app(app, servicebus=True))  # declares only: no I/O

    assert set(registered) == {FUNCTION_NAME, SERVICEBUS_FUNCTION, SWEEP_FUNCTION}
    (queue_in,) = registered[SERVICEBUS_FUNCTION]
    assert queue_in["type"] == "serviceBusTrigger"
    assert queue_in["direction"].lower() == "in"
    assert queue_in["queueName"] == "%FAASKIT_SERVICEBUS_QUEUE%"  # resolved by the host
    assert queue_in["connection"] == "FAASKIT_SERVICEBUS"
    assert queue_in["name"] == "message"
    assert "isSessionsEnabled" not in queue_in
    (timer_in,) = registered[SWEEP_FUNCTION]
    assert timer_in["type"] == "timerTrigger" and timer_in["direction"].lower() == "in"
    assert timer_in["schedule"] == "0 */1 * * * *" and timer_in["name"] == "timer"
    assert {b["type"] for b in registered[FUNCTION_NAME]} == {"httpTrigger", "http"}


def test_the_worker_can_bind_the_registered_functions_arguments() -> None:
    functions = {
        f.get_function_name(): f for f in function_app(app, servicebus=True).get_functions()
    }
    queue_user = functions[SERVICEBUS_FUNCTION].get_user_function()
    timer_user = functions[SWEEP_FUNCTION].get_user_function()
    queue_params = inspect.signature(queue_user).parameters
    timer_params = inspect.signature(timer_user).parameters

    assert inspect.iscoroutinefunction(queue_user) and inspect.iscoroutinefunction(timer_user)
    assert ServiceBusMessageInConverter.check_input_type_annotation(
        queue_params["message"].annotation
    )
    assert TimerRequestConverter.check_input_type_annotation(timer_params["timer"].annotation)
    assert queue_params["context"].annotation is func.Context
    assert timer_params["context"].annotation is func.Context


def test_sessions_and_a_schedule_reach_the_bindings() -> None:
    registered = bindings(
        function_app(app, servicebus=True, sessions=True, sweep_schedule="%FAASKIT_SWEEP%")
    )

    assert registered[SERVICEBUS_FUNCTION][0]["isSessionsEnabled"] is True
    assert registered[SWEEP_FUNCTION][0]["schedule"] == "%FAASKIT_SWEEP%"


def test_the_queue_setting_registers_the_message_functions_and_its_absence_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FAASKIT_SERVICEBUS_QUEUE", raising=False)
    bare = bindings(function_app(app))
    sweep_only = bindings(function_app(app, sweep=True))
    monkeypatch.setenv("FAASKIT_SERVICEBUS_QUEUE", "shop")
    configured = bindings(function_app(app))
    refused = bindings(function_app(app, servicebus=False))

    assert set(bare) == {FUNCTION_NAME} == set(refused)
    assert set(sweep_only) == {FUNCTION_NAME, SWEEP_FUNCTION}
    assert set(configured) == {FUNCTION_NAME, SERVICEBUS_FUNCTION, SWEEP_FUNCTION}


def test_an_app_with_messages_but_no_function_to_deliver_them_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("FAASKIT_SERVICEBUS_QUEUE", raising=False)
    with caplog.at_level(logging.WARNING, logger="faaskit.adapters.azure"):
        function_app(app)
        function_app(App("only-http"))

    (warning,) = [r.getMessage() for r in caplog.records]
    assert "relayed-over-servicebus" in warning and "FAASKIT_SERVICEBUS_QUEUE" in warning


# -- relayed deliveries -------------------------------------------------------------------


async def test_a_commit_relays_its_delivery_and_the_message_is_handled_once(
    over: OverServiceBus,
) -> None:
    await over.add_note("n1")

    (sent,) = over.sender.sent
    assert json.loads(str(sent)) == {"message_id": "note-n1", "target": "sub:count_note"}
    assert sent.content_type == "application/json"
    message = functions_message(sent)
    first = await over.servicebus.handle(message, InvocationContext())
    again = await over.servicebus.handle(functions_message(sent, delivery_count=2))

    assert (first, again) == ("delivered", "nothing to do")
    assert handled == ["n1"]
    assert await over.http.runtime.store.pending() == []


async def test_every_message_delivered_twice_is_handled_once(over: OverServiceBus) -> None:
    await over.add_note("n1")
    await over.add_note("n2")

    assert await over.pump(duplicate=True) == []
    assert sorted(handled) == ["n1", "n2"]
    assert len(over.queue.handed) == 4


async def test_the_first_invocation_is_cold_and_shares_the_runtime_with_http(
    over: OverServiceBus,
) -> None:
    await over.add_note("n1")  # the process's first invocation: HTTP
    runtime = over.http.runtime
    await over.pump()

    assert over.servicebus.environment.runtime is runtime
    assert seen[0]["cold_start"] is False and seen[0]["startup_seconds"] > 0


async def test_a_servicebus_message_first_in_its_process_is_the_cold_one(
    over: OverServiceBus, backend_url: str, tmp_path: Path
) -> None:
    await over.add_note("n1")  # on one instance; the message goes to another
    other = function_app(
        app,
        settings=settings_for(backend_url, tmp_path),
        servicebus=True,
        relay=ServiceBusRelay("q", sender=RecordingSender(), clock=over.clock),
        clock=over.clock,
    )
    on_other = OverServiceBus(other, RecordingSender(), over.queue, over.clock)
    try:
        assert await on_other.pump() == []
    finally:
        await on_other.http.close()

    assert handled == ["n1"]
    assert seen[0]["cold_start"] is True and seen[0]["startup_seconds"] > 0


async def test_a_store_failure_abandons_the_message_and_its_redelivery_is_handled(
    over: OverServiceBus, monkeypatch: pytest.MonkeyPatch
) -> None:
    await over.add_note("n1")
    await over.add_note("n2")
    store = over.http.runtime.store
    claim = store.claim_delivery
    failures = {"note-n2": 2}  # unreachable for n2's first two deliveries

    async def flaky(message_id: str, target: str, **options: Any) -> Any:
        if failures.get(message_id, 0) > 0:
            failures[message_id] -= 1
            raise ConnectionError("the database is unreachable")
        return await claim(message_id, target, **options)

    monkeypatch.setattr(store, "claim_delivery", flaky)
    errors = await over.pump()

    assert [type(error) for error in errors] == [ConnectionError, ConnectionError]
    assert sorted(handled) == ["n1", "n2"]
    counts = [m.delivery_count for m in over.queue.handed if "note-n2" in m.get_body().decode()]
    assert counts == [1, 2, 3]  # Service Bus brought it back twice
    assert over.queue.dead_letters == []


async def test_a_failed_handler_completes_the_message_and_the_sweep_relays_its_retry(
    over: OverServiceBus,
) -> None:
    await over.add_note("n1")
    over.http.runtime.fail_next("count_note")

    assert await over.pump() == []  # rescheduled in the store, not by Service Bus
    assert handled == []
    over.clock.advance(timedelta(minutes=10))
    assert (await over.sweep())["relayed"] == 1
    assert await over.pump() == []
    assert handled == ["n1"]
    assert (await over.sweep())["relayed"] == 0


async def test_a_body_that_is_not_a_relay_body_is_refused_until_the_dead_letter_queue(
    over: OverServiceBus, caplog: pytest.LogCaptureFixture
) -> None:
    over.queue.enqueue(sent_message("Test message."))
    over.queue.enqueue(sent_message('{"message_id": 7}'))
    await over.add_note("n1")

    with caplog.at_level(logging.ERROR, logger="faaskit.adapters.azure"):
        errors = await over.pump()

    assert handled == ["n1"]
    assert all(isinstance(error, ForeignMessageError) for error in errors)
    assert len(errors) == 2 * MAX_DELIVERY_COUNT
    assert sorted(str(held.message) for held, _ in over.queue.dead_letters) == [
        "Test message.",
        '{"message_id": 7}',
    ]
    assert sum("refused a Service Bus message" in r.getMessage() for r in caplog.records) == 20


async def test_bytes_that_are_not_utf8_are_refused_with_or_without_a_subject(
    over: OverServiceBus,
) -> None:
    await over.http.start()
    bare = functions_message(sent_message(b"\xff\xfe\x00relay?"), as_bytes=True)
    titled = functions_message(
        sent_message(b"\xff\xfe\x00", subject="stock-import", message_id="m-bin"), as_bytes=True
    )

    with pytest.raises(ForeignMessageError, match="does not name a faaskit delivery"):
        await over.servicebus.handle(bare, InvocationContext())
    with pytest.raises(ForeignMessageError, match="not UTF-8"):
        await over.servicebus.handle(titled, InvocationContext())
    assert await over.http.runtime.store.pending() == []


# -- messages from other senders ------------------------------------------------------------


async def test_a_message_with_a_subject_is_published_once_on_its_mapped_topic(
    over: OverServiceBus,
) -> None:
    sent = sent_message('{"sku": "lamp", "count": 3}', subject="stock-import", message_id="m-1")
    context = InvocationContext(invocation_id="7f6a3c1e-8e2b-4c5e-9f1a-0d2b3c4d5e6f")

    first = await over.servicebus.handle(functions_message(sent), context)
    again = await over.servicebus.handle(functions_message(sent, delivery_count=2), context)
    assert await over.pump() == []

    assert (first, again) == ("published", "published")
    assert handled == ['import:{"count": 3, "sku": "lamp"}']
    assert seen == [
        {
            "event_id": "servicebus:stock-import:m-1",
            "causation_id": "7f6a3c1e-8e2b-4c5e-9f1a-0d2b3c4d5e6f",
        }
    ]


async def test_a_subject_names_the_topic_itself_and_text_arrives_as_text(
    over: OverServiceBus,
) -> None:
    sent = sent_message("plain words", subject="inventory.imported", message_id="m-2")

    await over.user(SERVICEBUS_FUNCTION)(message=functions_message(sent), context=None)
    assert await over.pump() == []

    assert handled == ['import:"plain words"']


async def test_a_message_for_a_topic_no_subscriber_takes_is_refused_and_nothing_published(
    over: OverServiceBus,
) -> None:
    over.queue.enqueue(sent_message('{"a": 1}', subject="nobody.listens", message_id="m-3"))

    errors = await over.pump()

    assert len(errors) == MAX_DELIVERY_COUNT
    assert all(isinstance(error, UnsubscribedTopicError) for error in errors)
    assert "nobody.listens" in str(errors[0])
    assert [held.message.message_id for held, _ in over.queue.dead_letters] == ["m-3"]
    await over.http.start()  # refusing needed no store: start it to look
    assert await over.http.runtime.store.pending() == []
    assert handled == []


# -- scheduled deliveries, lost relays, the timer -----------------------------------------------


async def test_a_delayed_task_is_sent_scheduled_with_no_cap(over: OverServiceBus) -> None:
    start = over.clock.now()
    await over.add_note("soon", remind_in=300)
    await over.add_note("late", remind_in=3 * 86400)

    scheduled = {
        json.loads(str(m))["message_id"]: m.scheduled_enqueue_time_utc
        for m in over.sender.sent
        if json.loads(str(m))["target"] == "task:remind"
    }
    immediate = [
        m.scheduled_enqueue_time_utc
        for m in over.sender.sent
        if json.loads(str(m))["target"] == "sub:count_note"
    ]
    assert immediate == [None, None]
    assert sorted(when - start for when in scheduled.values()) == [
        timedelta(seconds=300),
        timedelta(days=3),
    ]
    assert await over.pump() == []
    assert sorted(handled) == ["late", "soon"]  # the reminders are held by the queue

    over.clock.advance(timedelta(seconds=300))
    assert await over.pump() == []
    assert "reminder-soon" in handled and "reminder-late" not in handled
    over.clock.advance(timedelta(days=3))
    assert await over.pump() == []
    assert sorted(handled) == ["late", "reminder-late", "reminder-soon", "soon"]
    assert (await over.sweep())["relayed"] == 0


async def test_a_message_that_arrives_before_its_delivery_is_due_completes_quietly(
    over: OverServiceBus,
) -> None:
    await over.add_note("n1", remind_in=600)
    (early,) = [m for m in over.sender.sent if m.scheduled_enqueue_time_utc is not None]

    outcome = await over.servicebus.handle(functions_message(early), InvocationContext())

    assert outcome == "nothing to do"
    assert "reminder-n1" not in handled
    over.clock.advance(timedelta(seconds=600))
    assert await over.pump() == []
    assert "reminder-n1" in handled


async def test_a_relay_that_fails_or_a_lost_message_is_recovered_by_the_timer(
    over: OverServiceBus,
) -> None:
    over.sender.down = True
    await over.add_note("n1")  # committed: the failed relay is only logged
    over.sender.down = False
    await over.add_note("n2")
    over.queue.held.clear()  # n2's message lost

    assert over.queue.due() == []
    await over.tick()
    assert len(over.queue.due()) == 2
    assert await over.pump() == []
    assert sorted(handled) == ["n1", "n2"]
    assert (await over.sweep())["relayed"] == 0


async def test_a_past_due_timer_still_sweeps(over: OverServiceBus) -> None:
    await over.add_note("n1")
    over.queue.held.clear()
    sweeper: SweepHandler = over.user(SWEEP_FUNCTION).faaskit_handler

    done = await sweeper.handle(timer_request(past_due=True), InvocationContext(SWEEP_FUNCTION))

    assert done["faaskit"] == "sweep" and done["relayed"] == 1


cron_app = App("crons-over-servicebus")
ticks: list[str] = []


@cron_app.cron("*/5 * * * *")
async def every_five_minutes(ctx: Context) -> None:
    ticks.append(ctx.now().isoformat())


async def test_the_timer_drives_the_crons(backend_url: str, tmp_path: Path) -> None:
    clock = VirtualClock()
    queue = Queue(clock)
    sender = RecordingSender(queue)
    functions = function_app(
        cron_app,
        settings=settings_for(backend_url, tmp_path),
        servicebus=True,
        relay=ServiceBusRelay("crons", sender=sender, clock=clock),
        clock=clock,
    )
    shaped = OverServiceBus(functions, sender, queue, clock)
    ticks.clear()
    try:
        assert await shaped.pump() == []
        assert sender.sent == []  # nothing schedules a cron but the timer
        await shaped.tick()  # the first tick, stored and sent scheduled
        (first,) = sender.sent
        assert first.scheduled_enqueue_time_utc == datetime(2030, 1, 1, 9, 5, tzinfo=UTC)
        assert await shaped.pump() == [] and ticks == []  # held by the queue

        clock.advance(timedelta(minutes=5))
        assert await shaped.pump() == []
        assert ticks == ["2030-01-01T09:05:00+00:00"]
        (_, following) = sender.sent  # each tick sends the next one, scheduled
        assert following.scheduled_enqueue_time_utc == datetime(2030, 1, 1, 9, 10, tzinfo=UTC)

        clock.advance(timedelta(minutes=5))
        queue.held.clear()  # that message lost: the timer relays the tick again
        await shaped.tick()
        assert await shaped.pump() == []
        assert len(ticks) == 2
    finally:
        await shaped.http.close()


async def test_without_service_bus_the_timer_delivers_what_is_due_itself(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAASKIT_SERVICEBUS_QUEUE", raising=False)
    clock = VirtualClock()
    functions = function_app(
        app, settings=settings_for(backend_url, tmp_path), sweep=True, clock=clock
    )
    shaped = OverServiceBus(functions, RecordingSender(), Queue(clock), clock)
    handled.clear()
    try:
        await shaped.add_note("n1")
        assert shaped.http.runtime.relay is None
        await shaped.tick()
        assert handled == ["n1"]
    finally:
        await shaped.http.close()


async def test_the_app_settings_give_the_functions_a_servicebus_relay(
    backend_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAASKIT_SERVICEBUS_QUEUE", "shop-queue")
    monkeypatch.setenv("FAASKIT_SERVICEBUS", CONNECTION)
    functions = function_app(app, settings=settings_for(backend_url, tmp_path))
    shaped = OverServiceBus(functions, RecordingSender(), Queue(VirtualClock()), VirtualClock())
    try:
        await shaped.http.start()
        relay = shaped.http.runtime.relay

        assert isinstance(relay, ServiceBusRelay) and relay.queue_name == "shop-queue"
        assert shaped.servicebus.environment is shaped.http.environment
    finally:
        await shaped.http.close()


def test_importing_the_message_adapters_loads_no_sdk(tmp_path: Path) -> None:
    from tests.unit.test_import_hygiene import loaded_after

    modules = loaded_after(
        "import faaskit.adapters.azure_messages, faaskit.adapters.azure_servicebus", tmp_path
    )

    assert "faaskit.adapters.azure_servicebus" in modules
    assert not {"azure.functions", "azure.servicebus", "psycopg", "sqlite3"} & modules
