"""The store protocol: the one interface every backend implements.

A backend reads committed state and applies a unit of work's write set atomically.
Handlers never see a backend; they see :class:`faaskit.documents.Collection`, which
buffers writes in the unit of work and hands them to :meth:`Store.commit` at the end.
The conformance suite (``tests/conformance``) runs the same tests on every backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

__all__ = [
    "DeleteDocument",
    "Document",
    "InsertDocument",
    "Store",
    "UniqueKey",
    "UpdateDocument",
    "Write",
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
    """Insert if absent; an existing id or a taken unique key is a ConflictError."""

    collection: str
    id: str
    data: JSONObject
    keys: Sequence[UniqueKey]
    at: str
    conflict_message: str | None = None


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


@dataclass(frozen=True, slots=True)
class DeleteDocument:
    collection: str
    id: str
    expected_version: int | None = None


Write: TypeAlias = InsertDocument | UpdateDocument | DeleteDocument


@dataclass(slots=True)
class WriteSet:
    """Everything one unit of work changes, applied by :meth:`Store.commit` at once."""

    writes: list[Write] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.writes)


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

    async def commit(self, write_set: WriteSet) -> None:
        """Apply every write or none. Raises ConflictError, ConcurrencyError or
        NotFoundError (for an update or delete of a missing document)."""

    async def reset(self) -> None:
        """Delete all data (tests and ``faaskit`` scratch runs only)."""
