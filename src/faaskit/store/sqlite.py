"""The embedded backend: one SQLite file in WAL mode, shared safely by several processes.

Writes go through one writer thread per process that commits many units of work in one
transaction (group commit). Consecutive units of a batch that write disjoint rows go first
optimistically, their statements grouped by kind as ``executemany`` (:mod:`grouping`)
with no savepoint of their own; when one did not do what it should, they are undone and
run again one by one, each in its own savepoint, so that one unit's conflict rolls back
only that unit and every other commits exactly once. Reads run on a separate connection
directly on the event loop: under WAL a reader never waits for the writer, and an indexed
read takes microseconds, less than a hop to a thread pool would.
"""

from __future__ import annotations

import asyncio
import itertools
import queue
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import orjson

from faaskit.documents import _check_field
from faaskit.errors import ConfigurationError, FaaskitError
from faaskit.store import grouping
from faaskit.store import statements as sql
from faaskit.store.protocol import (
    ClaimWritten,
    CommitOutcome,
    Delivery,
    Document,
    UniqueKey,
    WriteSet,
)
from faaskit.store.sqlite_breakers import SQLiteBreakers
from faaskit.store.sqlite_events import SQLiteEvents
from faaskit.store.sqlite_limits import SQLiteLimits
from faaskit.store.sqlite_messages import CLAIM_ONE, SQLiteMessages, with_messages
from faaskit.store.sqlite_search import SQLiteSearch
from faaskit.store.text import refuse_nul

__all__ = ["SQLiteStore"]

_SCHEMA = Path(__file__).with_name("sqlite.sql")
_BUSY_TIMEOUT_MS = 30_000
_MAX_BATCH = 512
_memory_ids = itertools.count()

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], Any]
_Pending = tuple[Work, asyncio.AbstractEventLoop, "asyncio.Future[Any]", bool]
"""(work, the loop waiting, its future, whether the work is one atomic statement)."""


class SQLiteStore(SQLiteMessages, SQLiteEvents, SQLiteSearch, SQLiteLimits, SQLiteBreakers):
    """``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db`` or ``sqlite:///:memory:``.

    Query options: ``?synchronous=full`` (default ``normal``: durable across process
    crashes; ``full`` also across power loss).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise ConfigurationError(f"{url!r} names no file: use sqlite:///path/app.db")
        options = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        self.synchronous = options.get("synchronous", "normal")
        if self.synchronous not in ("normal", "full", "extra"):
            raise ConfigurationError(
                f"synchronous={self.synchronous!r} in {url!r}: use normal, full or extra"
            )
        if path == ":memory:":
            self._target = f"file:faaskit-memory-{next(_memory_ids)}?mode=memory&cache=shared"
            self._uri = True
        else:
            self._target, self._uri = path, False
        self._reader: sqlite3.Connection | None = None
        self._writer: _GroupCommitWriter | None = None
        self._wake = asyncio.Event()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._target,
            uri=self._uri,
            isolation_level=None,
            check_same_thread=False,
            factory=_NulRefusingConnection,
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        return conn

    async def open(self) -> None:
        if self._writer is not None:
            return
        if not self._uri:
            Path(self._target).parent.mkdir(parents=True, exist_ok=True)
        writer = self._connect()
        _while_locked(lambda: self._prepare(writer))
        self._writer = _GroupCommitWriter(writer)
        self._writer.start()
        self._reader = self._connect()

    def _prepare(self, writer: sqlite3.Connection) -> None:
        if not self._uri:
            writer.execute("PRAGMA journal_mode = WAL")
        writer.execute(f"PRAGMA synchronous = {self.synchronous}")
        writer.executescript(_SCHEMA.read_text())

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)
            self._writer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    @property
    def reader(self) -> sqlite3.Connection:
        if self._reader is None:
            raise ConfigurationError("the SQLite store is not open: call `await store.open()`")
        return self._reader

    async def get(self, collection: str, id: str) -> Document | None:
        return _document(self.reader.execute(sql.GET, (collection, id)).fetchone())

    async def get_by_key(self, collection: str, key: UniqueKey) -> Document | None:
        row = self.reader.execute(sql.GET_BY_KEY, (collection, collection, *key)).fetchone()
        return _document(row)

    async def find(
        self, collection: str, equals: Mapping[str, Any], *, limit: int | None = None
    ) -> list[Document]:
        query = [sql.SELECT_DOCUMENT, " WHERE collection = ?"]
        params: list[Any] = [collection]
        for field, value in equals.items():
            # Field names are checked identifiers (faaskit.documents); values are bound.
            if value is None:
                query.append(f" AND json_extract(data, '$.{field}') IS NULL")
            elif isinstance(value, bool):
                query.append(f" AND json_type(data, '$.{field}') = '{str(value).lower()}'")
            else:
                query.append(f" AND json_extract(data, '$.{field}') = ?")
                params.append(value)
                if not isinstance(value, str):
                    # JSON true/false extract as 1/0; only a JSON number equals a number.
                    query.append(f" AND json_type(data, '$.{field}') IN ('integer', 'real')")
        query.append(" ORDER BY created_at, id")
        if limit is not None:
            query.append(" LIMIT ?")
            params.append(limit)
        rows = self.reader.execute("".join(query), params).fetchall()
        return [_document(row) for row in rows]  # type: ignore[misc]

    async def count_by(self, collection: str, field: str) -> dict[str, int]:
        _check_field(field)
        rows = self.reader.execute(
            f"SELECT json_extract(data, '$.{field}'), COUNT(*) FROM faaskit_documents"
            " WHERE collection = ? GROUP BY 1",
            (collection,),
        ).fetchall()
        return {str(value): count for value, count in rows if value is not None}

    async def commit(self, write_set: WriteSet) -> CommitOutcome:
        if not write_set:
            return CommitOutcome()
        statements = sql.compile_write_set(
            write_set, json_param=bytes.decode, index=self.index_statements
        )
        claim = write_set.claim
        candidates = sql.claim_candidates(write_set)
        unit = _UnitCommit(
            write_set, statements, None if claim is None or not candidates else (claim, candidates)
        )
        outcome: CommitOutcome = await self._write(unit, atomic=unit.atomic)
        if outcome.announced:
            self._notify()
        return outcome

    async def _write(self, work: Callable[[sqlite3.Connection], T], *, atomic: bool = False) -> T:
        """Run ``work`` in the writer thread as part of the next group commit, in its own
        savepoint (``atomic``: it is one statement, which SQLite undoes by itself)."""
        if self._writer is None:
            raise ConfigurationError("the SQLite store is not open: call `await store.open()`")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._writer.submit((work, loop, future, atomic))
        return await future

    async def reset(self) -> None:
        conn = self._connect()
        try:
            for statement in (*sql.RESET, "DELETE FROM faaskit_search_keys"):
                conn.execute(statement)
        finally:
            conn.close()


class _NulRefusingConnection(sqlite3.Connection):
    """Applies faaskit's one text rule (no NUL, :mod:`faaskit.store.text`) to every read, as
    PostgreSQL's dumper does there; writes are checked when their statements are built."""

    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
        if parameters:
            refuse_nul(parameters.values() if isinstance(parameters, Mapping) else parameters)
        return super().execute(sql, parameters)


