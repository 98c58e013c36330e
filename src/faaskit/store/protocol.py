"""The store protocol: the one interface every backend implements.

A backend reads committed state and applies a unit of work's write set atomically.
Handlers never see a backend; they see :class:`faaskit.documents.Collection`, which
buffers writes in the unit of work and hands them to :meth:`Store.commit` at the end.
The conformance suite (``tests/conformance``) runs the same tests on every backend.

The writes and rows below are built on every commit and read (several per event or
message), so they are plain slotted classes with hand-written ``__init__``: about a
quarter of a frozen dataclass's construction time, which sets each field through
``object.__setattr__``. They compare and print like dataclasses (:class:`Value`); treat
them as immutable: nothing assigns their fields after construction. :class:`Document`,
which handlers receive, stays frozen.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from faaskit.records import Frozen, Value, setfield

__all__ = [
    "AckDelivery",
    "AdvanceCheckpoint",
    "AppendEvents",
    "Breaker",
    "BreakerPermit",
    "ClaimWritten",
    "CommitOutcome",
    "DeadLetter",
    "DeleteDocument",
    "Delivery",
    "Document",
    "InsertDocument",
    "InvocationRecord",
    "Message",
    "NewDelivery",
    "NewEvent",
    "Pending",
    "PublishMessage",
    "RecordInvocations",
    "RecordedEvent",
    "SaveSnapshot",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "Store",
    "UniqueKey",
    "UpdateDocument",
    "Value",
    "Write",
    "WriteSet",
    "bucket_key",
]

JSONObject: TypeAlias = dict[str, Any]

UniqueKey: TypeAlias = tuple[str, str]
"""(field, normalised value) of a declared unique field, e.g. ("email", "ann@x.io")."""


class Document(Frozen):
    """A stored document: its data, its version (1 on insert, +1 per update) and times."""

    __slots__ = ("collection", "id", "data", "version", "created_at", "updated_at")  # noqa: RUF023 (fields in order)
    collection: str
    id: str
    data: JSONObject
    version: int
    created_at: str
    updated_at: str

    def __init__(
        self,
        collection: str,
        id: str,
        data: JSONObject,
        version: int,
        created_at: str,
        updated_at: str,
    ) -> None:
        setfield(self, "collection", collection)
        setfield(self, "id", id)
        setfield(self, "data", data)
        setfield(self, "version", version)
        setfield(self, "created_at", created_at)
        setfield(self, "updated_at", updated_at)


class InsertDocument(Value):
    """Insert a new document; an existing id or a taken unique key is a ConflictError.

    With ``if_absent`` an existing id is not an error: the insert is dropped (with its
    unique keys and search text; the stored document keeps its own) and the rest of the
    unit commits, as ``ON CONFLICT DO NOTHING`` does. A new id whose unique key another
    document holds is still a ConflictError: ``if_absent`` is about this id only.

    ``search`` is the text of the collection's searchable fields (None: not searchable)."""

    __slots__ = (  # noqa: RUF023 (fields in order)
        "collection",
        "id",
        "data",
        "keys",
        "at",
        "conflict_message",
        "search",
        "if_absent",
    )
    collection: str
    id: str
    data: JSONObject
    keys: Sequence[UniqueKey]
    at: str
    conflict_message: str | None
    search: tuple[str, ...] | None
    if_absent: bool

    def __init__(
        self,
        collection: str,
        id: str,
        data: JSONObject,
        keys: Sequence[UniqueKey],
        at: str,
        conflict_message: str | None = None,
        search: tuple[str, ...] | None = None,
        if_absent: bool = False,
    ) -> None:
        self.collection = collection
        self.id = id
        self.data = data
        self.keys = keys
        self.at = at
        self.conflict_message = conflict_message
        self.search = search
        self.if_absent = if_absent


