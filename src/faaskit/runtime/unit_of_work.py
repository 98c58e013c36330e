"""The unit of work: what one invocation changes, committed together or not at all."""

from __future__ import annotations

from datetime import UTC, datetime

from faaskit.clock import Clock
from faaskit.errors import ConcurrencyError, LeaseLostError
from faaskit.runtime.recorder import InvocationRecorder
from faaskit.store.protocol import (
    ClaimWritten,
    CommitOutcome,
    Delivery,
    Document,
    Store,
    Write,
    WriteSet,
)

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """Buffers an invocation's writes; the runtime commits them after the handler returns
    and drops them if it raises. No I/O happens until :meth:`commit`."""

    __slots__ = (
        "_at",
        "_epoch",
        "claimed",
        "clock",
        "committed",
        "lost_race",
        "pending",
        "recorder",
        "seen",
        "store",
        "write_set",
    )

    def __init__(
        self, store: Store, clock: Clock, recorder: InvocationRecorder | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        self.recorder = recorder
        """Whose waiting invocation records this unit commits with its writes, if any."""
        self.write_set = WriteSet()
        self.pending: dict[tuple[str, str], Document | None] = {}
        """(collection, id) → the document as this unit leaves it (None: deleted)."""
        self.seen: dict[tuple[str, str], Document] = {}
        """Documents this unit has read, as committed."""
        self.committed = False
        """Whether :meth:`commit` has succeeded (what follows it, a relay, may still fail)."""
        self.lost_race = False
        """Whether :meth:`commit` failed with a ConcurrencyError: what the unit read changed
        before it committed (a stale expected version), so running it again may succeed."""
        self.claimed: list[Delivery] = []
        """Deliveries the commit leased to its worker (``write_set.claim``)."""
        self._epoch: float | None = None
        self._at: str | None = None

    def timestamp(self) -> str:
        """The unit's moment in ISO 8601, for its documents (:meth:`epoch`'s moment)."""
        at = self._at
        if at is None:
            if self._epoch is None:
                moment = self.clock.now()
                self._epoch, at = moment.timestamp(), moment.isoformat()
            else:
                at = datetime.fromtimestamp(self._epoch, UTC).isoformat()
            self._at = at
        return at

    def epoch(self) -> float:
        """The unit's moment as epoch seconds, for its messages and events: read from the
        clock once, at the first that needs it, so everything the unit writes carries the
        same time."""
        epoch = self._epoch
        if epoch is None:
            moment = self.clock.now()
            epoch = self._epoch = moment.timestamp()
            self._at = moment.isoformat()
        return epoch

    def write(
        self, write: Write, doc: Document | None, *, key: tuple[str, str] | None = None
    ) -> None:
        self.write_set.writes.append(write)
        self.pending[key or (doc.collection, doc.id)] = doc  # type: ignore[union-attr]

    def add(self, write: Write) -> None:
        """A write that is not a document (a published message, an ack)."""
        self.write_set.writes.append(write)

    async def commit(self) -> CommitOutcome:
        claim = self.write_set.claim
        if claim is not None:  # due by the time of the commit, as every write in it
            now = self.clock.now().timestamp()
            self.write_set.claim = ClaimWritten(
                claim.owner, claim.targets, claim.limit, claim.lease, now
            )
        if not self.write_set.writes:  # (not WriteSet.__bool__: a call on every read-only unit)
            self.committed = True
            return CommitOutcome()
        recorder = self.recorder
        records = recorder.take(at_least=recorder.ride_along) if recorder is not None else None
        if records is not None:  # records ride along: they never commit on their own
            self.write_set.writes.append(records)
        try:
            outcome = await self.store.commit(self.write_set)
        except BaseException as error:
            # A failed unit gives its records back; a cancelled one may still commit
            # (PostgreSQL's batch goes on shielded): its records are not given twice.
            if records is not None and isinstance(error, Exception):
                writes = self.write_set.writes
                if writes and writes[-1] is records:
                    writes.pop()
                self.recorder.give_back(records)  # type: ignore[union-attr]
            if isinstance(error, ConcurrencyError):
                self.lost_race = not isinstance(error, LeaseLostError)
            raise
        self.committed = True
        self.claimed = outcome.claimed
        return outcome