def _while_locked(work: Callable[[], None]) -> None:
    """Run ``work``, again while another process holds the file. SQLite does not call the
    busy handler for some locks (switching a new file to WAL while another process opens
    it), so two processes starting on one fresh file could fail with "database is locked"."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            work()
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01 + random.random() * 0.05)


def _document(row: tuple[Any, ...] | None) -> Document | None:
    if row is None:
        return None
    return Document(row[0], row[1], orjson.loads(row[2]), row[3], row[4], row[5])


class _GroupCommitWriter(threading.Thread):
    """Owns the write connection; commits whatever units are waiting in one transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__(name="faaskit-sqlite-writer", daemon=True)
        self._conn = conn
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()

    def submit(self, pending: _Pending) -> None:
        self._queue.put(pending)

    def stop(self) -> None:
        self._queue.put(None)
        self.join()
        self._conn.close()

    def run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < _MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._commit(batch)
                    return
                batch.append(more)
            self._commit(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        conn = self._conn
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for run in _runs(batch):
                if isinstance(run, list):
                    outcomes += self._apply_together(run)
                else:
                    work, _, _, atomic = run
                    outcomes.append(self._apply_unit(work, atomic))
            conn.execute("COMMIT")
        except BaseException as failure:  # the whole batch failed: every unit hears why
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(None, failure)] * len(batch)
        # One wake-up per event loop for the whole batch, not one per unit.
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for (_, loop, future, _), (result, error) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, result, error))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle_all, settled)

    def _apply_together(self, units: list[_UnitCommit]) -> list[tuple[Any, BaseException | None]]:
        """Disjoint units optimistically: one ``executemany`` per group of statements, no
        savepoint per unit; when a group did not do what it should, or a statement fails,
        they are undone and applied one by one (a savepoint each)."""
        conn = self._conn
        conn.execute("SAVEPOINT together")
        try:
            for group in grouping.by_position([unit.statements for unit in units]):
                query = sql.sqlite_placeholders(group.sql)
                if len(group.params) == 1:
                    cursor = conn.execute(query, group.params[0])
                else:
                    cursor = conn.executemany(query, group.params)
                if not group.did_what_it_should(cursor.rowcount):
                    raise _Redo
            outcomes: list[tuple[Any, BaseException | None]] = []
            for unit in units:
                outcome = CommitOutcome(deliveries=sum(s.deliveries for s in unit.statements))
                if unit.claim is not None:
                    outcome.claimed = _claimed(conn, unit.claim)
                outcomes.append((outcome, None))
        except (_Redo, FaaskitError, sqlite3.IntegrityError, sqlite3.DataError):
            conn.execute("ROLLBACK TO together")
            conn.execute("RELEASE together")
            return [self._apply_unit(unit, unit.atomic) for unit in units]
        conn.execute("RELEASE together")
        return outcomes

    def _apply_unit(self, work: Work, atomic: bool) -> tuple[Any, BaseException | None]:
        conn = self._conn
        if atomic:
            try:
                return work(conn), None
            except (FaaskitError, sqlite3.IntegrityError, sqlite3.DataError) as error:
                return None, error
        conn.execute("SAVEPOINT unit")
        try:
            result = work(conn)
        except (FaaskitError, sqlite3.IntegrityError, sqlite3.DataError) as error:
            conn.execute("ROLLBACK TO unit")
            conn.execute("RELEASE unit")
            return None, error
        conn.execute("RELEASE unit")
        return result, None


