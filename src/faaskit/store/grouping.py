"""One statement per kind for a batch of units of work: what both backends' group commits
send optimistically.

Units that commit together ran concurrently against what was committed before them. When
no two of them write the same document, key, message, stream, checkpoint or delivery
(:func:`disjoint`), the order of two units' statements does not matter, so the statements
at one position of their units with one SQL text can go as one ``executemany`` — a unit's
own statements keep their order. Whether every statement did what it should is then
checked per group (:attr:`Group.checked`): a checked statement changes at most its
``rows``, so a group that changed fewer than the sum failed somewhere, and the backend runs
the batch again, unit by unit with savepoints, to find which.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from faaskit.store.protocol import (
    AckDelivery,
    AdvanceCheckpoint,
    AppendEvents,
    DeleteDocument,
    InsertDocument,
    PublishMessage,
    SaveSnapshot,
    UpdateDocument,
    Write,
    WriteSet,
)
from faaskit.store.statements import Statement

__all__ = ["Group", "by_position", "disjoint", "is_checked"]


def touches(write: Write) -> Iterator[tuple[str, ...]]:
    """The rows a write may change that another unit's write may change too."""
    if isinstance(write, InsertDocument | UpdateDocument | DeleteDocument):
        yield ("doc", write.collection, write.id)
        for field, value in getattr(write, "keys", ()):
            yield ("key", write.collection, field, value)
    elif isinstance(write, PublishMessage):
        yield ("message", write.message.id)
    elif isinstance(write, AppendEvents | SaveSnapshot):
        yield ("stream", write.stream)
    elif isinstance(write, AdvanceCheckpoint):
        yield ("checkpoint", write.name)
    elif isinstance(write, AckDelivery):
        yield ("delivery", str(write.seq))


def disjoint(write_sets: Iterable[WriteSet]) -> bool:
    """Whether no two of the write sets write the same document, key, message, stream,
    checkpoint or delivery: only then may their statements be grouped across units (the
    order of two units' statements matters only where they meet)."""
    rows = Touched()
    return all(rows.admit(write_set) for write_set in write_sets)


class Touched:
    """The rows written by the units admitted so far."""

    __slots__ = ("seen",)

    def __init__(self) -> None:
        self.seen: set[tuple[str, ...]] = set()

    def admit(self, write_set: WriteSet) -> bool:
        """Admit ``write_set`` when it writes none of the rows seen so far (False: it
        meets one, and is not admitted)."""
        mine = {touched for write in write_set.writes for touched in touches(write)}
        if not self.seen.isdisjoint(mine):
            return False
        self.seen |= mine
        return True


def is_checked(statement: Statement) -> bool:
    """Whether a statement that changed fewer rows than its ``rows`` failed (or skips)."""
    return bool(statement.skip_if_no_row or statement.if_missing or statement.if_no_row)


class Group:
    """Statements of one SQL text at one position of their units, sent as one."""

    __slots__ = ("checked", "params", "rows", "sql")

    def __init__(self, sql: str, checked: bool) -> None:
        self.sql = sql
        self.checked = checked
        self.rows = 0
        """Rows its statements change together when each does what it should."""
        self.params: list[tuple[Any, ...]] = []

    def add(self, statement: Statement) -> None:
        self.params.append(statement.params)
        self.rows += statement.rows

    def did_what_it_should(self, rowcount: int) -> bool:
        """Whether the group's ``rowcount`` (summed over its statements) says that every
        statement did what it should (always, for a group that is not checked)."""
        return not self.checked or rowcount == self.rows


def by_position(statement_lists: Sequence[list[Statement]]) -> list[Group]:
    """The units' statements grouped by position in their unit and SQL text (and whether
    they are checked), in the order the positions come: run in this order, every unit's
    own statements keep theirs."""
    groups: dict[tuple[int, str, bool], Group] = {}
    for statements in statement_lists:
        for position, statement in enumerate(statements):
            checked = is_checked(statement)
            key = (position, statement.sql, checked)
            group = groups.get(key)
            if group is None:
                group = groups[key] = Group(statement.sql, checked)
            group.add(statement)
    ordered = sorted(groups.items(), key=lambda item: item[0][0])  # stable: first seen first
    return [group for _, group in ordered]
