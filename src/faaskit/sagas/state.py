"""A saga's state: one document per saga in the ``faaskit_sagas`` collection (id = saga id).

Top-level fields (``name``, ``status``, ``current_step``, ``started_at``) are plain values so
``find(status="compensation_failed")`` lists sagas by status; ``steps`` keeps one entry per
declared step, in declaration order, with its attempts, result or error, timestamps (epoch
seconds) and, once it is compensated, its compensation's own record. The document's version
is the saga's version: every transition is an update that expects it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faaskit.store.protocol import Document

__all__ = [
    "ACTIVE",
    "FINAL",
    "SAGAS_COLLECTION",
    "SagaState",
    "StepState",
    "UndoState",
]

SAGAS_COLLECTION = "faaskit_sagas"

# Saga statuses. started: inserted, first step not yet through; running: a step has
# completed and the next is scheduled or waiting; completed: every step completed;
# compensating: a step failed, compensations are running newest first; compensated: they
# all ran; failed: a step failed and nothing needed compensating; compensation_failed: a
# compensation exhausted its attempts (stays so until retried by hand).
STARTED, RUNNING, COMPLETED = "started", "running", "completed"
FAILED, COMPENSATING, COMPENSATED = "failed", "compensating", "compensated"
COMPENSATION_FAILED = "compensation_failed"
ACTIVE = frozenset({STARTED, RUNNING})
FINAL = frozenset({COMPLETED, FAILED, COMPENSATED, COMPENSATION_FAILED})
"""Statuses where nothing more happens by itself (compensation_failed waits for a human)."""

# Step statuses: pending (not reached), scheduled (its task is due or running), waiting
# (returned Pending; a token completes it), completed, failed, cancelled.


@dataclass
class UndoState:
    """A step's compensation: ``status`` is scheduled, compensated or failed; ``round``
    counts manual retries (each gets a fresh set of attempts); ``used`` is how many
    attempts of this round came before the delivery now scheduled; ``failures`` keeps
    every failed attempt of every round (see :attr:`StepState.failures`)."""

    status: str = "scheduled"
    round: int = 0
    used: int = 0
    attempts: int = 0
    result: Any = None
    error: str | None = None
    scheduled_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StepState:
    """One step's record. ``round`` is how many attempts were used before the delivery
    now scheduled (a timed-out pending step is retried with a new delivery), so the
    attempt number is ``round + delivery attempt``. ``failures`` records each failed
    attempt as it happened — ``attempt``, ``at``, ``error``, and ``retry_in`` (seconds
    until the next attempt; None when it was the last) — in the transition that
    scheduled the next attempt or gave up; an attempt whose worker died, or whose
    commit failed, left no outcome and is recorded as such by the attempt after it."""

    name: str
    status: str = "pending"
    round: int = 0
    attempts: int = 0
    result: Any = None
    error: str | None = None
    scheduled_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    token: str | None = None
    timeout_at: float | None = None
    undo: UndoState | None = None
    failures: list[dict[str, Any]] = field(default_factory=list)

    @property
    def duration(self) -> float | None:
        """Seconds from being scheduled (first attempt) to finishing, retries included."""
        if self.scheduled_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.scheduled_at


@dataclass
class SagaState:
    """A saga as stored. ``current`` is the index of the step being run or compensated
    (None once final); ``failure`` says which step failed, how (``kind``: failed, error,
    timeout, deadline, cancelled) and why."""

    id: str
    name: str
    status: str
    input: Any
    steps: list[StepState]
    current: int | None = 0
    failure: dict[str, Any] | None = None
    started_at: float = 0.0
    updated_at: float = 0.0
    finished_at: float | None = None
    deadline_at: float | None = None
    version: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def current_step(self) -> str | None:
        """The name of the step being run or compensated."""
        return None if self.current is None else self.steps[self.current].name

    @property
    def results(self) -> dict[str, Any]:
        """Completed steps' results by step name."""
        return {s.name: s.result for s in self.steps if s.status == COMPLETED}

    def step(self, name: str) -> StepState:
        """The record of the step called ``name`` (KeyError if the saga has none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(name)

    @property
    def compensated(self) -> list[str]:
        """Steps whose compensation ran, in the order it ran (newest step first)."""
        done = [
            (s.undo.finished_at or 0.0, -index, s.name)
            for index, s in enumerate(self.steps)
            if s.undo is not None and s.undo.status == COMPENSATED
        ]
        # compensations run newest step first: that breaks ties of a clock that stood still
        return [name for *_, name in sorted(done)]

    def to_data(self) -> dict[str, Any]:
        """The document's data: every field but the id, version and extra (whose keys are
        written beside them), and ``current_step``. Values are not copied: the data is
        encoded when the unit commits (``dataclasses.asdict`` deep-copied every value,
        the costliest part of a transition)."""
        data = {name: getattr(self, name) for name in _SAGA_FIELDS}
        data["steps"] = [_step_data(step) for step in self.steps]
        data["current_step"] = self.current_step
        data.update(self.extra)
        return data

    @classmethod
    def from_document(cls, doc: Document) -> SagaState:
        data = dict(doc.data)
        steps = []
        for raw in data.pop("steps"):
            raw = dict(raw)
            undo = raw.pop("undo", None)
            steps.append(StepState(**raw, undo=UndoState(**undo) if undo else None))
        data.pop("current_step", None)
        known = {name for name in cls.__dataclass_fields__ if name not in ("id", "version")}
        extra = {k: data.pop(k) for k in list(data) if k not in known}
        return cls(id=doc.id, steps=steps, version=doc.version, extra=extra, **data)


_SAGA_FIELDS = tuple(
    f.name for f in fields(SagaState) if f.name not in ("id", "version", "extra", "steps")
)
_STEP_FIELDS = tuple(f.name for f in fields(StepState) if f.name not in ("undo", "failures"))
_UNDO_FIELDS = tuple(f.name for f in fields(UndoState) if f.name != "failures")


def _step_data(step: StepState) -> dict[str, Any]:
    data = {name: getattr(step, name) for name in _STEP_FIELDS}
    data["undo"] = None if step.undo is None else _undo_data(step.undo)
    data["failures"] = [dict(failure) for failure in step.failures]
    return data


def _undo_data(undo: UndoState) -> dict[str, Any]:
    data = {name: getattr(undo, name) for name in _UNDO_FIELDS}
    data["failures"] = [dict(failure) for failure in undo.failures]
    return data
