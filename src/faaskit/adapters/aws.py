"""AWS Lambda: an :class:`~faaskit.App` as a Lambda handler, for HTTP, SQS and schedule
events::

    # handler.py, the function's handler "handler.handler"
    from faaskit.adapters.aws import lambda_handler
    from shop import app

    handler = lambda_handler(app)

Each HTTP event (API Gateway REST or HTTP API, a Function URL, an ALB) becomes a request
to the same gateway that ``faaskit dev`` serves, handed to it in-process (its direct door:
no ASGI messages), so routing, auth, validation, problem+json errors, CORS, security
headers and ``/openapi.json`` are the local server's. Start-up (the runtime, opening the
store, loading keys) happens once per execution environment, on the first event, or
earlier with :meth:`LambdaHandler.start` at module scope; every event then runs on the
environment's one event loop. Lambda hands an environment one event at a time, so nothing
here is shared between two events at once.

Messages: when ``FAASKIT_SQS_QUEUE_URL`` is set (or a ``relay`` is given), every commit
relays the deliveries it wrote to that queue (:class:`~faaskit.adapters.aws_sqs.SQSRelay`);
the same handler, triggered by the queue, claims and runs each one and answers SQS's
partial batch response; a schedule sending ``{"faaskit": "sweep"}`` relays again what was
lost or is due, and drives the crons (:mod:`faaskit.adapters.aws_messages`).

Each invocation's Context carries the Lambda request id as ``invocation_id`` (also the
``X-Request-ID`` of the answer), ``cold_start``, ``startup_seconds`` and ``deadline``
(epoch seconds, from ``context.get_remaining_time_in_millis()``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from faaskit.adapters.aws_answers import lambda_answer
from faaskit.adapters.aws_events import HttpRequest, UnsupportedEventError, http_request
from faaskit.adapters.aws_messages import (
    ForeignMessageError,
    handle_sqs,
    is_sqs_event,
    is_sweep_event,
    run_sweep,
)
from faaskit.adapters.aws_notifications import (
    Notification,
    describe_source,
    is_eventbridge_event,
    is_sns_event,
    notifications,
    sns_notification,
)
from faaskit.adapters.aws_secrets import load_environment_secrets
from faaskit.adapters.eager import run_eagerly
from faaskit.adapters.notifications import publish_notifications, unsubscribed
from faaskit.app import App
from faaskit.clock import Clock
from faaskit.config import Settings
from faaskit.errors import BadRequestError
from faaskit.ids import is_request_id
from faaskit.runtime.invocation import Invocation, current_invocation
from faaskit.runtime.relay import Relay
from faaskit.runtime.runtime import Runtime

if TYPE_CHECKING:
    from faaskit.http.gateway import Gateway
    from faaskit.runtime.worker import Worker

__all__ = ["ForeignMessageError", "LambdaHandler", "UnsupportedEventError", "lambda_handler"]

QUEUE_URL_VARIABLE = "FAASKIT_SQS_QUEUE_URL"
NOTIFICATIONS = "aws.notifications"  # the function name SNS and EventBridge events run as

T = TypeVar("T")


def lambda_handler(
    app: App,
    *,
    settings: Settings | None = None,
    relay: Relay | None = None,
    clock: Clock | None = None,
    topics: Mapping[str, str] | None = None,
) -> LambdaHandler:
    """A Lambda handler ``handler(event, context)`` serving ``app``'s HTTP routes, the SQS
    messages that relay its deliveries, and the sweeper's schedule.

    ``settings`` default to :meth:`Settings.load` (``FAASKIT_DATABASE_URL`` and the rest
    of the environment), read when the environment starts. ``relay`` defaults to an
    :class:`~faaskit.adapters.aws_sqs.SQSRelay` on ``FAASKIT_SQS_QUEUE_URL`` when that is
    set (else none: the sweep schedule then delivers what is due itself). ``clock`` is
    for tests (a :class:`faaskit.testing.VirtualClock`). SNS notifications and EventBridge
    events are published on faaskit topics (:mod:`faaskit.adapters.aws_notifications`;
    ``topics`` maps an SNS topic or an event's ``detail-type`` to one).
    """
    return LambdaHandler(app, settings, relay=relay, clock=clock, topics=topics)


class LambdaHandler:
    """Call it with ``(event, context)``; it answers in the shape the event came in."""

    def __init__(
        self,
        app: App,
        settings: Settings | None = None,
        *,
        relay: Relay | None = None,
        clock: Clock | None = None,
        topics: Mapping[str, str] | None = None,
    ) -> None:
        self.app = app
        self.topics: Mapping[str, str] = dict(topics or {})
        self._settings = settings
        self._relay = relay
        self._clock = clock
        self._worker: Worker | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runtime: Runtime | None = None
        self._gateway: Gateway | None = None
        self._startup_seconds: float | None = None
        self._served = False

    def start(self) -> None:
        """Start the environment now (idempotent): read the secret ``FAASKIT_SECRETS_ARN``
        names into the environment (:mod:`faaskit.adapters.aws_secrets`), build the
        runtime, open the store and load the keys. The first event does this when nothing
        did before."""
        if self._runtime is not None:
            return
        from faaskit.http.gateway import Gateway

        began = time.perf_counter()
        # FAASKIT_SECRETS_ARN: the database URL and signing key, before Settings read them
        load_environment_secrets()
        loop = asyncio.new_event_loop()
        try:
            runtime = Runtime(self.app, self._settings or Settings.load(), clock=self._clock)
            runtime.relay = self._relay or _queue_relay(runtime.clock)
            gateway = Gateway(runtime)
            loop.run_until_complete(runtime.start())
        except BaseException:
            loop.close()
            raise
        self._loop, self._runtime, self._gateway = loop, runtime, gateway
        self._startup_seconds = time.perf_counter() - began

    @property
    def runtime(self) -> Runtime:
        """The environment's runtime (started on first use)."""
        self.start()
        assert self._runtime is not None
        return self._runtime

    @property
    def worker(self) -> Worker:
        """The environment's worker: it claims and runs what SQS messages name."""
        if self._worker is None:
            from faaskit.runtime.worker import Worker

            self._worker = Worker(self.runtime)
        return self._worker

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Run ``work`` on the environment's event loop (tests; a warm-up at module scope)."""
        self.start()
        assert self._loop is not None
        return self._loop.run_until_complete(work)

    def close(self) -> None:
        """Stop the runtime and close the loop (Lambda never does; tests and scripts may)."""
        if self._runtime is None or self._loop is None:
            return
        try:
            self._loop.run_until_complete(self._runtime.stop())
        finally:
            self._loop.close()
            self._loop = self._runtime = self._gateway = None
            self._worker = None

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        work: Coroutine[Any, Any, dict[str, Any]]
        if (
            type(event) is dict
            and "Records" not in event
            and "faaskit" not in event
            and "detail-type" not in event
        ):  # none of the keys SQS, SNS, a sweep or EventBridge need: the checks say HTTP
            return self._http(http_request(event), context)
        if is_sqs_event(event):
            work = handle_sqs(self.worker, event, notify=self._publish_envelope)
        elif is_sweep_event(event):
            work = run_sweep(self.worker)
        elif is_sns_event(event) or is_eventbridge_event(event):
            published = self._subscribed(notifications(event, self.topics), event)
            invocation_id = _request_id(context) or published[0].message_id
            work = publish_notifications(
                self.runtime, published, invocation_id, source=NOTIFICATIONS
            )
        else:  # UnsupportedEventError: Lambda reports it
            return self._http(http_request(event), context)
        return self._invoke(work, context)

    def _subscribed(self, published: list[Notification], event: Any) -> list[Notification]:
        stray = unsubscribed(self.app, published)
        if stray is not None:  # a stray rule: say so, drop nothing
            raise UnsupportedEventError(
                f"{describe_source(event)} for topic {stray.topic!r}, which no "
                "subscriber takes: subscribe to it or map it with topics="
            )
        return published

    async def _publish_envelope(self, envelope: Mapping[str, Any], invocation_id: str) -> None:
        """An SNS notification that reached the queue in SNS's envelope (SNS → SQS)."""
        published = self._subscribed(
            [sns_notification(envelope, self.topics)],
            {"Records": [{"EventSource": "aws:sns", "Sns": envelope}]},
        )
        await publish_notifications(self.runtime, published, invocation_id, source=NOTIFICATIONS)

    def _invoke(self, work: Coroutine[Any, Any, T], context: Any) -> T:
        cold = not self._served
        if self._loop is None:
            try:
                self.start()
            except BaseException:
                work.close()
                raise
        assert self._loop is not None
        self._served = True
        invocation = Invocation(cold, self._startup_seconds, _deadline(context))
        token = current_invocation.set(invocation)  # the event's task copies this context
        try:
            return run_eagerly(self._loop, work)
        finally:
            current_invocation.reset(token)

    def _http(self, request: HttpRequest, context: Any) -> dict[str, Any]:
        """The gateway's answer to ``request``, in the shape its event came in."""
        gateway = self._gateway
        if gateway is None:
            self.start()
            gateway = self._gateway
            assert gateway is not None
        request_id = _request_id(context)
        if request_id is not None:  # the Lambda request id is the answer's X-Request-ID
            request.headers["x-request-id"] = request_id
        refusal = None if request.body_error is None else BadRequestError(request.body_error)
        work = gateway.respond(request, refusal=refusal, request_id=request_id)
        answer = self._invoke(work, context)
        return lambda_answer(request, answer.status, answer.headers, answer.body)


def _queue_relay(clock: Clock) -> Relay | None:
    """An SQSRelay on ``FAASKIT_SQS_QUEUE_URL``, when it is set."""
    queue_url = os.environ.get(QUEUE_URL_VARIABLE, "").strip()
    if not queue_url:
        return None
    from faaskit.adapters.aws_sqs import SQSRelay

    return SQSRelay(queue_url, clock=clock)


def _request_id(context: Any) -> str | None:
    value = getattr(context, "aws_request_id", None)
    return value if is_request_id(value) else None


def _deadline(context: Any) -> float | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    try:
        millis = float(remaining())
    except (TypeError, ValueError):
        return None
    return time.time() + millis / 1000
