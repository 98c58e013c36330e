"""The saga app that tests/e2e/test_cli_sagas.py drives with ``faaskit sagas`` and a real
``faaskit worker``.

``refund`` has three steps: ``charge`` (compensated by ``refund``), ``ship`` and
``confirm``. The input switches its failures: ``"fail": "ship"`` fails that step for good;
``"refund_failures": N`` makes the refund raise on its first N attempts over all rounds
(counted in ``refunds.log`` under ``$WORKER_APP_LOG_DIR``: a failed attempt's own writes
are dropped, a file line is not); ``"wait": true`` leaves ``ship`` pending on a token no
one completes, so the saga stays running.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from faaskit import App, Backoff, Context, Pending, StepFailed
from tests.e2e.worker_app import LOG_DIR_VARIABLE, log_line

app = App("saga_cli")
refunds = app.collection("refunds")
order = app.saga("refund")
QUICK = Backoff(base=0.05, cap=0.05)


def refund_attempts(saga_id: str) -> int:
    path = Path(os.environ[LOG_DIR_VARIABLE]) / "refunds.log"
    if not path.exists():
        return 0
    return sum(1 for line in path.read_text().splitlines() if line.split()[0] == saga_id)


async def refund(
    input: dict[str, Any], results: dict[str, Any], result: dict[str, Any], ctx: Context
) -> dict[str, int]:
    assert ctx.step is not None
    failed_before = refund_attempts(ctx.step.saga_id)
    log_line("refunds.log", f"{ctx.step.saga_id} {ctx.step.attempt}")
    if failed_before < input.get("refund_failures", 0):
        raise ConnectionError("refund API down")
    ctx.documents(refunds).insert(ctx.step.saga_id, {"amount": result["amount"]})
    return {"refunded": result["amount"]}


@order.step(compensate=refund, max_attempts=2, backoff=QUICK)
async def charge(input: dict[str, Any]) -> dict[str, int]:
    return {"amount": input.get("amount", 42)}


@order.step(max_attempts=2, backoff=QUICK, timeout=None)
async def ship(input: dict[str, Any]) -> Pending | str:
    if input.get("fail") == "ship":
        raise StepFailed("no carrier", zone="north")
    if input.get("wait"):
        return Pending(timeout=None)
    return "parcel-1"


@order.step
async def confirm(input: dict[str, Any]) -> str:
    return "mailed"


class Start(BaseModel):
    fail: str | None = None
    refund_failures: int = 0
    wait: bool = False
    amount: int = 42


@app.post("/refunds/{saga_id}", status=202)
async def start_refund(saga_id: str, body: Start, ctx: Context) -> dict[str, str]:
    return {"saga_id": await ctx.start_saga(order, body, saga_id=saga_id)}
