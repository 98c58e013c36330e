"""The app tests/e2e/test_breaker_processes.py runs in three real ``faaskit worker``
processes: each ``call`` message calls an outside "service" through one circuit breaker.

The service is down while the file ``down`` exists in ``$WORKER_APP_LOG_DIR``. Every call
that reaches it appends ``"<pid> <message> <trial|call> <ok|down> <time>"`` to ``calls.log``,
and every call the breaker refuses appends ``"<pid> <message> <time>"`` to ``refused.log``
(appends of one short line are atomic across processes), outside any unit of work.
"""

from __future__ import annotations

import os
import time
from typing import Any

from pydantic import BaseModel

from faaskit import App, Backoff, CircuitBreaker, CircuitOpenError, Context, Event
from tests.e2e.worker_app import LOG_DIR_VARIABLE, log_line

THRESHOLD = 3
RECOVERY = 2.0

app = App("breaker_workers")
done = app.collection("done")
service = CircuitBreaker("service", failure_threshold=THRESHOLD, recovery_timeout=RECOVERY)


class ServiceDown(RuntimeError):
    """The outside service did not answer."""


def call_service(message_id: str, trial: bool) -> None:
    down = os.path.exists(os.path.join(os.environ[LOG_DIR_VARIABLE], "down"))
    kind, outcome = "trial" if trial else "call", "down" if down else "ok"
    log_line("calls.log", f"{os.getpid()} {message_id} {kind} {outcome} {time.time():.6f}")
    if down:
        raise ServiceDown("the service is down")


class Calls(BaseModel):
    count: int


@app.post("/calls", status=202)
async def submit(body: Calls, ctx: Context) -> dict[str, int]:
    for number in range(body.count):
        ctx.publish("call", {"n": number}, message_id=f"call-{number}")
    return {"published": body.count}


@app.subscribe("call", max_attempts=100, backoff=Backoff(base=0.05, cap=0.3), timeout=None)
async def handle_call(event: Event[dict[str, Any]], ctx: Context) -> None:
    message_id = f"call-{event.data['n']}"
    try:
        async with service(ctx) as call:
            call_service(message_id, call.trial)
    except CircuitOpenError:
        log_line("refused.log", f"{os.getpid()} {message_id} {time.time():.6f}")
        raise
    ctx.documents(done).insert(message_id, {"pid": os.getpid()})
