"""Group commit on PostgreSQL: the units of work that wait to commit at the same time
share one transaction, and so one round trip to BEGIN and COMMIT and one WAL flush.

A unit that arrives while no transaction is in flight commits at once, alone (no added
latency); the ones that arrive meanwhile wait and go together in the next. A transaction
in flight for longer than STALL (waiting on a lock another process holds, say) does not
hold the rest up: another starts beside it, up to MAX_IN_FLIGHT.

A batch is first sent optimistically, with no savepoint, in pipeline mode: every
statement without waiting for the one before, grouped as ``executemany`` by position and
SQL when no two units touch the same rows, and checked when the results are in. When a
statement did not do what it should (a stale version, a taken key, a lost lease, a
duplicate message), the batch is rolled back and run again statement by statement with a
savepoint per unit, so that unit fails alone and every other commits exactly once. An
error that is not a unit's own (a deadlock with another process, a broken connection)
before COMMIT runs each unit again in a transaction of its own; an error at COMMIT
reaches every unit of the batch, as it would reach a lone unit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import AsyncConnection

from faaskit.errors import FaaskitError
from faaskit.store import grouping
from faaskit.store import statements as sql
from faaskit.store.postgres_events import LOG_LOCK
from faaskit.store.postgres_messages import CLAIM_ONE, NOTIFY, as_is
from faaskit.store.protocol import AppendEvents, CommitOutcome, WriteSet
from faaskit.store.rows import delivery_from_row

__all__ = ["MAX_BATCH", "GroupCommitter"]

MAX_BATCH = 256
"""Units of work in one transaction at most."""
STALL = 0.02
"""Seconds a waiting unit lets the transaction in flight run before another starts."""
MAX_IN_FLIGHT = 4
"""Batch transactions of one store at once (each holds a pooled connection)."""
_EXISTS = sql.postgres_placeholders(sql.EXISTS)
_ACK = sql.postgres_placeholders(sql.ACK)
_ACK_OWNED = "DELETE FROM faaskit_deliveries WHERE lease_owner = %s AND seq = ANY(%s::bigint[])"
_INSERT = sql.postgres_placeholders(sql.INSERT)
_INSERT_ALL = (
    "INSERT INTO faaskit_documents (collection, id, data, version, created_at, updated_at)"
    " SELECT c, i, d::jsonb, 1, a, a FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[])"
    " AS t(c, i, d, a) ON CONFLICT DO NOTHING"
)
"""A group of document inserts as one statement (psycopg sends each row of an
``executemany`` as a query of its own, with its own Python work per row)."""
_UNIT_ERRORS = (FaaskitError, psycopg.errors.IntegrityError, psycopg.errors.DataError)
"""What a unit's own statements raise: it fails alone, the rest of its batch commits."""
Outcomes = list[CommitOutcome | BaseException]
"""Per unit of a batch, in order: its outcome, or the error it fails with."""
Connect = Callable[[], Any]
"""``pool.connection``: an async context manager giving a connection."""


@dataclass(eq=False)
class _Unit:
    write_set: WriteSet
    statements: list[sql.Statement]
    future: asyncio.Future[CommitOutcome]
    appends: bool = field(init=False)

    def __post_init__(self) -> None:
        self.appends = any(isinstance(w, AppendEvents) for w in self.write_set.writes)


class _Rollback(Exception):
    """A unit of an optimistic batch failed: run the batch again with savepoints."""

    def __init__(self, error: BaseException | None) -> None:
        super().__init__(error)
        self.error = error


