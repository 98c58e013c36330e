"""``faaskit dlq list|show|redrive|purge``: look at dead letters and act on them."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faaskit.cli.app import DatabaseOpt, JsonOpt, with_store
from faaskit.cli.output import console, message_record, print_json, stamp, with_iso
from faaskit.errors import ConfigurationError, NotFoundError

if TYPE_CHECKING:
    from faaskit.store.protocol import DeadLetter

__all__ = ["dlq", "letter_record"]

dlq = typer.Typer(help="Dead letters: list, show, redrive, purge.", no_args_is_help=True)


@dlq.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(min=1)] = 100,
    database_url: DatabaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """Dead letters, oldest first."""
    letters = with_store(database_url, lambda store: store.dead_letters(limit))
    if json:
        print_json([letter_record(letter) for letter in letters])
        return
    from rich.table import Table

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
            stamp(letter.died_at),
            last[:60],
        )
    console().print(table)


@dlq.command("show")
def dlq_show(seq: int, database_url: DatabaseOpt = None, json: JsonOpt = False) -> None:
    """One dead letter: its message and every attempt's error and traceback."""
    letters = with_store(database_url, lambda store: store.dead_letters(1_000_000))
    letter = next((item for item in letters if item.seq == seq), None)
    if letter is None:
        raise NotFoundError(f"no dead letter {seq}; see `faaskit dlq list`")
    if json:
        print_json(letter_record(letter, errors=True))
        return
    import orjson

    out = console()
    message = letter.message
    out.print(
        f"[bold]dead letter {seq}[/] — {letter.target}, {letter.reason}, "
        f"{letter.attempts} attempts, died {stamp(letter.died_at)}"
    )
    out.print(
        f"message {message.id} on {message.topic!r} key={message.key!r} "
        f"published {stamp(message.published_at)} correlation={message.correlation_id}"
    )
    out.print_json(orjson.dumps(message.data).decode())
    for error in letter.errors:
        out.print(
            f"\n[bold red]attempt {error['attempt']}[/] at {stamp(error['at'])}: {error['error']}"
        )
        out.print(error.get("traceback", ""), highlight=False, markup=False)


def letter_record(letter: DeadLetter, *, errors: bool = False) -> dict[str, Any]:
    """A dead letter for ``--json``: its message, the last error, and with ``errors``
    every attempt's error and traceback."""
    record = {
        "seq": letter.seq,
        "target": letter.target,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "died_at": letter.died_at,
        "last_error": letter.errors[-1]["error"] if letter.errors else None,
        "message": message_record(letter.message),
    }
    if errors:
        record["errors"] = [with_iso(dict(error), "at") for error in letter.errors]
    return with_iso(record, "died_at")


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
