"""The circuit breaker's state machine, as both backends apply it to one stored row.

    closed ──threshold failures in a row──▶ open ──due_at passes──▶ half_open (one trial)
      ▲                                       ▲                          │
      └────────────── trial succeeds ─────────┼──────────────────────────┤
                                              └────── trial fails ───────┘

:func:`acquire_step` and :func:`record_step` are pure: given the stored row (None when the
breaker was never seen, which reads as closed) they answer, and say what row to write (None:
nothing changes). A backend reads the row, and only when a write is needed reads it again
under its write lock (SQLite's writer, PostgreSQL's ``FOR UPDATE``) and applies the step
there, so two processes never both win the one trial. The SQL below serves both backends
(``?`` placeholders; :func:`faaskit.store.statements.postgres_placeholders`).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from faaskit.store.protocol import Breaker, BreakerPermit

__all__ = [
    "CLOSED",
    "DELETE",
    "ERROR_CHARS",
    "LIST",
    "SELECT",
    "TRIAL_WAIT",
    "UPSERT",
    "Row",
    "acquire_step",
    "as_breaker",
    "check_acquire",
    "check_record",
    "record_step",
]

TRIAL_WAIT = 1.0
"""Seconds a caller refused while a trial runs is told to wait (at most the lease left):
the trial's outcome comes soon, and if it closes the breaker the refused calls should
follow at once, not a whole recovery timeout later."""
ERROR_CHARS = 200
"""How much of the last failure's text a breaker keeps (for ``faaskit breakers list``)."""

COLUMNS = "state, failures, opened_at, due_at, trial, opens, changed_at, last_error"
SELECT = f"SELECT {COLUMNS} FROM faaskit_breakers WHERE name = ?"
UPSERT = (
    f"INSERT INTO faaskit_breakers (name, {COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (name) DO UPDATE SET state = excluded.state,"
    " failures = excluded.failures, opened_at = excluded.opened_at,"
    " due_at = excluded.due_at, trial = excluded.trial, opens = excluded.opens,"
    " changed_at = excluded.changed_at, last_error = excluded.last_error"
)
LIST = f"SELECT name, {COLUMNS} FROM faaskit_breakers ORDER BY name"
DELETE = "DELETE FROM faaskit_breakers WHERE name = ?"


class Row(NamedTuple):
    """A breaker's stored columns (without its name), in :data:`COLUMNS` order."""

    state: str
    failures: int
    opened_at: float | None
    due_at: float | None
    trial: str | None
    opens: int
    changed_at: float | None
    last_error: str | None


CLOSED = Row("closed", 0, None, None, None, 0, None, None)
"""A breaker never seen (or reset)."""


def acquire_step(
    row: Row | None, now: float, lease: float, token: str
) -> tuple[BreakerPermit, Row | None]:
    """May a call go at ``now``? The permit, and the row to write (None: none)."""
    current = CLOSED if row is None else row
    if current.state == "closed":
        return BreakerPermit(True, failures=current.failures), None
    due = current.due_at if current.due_at is not None else now
    if now < due:
        wait = due - now
        if current.state == "half_open":
            wait = min(wait, TRIAL_WAIT)
        return BreakerPermit(
            False, retry_after=wait, state=current.state, failures=current.failures
        ), None
    # Due: this caller holds the trial until now + lease (a holder that died leaves it
    # to the next caller after that, not half-open forever).
    opened_half = current.state == "open"
    written = current._replace(
        state="half_open",
        trial=token,
        due_at=now + lease,
        changed_at=now if opened_half else current.changed_at,
    )
    permit = BreakerPermit(
        True, trial=True, state="half_open", failures=current.failures, opened_half=opened_half
    )
    return permit, written


def record_step(
    row: Row | None,
    *,
    failed: bool,
    now: float,
    threshold: int,
    recovery_timeout: float,
    token: str | None,
    error: str | None,
) -> tuple[str | None, Row | None]:
    """A call's outcome: the state it moves the breaker to (None: it stays), and the row
    to write (None: none)."""
    current = CLOSED if row is None else row
    if token is not None:  # the trial's outcome, if it is still the trial
        if current.state != "half_open" or current.trial != token:
            return None, None
        if not failed:
            closed = CLOSED._replace(opens=current.opens, last_error=current.last_error)
            return "closed", closed._replace(changed_at=now)
        return "open", _opened(current, now, recovery_timeout, error, current.failures + 1)
    if current.state != "closed":
        return None, None  # began before the breaker opened: it says nothing new
    if not failed:
        if current.failures == 0:
            return None, None
        return None, current._replace(failures=0)
    failures = current.failures + 1
    if failures >= threshold:
        return "open", _opened(current, now, recovery_timeout, error, failures)
    return None, current._replace(failures=failures, last_error=_cut(error, current.last_error))


def _opened(
    current: Row, now: float, recovery_timeout: float, error: str | None, failures: int
) -> Row:
    return Row(
        "open",
        failures,
        now,
        now + recovery_timeout,
        None,
        current.opens + 1,
        now,
        _cut(error, current.last_error),
    )


def _cut(error: str | None, earlier: str | None) -> str | None:
    if error is None:
        return earlier
    return error if len(error) <= ERROR_CHARS else error[: ERROR_CHARS - 1] + "…"


def as_breaker(name: str, row: Row) -> Breaker:
    return Breaker(
        name,
        row.state,
        row.failures,
        row.opened_at,
        row.due_at,
        row.opens,
        row.changed_at,
        row.last_error,
    )


def check_acquire(name: str, lease: float, token: str) -> None:
    """ValueError for arguments that make no sense (a caller's bug, not input)."""
    if not name:
        raise ValueError("a circuit breaker needs a name")
    if not (math.isfinite(lease) and lease > 0):
        raise ValueError(f"breaker_acquire needs a lease above 0 seconds, got {lease!r}")
    if not token:
        raise ValueError("breaker_acquire needs a token for a trial it may grant")


def check_record(name: str, threshold: int, recovery_timeout: float) -> None:
    """ValueError for arguments that make no sense (a caller's bug, not input)."""
    if not name:
        raise ValueError("a circuit breaker needs a name")
    if threshold < 1:
        raise ValueError(f"breaker_record needs a threshold of 1 or more, got {threshold!r}")
    if not (math.isfinite(recovery_timeout) and recovery_timeout > 0):
        raise ValueError(
            f"breaker_record needs a recovery_timeout above 0 seconds, got {recovery_timeout!r}"
        )
