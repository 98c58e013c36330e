"""The SQL both backends share, written once with ``?`` placeholders.

A unit of work's write set compiles to a list of :class:`Statement`; a backend runs them
in order inside one transaction (SQLite: one savepoint of a group commit) and turns a
statement that touched no row into the error the statement names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import cache
from operator import itemgetter
from typing import Any

import orjson

from faaskit.errors import (
    ConcurrencyError,
    ConflictError,
    FaaskitError,
    LeaseLostError,
    NotFoundError,
)
from faaskit.store.protocol import (
    AckDelivery,
    AdvanceCheckpoint,
    AppendEvents,
    DeleteDocument,
    InsertDocument,
    InvocationRecord,
    JSONObject,
    Message,
    PublishMessage,
    RecordInvocations,
    SaveSnapshot,
    UniqueKey,
    UpdateDocument,
    Write,
    WriteSet,
)
from faaskit.store.text import dump_json

__all__ = ["Statement", "compile_write_set", "not_found", "postgres_placeholders"]

SELECT_DOCUMENT = (
    "SELECT collection, id, data, version, created_at, updated_at FROM faaskit_documents"
)
GET = SELECT_DOCUMENT + " WHERE collection = ? AND id = ?"
GET_BY_KEY = (
    SELECT_DOCUMENT + " WHERE collection = ? AND id = (SELECT id FROM faaskit_document_keys"
    " WHERE collection = ? AND field = ? AND value = ?)"
)
INSERT = (
    "INSERT INTO faaskit_documents (collection, id, data, version, created_at, updated_at)"
    " VALUES (?, ?, ?, 1, ?, ?) ON CONFLICT DO NOTHING"
)
INSERT_KEY = (
    "INSERT INTO faaskit_document_keys (collection, field, value, id) VALUES (?, ?, ?, ?)"
    " ON CONFLICT DO NOTHING"
)
DELETE_KEYS = "DELETE FROM faaskit_document_keys WHERE collection = ? AND id = ?"
UPDATE = (
    "UPDATE faaskit_documents SET data = ?, version = version + 1, updated_at = ?"
    " WHERE collection = ? AND id = ?"
)
DELETE = "DELETE FROM faaskit_documents WHERE collection = ? AND id = ?"
EXISTS = "SELECT 1 FROM faaskit_documents WHERE collection = ? AND id = ?"
AND_VERSION = " AND version = ?"
RESET = (
    "DELETE FROM faaskit_search",
    "DELETE FROM faaskit_events",
    "DELETE FROM faaskit_checkpoints",
    "DELETE FROM faaskit_snapshots",
    "DELETE FROM faaskit_document_keys",
    "DELETE FROM faaskit_documents",
    "DELETE FROM faaskit_deliveries",
    "DELETE FROM faaskit_dead_letters",
    "DELETE FROM faaskit_messages",
    "DELETE FROM faaskit_rate_limits",
    "DELETE FROM faaskit_invocation_batches",
    "DELETE FROM faaskit_breakers",
)

MESSAGE_COLUMNS = (
    "m.id, m.topic, m.key, m.data, m.headers, m.correlation_id, m.causation_id,"
    " m.published_at, m.expires_at"
)
PUBLISH_ROWS = (
    "INSERT INTO faaskit_messages (id, topic, key, data, headers, correlation_id,"
    " causation_id, published_at, expires_at) VALUES "
)
MESSAGE_ROW = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
ON_CONFLICT_NOTHING = " ON CONFLICT DO NOTHING"
PUBLISH = PUBLISH_ROWS + MESSAGE_ROW + ON_CONFLICT_NOTHING
DELIVER_ROW = "(?, ?, ?, ?, ?)"
DELIVER = "INSERT INTO faaskit_deliveries (message_id, target, key, ordered, available_at) VALUES "
ACK = "DELETE FROM faaskit_deliveries WHERE seq = ? AND lease_owner = ?"
CLAIMABLE = (
    " d.available_at <= ? AND (d.lease_until IS NULL OR d.lease_until < ?)"
    " AND (NOT d.ordered OR NOT EXISTS (SELECT 1 FROM faaskit_deliveries e"
    " WHERE e.target = d.target AND e.key IS NOT DISTINCT FROM d.key AND e.seq < d.seq))"
)
"""Due, not leased, and (ordered) head of its key: the rule every claim applies."""
RELAYABLE = (
    "SELECT message_id, target FROM faaskit_deliveries"
    " WHERE available_at <= ? AND (lease_until IS NULL OR lease_until < ?)"
    " ORDER BY available_at, seq LIMIT ?"
)
RETRY = (
    "UPDATE faaskit_deliveries SET available_at = ?, lease_owner = NULL, lease_until = NULL,"
    " errors = ? WHERE seq = ? AND lease_owner = ?"
)
RETRY_UNCOUNTED = RETRY.replace(" errors = ?", " errors = ?, attempts = attempts - 1")
"""A retry whose attempt does not count (a unit of work that lost a race at commit)."""
RELEASE = (
    "UPDATE faaskit_deliveries SET lease_owner = NULL, lease_until = NULL,"
    " attempts = attempts - 1 WHERE seq = ? AND lease_owner = ?"
)
LEASED = (
    "SELECT message_id, target, key, ordered, attempts FROM faaskit_deliveries"
    " WHERE seq = ? AND lease_owner = ?"
)
BURY = (
    "INSERT INTO faaskit_dead_letters (seq, message_id, target, key, ordered, attempts, errors,"
    " reason, died_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
UNLEASED_DUE = "COALESCE(d.lease_until, d.available_at)"
NEXT_DUE = (
    f"SELECT MIN({UNLEASED_DUE}) FROM faaskit_deliveries d"
    # An ordered delivery behind an earlier one of its key is not due before that one is
    # handled (it is not claimable): counting it would make an idle worker spin.
    " WHERE (NOT d.ordered OR NOT EXISTS (SELECT 1 FROM faaskit_deliveries e"
    " WHERE e.target = d.target AND (e.key = d.key OR (e.key IS NULL AND d.key IS NULL))"
    " AND e.seq < d.seq)) AND d.target IN "
)
PENDING = (
    "SELECT d.seq, d.target, d.available_at, d.attempts, d.lease_owner, "
    + MESSAGE_COLUMNS
    + " FROM faaskit_deliveries d JOIN faaskit_messages m ON m.id = d.message_id"
)
DEAD_LETTERS = (
    "SELECT d.seq, d.target, d.attempts, d.errors, d.reason, d.died_at, "
    + MESSAGE_COLUMNS
    + " FROM faaskit_dead_letters d JOIN faaskit_messages m ON m.id = d.message_id"
)
REDRIVE = (
    "INSERT INTO faaskit_deliveries (message_id, target, key, ordered, available_at)"
    " SELECT message_id, target, key, ordered, ? FROM faaskit_dead_letters"
)
PURGE = "DELETE FROM faaskit_dead_letters"
MESSAGES = "SELECT " + MESSAGE_COLUMNS + " FROM faaskit_messages m WHERE m.published_at > ?"


# The event store. ``?json`` is a JSON parameter: plain ``?`` on SQLite, ``%s::jsonb`` on
# PostgreSQL (which has no implicit cast from text in ``INSERT … SELECT``).
# The head is the stream's last version read off the (stream, version) index: SQLite does
# not apply its MAX optimisation inside the subquery of an INSERT … SELECT, and scanned
# the whole stream on every append (1.2 ms at 20,000 events, 7 µs this way).
APPEND = (
    "INSERT INTO faaskit_events (stream, version, type, data, metadata, recorded_at)"
    " SELECT ?, head.version + 1, ?, ?json, ?json, ? FROM (SELECT COALESCE((SELECT version"
    " FROM faaskit_events WHERE stream = ? ORDER BY version DESC LIMIT 1), 0) AS version) AS head"
)
APPEND_EXPECTING = APPEND + " WHERE head.version = ?"
APPEND_ROWS = (
    "INSERT INTO faaskit_events (stream, version, type, data, metadata, recorded_at) VALUES "
)
APPEND_ROW = "(?, ?, ?, ?json, ?json, ?)"
EVENT_COLUMNS = "position, stream, version, type, data, metadata, recorded_at"
READ_STREAM = (
    f"SELECT {EVENT_COLUMNS} FROM faaskit_events WHERE stream = ? AND version >= ? ORDER BY version"
)
READ_ALL = f"SELECT {EVENT_COLUMNS} FROM faaskit_events WHERE position > ?"
HEAD = "SELECT COALESCE(MAX(position), 0) FROM faaskit_events"
CHECKPOINT = "SELECT position FROM faaskit_checkpoints WHERE name = ?"
ADVANCE = (
    "INSERT INTO faaskit_checkpoints (name, position) VALUES (?, ?) ON CONFLICT (name)"
    " DO UPDATE SET position = excluded.position WHERE faaskit_checkpoints.position = ?"
)
REWIND = (
    "INSERT INTO faaskit_checkpoints (name, position) VALUES (?, 0) ON CONFLICT (name)"
    " DO UPDATE SET position = 0"
)
DROP_COLLECTIONS = (
    "DELETE FROM faaskit_documents WHERE collection IN ",
    "DELETE FROM faaskit_document_keys WHERE collection IN ",
)
SNAPSHOT = "SELECT version, state FROM faaskit_snapshots WHERE stream = ?"
SAVE_SNAPSHOT = (
    "INSERT INTO faaskit_snapshots (stream, version, state) VALUES (?, ?, ?json)"
    " ON CONFLICT (stream) DO UPDATE SET version = excluded.version, state = excluded.state"
    " WHERE faaskit_snapshots.version < excluded.version"
)


def read_stream_query(stream: str, from_version: int, limit: int | None) -> tuple[str, list[Any]]:
    if limit is None:
        return READ_STREAM, [stream, from_version]
    return READ_STREAM + " LIMIT ?", [stream, from_version, limit]


def read_all_query(after: int, limit: int, types: Sequence[str] | None) -> tuple[str, list[Any]]:
    query, params = READ_ALL, list[Any]([after])
    if types:
        query += " AND type IN " + in_list(len(types))
        params += types
    return query + " ORDER BY position LIMIT ?", [*params, limit]


def messages_query(topic: str | None, after: float, limit: int) -> tuple[str, list[Any]]:
    query, params = MESSAGES, list[Any]([after])
    if topic is not None:
        query += " AND m.topic = ?"
        params.append(topic)
    return query + " ORDER BY m.published_at, m.id LIMIT ?", [*params, limit]


def seq_filter(seqs: Sequence[int] | None) -> tuple[str, tuple[int, ...]]:
    """A WHERE clause on ``seq``: every row for None, no row for an empty list."""
    if seqs is None:
        return "", ()
    if not seqs:
        return " WHERE 1 = 0", ()
    return " WHERE seq IN " + in_list(len(seqs)), tuple(seqs)


def in_list(count: int) -> str:
    """``(?, ?, ?)`` for an IN clause of ``count`` values (at least one)."""
    return "(" + ", ".join("?" * max(count, 1)) + ")"


class Statement:
    """One SQL statement of a write set, and what its backend checks after running it.

    A slotted class, not a frozen dataclass: a write set makes a few per write, and a
    frozen dataclass's ``__init__`` costs several times as much. Treat it as immutable.
    A checked statement (one with ``if_no_row``, ``skip_if_no_row`` or ``if_missing``)
    changes at most ``rows`` rows: a group of them that changed fewer failed somewhere.
    """

    __slots__ = (
        "counted",
        "deliveries",
        "if_missing",
        "if_no_row",
        "params",
        "rows",
        "skip_if_no_row",
        "sql",
    )

    def __init__(
        self,
        sql: str,
        params: tuple[Any, ...],
        if_no_row: Callable[[], FaaskitError] | None = None,
        skip_if_no_row: int = 0,
        counted: bool = True,
        deliveries: int = 0,
        if_missing: tuple[str, str] | None = None,
        rows: int = 1,
    ) -> None:
        self.sql = sql
        self.params = params
        self.if_no_row = if_no_row
        """The error to raise when the statement changed no row (None: zero rows are fine)."""
        self.skip_if_no_row = skip_if_no_row
        """When the statement changed no row, skip this many following statements (and
        count a deduplicated message, if ``counted``)."""
        self.counted = counted
        """Whether a statement skipped by ``skip_if_no_row`` is a deduplicated message (a
        publish whose id was already stored), not an ``if_absent`` insert of an existing id."""
        self.deliveries = deliveries
        """Deliveries this statement writes (to wake workers)."""
        self.if_missing = if_missing
        """(collection, id) of a versioned update or delete: when it changed no row, the
        backend runs :data:`EXISTS` with these, and a document that is gone raises
        :func:`not_found` instead of ``if_no_row`` (a stale version)."""
        self.rows = rows
        """The rows the statement changes when it does what it should: ``if_no_row`` is
        raised when it changed fewer (a multi-row insert of a unit's messages)."""

    def __repr__(self) -> str:
        return f"Statement({self.sql!r}, {self.params!r})"


def not_found(collection: str, id: str) -> NotFoundError:
    return NotFoundError(f"{collection} {id!r} not found")


@cache
def postgres_placeholders(sql: str) -> str:
    """``?`` to psycopg's ``%s`` (our SQL has no literal question marks)."""
    return sql.replace("?json", "%s::jsonb").replace("?", "%s")


@cache
def sqlite_placeholders(sql: str) -> str:
    return sql.replace("?json", "?")


SearchIndexer = Callable[[str, str, "tuple[str, ...] | None", "JSONObject | None"], list[Statement]]
"""``(collection, id, texts, data)`` → the statements that (re)index a searchable document:
its searchable fields' text and its data as written (None for both: it is deleted)."""
"""(collection, id, texts or None to remove) → the backend's statements for its index."""


def compile_write_set(
    write_set: WriteSet,
    *,
    json_param: Callable[[bytes], Any],
    index: SearchIndexer,
) -> list[Statement]:
    """Statements that apply ``write_set``; ``json_param`` adapts encoded JSON per backend,
    ``index`` maintains its full-text index."""
    statements: list[Statement] = []
    run: list[PublishMessage] = []  # consecutive publishes of new messages: written together
    for write in write_set.writes:
        if isinstance(write, PublishMessage) and not write.deduplicate:
            run.append(write)
            continue
        if run:
            statements.extend(_publish_run(run, json_param))
            run = []
        # Text parameters meet the NUL rule when they are bound (each backend's connection
        # checks them); JSON is checked as it is encoded (dump_json).
        indexed: list[Statement] = []
        if isinstance(write, InsertDocument | UpdateDocument) and write.search is not None:
            indexed = index(write.collection, write.id, write.search, write.data)
        elif isinstance(write, DeleteDocument) and write.searchable:
            indexed = index(write.collection, write.id, None, None)
        if isinstance(write, InsertDocument):
            statements.extend(_insert(write, json_param, len(indexed)))
        else:
            statements.extend(_compile(write, json_param))
        statements.extend(indexed)
    if run:
        statements.extend(_publish_run(run, json_param))
    return statements


def claim_candidates(write_set: WriteSet) -> list[tuple[str, str]]:
    """``(message_id, target)`` of the deliveries ``write_set.claim`` may lease: published
    by this write set to one of its targets and due at its ``now``, at most its limit."""
    claim = write_set.claim
    if claim is None or claim.limit <= 0:
        return []
    found: list[tuple[str, str]] = []
    for write in write_set.writes:
        if not isinstance(write, PublishMessage):
            continue
        for delivery in write.deliveries:
            if delivery.target in claim.targets and delivery.available_at <= claim.now:
                found.append((write.message.id, delivery.target))
                if len(found) == claim.limit:
                    return found
    return found


def _insert(
    write: InsertDocument, json_param: Callable[[bytes], Any], indexed: int
) -> Iterator[Statement]:
    """The insert, then its keys (then ``indexed`` statements of its search text): with
    ``if_absent``, an id already stored skips them all, and a taken key still fails."""
    message = write.conflict_message
    params = (write.collection, write.id, json_param(dump_json(write.data)), write.at, write.at)
    if write.if_absent:
        skip = len(write.keys) + indexed
        yield Statement(INSERT, params, skip_if_no_row=skip, counted=False)
    else:
        yield Statement(
            INSERT,
            params,
            lambda: ConflictError(message or f"{write.collection} {write.id!r} already exists"),
        )
    yield from _insert_keys(write.collection, write.id, write.keys, message)


def _compile(write: Write, json_param: Callable[[bytes], Any]) -> Iterator[Statement]:
    if isinstance(write, UpdateDocument):
        params: tuple[Any, ...] = (
            json_param(dump_json(write.data)),
            write.at,
            write.collection,
            write.id,
        )
        sql = UPDATE
        if write.expected_version is not None:
            sql += AND_VERSION
            params += (write.expected_version,)
        yield _versioned(sql, params, write.collection, write.id, write.expected_version)
        yield Statement(DELETE_KEYS, (write.collection, write.id))
        yield from _insert_keys(write.collection, write.id, write.keys, write.conflict_message)
    elif isinstance(write, PublishMessage):
        yield from _publish(write, json_param)
    elif isinstance(write, AckDelivery):
        yield Statement(ACK, (write.seq, write.lease_owner), _lease_lost(write.seq))
    elif isinstance(write, AppendEvents):
        yield from _append(write, json_param)
    elif isinstance(write, AdvanceCheckpoint):
        yield Statement(
            ADVANCE,
            (write.name, write.position, write.expected),
            _projection_moved(write.name, write.expected),
        )
    elif isinstance(write, SaveSnapshot):
        state = json_param(dump_json(write.state))
        yield Statement(SAVE_SNAPSHOT, (write.stream, write.version, state))
    elif isinstance(write, RecordInvocations):
        yield from _record_invocations(write)
    else:
        assert isinstance(write, DeleteDocument)
        sql, params = DELETE, (write.collection, write.id)
        if write.expected_version is not None:
            sql += AND_VERSION
            params += (write.expected_version,)
        yield _versioned(sql, params, write.collection, write.id, write.expected_version)
        yield Statement(DELETE_KEYS, (write.collection, write.id))


def _publish(write: PublishMessage, json_param: Callable[[bytes], Any]) -> Iterator[Statement]:
    deliveries = list(_deliver_rows([write]))
    yield Statement(
        PUBLISH,
        _message_params(write.message, json_param),
        None if write.deduplicate else _message_exists(write.message.id),
        # only a deduplicated message is dropped with its deliveries; any other id already
        # stored is a conflict of the unit (its if_no_row), not a silent drop
        skip_if_no_row=len(deliveries) if write.deduplicate else 0,
    )
    yield from deliveries


def _message_params(message: Message, json_param: Callable[[bytes], Any]) -> tuple[Any, ...]:
    """The parameters of :data:`MESSAGE_ROW`."""
    return (
        message.id,
        message.topic,
        message.key,
        json_param(dump_json(message.data)),
        json_param(dump_json(message.headers)),
        message.correlation_id,
        message.causation_id,
        message.published_at,
        message.expires_at,
    )


MESSAGES_PER_STATEMENT = 256
"""Rows of one multi-row insert of messages (9 parameters each) or of deliveries (5 each):
well under every backend's parameter limit, and the same SQL text for every full chunk (so
units of equal size group across units on PostgreSQL)."""


@cache
def _rows(row: str, count: int) -> str:
    return ", ".join([row] * count)


def _publish_run(
    run: list[PublishMessage], json_param: Callable[[bytes], Any]
) -> Iterator[Statement]:
    """Messages published with new ids (not deduplicated), in publish order: one insert of
    the messages and one of their deliveries per :data:`MESSAGES_PER_STATEMENT`, not two
    statements per message. Every message must be new: one already stored fails the unit
    (ConflictError), as a lone publish does."""
    if len(run) == 1:
        yield from _publish(run[0], json_param)
        return
    for start in range(0, len(run), MESSAGES_PER_STATEMENT):
        chunk = run[start : start + MESSAGES_PER_STATEMENT]
        params: list[Any] = []
        for write in chunk:
            params += _message_params(write.message, json_param)
        yield Statement(
            PUBLISH_ROWS + _rows(MESSAGE_ROW, len(chunk)) + ON_CONFLICT_NOTHING,
            tuple(params),
            _messages_exist([write.message.id for write in chunk]),
            rows=len(chunk),
        )
        yield from _deliver_rows(chunk)


def _deliver_rows(chunk: list[PublishMessage]) -> Iterator[Statement]:
    params: list[Any] = []
    count = 0
    for write in chunk:
        message = write.message
        for delivery in write.deliveries:
            params += (message.id, delivery.target, message.key, delivery.ordered)
            params.append(delivery.available_at)
            count += 1
            if count == MESSAGES_PER_STATEMENT:
                yield Statement(
                    DELIVER + _rows(DELIVER_ROW, count), tuple(params), deliveries=count
                )
                params, count = [], 0
    if count:
        yield Statement(DELIVER + _rows(DELIVER_ROW, count), tuple(params), deliveries=count)


def _append(write: AppendEvents, json_param: Callable[[bytes], Any]) -> Iterator[Statement]:
    # The events of one append usually share one metadata dict (the unit's correlation and
    # causation): encode it once, not once per event.
    shared: dict[int, Any] = {}
    rows = []
    for event in write.events:
        metadata = shared.get(id(event.metadata))
        if metadata is None:
            metadata = shared[id(event.metadata)] = json_param(dump_json(event.metadata))
        rows.append((event.type, json_param(dump_json(event.data)), metadata))
    expected = write.expected_version
    if expected is None:  # at the end, wherever that is: each event finds the head
        for kind, data, metadata in rows:
            yield Statement(APPEND, (write.stream, kind, data, metadata, write.at, write.stream))
        return
    kind, data, metadata = rows[0]
    yield Statement(
        APPEND_EXPECTING,
        (write.stream, kind, data, metadata, write.at, write.stream, expected),
        _stream_moved(write.stream, expected),
    )
    if len(rows) > 1:  # the head is known now: the rest in one statement, versions explicit
        params: list[Any] = []
        for version, (kind, data, metadata) in enumerate(rows[1:], start=expected + 2):
            params += (write.stream, version, kind, data, metadata, write.at)
        values = ", ".join([APPEND_ROW] * (len(rows) - 1))
        yield Statement(APPEND_ROWS + values, tuple(params))


RECORD_BATCH = (
    "INSERT INTO faaskit_invocation_batches (first_at, last_at, records, rows) VALUES (?, ?, ?, ?)"
)
PRUNE_INVOCATIONS = "DELETE FROM faaskit_invocation_batches WHERE last_at < ?"
INVOCATION_BATCHES = "SELECT rows FROM faaskit_invocation_batches WHERE last_at >= ?"
RECORDS_PER_BATCH = 1024
"""Records a batch row holds at most (a window's read decodes whole batches)."""


def _record_invocations(write: RecordInvocations) -> Iterator[Statement]:
    """Records as batch rows — a JSON array of up to RECORDS_PER_BATCH rows, with the span
    of their start times — then the retention's delete. One row a batch, not a row (and an
    index entry) a record: a row cost SQLite 4.5 µs a record and PostgreSQL 12, which a
    read-only process serving 12,000 requests a second pays on its own core. Unchecked: a
    batch has no key to conflict on. Names are text the app declared, and JSON writes NUL
    as an escape."""
    rows = write.rows
    for first in range(0, len(rows), RECORDS_PER_BATCH):
        chunk = rows[first : first + RECORDS_PER_BATCH]
        started = [row[2] for row in chunk]
        encoded = orjson.dumps(chunk).decode()
        yield Statement(RECORD_BATCH, (min(started), max(started), len(chunk), encoded))
    if write.prune_before is not None:
        yield Statement(PRUNE_INVOCATIONS, (write.prune_before,))


def records_from_batches(
    batches: Iterable[Sequence[Any]], since: float, function: str | None, limit: int
) -> list[InvocationRecord]:
    """The records of :data:`INVOCATION_BATCHES` rows that started at ``since`` or later
    (of ``function`` when given), by start time, at most ``limit``."""
    found: list[list[Any]] = []
    for (encoded,) in batches:
        for row in orjson.loads(encoded):
            if row[2] >= since and (function is None or row[0] == function):
                found.append(row)
    found.sort(key=itemgetter(2))
    return [InvocationRecord(*row) for row in found[:limit]]


BACKLOG = (
    "SELECT d.target, COUNT(*), MIN(m.published_at) FROM faaskit_deliveries d"
    " JOIN faaskit_messages m ON m.id = d.message_id GROUP BY d.target"
)
DEAD_BY_TARGET = "SELECT target, COUNT(*) FROM faaskit_dead_letters GROUP BY target"


def backlog_rows(
    pending: Sequence[Sequence[Any]], dead: Sequence[Sequence[Any]]
) -> list[tuple[str, int, float | None, int]]:
    """:data:`BACKLOG` and :data:`DEAD_BY_TARGET` rows as (target, pending, oldest
    message's publish time, dead letters), by target."""
    found = {row[0]: [row[0], int(row[1]), row[2], 0] for row in pending}
    for target, count in dead:
        found.setdefault(target, [target, 0, None, 0])[3] = int(count)
    return [(t, p, o, d) for t, p, o, d in (found[k] for k in sorted(found))]


# Errors are built only when a statement changes no row: the messages are formatted then,
# not for every statement of every commit.
def _lease_lost(seq: int) -> Callable[[], FaaskitError]:
    return lambda: LeaseLostError(
        f"delivery {seq} was leased by another worker; its result is dropped"
    )


def _message_exists(id: str) -> Callable[[], FaaskitError]:
    return lambda: ConflictError(f"message {id!r} exists")


def _messages_exist(ids: list[str]) -> Callable[[], FaaskitError]:
    def error() -> FaaskitError:
        shown = ", ".join(repr(id) for id in ids[:3]) + (", ..." if len(ids) > 3 else "")
        return ConflictError(f"a message of this unit already exists (one of {shown})")

    return error


def _stream_moved(stream: str, expected: int) -> Callable[[], FaaskitError]:
    return lambda: ConcurrencyError(
        f"stream {stream!r} is not at version {expected}; reload and retry"
    )


def _projection_moved(name: str, expected: int) -> Callable[[], FaaskitError]:
    return lambda: ConcurrencyError(
        f"projection {name!r} moved past {expected}; another runner has it"
    )


def _key_taken(collection: str, field: str, message: str | None) -> Callable[[], FaaskitError]:
    return lambda: ConflictError(
        message or f"a {collection} document with this {field} already exists"
    )


def _insert_keys(
    collection: str, id: str, keys: Sequence[UniqueKey], message: str | None
) -> Iterator[Statement]:
    for field, value in keys:
        yield Statement(
            INSERT_KEY, (collection, field, value, id), _key_taken(collection, field, message)
        )


def _versioned(
    sql: str, params: tuple[Any, ...], collection: str, id: str, expected_version: int | None
) -> Statement:
    if expected_version is None:
        return Statement(sql, params, lambda: not_found(collection, id))
    return Statement(
        sql,
        params,
        lambda: ConcurrencyError(
            f"{collection} {id!r} changed since version {expected_version}; reload and retry"
        ),
        if_missing=(collection, id),
    )
