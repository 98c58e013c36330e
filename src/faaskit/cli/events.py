"""``faaskit events tail``: published messages, as JSON lines or (``--json``) one array."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer

from faaskit.cli.app import DatabaseOpt, JsonOpt, with_store
from faaskit.cli.output import message_record, print_json, stamp

if TYPE_CHECKING:
    from faaskit.store.protocol import Store

__all__ = ["events"]

events = typer.Typer(help="Published messages.", no_args_is_help=True)


@events.command("tail")
def events_tail(
    topic: Annotated[str | None, typer.Option(help="Only this topic")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many recent messages first")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones")] = False,
    database_url: DatabaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """Print published messages as JSON lines, oldest first (``-f`` to follow); ``--json``
    prints the recent ones as one array of full messages instead."""
    import orjson

    if json and follow:
        # One document has an end; a follow has none (its JSON lines are for streams).
        raise typer.BadParameter("--json prints one document and cannot --follow")

    async def recent(store: Store) -> list[dict[str, object]]:
        found = await store.messages(topic=topic, after=0.0, limit=1_000_000)
        return [message_record(message) for message in found[-limit:]]

    async def tail(store: Store) -> None:
        recent = await store.messages(topic=topic, after=0.0, limit=1_000_000)
        shown = recent[-limit:]
        after = recent[-1].published_at if recent else 0.0
        while True:
            for message in shown:
                line = {
                    "published_at": stamp(message.published_at),
                    "topic": message.topic,
                    "id": message.id,
                    "key": message.key,
                    "data": message.data,
                    "correlation_id": message.correlation_id,
                }
                typer.echo(orjson.dumps(line).decode())
                after = max(after, message.published_at)
            if not follow:
                return
            await asyncio.sleep(0.5)
            shown = await store.messages(topic=topic, after=after, limit=1000)

    if json:
        print_json(with_store(database_url, recent))
    else:
        with_store(database_url, tail)
