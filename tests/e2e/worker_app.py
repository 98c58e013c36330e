"""Apps that tests/e2e/test_workers.py runs in real ``faaskit worker`` processes.

``app`` handles jobs: each job writes one document keyed by its id (a second apply would be
a ConflictError) after appending ``"<id> <pid> <attempt>"`` to ``jobs.log``, so the test sees
every start, even of an attempt that never commits. A job with ``"block": true`` blocks on
its first attempt, the way a handler is caught mid-message when its worker is killed.

``cron_app`` ticks every second; each tick appends ``"<tick> <pid>"`` to ``ticks.log`` and
writes one document keyed by the tick.

The logs go to ``$WORKER_APP_LOG_DIR`` (appends of one short line are atomic across
processes).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pydantic import BaseModel

from faaskit import App, Context, Event

LOG_DIR_VARIABLE = "WORKER_APP_LOG_DIR"

app = App("worker_jobs")
jobs = app.collection("jobs")

cron_app = App("worker_cron")
ticks = cron_app.collection("ticks")


class Jobs(BaseModel):
    jobs: list[dict[str, Any]]


def log_line(name: str, line: str) -> None:
    directory = os.environ[LOG_DIR_VARIABLE]
    fd = os.open(os.path.join(directory, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


@app.post("/jobs", status=202)
async def submit_jobs(body: Jobs, ctx: Context) -> dict[str, int]:
    """Publish one ``job`` message per item (used by the test to fill the store)."""
    for job in body.jobs:
        ctx.publish("job", job, message_id=f"job-{job['id']}")
    return {"published": len(body.jobs)}


@app.subscribe("job", timeout=None)
async def handle_job(event: Event[dict[str, Any]], ctx: Context) -> None:
    job_id = event.data["id"]
    log_line("jobs.log", f"{job_id} {os.getpid()} {event.attempt}")
    if event.data.get("block") and event.attempt == 1:
        await asyncio.Event().wait()  # blocks until the process dies
    work = float(event.data.get("work", 0))
    if work:
        await asyncio.sleep(work)
    ctx.documents(jobs).insert(job_id, {"pid": os.getpid(), "attempt": event.attempt})


@cron_app.cron("* * * * * *")
async def tick(event: Event[dict[str, Any]], ctx: Context) -> None:
    log_line("ticks.log", f"{event.data['tick']} {os.getpid()}")
    ctx.documents(ticks).insert(event.data["tick"], {"pid": os.getpid()})
