"""``faaskit sagas list|show|retry|cancel``: where sagas stand, and the hand-operated
retry of a failed compensation and cancel of a running saga.

``list`` and ``show`` read the store only; ``retry`` and ``cancel`` load the app, because
scheduling a compensation needs the saga's declaration.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faaskit.cli.app import AppArg, DatabaseOpt, JsonOpt, with_runtime, with_store
from faaskit.cli.output import console, print_json, short, when, with_iso
from faaskit.errors import NotFoundError

if TYPE_CHECKING:
    from faaskit.sagas.state import SagaState
    from faaskit.store.protocol import Store

__all__ = ["parse_since", "saga_record", "sagas"]

sagas = typer.Typer(help="Sagas: list, show, retry, cancel.", no_args_is_help=True)

_SINCE = re.compile(r"\s*(\d+)\s*([smhd])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str) -> timedelta:
    """``30s``, ``15m``, ``1h`` or ``2d`` as a timedelta; BadParameter otherwise."""
    match = _SINCE.fullmatch(text)
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter(f"--since {text!r} is not a duration like 30s, 15m, 1h or 2d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _check_status(status: str | None) -> str | None:
    from faaskit.sagas.queries import STATUSES

    if status is not None and status not in STATUSES:
        known = ", ".join(STATUSES)
        raise typer.BadParameter(f"--status {status!r} is not a saga status; use one of: {known}")
    return status


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


@sagas.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="Only sagas in this status")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only sagas started this recently: 30s, 15m, 1h, 2d")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only sagas of this name")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many")] = 100,
    database_url: DatabaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """Sagas, newest first: status, current step, progress and failure."""
    from faaskit.sagas.queries import list_sagas

    _check_status(status)
    within = None if since is None else parse_since(since)
    found = with_store(
        database_url,
        lambda store: list_sagas(store, status=status, since=within, name=name, limit=limit),
    )
    if json:
        print_json([saga.to_dict() for saga in found])
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(found)} saga{'s' * (len(found) != 1)}")
    for column in ("Saga", "Name", "Status", "Step", "Done", "Started", "Updated", "Failure"):
        table.add_column(column)
    for saga in found:
        table.add_row(
            saga.id,
            saga.name,
            saga.status,
            saga.current_step or "",
            f"{saga.steps_completed}/{saga.steps_total}",
            when(saga.started_at),
            when(saga.updated_at),
            Text(short(saga.failure)),  # user text: never read as rich markup
        )
    console().print(table)


@sagas.command("show")
def show_command(
    saga_id: Annotated[str, typer.Argument(metavar="ID")],
    database_url: DatabaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """One saga: its status, current step and failure, then its timeline (each step and
    compensation with attempts, results or errors, durations and timestamps)."""
    state = with_store(database_url, lambda store: _existing(store, saga_id))
    if json:
        print_json(saga_record(state))
        return
    _print_saga(state)


def saga_record(state: SagaState) -> dict[str, Any]:
    """One saga for ``--json``: the fields of a ``sagas list`` row, then its input, the
    whole failure (``failure_detail``), its deadline and its timeline."""
    from faaskit.sagas.queries import SagaSummary, saga_timeline

    record = SagaSummary.of(state).to_dict()
    record["input"] = state.input
    record["failure_detail"] = state.failure
    record["deadline_at"] = state.deadline_at
    record["timeline"] = [entry.to_dict() for entry in saga_timeline(state)]
    return with_iso(record, "deadline_at")


def _print_saga(state: SagaState) -> None:
    from rich.table import Table
    from rich.text import Text

    from faaskit.sagas.queries import saga_timeline

    out = console()
    out.print(f"[bold]saga {state.id}[/] — {state.name}, [bold]{state.status}[/]")
    out.print(f"  current step  {state.current_step or '-'}", highlight=False)
    out.print(f"  started       {when(state.started_at)}", highlight=False)
    if state.finished_at is not None:
        took = _seconds(state.finished_at - state.started_at)
        out.print(f"  finished      {when(state.finished_at)} ({took})", highlight=False)
    if state.deadline_at is not None:
        out.print(f"  deadline      {when(state.deadline_at)}", highlight=False)
    if state.failure is not None:
        failure = state.failure
        details = f" {short(failure['details'])}" if failure.get("details") else ""
        out.print(
            f"  failure       {failure['step']} ({failure['kind']}): {failure['reason']}{details}",
            highlight=False,
            markup=False,
        )
    table = Table(title="timeline")
    for column in ("At", "What", "Step", "Event", "Attempts", "Duration", "Result / error"):
        table.add_column(column)
    for entry in saga_timeline(state):
        outcome = entry.error if entry.error is not None else short(entry.result)
        if entry.detail and not outcome:
            outcome = entry.detail
        elif entry.detail and entry.event == "retrying":
            outcome = f"{outcome} ({entry.detail})"
        table.add_row(
            when(entry.at),
            entry.kind,
            entry.step or "",
            entry.event,
            "" if entry.attempts is None else str(entry.attempts),
            _seconds(entry.duration),
            Text(outcome or ""),  # user text: never read as rich markup
        )
    out.print(table)


@sagas.command("retry")
def retry_command(
    saga_id: Annotated[str, typer.Argument(metavar="ID")],
    app: AppArg,
    database_url: DatabaseOpt = None,
) -> None:
    """Run a compensation_failed saga's failed compensation again (fresh attempts); the
    compensations before it follow. Running workers pick it up."""
    from faaskit.sagas.engine import retry_saga

    state = with_runtime(app, database_url, lambda runtime: retry_saga(runtime, saga_id))
    typer.echo(f"retrying saga {state.id}: compensating {state.current_step} again")


@sagas.command("cancel")
def cancel_command(
    saga_id: Annotated[str, typer.Argument(metavar="ID")],
    app: AppArg,
    reason: Annotated[str, typer.Option(help="Stored as the saga's failure")] = "cancelled",
    database_url: DatabaseOpt = None,
) -> None:
    """Stop a started or running saga and compensate the steps that completed (running
    workers run the compensations)."""
    from faaskit.sagas.engine import cancel_saga

    state = with_runtime(app, database_url, lambda runtime: cancel_saga(runtime, saga_id, reason))
    if state.current_step is None:
        typer.echo(f"cancelled saga {state.id}: nothing to compensate ({state.status})")
    else:
        typer.echo(f"cancelled saga {state.id}: compensating {state.current_step}")


async def _existing(store: Store, saga_id: str) -> SagaState:
    from faaskit.sagas.queries import read_saga

    state = await read_saga(store, saga_id)
    if state is None:
        raise NotFoundError(f"no saga {saga_id!r}; see `faaskit sagas list`")
    return state