class UpdateDocument(Value):
    """Replace a document's data; with ``expected_version`` a stale one is a ConcurrencyError."""

    __slots__ = (  # noqa: RUF023 (fields in order)
        "collection",
        "id",
        "data",
        "keys",
        "at",
        "expected_version",
        "conflict_message",
        "search",
    )
    collection: str
    id: str
    data: JSONObject
    keys: Sequence[UniqueKey]
    at: str
    expected_version: int | None
    conflict_message: str | None
    search: tuple[str, ...] | None

    def __init__(
        self,
        collection: str,
        id: str,
        data: JSONObject,
        keys: Sequence[UniqueKey],
        at: str,
        expected_version: int | None = None,
        conflict_message: str | None = None,
        search: tuple[str, ...] | None = None,
    ) -> None:
        self.collection = collection
        self.id = id
        self.data = data
        self.keys = keys
        self.at = at
        self.expected_version = expected_version
        self.conflict_message = conflict_message
        self.search = search


class DeleteDocument(Value):
    __slots__ = ("collection", "id", "expected_version", "searchable")  # noqa: RUF023 (fields in order)
    collection: str
    id: str
    expected_version: int | None
    searchable: bool

    def __init__(
        self,
        collection: str,
        id: str,
        expected_version: int | None = None,
        searchable: bool = False,
    ) -> None:
        self.collection = collection
        self.id = id
        self.expected_version = expected_version
        self.searchable = searchable


class Message(Value):
    """A published message (or a scheduled task's payload) as stored in the outbox.
    ``expires_at``: epoch seconds; a message not delivered by then is expired, not
    delivered."""

    __slots__ = (  # noqa: RUF023 (fields in order)
        "id",
        "topic",
        "data",
        "key",
        "headers",
        "correlation_id",
        "causation_id",
        "published_at",
        "expires_at",
    )
    id: str
    topic: str
    data: Any
    key: str | None
    headers: dict[str, str]
    correlation_id: str | None
    causation_id: str | None
    published_at: float
    expires_at: float | None

    def __init__(
        self,
        id: str,
        topic: str,
        data: Any,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        published_at: float = 0.0,
        expires_at: float | None = None,
    ) -> None:
        self.id = id
        self.topic = topic
        self.data = data
        self.key = key
        self.headers = {} if headers is None else headers
        self.correlation_id = correlation_id
        self.causation_id = causation_id
        self.published_at = published_at
        self.expires_at = expires_at


class NewDelivery(Value):
    """One copy of a message for one target (``sub:NAME``, ``task:NAME``, ``cron:NAME``)."""

    __slots__ = ("target", "available_at", "ordered")  # noqa: RUF023 (fields in order)
    target: str
    available_at: float
    ordered: bool

    def __init__(self, target: str, available_at: float, ordered: bool = False) -> None:
        self.target = target
        self.available_at = available_at
        self.ordered = ordered


class PublishMessage(Value):
    """Write the message and its deliveries. With ``deduplicate`` (a caller-chosen id), a
    message whose id is already stored is dropped with its deliveries, and counted."""

    __slots__ = ("message", "deliveries", "deduplicate")  # noqa: RUF023 (fields in order)
    message: Message
    deliveries: Sequence[NewDelivery]
    deduplicate: bool

    def __init__(
        self, message: Message, deliveries: Sequence[NewDelivery], deduplicate: bool = False
    ) -> None:
        self.message = message
        self.deliveries = deliveries
        self.deduplicate = deduplicate


class AckDelivery(Value):
    """Remove a handled delivery; if the lease was lost the whole unit fails (no double apply)."""

    __slots__ = ("seq", "lease_owner")  # noqa: RUF023 (fields in order)
    seq: int
    lease_owner: str

    def __init__(self, seq: int, lease_owner: str) -> None:
        self.seq = seq
        self.lease_owner = lease_owner


class NewEvent(Value):
    """An event to append: its type name, its data and its metadata (JSON objects). The
    events of one append may share one metadata dict: the store only reads it."""

    __slots__ = ("type", "data", "metadata")  # noqa: RUF023 (fields in order)
    type: str
    data: JSONObject
    metadata: JSONObject

    def __init__(self, type: str, data: JSONObject, metadata: JSONObject | None = None) -> None:
        self.type = type
        self.data = data
        self.metadata = {} if metadata is None else metadata