class GroupCommitter:
    """Commits the units of work of one store (one process) in as few transactions as
    their arrival allows: one transaction in flight at a time, more only beside one that
    has stalled."""

    def __init__(self, connect: Connect) -> None:
        self.connect = connect
        self._waiting: list[_Unit] = []
        self._drains: set[asyncio.Task[None]] = set()
        self._stall: asyncio.TimerHandle | None = None
        self.transactions = 0
        """Transactions begun (tests and benchmarks count units per transaction)."""

    async def commit(self, write_set: WriteSet, statements: list[sql.Statement]) -> CommitOutcome:
        loop = asyncio.get_running_loop()
        unit = _Unit(write_set, statements, loop.create_future())
        self._waiting.append(unit)
        if not self._drains:
            self._start()
        elif self._stall is None:
            self._stall = loop.call_later(STALL, self._stalled)
        try:
            return await asyncio.shield(unit.future)
        except asyncio.CancelledError:
            if unit in self._waiting:  # not taken yet: it never commits
                self._waiting.remove(unit)
            raise

    def _start(self) -> None:
        drain = asyncio.ensure_future(self._drain())
        self._drains.add(drain)
        drain.add_done_callback(self._drains.discard)

    def _stalled(self) -> None:
        self._stall = None
        if self._waiting and len(self._drains) < MAX_IN_FLIGHT:
            self._start()
        if self._waiting:  # still waiting: look again after another STALL
            self._stall = asyncio.get_running_loop().call_later(STALL, self._stalled)

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            try:
                outcomes = await self._commit_batch(batch)
            except BaseException as error:  # at COMMIT, or cancelled: every unit hears it
                for unit in batch:
                    if not unit.future.done():
                        unit.future.set_exception(error)
                if isinstance(error, asyncio.CancelledError):
                    raise
                continue
            for unit, outcome in zip(batch, outcomes, strict=True):
                if unit.future.done():
                    continue
                if isinstance(outcome, BaseException):
                    unit.future.set_exception(outcome)
                else:
                    unit.future.set_result(outcome)

    async def _commit_batch(self, batch: list[_Unit]) -> list[CommitOutcome | BaseException]:
        try:
            return await self._pipelined(batch)
        except _Rollback:
            pass  # some statement did not do what it should: find out which, one at a time
        except _NotTheUnits:
            return [await self._alone(unit) for unit in batch]
        if len(batch) == 1:
            return [await self._alone(batch[0])]
        try:
            return await self._together(batch, savepoints=True)
        except _NotTheUnits:
            return [await self._alone(unit) for unit in batch]

    async def _pipelined(self, batch: list[_Unit]) -> list[CommitOutcome | BaseException]:
        """The optimistic pass: every statement of the batch sent without waiting for the
        one before (psycopg's pipeline mode: BEGIN to COMMIT in a round trip or two), the
        results checked once they are all in. Any statement that affected no row where
        it should have (a stale version, a taken id, a duplicate message) or any error of
        a unit's own rolls the whole batch back (_Rollback) for the careful pass."""

        async def send_and_check(conn: AsyncConnection[Any], pipeline: Any) -> Outcomes:
            if len(batch) > 1 and grouping.disjoint(unit.write_set for unit in batch):
                groups = await _send_grouped(conn, batch)
                await _synced(pipeline)
                return await _checked_groups(batch, groups)
            sent = [await _send(conn, unit) for unit in batch]
            await _synced(pipeline)
            return [
                await _checked(unit, cursors, claims)
                for unit, (cursors, claims) in zip(batch, sent, strict=True)
            ]

        return await self._transaction(batch, send_and_check, pipelined=True)

    async def _alone(self, unit: _Unit) -> CommitOutcome | BaseException:
        try:
            outcomes = await self._together([unit], savepoints=False)
        except (_Rollback, _NotTheUnits) as failure:
            assert failure.error is not None  # the careful pass names the error
            return failure.error
        return outcomes[0]

    async def _together(self, batch: list[_Unit], *, savepoints: bool) -> Outcomes:
        """The careful pass: statement by statement, each result looked at before the next
        (a deduplicated message skips its deliveries), a savepoint per unit if asked."""

        async def apply_each(conn: AsyncConnection[Any], _: Any) -> Outcomes:
            return [await self._unit(conn, unit, savepoints=savepoints) for unit in batch]

        return await self._transaction(batch, apply_each, pipelined=False)

    async def _transaction(
        self,
        batch: list[_Unit],
        body: Callable[[AsyncConnection[Any], Any], Awaitable[Outcomes]],
        *,
        pipelined: bool,
    ) -> Outcomes:
        """Run ``body(conn, pipeline)`` in one transaction with the log lock when a unit
        appends events, and NOTIFY when a unit wrote deliveries it did not lease."""
        committing = False
        async with self.connect() as conn:
            self.transactions += 1
            try:
                async with contextlib.AsyncExitStack() as stack:
                    pipeline = (
                        await stack.enter_async_context(conn.pipeline()) if pipelined else None
                    )
                    await stack.enter_async_context(conn.transaction())
                    if any(unit.appends for unit in batch):  # positions commit in order
                        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOG_LOCK,))
                    outcomes = await body(conn, pipeline)
                    if any(isinstance(o, CommitOutcome) and o.announced for o in outcomes):
                        await conn.execute(NOTIFY)  # delivered to listeners at COMMIT
                    committing = True
            except psycopg.Error as error:
                if committing:  # COMMIT itself failed: its outcome reaches every unit
                    raise
                raise _NotTheUnits(error) from error
        return outcomes

    async def _unit(
        self, conn: AsyncConnection[Any], unit: _Unit, *, savepoints: bool
    ) -> CommitOutcome | BaseException:
        if not savepoints:
            try:
                return await apply_unit(conn, unit.write_set, unit.statements)
            except _UNIT_ERRORS as error:
                raise _Rollback(error) from error
        try:
            async with conn.transaction():  # a savepoint: undone alone when it fails
                return await apply_unit(conn, unit.write_set, unit.statements)
        except _UNIT_ERRORS as error:
            return error


