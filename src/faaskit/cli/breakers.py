"""``faaskit breakers list|reset``: the circuit breakers every process shares, and closing one."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faaskit.cli.app import DatabaseOpt, JsonOpt, with_store
from faaskit.cli.output import console, print_json, short, when, with_iso
from faaskit.errors import NotFoundError

if TYPE_CHECKING:
    from faaskit.store.protocol import Breaker

__all__ = ["breaker_record", "breakers"]

breakers = typer.Typer(help="Circuit breakers: list, reset.", no_args_is_help=True)


@breakers.command("list")
def breakers_list(database_url: DatabaseOpt = None, json: JsonOpt = False) -> None:
    """Every circuit breaker seen, by name, with its state and last failure."""
    found = with_store(database_url, lambda store: store.breakers())
    now = time.time()
    if json:
        print_json([breaker_record(breaker, now) for breaker in found])
        return
    from rich.table import Table

    table = Table(title=f"{len(found)} circuit breaker{'s' * (len(found) != 1)}")
    for column in ("Name", "State", "Failures", "Opened", "Opens", "Next trial", "Last error"):
        table.add_column(column)
    for breaker in found:
        table.add_row(
            breaker.name,
            _shown_state(breaker, now),
            str(breaker.failures),
            when(breaker.opened_at),
            str(breaker.opens),
            when(breaker.due_at) if breaker.state == "open" else "",
            short(breaker.last_error),
        )
    console().print(table)


@breakers.command("reset")
def breakers_reset(
    name: Annotated[str, typer.Argument(help="The breaker to close (see `faaskit breakers list`)")],
    database_url: DatabaseOpt = None,
) -> None:
    """Close a breaker now and forget its failures (every process sees it at its next call)."""
    if not with_store(database_url, lambda store: store.reset_breaker(name)):
        raise NotFoundError(f"no circuit breaker {name!r}; see `faaskit breakers list`")
    typer.echo(f"reset circuit breaker {name}: closed")


def _shown_state(breaker: Breaker, now: float) -> str:
    if breaker.state == "open" and breaker.due_at is not None and breaker.due_at <= now:
        return "open (trial due)"
    return breaker.state.replace("_", "-")


def breaker_record(breaker: Breaker, now: float) -> dict[str, Any]:
    """A breaker for ``--json``; ``trial_due`` says an open one lets its next caller try."""
    record = {
        "name": breaker.name,
        "state": breaker.state,
        "failures": breaker.failures,
        "opened_at": breaker.opened_at,
        "due_at": breaker.due_at,
        "trial_due": breaker.state == "open" and (breaker.due_at or 0) <= now,
        "opens": breaker.opens,
        "changed_at": breaker.changed_at,
        "last_error": breaker.last_error,
    }
    return with_iso(record, "opened_at", "due_at", "changed_at")
