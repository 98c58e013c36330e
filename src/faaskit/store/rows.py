"""Rows to protocol types, shared by the backends (JSON columns arrive as text from SQLite
and decoded from PostgreSQL, hence ``loads``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from faaskit.store.protocol import DeadLetter, Delivery, Message, Pending

__all__ = [
    "dead_letter_from_row",
    "delivery_from_row",
    "message_from_row",
    "pending_from_row",
]

Loads = Callable[[Any], Any]
MESSAGE_WIDTH = 9


def message_from_row(row: Sequence[Any], loads: Loads) -> Message:
    """The nine columns of ``statements.MESSAGE_COLUMNS``."""
    return Message(
        id=row[0],
        topic=row[1],
        key=row[2],
        data=loads(row[3]),
        headers=loads(row[4]),
        correlation_id=row[5],
        causation_id=row[6],
        published_at=row[7],
        expires_at=row[8],
    )


def delivery_from_row(row: Sequence[Any], owner: str, loads: Loads) -> Delivery:
    """``seq, target, attempts, errors`` then the message columns."""
    return Delivery(
        seq=row[0],
        target=row[1],
        attempt=row[2],
        errors=loads(row[3]),
        lease_owner=owner,
        message=message_from_row(row[4:], loads),
    )


def pending_from_row(row: Sequence[Any], loads: Loads) -> Pending:
    """``statements.PENDING``: ``seq, target, available_at, attempts, lease_owner`` + message."""
    return Pending(
        seq=row[0],
        target=row[1],
        available_at=row[2],
        attempts=row[3],
        leased=row[4] is not None,
        message=message_from_row(row[5:], loads),
    )


def dead_letter_from_row(row: Sequence[Any], loads: Loads) -> DeadLetter:
    """``statements.DEAD_LETTERS``: ``seq, target, attempts, errors, reason, died_at`` + message."""
    return DeadLetter(
        seq=row[0],
        target=row[1],
        attempts=row[2],
        errors=loads(row[3]),
        reason=row[4],
        died_at=row[5],
        message=message_from_row(row[6:], loads),
    )
