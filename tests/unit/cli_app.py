"""The app that tests/unit/test_cli_json.py fills a store with and lists through the CLI
(``tests.unit.cli_app:app``): a public and a scoped route, a subscription that always
fails (a dead letter), a projection, and a saga whose ``send`` step fails on request."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from faaskit import App, Context, StepFailed
from faaskit.cqrs.projections import Recorded

app = App("cli_tests")
notes_view = app.collection("notes_view")
shipping = app.saga("shipping")


@app.event_type
class NoteAdded(BaseModel):
    note_id: str
    title: str


class Note(BaseModel):
    title: str


class Shipment(BaseModel):
    fail: bool = False


@app.post("/notes/{note_id}", status=201, summary="Add a note", tags=["notes"])
async def add_note(note_id: str, body: Note, ctx: Context) -> dict[str, str]:
    ctx.events.append(
        f"note-{note_id}", [NoteAdded(note_id=note_id, title=body.title)], expected_version=0
    )
    ctx.publish("note.added", {"note_id": note_id}, key=note_id)
    return {"id": note_id}


@app.get("/notes/{note_id}", auth="notes:read")
async def get_note(note_id: str, ctx: Context) -> dict[str, Any]:
    doc = await ctx.documents(notes_view).get(note_id)
    return {} if doc is None else doc.data


@app.post("/shipments/{shipment_id}", status=202)
async def ship(shipment_id: str, body: Shipment, ctx: Context) -> dict[str, str]:
    return {"saga_id": await ctx.start_saga(shipping, body, saga_id=shipment_id)}


@app.subscribe("note.added", max_attempts=1)
async def notify(payload: dict[str, Any], ctx: Context) -> None:
    raise RuntimeError("mail server down")


@app.projection("notes", events=[NoteAdded], collections=[notes_view])
async def project_notes(event: Recorded[NoteAdded], ctx: Context) -> None:
    ctx.documents(notes_view).insert(event.data.note_id, {"title": event.data.title})


@shipping.step
async def pack(input: dict[str, Any]) -> dict[str, int]:
    return {"parcels": 1}


@shipping.step
async def send(input: dict[str, Any]) -> str:
    if input.get("fail"):
        raise StepFailed("no carrier", zone="north")
    return "sent"
