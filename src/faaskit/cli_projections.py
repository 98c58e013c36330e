"""``faaskit projections status|rebuild``: where each projection stands, and replaying one."""

from __future__ import annotations

from typing import Annotated

import typer

from faaskit.cli_messages import DatabaseOpt, with_store
from faaskit.errors import NotFoundError
from faaskit.store.protocol import Store

projections = typer.Typer(help="Projections: status and rebuild.", no_args_is_help=True)

AppArg = Annotated[str, typer.Argument(help="module:attribute or a path (examples/shop)")]


@projections.command("status")
def status(app: AppArg, database_url: DatabaseOpt = None) -> None:
    """Each projection's checkpoint, the log's head and the lag."""
    from rich.console import Console
    from rich.table import Table

    from faaskit.loader import load_app

    loaded = load_app(app)

    async def read(store: Store) -> tuple[int, list[tuple[str, int]]]:
        head = await store.head_position()
        return head, [(name, await store.checkpoint(name)) for name in loaded.projections]

    head, rows = with_store(database_url, read)
    table = Table(title=f"{len(rows)} projections · log head {head}")
    for column in ("Projection", "Events", "Checkpoint", "Lag"):
        table.add_column(column)
    for name, checkpoint in rows:
        events = ", ".join(loaded.projections[name].event_types)
        table.add_row(name, events, str(checkpoint), str(max(0, head - checkpoint)))
    Console(soft_wrap=True).print(table)


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
