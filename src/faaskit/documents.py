"""Documents as a handler sees them: a collection whose writes belong to the unit of work.

Reads see committed data plus this invocation's own pending writes. Writes are buffered
and reach the store only when the handler returns, all together or not at all::

    users = app.collection("users", unique=["email"], casefold=["email"])

    @app.post("/users", status=201)
    async def create(body: NewUser, ctx: Context) -> dict[str, str]:
        docs = ctx.documents(users)
        if await docs.find_one(email=body.email):
            raise ConflictError("User already exists")
        docs.insert(new_id(), body.model_dump(), conflict="User already exists")
        ...

A race that both handlers' reads miss is still caught: the store refuses the second
insert at commit and the invocation fails with ``ConflictError(conflict)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faaskit.cqrs.search import Search
    from faaskit.runtime.unit_of_work import UnitOfWork
    from faaskit.store.protocol import Document, SearchPage, UniqueKey

__all__ = ["Collection", "CollectionSpec"]

_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class CollectionSpec:
    """A declared collection: its name and which top-level fields are unique.

    Fields named in ``casefold`` compare case-insensitively (emails).
    """

    name: str
    unique: tuple[str, ...] = ()
    casefold: frozenset[str] = field(default_factory=frozenset)
    search: Search | None = None
    """Full-text search over some fields (a read model); see faaskit.cqrs.search."""

    def __post_init__(self) -> None:
        for name in (*self.unique, *self.casefold):
            _check_field(name)

    def key(self, field: str, value: Any) -> UniqueKey:
        text = value if isinstance(value, str) else str(value)
        return field, text.casefold() if field in self.casefold else text

    def keys(self, data: Mapping[str, Any]) -> list[UniqueKey]:
        return [self.key(f, data[f]) for f in self.unique if data.get(f) is not None]


class Collection:
    """One collection inside one unit of work. Get one from ``ctx.documents(spec)``."""

    __slots__ = ("_spec", "_uow")

    def __init__(self, spec: CollectionSpec, uow: UnitOfWork) -> None:
        self._spec = spec
        self._uow = uow

    @property
    def name(self) -> str:
        return self._spec.name

    async def get(self, id: str) -> Document | None:
        """The document with this id, or None."""
        pending = self._uow.pending.get((self.name, id), _MISSING)
        if pending is not _MISSING:
            return pending  # type: ignore[return-value]
        found = await self._uow.store.get(self.name, id)
        if found is not None:  # remembered so an update reports the right version
            self._uow.seen[(self.name, id)] = found
        return found

    async def find(
        self, where: Mapping[str, Any] | None = None, /, *, limit: int | None = None, **equals: Any
    ) -> list[Document]:
        """Documents whose top-level fields equal the given values (None matches missing)."""
        conditions = {**(where or {}), **equals}
        for name, value in conditions.items():
            _check_field(name)
            if not isinstance(value, _SCALARS):
                raise TypeError(f"find({name}=...) takes a str, number, bool or None")
        found = await self._uow.store.find(self.name, conditions, limit=limit)
        return self._overlay(found, conditions, limit)

    async def find_one(
        self, where: Mapping[str, Any] | None = None, /, **equals: Any
    ) -> Document | None:
        """The first match, using the unique index when the one condition is a unique field."""
        conditions = {**(where or {}), **equals}
        if len(conditions) == 1:
            ((name, value),) = conditions.items()
            if name in self._spec.unique and value is not None:
                return await self._find_by_key(self._spec.key(name, value))
        matches = await self.find(conditions, limit=1)
        return matches[0] if matches else None

    def insert(
        self,
        id: str,
        data: Mapping[str, Any],
        *,
        conflict: str | None = None,
        if_absent: bool = False,
    ) -> Document:
        """Insert at commit; a taken id or unique value fails the invocation with ConflictError
        (``conflict`` is its message). With ``if_absent``, an id already stored when this
        unit commits (by a racing invocation, say) leaves that document as it is and the
        rest of the unit commits; a unique value another document holds still fails it."""
        from faaskit.store.protocol import Document, InsertDocument

        now = self._uow.timestamp()
        doc = Document(self.name, id, dict(data), 1, now, now)
        keys = self._spec.keys(doc.data)
        texts = self._texts(doc)
        write = InsertDocument(self.name, id, doc.data, keys, now, conflict, texts, if_absent)
        self._uow.write(write, doc)
        return doc

    def update(
        self,
        id: str,
        data: Mapping[str, Any],
        *,
        expected_version: int | None = None,
        conflict: str | None = None,
    ) -> Document:
        """Replace the document's data at commit. With ``expected_version``, a document
        changed meanwhile fails the invocation with ConcurrencyError; a missing one with
        NotFoundError."""
        from faaskit.store.protocol import Document, UpdateDocument

        now = self._uow.timestamp()
        before = self._uow.pending.get((self.name, id)) or self._uow.seen.get((self.name, id))
        version = (expected_version or (before.version if before else 0)) + 1
        created = before.created_at if before else now
        doc = Document(self.name, id, dict(data), version, created, now)
        self._uow.write(
            UpdateDocument(
                self.name,
                id,
                doc.data,
                self._spec.keys(doc.data),
                now,
                expected_version,
                conflict,
                self._texts(doc),
            ),
            doc,
        )
        return doc

    def delete(self, id: str, *, expected_version: int | None = None) -> None:
        """Delete at commit; a missing document fails the invocation with NotFoundError."""
        from faaskit.store.protocol import DeleteDocument

        searchable = self._spec.search is not None
        delete = DeleteDocument(self.name, id, expected_version, searchable)
        self._uow.write(delete, None, key=(self.name, id))

    async def search(
        self,
        text: str | None = None,
        *,
        where: Mapping[str, Any] | None = None,
        ranges: Mapping[str, tuple[Any, Any]] | None = None,
        sort: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> SearchPage:
        """Full-text search of committed documents: ``text`` over the declared text fields,
        equality ``where`` filters, inclusive ``ranges`` (``(low, high)``, either None),
        ``sort`` as ``"field:asc|desc"`` or ``"relevance"``. Highlights mark matches with
        ``<mark>``. ValidationError for a field or value the declaration does not allow."""
        from faaskit.cqrs.search import build_query

        spec = self._spec.search
        if spec is None:
            raise TypeError(f"collection {self.name!r} is not declared with search=Search(...)")
        query = build_query(
            self.name,
            spec,
            text,
            where=where,
            ranges=ranges,
            sort=sort,
            page=page,
            page_size=page_size,
        )
        return await self._uow.store.search(query)

    def _texts(self, doc: Document) -> tuple[str, ...] | None:
        spec = self._spec.search
        return None if spec is None else spec.texts(doc.data)

    async def _find_by_key(self, key: UniqueKey) -> Document | None:
        for doc in self._pending_documents():
            if doc is not None and key in self._spec.keys(doc.data):
                return doc
        found = await self._uow.store.get_by_key(self.name, key)
        if found is not None and (self.name, found.id) in self._uow.pending:
            return None  # changed or deleted in this unit, so it no longer holds the key
        return found

    def _pending_documents(self) -> Iterable[Document | None]:
        return (doc for (name, _), doc in self._uow.pending.items() if name == self.name)

    def _overlay(
        self, found: list[Document], conditions: Mapping[str, Any], limit: int | None
    ) -> list[Document]:
        if not any(name == self.name for name, _ in self._uow.pending):
            return found
        result = [doc for doc in found if (self.name, doc.id) not in self._uow.pending]
        for doc in self._pending_documents():
            if doc is not None and all(doc.data.get(k) == v for k, v in conditions.items()):
                result.append(doc)
        result.sort(key=lambda doc: (doc.created_at, doc.id))
        return result if limit is None else result[:limit]


_MISSING = object()


def _check_field(name: str) -> None:
    if not _FIELD.match(name):
        raise ValueError(f"{name!r} is not a field name: use letters, digits and underscores")
