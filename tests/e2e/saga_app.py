"""A saga that tests/e2e/test_saga_workers.py runs in real ``faaskit worker`` processes.

``chain`` has three steps (one, two, three), each with a compensation. Every action and
compensation counts its effect in an ``effects`` document keyed by saga, step and phase
(read, then update expecting the version read: a second commit of one effect would show
as a count of 2) after appending ``"<saga> <step> <phase> <pid> <attempt>"`` to
``sagas.log``, so the test sees every start, even of an attempt that never commits.

The input says where to block (``"block": "two:do"``: step two's action, on its first
attempt, waits until its process dies) and which step fails for good (``"fail": "three"``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from pydantic import BaseModel

from faaskit import App, Context, StepFailed
from tests.e2e.worker_app import log_line

app = App("saga_workers")
chain = app.saga("chain")


async def effect(ctx: Context, input: dict[str, Any], step: str, phase: str) -> None:
    assert ctx.step is not None
    saga_id = ctx.step.saga_id
    log_line("sagas.log", f"{saga_id} {step} {phase} {os.getpid()} {ctx.step.attempt}")
    if input.get("block") == f"{step}:{phase}" and ctx.step.attempt == 1:
        await asyncio.Event().wait()  # blocks until the process dies
    if input.get("fail") == step and phase == "do":
        raise StepFailed(f"{step} refused")
    effects = ctx.documents("effects")
    key = f"{saga_id}:{step}:{phase}"
    found = await effects.get(key)
    if found is None:
        effects.insert(key, {"count": 1, "pid": os.getpid()})
    else:
        count = found.data["count"] + 1
        effects.update(key, {"count": count}, expected_version=found.version)


def declare(step: str) -> None:
    async def undo(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> None:
        await effect(ctx, input, step, "undo")

    async def do(input: dict[str, Any], results: dict[str, Any], ctx: Context) -> str:
        await effect(ctx, input, step, "do")
        return f"{step} done"

    do.__name__ = step
    chain.step(compensate=undo, timeout=None)(do)


for name in ("one", "two", "three"):
    declare(name)


class Chain(BaseModel):
    block: str | None = None
    fail: str | None = None


@app.post("/chains/{saga_id}", status=202)
async def start_chain(saga_id: str, body: Chain, ctx: Context) -> dict[str, str]:
    return {"saga_id": await ctx.start_saga(chain, body, saga_id=saga_id)}
