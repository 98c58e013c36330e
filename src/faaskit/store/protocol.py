"""The store protocol: the one interface every backend implements.

A backend reads committed state and applies a unit of work's write set atomically.
Handlers never see a backend; they see :class:`faaskit.documents.Collection`, which
buffers writes in the unit of work and hands them to :meth:`Store.commit` at the end.
The conformance suite (``tests/conformance``) runs the same tests on every backend.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

__all__ = [
    "AckDelivery",
    "AdvanceCheckpoint",
    "AppendEvents",
    "ClaimWritten",
    "CommitOutcome",
    "DeadLetter",
    "DeleteDocument",
    "Delivery",
    "Document",
    "InsertDocument",
    "Message",
    "NewDelivery",
    "NewEvent",
    "Pending",
    "PublishMessage",
    "RecordedEvent",
    "SaveSnapshot",
    "SearchHit",
    "SearchPage",
    "SearchQuery",
    "Store",
    "UniqueKey",
    "UpdateDocument",
    "Write",
    "bucket_key",
]

JSONObject: TypeAlias = dict[str, Any]

UniqueKey: TypeAlias = tuple[str, str]
"""(field, normalised value) of a declared unique field, e.g. ("email", "ann@x.io")."""


@dataclass(frozen=True, slots=True)
class Document:
    """A stored document: its data, its version (1 on insert, +1 per update) and times."""

    collection: str
    id: str
    data: JSONObject
    version: int
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class InsertDocument:
    """Insert a new document; an existing id or a taken unique key is a ConflictError.

    With ``if_absent`` an existing id is not an error: the insert is dropped (with its
    unique keys and search text; the stored document keeps its own) and the rest of the
    unit commits, as ``ON CONFLICT DO NOTHING`` does. A new id whose unique key another
    document holds is still a ConflictError: ``if_absent`` is about this id only."""

    collection: str
    id: str
    data: JSONObject
    keys: Sequence[UniqueKey]
    at: str
    conflict_message: str | None = None
    search: tuple[str, ...] | None = None
    """The text of the collection's searchable fields (None: not searchable)."""
    if_absent: bool = False


@dataclass(frozen=True, slots=True)
class UpdateDocument:
    """Replace a document's data; with ``expected_version`` a stale one is a ConcurrencyError."""

    collection: str
    id: str
    data: JSONObject
    keys: Sequence[UniqueKey]
    at: str
    expected_version: int | None = None
    conflict_message: str | None = None
    search: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class DeleteDocument:
    collection: str
    id: str
    expected_version: int | None = None
    searchable: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    """A published message (or a scheduled task's payload) as stored in the outbox."""

    id: str
    topic: str
    data: Any
    key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    correlation_id: str | None = None
    causation_id: str | None = None
    published_at: float = 0.0
    expires_at: float | None = None
    """Epoch seconds; a message not delivered by then is expired, not delivered."""


@dataclass(frozen=True, slots=True)
class NewDelivery:
    """One copy of a message for one target (``sub:NAME``, ``task:NAME``, ``cron:NAME``)."""

    target: str
    available_at: float
    ordered: bool = False


@dataclass(frozen=True, slots=True)
class PublishMessage:
    """Write the message and its deliveries. With ``deduplicate`` (a caller-chosen id), a
    message whose id is already stored is dropped with its deliveries, and counted."""

    message: Message
    deliveries: Sequence[NewDelivery]
    deduplicate: bool = False


@dataclass(frozen=True, slots=True)
class AckDelivery:
    """Remove a handled delivery; if the lease was lost the whole unit fails (no double apply)."""

    seq: int
    lease_owner: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    data: JSONObject
    metadata: JSONObject = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppendEvents:
    """Append to a stream. With ``expected_version`` (0: a new stream) a stream at any other
    version fails the unit with ConcurrencyError; None appends at the end."""

    stream: str
    events: Sequence[NewEvent]
    expected_version: int | None
    at: float


@dataclass(frozen=True, slots=True)
class AdvanceCheckpoint:
    """Move a projection's checkpoint from ``expected`` to ``position`` (ConcurrencyError if
    another runner moved it), in the same unit as the read-model writes."""

    name: str
    expected: int
    position: int


@dataclass(frozen=True, slots=True)
class SaveSnapshot:
    stream: str
    version: int
    state: JSONObject


Write: TypeAlias = (
    InsertDocument
    | UpdateDocument
    | DeleteDocument
    | PublishMessage
    | AckDelivery
    | AppendEvents
    | AdvanceCheckpoint
    | SaveSnapshot
)


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: its stream version and its position in the global log."""

    position: int
    stream: str
    version: int
    type: str
    data: JSONObject
    metadata: JSONObject
    recorded_at: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed delivery: the message, its target, and the attempt this claim is."""

    seq: int
    target: str
    message: Message
    attempt: int
    lease_owner: str
    errors: list[JSONObject]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    seq: int
    target: str
    message: Message
    attempts: int
    errors: list[JSONObject]
    reason: str
    died_at: float


@dataclass(frozen=True, slots=True)
class Pending:
    """A delivery waiting (or leased): what ``faaskit.testing`` shows as scheduled."""

    seq: int
    target: str
    message: Message
    available_at: float
    attempts: int
    leased: bool


@dataclass(slots=True)
class CommitOutcome:
    deliveries: int = 0
    """Deliveries written (workers may want waking)."""
    deduplicated: int = 0
    """Messages dropped because their id was already stored."""
    claimed: list[Delivery] = field(default_factory=list)
    """Deliveries this commit wrote and leased at once (:class:`ClaimWritten`)."""

    @property
    def announced(self) -> bool:
        """Whether workers should be woken: deliveries were written that this commit did
        not lease itself (a deduplicated message may have left a claimable one behind)."""
        return self.deliveries > 0 and (
            self.deduplicated > 0 or self.deliveries > len(self.claimed)
        )


@dataclass(frozen=True, slots=True)
class ClaimWritten:
    """Lease to ``owner``, in the commit's own transaction, up to ``limit`` of the
    deliveries the write set publishes to ``targets`` that are due at ``now`` (and, when
    ordered, head of their key): a worker hands a saga's next step, or any follow-on
    message, to itself without a claim of its own. Leased deliveries are not announced
    to other workers; the ones left over are, as usual."""

    owner: str
    targets: frozenset[str]
    limit: int
    lease: float
    now: float = 0.0


@dataclass(slots=True)
class WriteSet:
    """Everything one unit of work changes, applied by :meth:`Store.commit` at once."""

    writes: list[Write] = field(default_factory=list)
    claim: ClaimWritten | None = None
    """What of the published deliveries the committing worker leases to itself."""

    def __bool__(self) -> bool:
        return bool(self.writes)


MAX_TEXT_FIELDS = 8
"""Searchable text fields per collection (``faaskit.Search``)."""


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

    async def take_tokens(
        self, bucket: str, capacity: float, refill_per_second: float, cost: float, now: float
    ) -> float:
        """Take ``cost`` tokens from the token bucket ``bucket``; 0.0 when taken, else the
        seconds until ``cost`` tokens will be there (nothing is taken then; ``math.inf``
        when ``cost`` exceeds ``capacity``). A bucket never seen is full. Committed at once
        and atomically across processes, never part of a unit of work: a refused or
        failed invocation keeps its token spent. ``bucket`` may be any text
        (:func:`bucket_key`); buckets full for a while are deleted as takes go by."""

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