def _run(
    conn: sqlite3.Connection,
    statements: list[sql.Statement],
    claim: tuple[ClaimWritten, list[tuple[str, str]]] | None = None,
) -> CommitOutcome:
    """One unit's statements (inside its savepoint), then its claim; raises what a
    statement names."""
    outcome = CommitOutcome()
    skip = 0
    for statement in statements:
        if skip:
            skip -= 1
            continue
        query = sql.sqlite_placeholders(statement.sql)
        if conn.execute(query, statement.params).rowcount < statement.rows:
            if statement.skip_if_no_row:
                skip = statement.skip_if_no_row
                outcome.deduplicated += statement.counted
                continue
            missing = statement.if_missing
            if missing is not None and conn.execute(sql.EXISTS, missing).fetchone() is None:
                raise sql.not_found(*missing)
            if statement.if_no_row is not None:
                raise statement.if_no_row()
        outcome.deliveries += statement.deliveries
    if claim is not None:
        outcome.claimed = _claimed(conn, claim)
    return outcome


def _claimed(
    conn: sqlite3.Connection, claim: tuple[ClaimWritten, list[tuple[str, str]]]
) -> list[Delivery]:
    rows = []
    for query, params in claim_queries(claim):
        rows += conn.execute(query, params).fetchall()
    return with_messages(conn, rows, claim[0].owner)


class _UnitCommit:
    """A unit of work's commit, as the writer thread runs it (alone, or grouped with the
    units beside it in the batch)."""

    __slots__ = ("atomic", "claim", "statements", "write_set")

    def __init__(
        self,
        write_set: WriteSet,
        statements: list[sql.Statement],
        claim: tuple[ClaimWritten, list[tuple[str, str]]] | None,
    ) -> None:
        self.write_set = write_set
        self.statements = statements
        self.claim = claim
        self.atomic = claim is None and len(statements) == 1
        """One statement and no claim: SQLite undoes it by itself when it fails."""

    def __call__(self, conn: sqlite3.Connection) -> CommitOutcome:
        return _run(conn, self.statements, self.claim)


class _Redo(Exception):
    """A group of an optimistic pass did not do what it should: apply its units one by one."""


def _runs(batch: list[_Pending]) -> Iterator[list[_UnitCommit] | _Pending]:
    """The batch in order: runs of two or more consecutive unit commits of several
    statements that write disjoint rows (applied together), and every other item alone."""
    run: list[_UnitCommit] = []
    pending: list[_Pending] = []
    touched = grouping.Touched()
    for item in batch:
        work = item[0]
        if not isinstance(work, _UnitCommit) or work.atomic:
            # alone: one statement needs no savepoint, and its own execute costs what
            # its share of an executemany does (grouping it would only add the Python)
            yield from _flush(run, pending)
            run, pending, touched = [], [], grouping.Touched()
            yield item
            continue
        if touched.admit(work.write_set):
            run.append(work)
            pending.append(item)
            continue
        yield from _flush(run, pending)
        touched = grouping.Touched()
        touched.admit(work.write_set)
        run, pending = [work], [item]
    yield from _flush(run, pending)


def _flush(
    run: list[_UnitCommit], pending: list[_Pending]
) -> Iterator[list[_UnitCommit] | _Pending]:
    if len(run) > 1:
        yield run
    else:
        yield from pending


def claim_queries(
    claim: tuple[ClaimWritten, list[tuple[str, str]]],
) -> list[tuple[str, tuple[Any, ...]]]:
    """The claims a unit's write set asks for, as (query, params): what it publishes for
    the worker."""
    asked, candidates = claim
    until = asked.now + asked.lease
    return [
        (CLAIM_ONE, (asked.owner, until, message_id, target, asked.now, asked.now))
        for message_id, target in candidates
    ]


def _settle_all(settled: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in settled:
        if future.done():  # the waiting invocation was cancelled
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