class AppendEvents(Value):
    """Append to a stream. With ``expected_version`` (0: a new stream) a stream at any other
    version fails the unit with ConcurrencyError; None appends at the end."""

    __slots__ = ("stream", "events", "expected_version", "at")  # noqa: RUF023 (fields in order)
    stream: str
    events: Sequence[NewEvent]
    expected_version: int | None
    at: float

    def __init__(
        self, stream: str, events: Sequence[NewEvent], expected_version: int | None, at: float
    ) -> None:
        self.stream = stream
        self.events = events
        self.expected_version = expected_version
        self.at = at


class AdvanceCheckpoint(Value):
    """Move a projection's checkpoint from ``expected`` to ``position`` (ConcurrencyError if
    another runner moved it), in the same unit as the read-model writes."""

    __slots__ = ("name", "expected", "position")  # noqa: RUF023 (fields in order)
    name: str
    expected: int
    position: int

    def __init__(self, name: str, expected: int, position: int) -> None:
        self.name = name
        self.expected = expected
        self.position = position


class SaveSnapshot(Value):
    __slots__ = ("stream", "version", "state")  # noqa: RUF023 (fields in order)
    stream: str
    version: int
    state: JSONObject

    def __init__(self, stream: str, version: int, state: JSONObject) -> None:
        self.stream = stream
        self.version = version
        self.state = state


class InvocationRecord(Value):
    """What one invocation of any kind cost: ``started_at`` (epoch seconds), wall
    ``duration`` and the ``cpu`` seconds of the handler's own steps, the process's peak
    resident memory in bytes when measurable, whether it was the process's first of its
    function (``cold``) and how long initialisation took then, and its ``outcome``
    (``success``, ``client_error`` or ``error``)."""

    __slots__ = (  # noqa: RUF023 (fields in order)
        "function",
        "trigger",
        "started_at",
        "duration",
        "cpu",
        "memory",
        "cold",
        "init_seconds",
        "outcome",
    )
    function: str
    trigger: str
    started_at: float
    duration: float
    cpu: float
    memory: int | None
    cold: bool
    init_seconds: float | None
    outcome: str

    def __init__(
        self,
        function: str,
        trigger: str,
        started_at: float,
        duration: float,
        cpu: float,
        memory: int | None,
        cold: bool,
        init_seconds: float | None,
        outcome: str,
    ) -> None:
        self.function = function
        self.trigger = trigger
        self.started_at = started_at
        self.duration = duration
        self.cpu = cpu
        self.memory = memory
        self.cold = cold
        self.init_seconds = init_seconds
        self.outcome = outcome

    def row(self) -> InvocationRow:
        """The record as :class:`RecordInvocations` stores it."""
        return (
            self.function,
            self.trigger,
            self.started_at,
            self.duration,
            self.cpu,
            self.memory,
            self.cold,
            self.init_seconds,
            self.outcome,
        )


InvocationRow: TypeAlias = tuple[
    str, str, float, float, float, "int | None", bool, "float | None", str
]
"""An :class:`InvocationRecord`'s fields in order (the runtime makes one per invocation:
a tuple costs a fraction of an object)."""


class RecordInvocations(Value):
    """Store invocation records, and delete those that started before ``prune_before``
    (the retention), in whatever unit of work goes next: records never commit alone."""

    __slots__ = ("rows", "prune_before")  # noqa: RUF023 (fields in order)
    rows: Sequence[InvocationRow]
    prune_before: float | None

    def __init__(self, rows: Sequence[InvocationRow], prune_before: float | None = None) -> None:
        self.rows = rows
        self.prune_before = prune_before


Write: TypeAlias = (
    InsertDocument
    | UpdateDocument
    | DeleteDocument
    | PublishMessage
    | AckDelivery
    | AppendEvents
    | AdvanceCheckpoint
    | SaveSnapshot
    | RecordInvocations
)


