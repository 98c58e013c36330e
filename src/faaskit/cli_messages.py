"""``faaskit dlq`` and ``faaskit events``: look at and act on the message store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import typer

from faaskit.errors import ConfigurationError, NotFoundError
from faaskit.store.protocol import Store

T = TypeVar("T")

dlq = typer.Typer(help="Dead letters: list, show, redrive, purge.", no_args_is_help=True)
events = typer.Typer(help="Published messages.", no_args_is_help=True)

DatabaseOpt = Annotated[
    str | None, typer.Option("--database-url", help="Default: FAASKIT_DATABASE_URL or .faaskit/")
]


def with_store(database_url: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    from faaskit.config import Settings
    from faaskit.store import create_store

    async def run() -> T:
        store = create_store(Settings.load(database_url=database_url).database_url)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True)


@dlq.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(min=1)] = 100, database_url: DatabaseOpt = None
) -> None:
    """Dead letters, oldest first."""
    from rich.table import Table

    letters = with_store(database_url, lambda store: store.dead_letters(limit))
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("Seq", "Target", "Topic", "Message", "Attempts", "Reason", "Died", "Last error"):
        table.add_column(column)
    for letter in letters:
        last = letter.errors[-1]["error"] if letter.errors else ""
        table.add_row(
            str(letter.seq),
            letter.target,
            letter.message.topic,
            letter.message.id,
            str(letter.attempts),
            letter.reason,
            _time(letter.died_at),
            last[:60],
        )
    _console().print(table)


@dlq.command("show")
def dlq_show(seq: int, database_url: DatabaseOpt = None) -> None:
    """One dead letter: its message and every attempt's error and traceback."""
    import orjson

    letters = with_store(database_url, lambda store: store.dead_letters(1_000_000))
    letter = next((item for item in letters if item.seq == seq), None)
    if letter is None:
        raise NotFoundError(f"no dead letter {seq}; see `faaskit dlq list`")
    console = _console()
    message = letter.message
    console.print(
        f"[bold]dead letter {seq}[/] — {letter.target}, {letter.reason}, "
        f"{letter.attempts} attempts, died {_time(letter.died_at)}"
    )
    console.print(
        f"message {message.id} on {message.topic!r} key={message.key!r} "
        f"published {_time(message.published_at)} correlation={message.correlation_id}"
    )
    console.print_json(orjson.dumps(message.data).decode())
    for error in letter.errors:
        console.print(
            f"\n[bold red]attempt {error['attempt']}[/] at {_time(error['at'])}: {error['error']}"
        )
        console.print(error.get("traceback", ""), highlight=False, markup=False)


def _selection(seqs: list[int] | None, everything: bool, verb: str) -> list[int] | None:
    if everything and seqs:
        raise ConfigurationError(f"{verb} either SEQ… or --all, not both")
    if not everything and not seqs:
        raise ConfigurationError(f"{verb} what? Name dead letters by SEQ or pass --all")
    return None if everything else seqs


@dlq.command("redrive")
def dlq_redrive(
    seqs: Annotated[list[int] | None, typer.Argument(help="Dead letters to deliver again")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every dead letter")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Deliver dead letters again, from a first attempt."""
    chosen = _selection(seqs, everything, "redrive")
    moved = with_store(database_url, lambda store: store.redrive(chosen, now=time.time()))
    if chosen is not None and moved < len(chosen):
        raise NotFoundError(f"redrove {moved} of {len(chosen)}; the others are not dead letters")
    typer.echo(f"redrove {moved} dead letter{'s' * (moved != 1)}")


@dlq.command("purge")
def dlq_purge(
    seqs: Annotated[list[int] | None, typer.Argument(help="Dead letters to delete")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every dead letter")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Delete dead letters for good."""
    chosen = _selection(seqs, everything, "purge")
    purged = with_store(database_url, lambda store: store.purge_dead_letters(chosen))
    typer.echo(f"purged {purged} dead letter{'s' * (purged != 1)}")


@events.command("tail")
def events_tail(
    topic: Annotated[str | None, typer.Option(help="Only this topic")] = None,
    limit: Annotated[int, typer.Option(min=1, help="How many recent messages first")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing new ones")] = False,
    database_url: DatabaseOpt = None,
) -> None:
    """Print published messages as JSON lines, oldest first (``-f`` to follow)."""
    import orjson

    async def tail(store: Store) -> None:
        recent = await store.messages(topic=topic, after=0.0, limit=1_000_000)
        shown = recent[-limit:]
        after = recent[-1].published_at if recent else 0.0
        while True:
            for message in shown:
                line = {
                    "published_at": _time(message.published_at),
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

    with_store(database_url, tail)
