"""``faaskit sagas list|show|retry|cancel``: where sagas stand, and the hand-operated
retry of a failed compensation and cancel of a running saga.

``list`` and ``show`` read the store only; ``retry`` and ``cancel`` load the app, because
scheduling a compensation needs the saga's declaration.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from faaskit.cli_messages import DatabaseOpt, with_store
from faaskit.errors import NotFoundError

if TYPE_CHECKING:
    from faaskit.runtime.runtime import Runtime
    from faaskit.sagas.state import SagaState
    from faaskit.store.protocol import Store

T = TypeVar("T")

sagas = typer.Typer(help="Sagas: list, show, retry, cancel.", no_args_is_help=True)

AppArg = Annotated[str, typer.Argument(help="module:attribute or a path (examples/shop)")]
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


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True)


def _when(epoch: float | None) -> str:
    from faaskit.sagas.queries import iso

    text = iso(epoch)
    return "" if text is None else text.replace("T", " ").removesuffix("+00:00")


def _seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def _short(value: Any, width: int = 60) -> str:
    if value is None:
        return ""
    import orjson

    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= width else text[: width - 1] + "…"


@sagas.command("list")
def list_command(
    status: Annotated[str | None, typer.Option(help="Only sagas in this status")] = None,
    since: Annotated[
        str | None, typer.Option(help="Only sagas started this recently: 30s, 15m, 1h, 2d")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Only sagas of this name")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many")] = 100,
    database_url: DatabaseOpt = None,
) -> None:
    """Sagas, newest first: status, current step, progress and failure."""
    from rich.table import Table
    from rich.text import Text

    from faaskit.sagas.queries import list_sagas

    _check_status(status)
    within = None if since is None else parse_since(since)
    found = with_store(
        database_url,
        lambda store: list_sagas(store, status=status, since=within, name=name, limit=limit),
    )
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
            _when(saga.started_at),
            _when(saga.updated_at),
            Text(_short(saga.failure)),  # user text: never read as rich markup
        )
    _console().print(table)


@sagas.command("show")
def show_command(
    saga_id: Annotated[str, typer.Argument(metavar="ID")], database_url: DatabaseOpt = None
) -> None:
    """One saga: its status, current step and failure, then its timeline (each step and
    compensation with attempts, results or errors, durations and timestamps)."""
    from rich.table import Table
    from rich.text import Text

    from faaskit.sagas.queries import saga_timeline

    state = with_store(database_url, lambda store: _existing(store, saga_id))
    console = _console()
    console.print(f"[bold]saga {state.id}[/] — {state.name}, [bold]{state.status}[/]")
    console.print(f"  current step  {state.current_step or '-'}", highlight=False)
    console.print(f"  started       {_when(state.started_at)}", highlight=False)
    if state.finished_at is not None:
        took = _seconds(state.finished_at - state.started_at)
        console.print(f"  finished      {_when(state.finished_at)} ({took})", highlight=False)
    if state.deadline_at is not None:
        console.print(f"  deadline      {_when(state.deadline_at)}", highlight=False)
    if state.failure is not None:
        failure = state.failure
        details = f" {_short(failure['details'])}" if failure.get("details") else ""
        console.print(
            f"  failure       {failure['step']} ({failure['kind']}): {failure['reason']}{details}",
            highlight=False,
            markup=False,
        )
    table = Table(title="timeline")
    for column in ("At", "What", "Step", "Event", "Attempts", "Duration", "Result / error"):
        table.add_column(column)
    for entry in saga_timeline(state):
        outcome = entry.error if entry.error is not None else _short(entry.result)
        if entry.detail and not outcome:
            outcome = entry.detail
        elif entry.detail and entry.event == "retrying":
            outcome = f"{outcome} ({entry.detail})"
        table.add_row(
            _when(entry.at),
            entry.kind,
            entry.step or "",
            entry.event,
            "" if entry.attempts is None else str(entry.attempts),
            _seconds(entry.duration),
            Text(outcome or ""),  # user text: never read as rich markup
        )
    console.print(table)


@sagas.command("retry")
def retry_command(
    saga_id: Annotated[str, typer.Argument(metavar="ID")],
    app: AppArg,
    database_url: DatabaseOpt = None,
) -> None:
    """Run a compensation_failed saga's failed compensation again (fresh attempts); the
    compensations before it follow. Running workers pick it up."""
    from faaskit.sagas.engine import retry_saga

    state = _with_runtime(app, database_url, lambda runtime: retry_saga(runtime, saga_id))
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

    state = _with_runtime(app, database_url, lambda runtime: cancel_saga(runtime, saga_id, reason))
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


def _with_runtime(app: str, database_url: str | None, work: Callable[[Runtime], Awaitable[T]]) -> T:
    from faaskit.config import Settings
    from faaskit.loader import load_app
    from faaskit.runtime.runtime import Runtime

    loaded = load_app(app)

    async def run() -> T:
        runtime = Runtime(loaded, Settings.load(database_url=database_url))
        try:
            return await work(runtime)
        finally:
            await runtime.stop()

    return asyncio.run(run())