class RecordedEvent(Value):
    """An event as stored: its stream version and its position in the global log."""

    __slots__ = ("position", "stream", "version", "type", "data", "metadata", "recorded_at")  # noqa: RUF023 (fields in order)
    position: int
    stream: str
    version: int
    type: str
    data: JSONObject
    metadata: JSONObject
    recorded_at: float

    def __init__(
        self,
        position: int,
        stream: str,
        version: int,
        type: str,
        data: JSONObject,
        metadata: JSONObject,
        recorded_at: float,
    ) -> None:
        self.position = position
        self.stream = stream
        self.version = version
        self.type = type
        self.data = data
        self.metadata = metadata
        self.recorded_at = recorded_at


class Delivery(Value):
    """A claimed delivery: the message, its target, and the attempt this claim is."""

    __slots__ = ("seq", "target", "message", "attempt", "lease_owner", "errors")  # noqa: RUF023 (fields in order)
    seq: int
    target: str
    message: Message
    attempt: int
    lease_owner: str
    errors: list[JSONObject]

    def __init__(
        self,
        seq: int,
        target: str,
        message: Message,
        attempt: int,
        lease_owner: str,
        errors: list[JSONObject],
    ) -> None:
        self.seq = seq
        self.target = target
        self.message = message
        self.attempt = attempt
        self.lease_owner = lease_owner
        self.errors = errors


class DeadLetter(Value):
    __slots__ = ("seq", "target", "message", "attempts", "errors", "reason", "died_at")  # noqa: RUF023 (fields in order)
    seq: int
    target: str
    message: Message
    attempts: int
    errors: list[JSONObject]
    reason: str
    died_at: float

    def __init__(
        self,
        seq: int,
        target: str,
        message: Message,
        attempts: int,
        errors: list[JSONObject],
        reason: str,
        died_at: float,
    ) -> None:
        self.seq = seq
        self.target = target
        self.message = message
        self.attempts = attempts
        self.errors = errors
        self.reason = reason
        self.died_at = died_at


class Pending(Value):
    """A delivery waiting (or leased): what ``faaskit.testing`` shows as scheduled."""

    __slots__ = ("seq", "target", "message", "available_at", "attempts", "leased")  # noqa: RUF023 (fields in order)
    seq: int
    target: str
    message: Message
    available_at: float
    attempts: int
    leased: bool

    def __init__(
        self,
        seq: int,
        target: str,
        message: Message,
        available_at: float,
        attempts: int,
        leased: bool,
    ) -> None:
        self.seq = seq
        self.target = target
        self.message = message
        self.available_at = available_at
        self.attempts = attempts
        self.leased = leased


class CommitOutcome(Value):
    """What a commit did: ``deliveries`` written (workers may want waking), messages
    ``deduplicated`` (dropped because their id was already stored), and the deliveries
    ``claimed``: written and leased at once (:class:`ClaimWritten`). Backends count into
    it as they go."""

    __slots__ = ("deliveries", "deduplicated", "claimed")  # noqa: RUF023 (fields in order)
    __hash__ = None  # type: ignore[assignment]  # counted into: not hashable
    deliveries: int
    deduplicated: int
    claimed: list[Delivery]

    def __init__(
        self, deliveries: int = 0, deduplicated: int = 0, claimed: list[Delivery] | None = None
    ) -> None:
        self.deliveries = deliveries
        self.deduplicated = deduplicated
        self.claimed = [] if claimed is None else claimed

    @property
    def announced(self) -> bool:
        """Whether workers should be woken: deliveries were written that this commit did
        not lease itself (a deduplicated message may have left a claimable one behind)."""
        return self.deliveries > 0 and (
            self.deduplicated > 0 or self.deliveries > len(self.claimed)
        )


class ClaimWritten(Value):
    """Lease to ``owner``, in the commit's own transaction, up to ``limit`` of the
    deliveries the write set publishes to ``targets`` that are due at ``now`` (and, when
    ordered, head of their key): a worker hands a saga's next step, or any follow-on
    message, to itself without a claim of its own. Leased deliveries are not announced
    to other workers; the ones left over are, as usual."""

    __slots__ = ("owner", "targets", "limit", "lease", "now")  # noqa: RUF023 (fields in order)
    owner: str
    targets: frozenset[str]
    limit: int
    lease: float
    now: float

    def __init__(
        self, owner: str, targets: frozenset[str], limit: int, lease: float, now: float = 0.0
    ) -> None:
        self.owner = owner
        self.targets = targets
        self.limit = limit
        self.lease = lease
        self.now = now


