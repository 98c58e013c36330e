"""Durable sagas: ordered steps with compensation, each step a delivery, every transition
in the same unit of work as the step's own writes and its acknowledgement.

    order = app.saga("order", deadline=timedelta(hours=1))

    @order.step(compensate=release_inventory, max_attempts=3)
    async def reserve_inventory(input: dict, results: dict, ctx: Context) -> dict: ...

    @app.post("/orders", status=202)
    async def place(body: Order, ctx: Context) -> dict[str, str]:
        return {"saga_id": await ctx.start_saga(order, body.model_dump())}
"""

from faaskit.sagas.definitions import Pending, Saga, StepRun
from faaskit.sagas.engine import cancel_saga, get_saga, retry_saga, saga_result
from faaskit.sagas.errors import SagaStateError, StepFailed, StepNotPendingError
from faaskit.sagas.queries import (
    SagaSummary,
    TimelineEntry,
    list_sagas,
    read_saga,
    saga_timeline,
)
from faaskit.sagas.state import SAGAS_COLLECTION, SagaState, StepState, UndoState

__all__ = [
    "SAGAS_COLLECTION",
    "Pending",
    "Saga",
    "SagaState",
    "SagaStateError",
    "SagaSummary",
    "StepFailed",
    "StepNotPendingError",
    "StepRun",
    "StepState",
    "TimelineEntry",
    "UndoState",
    "cancel_saga",
    "get_saga",
    "list_sagas",
    "read_saga",
    "retry_saga",
    "saga_result",
    "saga_timeline",
]
