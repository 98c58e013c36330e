"""Reading sagas: a list with filters and one saga's timeline, the same data the
``faaskit sagas`` commands print (and a dashboard will show).

    sagas = await list_sagas(runtime, status="compensation_failed", since=timedelta(hours=1))
    state = await read_saga(runtime, sagas[0].id)
    for entry in saga_timeline(state):
        print(entry.iso, entry.kind, entry.step, entry.event, entry.error or entry.result)

The store's ``find`` filters on equal top-level fields only (``status``, ``name``), oldest
first, so ``since`` and newest-first are applied here, over the sagas that match them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from faaskit.errors import BadRequestError
from faaskit.sagas.state import (
    COMPENSATED,
    COMPENSATING,
    COMPENSATION_FAILED,
    COMPLETED,
    FAILED,
    RUNNING,
    SAGAS_COLLECTION,
    STARTED,
    SagaState,
    StepState,
)

if TYPE_CHECKING:
    from faaskit.runtime.runtime import Runtime
    from faaskit.store.protocol import Store

__all__ = [
    "STATUSES",
    "SagaSummary",
    "TimelineEntry",
    "list_sagas",
    "read_saga",
    "saga_timeline",
]

STATUSES = (STARTED, RUNNING, COMPLETED, FAILED, COMPENSATING, COMPENSATED, COMPENSATION_FAILED)
"""Every saga status, in the order a saga may pass through them."""


def iso(epoch: float | None) -> str | None:
    """``epoch`` as ISO 8601 text in UTC (milliseconds), or None."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class SagaSummary:
    """One line of :func:`list_sagas`: who, where it stands, since when, and why it failed."""

    id: str
    name: str
    status: str
    current_step: str | None
    steps_completed: int
    steps_total: int
    started_at: float
    updated_at: float
    finished_at: float | None
    failure: str | None
    """``"<step>: <reason>"`` of the step that failed (or was cancelled), else None."""

    @classmethod
    def of(cls, state: SagaState) -> SagaSummary:
        failure = state.failure
        return cls(
            id=state.id,
            name=state.name,
            status=state.status,
            current_step=state.current_step,
            steps_completed=sum(1 for s in state.steps if s.status == COMPLETED),
            steps_total=len(state.steps),
            started_at=state.started_at,
            updated_at=state.updated_at,
            finished_at=state.finished_at,
            failure=None if failure is None else f"{failure['step']}: {failure['reason']}",
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with ISO text beside each epoch timestamp."""
        data = asdict(self)
        for key in ("started_at", "updated_at", "finished_at"):
            data[key.removesuffix("_at") + "_iso"] = iso(data[key])
        return data


@dataclass(frozen=True)
class TimelineEntry:
    """One event of a saga: ``kind`` is ``saga``, ``step`` or ``compensation``; ``event``
    is what happened (started, scheduled, waiting, retrying — an attempt failed and the
    next is due in ``detail`` —, completed, failed, cancelled, compensated, or the
    saga's final status); ``at`` is epoch seconds. ``attempts``,
    ``duration`` (seconds since the step or compensation was first scheduled, retries
    included), ``result`` and ``error`` are filled where they apply."""

    at: float
    kind: str
    event: str
    step: str | None = None
    attempts: int | None = None
    duration: float | None = None
    result: Any = None
    error: str | None = None
    detail: str | None = None

    @property
    def iso(self) -> str:
        text = iso(self.at)
        assert text is not None
        return text

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "iso": self.iso}


async def read_saga(source: Store | Runtime, saga_id: str) -> SagaState | None:
    """A saga's committed state from a store or a runtime's store, or None."""
    doc = await _store(source).get(SAGAS_COLLECTION, saga_id)
    return None if doc is None else SagaState.from_document(doc)


async def list_sagas(
    source: Store | Runtime,
    *,
    status: str | None = None,
    since: datetime | timedelta | float | None = None,
    name: str | None = None,
    limit: int | None = 100,
) -> list[SagaSummary]:
    """Sagas newest first (by start), at most ``limit``: only those in ``status``, of
    saga ``name``, started at or after ``since`` (a datetime, epoch seconds, or a
    timedelta before now — the runtime's clock when given a runtime). An unknown status
    is a BadRequestError naming the known ones."""
    if status is not None and status not in STATUSES:
        raise BadRequestError(f"no saga status {status!r}; use one of: {', '.join(STATUSES)}")
    if limit is not None and limit < 1:
        raise BadRequestError("limit must be at least 1")
    equals = {key: value for key, value in (("status", status), ("name", name)) if value}
    start = _epoch(source, since)
    found = await _store(source).find(SAGAS_COLLECTION, equals)
    states = [SagaState.from_document(doc) for doc in found]
    states = [s for s in states if start is None or s.started_at >= start]
    states.sort(key=lambda s: (s.started_at, s.id), reverse=True)
    return [SagaSummary.of(s) for s in states[:limit]]


def saga_timeline(state: SagaState) -> list[TimelineEntry]:
    """Every recorded event of ``state`` in the order it happened: the saga's start, each
    step's scheduling, (last) start, wait for a token and outcome, each compensation's
    scheduling, start and outcome, and the saga's end. Events at one instant keep the
    order they happen in (steps forward, compensations newest step first)."""
    entries = [TimelineEntry(state.started_at, "saga", STARTED, detail=_input_text(state))]
    for step in state.steps:
        entries += _step_entries(step)
    for step in reversed(state.steps):
        entries += _undo_entries(step)
    if state.finished_at is not None:
        entries.append(_end_entry(state, state.finished_at))
    return sorted(entries, key=lambda e: e.at)  # stable: ties keep the order above


def _step_entries(step: StepState) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    name = step.name
    if step.scheduled_at is not None:
        entries.append(TimelineEntry(step.scheduled_at, "step", "scheduled", name))
    entries += _retry_entries("step", name, step.failures, None)
    if step.started_at is not None:
        entries.append(
            TimelineEntry(step.started_at, "step", "started", name, attempts=step.attempts)
        )
    if step.token is not None and step.started_at is not None:  # it returned Pending
        until = iso(step.timeout_at)
        entries.append(
            TimelineEntry(
                step.started_at,
                "step",
                "waiting",
                name,
                attempts=step.attempts,
                detail="for its completion token" + (f" until {until}" if until else ""),
            )
        )
    if step.finished_at is not None and step.status in (COMPLETED, FAILED, "cancelled"):
        entries.append(
            TimelineEntry(
                step.finished_at,
                "step",
                step.status,
                name,
                attempts=step.attempts,
                duration=step.duration,
                result=step.result if step.status == COMPLETED else None,
                error=None if step.status == COMPLETED else step.error,
            )
        )
    return entries


def _undo_entries(step: StepState) -> list[TimelineEntry]:
    undo = step.undo
    if undo is None:
        return []
    name, kind = step.name, "compensation"
    detail = f"manual retry {undo.round}" if undo.round else None
    entries: list[TimelineEntry] = []
    if undo.scheduled_at is not None:
        entries.append(TimelineEntry(undo.scheduled_at, kind, "scheduled", name))
    entries += _retry_entries(kind, name, undo.failures, undo.round)
    if undo.started_at is not None:
        entries.append(
            TimelineEntry(
                undo.started_at, kind, "started", name, attempts=undo.attempts, detail=detail
            )
        )
    if undo.finished_at is not None and undo.status in (COMPENSATED, FAILED):
        duration = None if undo.scheduled_at is None else undo.finished_at - undo.scheduled_at
        entries.append(
            TimelineEntry(
                undo.finished_at,
                kind,
                undo.status,
                name,
                attempts=undo.attempts,
                duration=duration,
                result=undo.result if undo.status == COMPENSATED else None,
                error=undo.error if undo.status == FAILED else None,
                detail=detail,
            )
        )
    return entries


def _retry_entries(
    kind: str, name: str, failures: list[dict[str, Any]], round: int | None
) -> list[TimelineEntry]:
    """An entry per failed attempt that was retried ("retrying") and, for a compensation,
    per round that failed before a manual retry; the last attempt's failure is the
    step's or compensation's own "failed" entry."""
    entries = []
    for failure in failures:
        earlier_round = round is not None and failure.get("round", 0) < round
        if failure["retry_in"] is None and not earlier_round:
            continue
        if failure["retry_in"] is None:
            event, detail = FAILED, f"before manual retry {failure.get('round', 0) + 1}"
        else:
            event, detail = "retrying", f"attempt {failure['attempt'] + 1} in "
            detail += f"{failure['retry_in']:.2f}s"
        at, attempt, error = failure["at"], failure["attempt"], failure["error"]
        entries.append(
            TimelineEntry(at, kind, event, name, attempts=attempt, error=error, detail=detail)
        )
    return entries


def _end_entry(state: SagaState, at: float) -> TimelineEntry:
    failure = state.failure
    return TimelineEntry(
        at,
        "saga",
        state.status,
        duration=at - state.started_at,
        error=None if failure is None else f"{failure['step']}: {failure['reason']}",
        detail=None if failure is None else f"{failure['kind']}",
    )


def _input_text(state: SagaState) -> str | None:
    if state.input is None:
        return None
    import orjson

    text = orjson.dumps(state.input, option=orjson.OPT_SORT_KEYS).decode()  # as on either backend
    return text if len(text) <= 200 else text[:199] + "…"


def _store(source: Store | Runtime) -> Store:
    # a Runtime carries its store; a Store is one (no import of the runtime for a CLI read)
    store: Store | None = getattr(source, "store", None)
    return source if store is None else store  # type: ignore[return-value]


def _epoch(source: Store | Runtime, since: datetime | timedelta | float | None) -> float | None:
    if since is None:
        return None
    if isinstance(since, datetime):
        return since.timestamp()
    if isinstance(since, timedelta):
        import time

        now = source.now() if hasattr(source, "now") else time.time()  # a runtime's clock
        return float(now) - since.total_seconds()
    return float(since)