class WriteSet(Value):
    """Everything one unit of work changes, applied by :meth:`Store.commit` at once;
    ``claim``: what of the published deliveries the committing worker leases to itself."""

    __slots__ = ("writes", "claim")  # noqa: RUF023 (fields in order)
    __hash__ = None  # type: ignore[assignment]  # appended to: not hashable
    writes: list[Write]
    claim: ClaimWritten | None

    def __init__(
        self, writes: list[Write] | None = None, claim: ClaimWritten | None = None
    ) -> None:
        self.writes = [] if writes is None else writes
        self.claim = claim

    def __bool__(self) -> bool:
        return bool(self.writes)


MAX_TEXT_FIELDS = 8
"""Searchable text fields per collection (``faaskit.Search``)."""


class Breaker(Value):
    """A circuit breaker's shared state (:mod:`faaskit.breakers`), one row per name.

    ``state`` is ``closed``, ``open`` or ``half_open``; ``failures`` the consecutive
    failures counted; ``opened_at`` when it last opened (None while closed); ``due_at``
    when an open breaker lets a trial call through, or when a half-open breaker's trial
    lease runs out (None while closed); ``opens`` how often it opened; ``changed_at`` its
    last change of state; ``last_error`` the last failure's text (cut to 200 characters)."""

    __slots__ = (  # noqa: RUF023 (fields in order)
        "name",
        "state",
        "failures",
        "opened_at",
        "due_at",
        "opens",
        "changed_at",
        "last_error",
    )
    name: str
    state: str
    failures: int
    opened_at: float | None
    due_at: float | None
    opens: int
    changed_at: float | None
    last_error: str | None

    def __init__(
        self,
        name: str,
        state: str = "closed",
        failures: int = 0,
        opened_at: float | None = None,
        due_at: float | None = None,
        opens: int = 0,
        changed_at: float | None = None,
        last_error: str | None = None,
    ) -> None:
        self.name = name
        self.state = state
        self.failures = failures
        self.opened_at = opened_at
        self.due_at = due_at
        self.opens = opens
        self.changed_at = changed_at
        self.last_error = last_error


class BreakerPermit(Value):
    """The answer to :meth:`Store.breaker_acquire`: whether the call may go (``allowed``),
    whether it is the half-open breaker's one trial (``trial``), else the seconds until
    asking again may pass (``retry_after``); ``state`` is the breaker's state after the
    acquire, ``failures`` its consecutive failures, and ``opened_half`` whether this
    acquire moved it from open to half-open (a transition to count once)."""

    __slots__ = ("allowed", "trial", "retry_after", "state", "failures", "opened_half")  # noqa: RUF023 (fields in order)
    allowed: bool
    trial: bool
    retry_after: float
    state: str
    failures: int
    opened_half: bool

    def __init__(
        self,
        allowed: bool,
        trial: bool = False,
        retry_after: float = 0.0,
        state: str = "closed",
        failures: int = 0,
        opened_half: bool = False,
    ) -> None:
        self.allowed = allowed
        self.trial = trial
        self.retry_after = retry_after
        self.state = state
        self.failures = failures
        self.opened_half = opened_half


@dataclass(frozen=True)
class SearchQuery:
    """A validated search (``faaskit.cqrs.search.build_query``), safe to compile: every
    name in it comes from the collection's declared allow-lists; values are bound."""

    collection: str
    text_fields: tuple[str, ...]
    words: tuple[str, ...] = ()
    where: Mapping[str, Any] = field(default_factory=dict)
    ranges: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    sort_field: str | None = None
    """None: by relevance (best first)."""
    descending: bool = True
    page: int = 1
    page_size: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@dataclass(frozen=True)
class SearchHit:
    document: Document
    score: float | None
    highlights: dict[str, str]


@dataclass(frozen=True)
class SearchPage:
    items: list[SearchHit]
    total: int
    page: int
    page_size: int

    @property
    def total_pages(self) -> int:
        return math.ceil(self.total / self.page_size) if self.total else 0


