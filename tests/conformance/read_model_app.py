"""The app that tests/conformance/test_projections.py projects, searches and rebuilds
(the CLI loads it as ``tests.conformance.read_model_app:app``).

- ``ledger`` counts how often each ``Noted`` event was applied: one document per global
  position with ``count``, so a skipped event is a missing document and a double apply
  is a count of 2. ``Other`` events are in the log but not its concern.
- ``notes`` builds a searchable read model from ``NoteAdded`` / ``NoteClosed``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from faaskit import App, Context
from faaskit.cqrs.projections import Recorded
from faaskit.cqrs.search import Search

app = App("read_model_tests")

ledger = app.collection("ledger")
notes_view = app.collection(
    "notes_view",
    search=Search(
        text=["title", "body"],
        filters=["status", "owner"],
        ranges=["n"],
        sort=["n", "title"],
    ),
)


@app.event_type
class Noted(BaseModel):
    text: str


@app.event_type
class Other(BaseModel):
    text: str


@app.event_type
class NoteAdded(BaseModel):
    note_id: str
    title: str
    body: str
    owner: str
    n: int


@app.event_type
class NoteClosed(BaseModel):
    note_id: str


class Gate:
    """Holds the projection's first event until ``parties`` runners have reached it."""

    def __init__(self, parties: int) -> None:
        self.parties = parties
        self.arrived = 0
        self.everyone_here = asyncio.Event()

    async def pass_(self) -> None:
        self.arrived += 1
        if self.arrived >= self.parties:
            self.everyone_here.set()
        await asyncio.wait_for(self.everyone_here.wait(), timeout=10)


LEDGER_GATE: Gate | None = None
"""Set by a test; ``ledger`` waits at it on the ``Noted(text="gate")`` event."""


@app.projection("ledger", events=[Noted], collections=[ledger], batch_size=25)
async def project_ledger(event: Recorded[Noted], ctx: Context) -> None:
    gate = LEDGER_GATE
    if gate is not None and event.data.text == "gate" and gate.arrived < gate.parties:
        await gate.pass_()
    await asyncio.sleep(0)  # let concurrent runners and writers interleave
    docs = ctx.documents(ledger)
    key = str(event.position)
    doc = await docs.get(key)
    if doc is None:
        docs.insert(key, {"count": 1, "stream": event.stream, "version": event.version})
    else:
        docs.update(key, {**doc.data, "count": doc.data["count"] + 1})


@app.projection("notes", events=[NoteAdded, NoteClosed], collections=[notes_view])
async def project_notes(event: Recorded[Any], ctx: Context) -> None:
    docs = ctx.documents(notes_view)
    data = event.data
    if isinstance(data, NoteAdded):
        docs.insert(data.note_id, {**data.model_dump(exclude={"note_id"}), "status": "open"})
    else:
        doc = await docs.get(data.note_id)
        assert doc is not None, f"{data.note_id} closed before it was added"
        docs.update(data.note_id, {**doc.data, "status": "closed"}, expected_version=doc.version)


@app.get("/notes/search")
async def search_notes(
    ctx: Context,
    q: str = "",
    status: str | None = None,
    owner: str | None = None,
    sort: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> dict[str, Any]:
    where = {k: v for k, v in (("status", status), ("owner", owner)) if v is not None}
    found = await ctx.documents(notes_view).search(
        q, where=where, sort=sort, page=page, page_size=page_size
    )
    return {
        "total": found.total,
        "total_pages": found.total_pages,
        "page": found.page,
        "items": [
            {"id": hit.document.id, "n": hit.document.data["n"], "highlights": hit.highlights}
            for hit in found.items
        ],
    }