class _NotTheUnits(Exception):
    """The batch failed before COMMIT for a reason none of its units gave (``error``)."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


@dataclass(eq=False)
class _Group:
    """A group of statements (:class:`grouping.Group`) or of claims, sent as one."""

    query: str
    checked: bool
    rows: int
    params: list[tuple[Any, ...]] = field(default_factory=list)
    cursor: Any = None
    claim: bool = False
    """A group of claims: its rows are leased deliveries (one result per claim)."""


async def _send_grouped(conn: AsyncConnection[Any], batch: list[_Unit]) -> list[_Group]:
    """Queue the batch's statements grouped by position in their unit and SQL text, each
    group as one ``executemany``: a unit's own statements keep their order, and the
    batch's units are disjoint (:func:`grouping.disjoint`), so no unit sees another's mid-way.
    The claims go last, as one group."""
    sent = [
        _Group(sql.postgres_placeholders(g.sql), g.checked, g.rows, g.params)
        for g in grouping.by_position([unit.statements for unit in batch])
    ]
    for group in sent:
        group.cursor = conn.cursor()
        acks = _one_owner_acks(group)
        if acks is not None:
            await group.cursor.execute(_ACK_OWNED, acks)
        elif group.query == _INSERT and len(group.params) > 1:
            await group.cursor.execute(_INSERT_ALL, _columns(group.params, (0, 1, 2, 3)))
        else:
            await group.cursor.executemany(group.query, group.params)
    claims: dict[str, _Group] = {}
    for unit in batch:
        for query, params in claim_queries(unit.write_set):
            claims.setdefault(query, _Group(query, False, 0, claim=True)).params.append(params)
    for group in claims.values():
        group.cursor = conn.cursor()
        await group.cursor.executemany(group.query, group.params, returning=True)
        sent.append(group)
    return sent


def _one_owner_acks(group: _Group) -> tuple[str, list[int]] | None:
    """``(owner, seqs)`` when the group is the acks of one worker, sent then as one DELETE
    (psycopg sends each row of an ``executemany`` as a query of its own); it deletes
    exactly what the acks one by one would (a group's units ack distinct deliveries)."""
    if group.query != _ACK or len(group.params) < 2:
        return None
    owners = {owner for _, owner in group.params}
    if len(owners) != 1:
        return None
    return owners.pop(), [seq for seq, _ in group.params]


def _columns(rows: list[tuple[Any, ...]], indexes: tuple[int, ...]) -> list[list[Any]]:
    """The parameters of ``unnest``: one array per column of ``rows``."""
    return [[row[index] for row in rows] for index in indexes]


async def _checked_groups(
    batch: list[_Unit], groups: list[_Group]
) -> list[CommitOutcome | BaseException]:
    """Each unit's outcome from its grouped statements; _Rollback when a checked group
    changed fewer rows than it has statements (one of them did not do what it should)."""
    for group in groups:
        if group.checked and group.cursor.rowcount != group.rows:
            raise _Rollback(None)
    claimed: dict[str, Iterator[list[Any]]] = {}
    for group in groups:
        if group.claim:  # one result per claim, in the order the units asked
            results = []
            while True:
                results.append(await group.cursor.fetchall())
                if not group.cursor.nextset():
                    break
            claimed[group.query] = iter(results)
    outcomes: list[CommitOutcome | BaseException] = []
    for unit in batch:
        outcome = CommitOutcome(deliveries=sum(s.deliveries for s in unit.statements))
        claim = unit.write_set.claim
        for query, _ in claim_queries(unit.write_set):
            assert claim is not None
            for row in next(claimed[query]):
                outcome.claimed.append(delivery_from_row(row, claim.owner, as_is))
        outcomes.append(outcome)
    return outcomes


async def _synced(pipeline: Any) -> None:
    """Wait for every result of the pipeline; a unit's own error rolls the batch back."""
    try:
        await pipeline.sync()
    except _UNIT_ERRORS as error:
        raise _Rollback(error) from error


Sent = tuple[list[tuple[sql.Statement, Any]], list[Any]]
"""A unit's statements with their cursors, and the cursors of its claims."""


async def _send(conn: AsyncConnection[Any], unit: _Unit) -> Sent:
    """Queue a unit's statements, then its claim, in the pipeline (no result awaited)."""
    cursors = []
    for statement in unit.statements:
        cursor = conn.cursor()
        await cursor.execute(sql.postgres_placeholders(statement.sql), statement.params)
        cursors.append((statement, cursor))
    claims = []
    for query, params in claim_queries(unit.write_set):
        cursor = conn.cursor()
        await cursor.execute(query, params)
        claims.append(cursor)
    return cursors, claims


async def _checked(
    unit: _Unit, cursors: list[tuple[sql.Statement, Any]], claims: list[Any]
) -> CommitOutcome:
    """A pipelined unit's outcome; _Rollback when a statement that must affect a row did
    not (the careful pass then skips, counts or fails as :func:`apply_unit` does)."""
    outcome = CommitOutcome()
    for statement, cursor in cursors:
        if cursor.rowcount < statement.rows and grouping.is_checked(statement):
            raise _Rollback(None)
        outcome.deliveries += statement.deliveries
    owner = unit.write_set.claim.owner if unit.write_set.claim is not None else ""
    for cursor in claims:
        for row in await cursor.fetchall():
            outcome.claimed.append(delivery_from_row(row, owner, as_is))
    return outcome


def claim_queries(write_set: WriteSet) -> list[tuple[str, tuple[Any, ...]]]:
    """The claims ``write_set.claim`` asks for, as (query, params): what it publishes for
    the worker."""
    claim = write_set.claim
    if claim is None:
        return []
    until = claim.now + claim.lease
    return [
        (CLAIM_ONE, (message_id, target, claim.now, claim.now, claim.owner, until))
        for message_id, target in sql.claim_candidates(write_set)
    ]


async def apply_unit(
    conn: AsyncConnection[Any], write_set: WriteSet, statements: list[sql.Statement]
) -> CommitOutcome:
    """One unit's statements in the transaction under way, then its claim of what it
    wrote; raises what a statement names (ConflictError, ConcurrencyError, NotFoundError)."""
    outcome = CommitOutcome()
    skip = 0
    for statement in statements:
        if skip:
            skip -= 1
            continue
        query = sql.postgres_placeholders(statement.sql)
        cursor = await conn.execute(query, statement.params)
        if cursor.rowcount < statement.rows:
            if statement.skip_if_no_row:
                skip = statement.skip_if_no_row
                outcome.deduplicated += statement.counted
                continue
            missing = statement.if_missing
            if missing is not None:
                cursor = await conn.execute(_EXISTS, missing)
                if await cursor.fetchone() is None:
                    raise sql.not_found(*missing)
            if statement.if_no_row is not None:
                raise statement.if_no_row()
        outcome.deliveries += statement.deliveries
    claim = write_set.claim
    for query, params in claim_queries(write_set):
        assert claim is not None
        for row in await (await conn.execute(query, params)).fetchall():
            outcome.claimed.append(delivery_from_row(row, claim.owner, as_is))
    return outcome