class Store(Protocol):
    """A backend. All methods are safe to call concurrently from one event loop."""

    url: str

    async def open(self) -> None:
        """Connect and create the schema if it is missing (idempotent)."""

    async def close(self) -> None: ...

    async def get(self, collection: str, id: str) -> Document | None: ...

    async def get_by_key(self, collection: str, key: UniqueKey) -> Document | None:
        """The document holding a unique key, e.g. ("email", "ann@example.com")."""

    async def find(
        self, collection: str, equals: Mapping[str, Any], *, limit: int | None = None
    ) -> list[Document]:
        """Documents whose top-level fields equal ``equals``, oldest first."""

    async def commit(self, write_set: WriteSet) -> CommitOutcome:
        """Apply every write or none, then lease what ``write_set.claim`` asks for, in the
        same transaction. Raises ConflictError, ConcurrencyError (also for an ack whose
        lease was lost) or NotFoundError (update or delete of a missing document)."""

    async def claim(
        self, targets: Sequence[str], *, owner: str, now: float, lease: float, limit: int
    ) -> list[Delivery]:
        """Lease up to ``limit`` due deliveries of ``targets`` (ordered ones head-of-key only)."""

    async def claim_delivery(
        self, message_id: str, target: str, *, owner: str, now: float, lease: float
    ) -> Delivery | None:
        """Lease the one delivery of ``message_id`` to ``target`` if it is due, not leased
        and (ordered) head of its key; else None. What a relayed cloud message claims."""

    async def relayable(self, *, now: float, limit: int) -> list[tuple[str, str]]:
        """``(message_id, target)`` of up to ``limit`` deliveries due by ``now`` and not
        leased, oldest first: what a sweeper relays again when a relay was lost."""

    async def retry(
        self, delivery: Delivery, *, available_at: float, error: JSONObject, counted: bool = True
    ) -> bool:
        """Give the delivery back for another attempt at ``available_at``, with ``error``
        added to its log; False if the lease was lost meanwhile. ``counted=False``: the
        attempt does not count (the next claim is the same attempt again), as for a unit
        that lost a race at commit."""

    async def release(self, deliveries: Sequence[Delivery]) -> None:
        """Give back leased deliveries unattempted (graceful shutdown)."""

    async def dead_letter(
        self, delivery: Delivery, *, reason: str, error: JSONObject | None, now: float
    ) -> bool:
        """Move the delivery to the dead-letter store with every attempt's error."""

    async def next_due(self, targets: Sequence[str]) -> float | None:
        """When the earliest delivery of ``targets`` becomes available (epoch seconds)."""

    async def wait_for_deliveries(self, within: float) -> None:
        """Return when deliveries may have been written (by any process), or on timeout."""

    async def pending(self, targets: Sequence[str] | None = None) -> list[Pending]: ...

    async def dead_letters(self, limit: int = 100) -> list[DeadLetter]: ...

    async def redrive(self, seqs: Sequence[int] | None, *, now: float) -> int:
        """Deliver dead letters again (all of them with ``None``); how many."""

    async def purge_dead_letters(self, seqs: Sequence[int] | None = None) -> int: ...

    async def messages(
        self, *, topic: str | None = None, after: float = 0.0, limit: int = 100
    ) -> list[Message]:
        """Published messages, oldest first (``faaskit events tail``)."""

    async def read_stream(
        self, stream: str, *, from_version: int = 1, limit: int | None = None
    ) -> list[RecordedEvent]: ...

    async def read_all(
        self, *, after: int = 0, limit: int = 1000, types: Sequence[str] | None = None
    ) -> list[RecordedEvent]:
        """The global log after ``after``, in position order (only ``types`` if given)."""

    async def head_position(self) -> int:
        """The highest committed position (0 for an empty log)."""

    async def checkpoint(self, name: str) -> int: ...

    async def reset_projection(self, name: str, collections: Sequence[str]) -> None:
        """Delete the projection's read-model collections and rewind its checkpoint to 0."""

    async def snapshot(self, stream: str) -> tuple[int, JSONObject] | None: ...

    async def search(self, query: SearchQuery) -> SearchPage:
        """Full-text search of a collection's read model (see faaskit.cqrs.search)."""

    async def invocations(
        self, *, since: float = 0.0, function: str | None = None, limit: int = 100_000
    ) -> list[InvocationRecord]:
        """Invocation records that started at or after ``since`` (of ``function`` only, if
        given), oldest first (``faaskit stats``, the cost model)."""

    async def count_by(self, collection: str, field: str) -> dict[str, int]:
        """How many documents of ``collection`` hold each value of the top-level text
        ``field`` (the metrics' saga states); documents without it are not counted."""

    async def backlog(self) -> list[tuple[str, int, float | None, int]]:
        """Per target with anything waiting: ``(target, deliveries pending, the oldest
        pending message's publish time, dead letters)`` (the metrics' queue gauges)."""

    async def prepare_search(self, collection: str, fields: Sequence[str]) -> None:
        """Give ``collection``'s search rows the typed columns of ``fields`` (filter, range
        and sort fields of its declaration) before any query needs them."""

    async def take_tokens(
        self, bucket: str, capacity: float, refill_per_second: float, cost: float, now: float
    ) -> float:
        """Take ``cost`` tokens from the token bucket ``bucket``; 0.0 when taken, else the
        seconds until ``cost`` tokens will be there (nothing is taken then; ``math.inf``
        when ``cost`` exceeds ``capacity``). A bucket never seen is full. Committed at once
        and atomically across processes, never part of a unit of work: a refused or
        failed invocation keeps its token spent. ``bucket`` may be any text
        (:func:`bucket_key`); buckets full for a while are deleted as takes go by."""

    async def breaker_acquire(
        self, name: str, *, now: float, lease: float, token: str
    ) -> BreakerPermit:
        """Ask circuit breaker ``name`` whether a call may go at ``now``. Closed (or never
        seen): allowed. Open before its ``due_at``: refused with the seconds left. Open
        and due, or half-open whose trial's lease ran out: exactly one caller, across
        every process, gets the trial (its ``token`` stored, leased ``lease`` seconds);
        the others are refused. Committed at once, never part of a unit of work."""

    async def breaker_record(
        self,
        name: str,
        *,
        failed: bool,
        now: float,
        threshold: int,
        recovery_timeout: float,
        token: str | None = None,
        error: str | None = None,
    ) -> str | None:
        """Record a call's outcome; the state it moved the breaker to, or None. A call
        (``token`` None) while closed: a failure counts (``threshold`` in a row open it
        for ``recovery_timeout`` seconds), a success resets the count. The trial
        (``token`` its acquire's): success closes, failure opens again from ``now``. A
        call that is neither (it began before the breaker opened, or its trial's lease
        ran out) changes nothing. Committed at once, never part of a unit of work."""

    async def breakers(self) -> list[Breaker]:
        """Every circuit breaker seen, by name (``faaskit breakers list``)."""

    async def reset_breaker(self, name: str) -> bool:
        """Close breaker ``name`` and forget its counts; False if it was never seen."""

    async def reset(self) -> None:
        """Delete all data (tests and ``faaskit`` scratch runs only)."""


_BUCKET_KEY_MAX = 200
_HASHED_PREFIX = "sha256:"


def bucket_key(bucket: str) -> str:
    """How a rate-limit bucket is stored: as given when it is short text that any column
    holds, else ``sha256:`` and the hex digest of its UTF-8. Keys come from client input
    (an email, an IP) and may be huge or hold NUL or a lone surrogate. A key that already
    starts with ``sha256:`` is hashed too, so no client can pick another key's digest."""
    if (
        len(bucket) <= _BUCKET_KEY_MAX
        and "\x00" not in bucket
        and not bucket.startswith(_HASHED_PREFIX)
        and _encodes(bucket)
    ):
        return bucket
    return _HASHED_PREFIX + hashlib.sha256(bucket.encode("utf-8", "surrogatepass")).hexdigest()


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, e.g. from surrogateescape decoding
        return False
    return True
