"""``faaskit projections status|rebuild``: where each projection stands, and replaying one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from faaskit.cli.app import AppArg, DatabaseOpt, JsonOpt, with_store
from faaskit.cli.output import console, print_json
from faaskit.errors import NotFoundError

if TYPE_CHECKING:
    from faaskit.store.protocol import Store

__all__ = ["projections"]

projections = typer.Typer(help="Projections: status and rebuild.", no_args_is_help=True)


@projections.command("status")
def status(app: AppArg, database_url: DatabaseOpt = None, json: JsonOpt = False) -> None:
    """Each projection's checkpoint, the log's head and the lag."""
    from faaskit.loader import load_app

    loaded = load_app(app)

    async def read(store: Store) -> tuple[int, list[tuple[str, int]]]:
        head = await store.head_position()
        return head, [(name, await store.checkpoint(name)) for name in loaded.projections]

    head, rows = with_store(database_url, read)
    if json:
        print_json(
            [
                {
                    "name": name,
                    "event_types": list(loaded.projections[name].event_types),
                    "checkpoint": checkpoint,
                    "head": head,
                    "lag": max(0, head - checkpoint),
                }
                for name, checkpoint in rows
            ]
        )
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} projections · log head {head}")
    for column in ("Projection", "Events", "Checkpoint", "Lag"):
        table.add_column(column)
    for name, checkpoint in rows:
        events = ", ".join(loaded.projections[name].event_types)
        table.add_row(name, events, str(checkpoint), str(max(0, head - checkpoint)))
    console().print(table)


@projections.command("rebuild")
def rebuild(name: str, app: AppArg, database_url: DatabaseOpt = None) -> None:
    """Clear NAME's read model and rewind it to the start of the log; running workers
    replay it (the app keeps serving; its read model fills up again as they do)."""
    from faaskit.loader import load_app

    loaded = load_app(app)
    projection = loaded.projections.get(name)
    if projection is None:
        known = ", ".join(loaded.projections) or "none"
        raise NotFoundError(f"no projection {name!r} in {app}; it has: {known}")
    with_store(database_url, lambda store: store.reset_projection(name, projection.collections))
    typer.echo(f"rewound {name}; cleared {', '.join(projection.collections) or 'no collections'}")
