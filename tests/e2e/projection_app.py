"""The app that tests/e2e/test_projection_crash.py runs in real ``faaskit worker`` processes.

The ``tally`` projection counts how often each ``Tick`` was applied: one document per
global position with ``count`` (a skipped event is a missing document, a double apply a
count of 2), in batches of 10.

When ``$PROJECTION_APP_BLOCK_AT`` is set, the first worker to apply the tick with that
``n`` creates ``blocked`` in ``$PROJECTION_APP_DIR`` (holding its pid) and then blocks the
whole process in ``time.sleep`` — caught mid-batch, the way a worker is when it is killed.
A worker that finds the marker already there applies the tick normally.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydantic import BaseModel

from faaskit import App, Context
from faaskit.cqrs.projections import Recorded

BLOCK_AT_VARIABLE = "PROJECTION_APP_BLOCK_AT"
DIR_VARIABLE = "PROJECTION_APP_DIR"
BATCH_SIZE = 10

app = App("projection_crash")
tally = app.collection("tally")


@app.event_type
class Tick(BaseModel):
    n: int


def block_here_once() -> None:
    marker = Path(os.environ[DIR_VARIABLE]) / "blocked"
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return  # an earlier worker blocked here; this one goes on
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    time.sleep(3600)  # blocks the worker's event loop: nothing of this batch commits


@app.projection("tally", events=[Tick], collections=[tally], batch_size=BATCH_SIZE)
async def tally_tick(event: Recorded[Tick], ctx: Context) -> None:
    block_at = os.environ.get(BLOCK_AT_VARIABLE)
    if block_at is not None and event.data.n == int(block_at):
        block_here_once()
    docs = ctx.documents(tally)
    key = str(event.position)
    doc = await docs.get(key)
    if doc is None:
        docs.insert(key, {"n": event.data.n, "count": 1, "pid": os.getpid()})
    else:
        docs.update(key, {**doc.data, "count": doc.data["count"] + 1})
