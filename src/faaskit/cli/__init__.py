"""The ``faaskit`` command line: one module per command group, gathered on the root
command of :mod:`faaskit.cli.app`. ``import faaskit`` never imports it; each command
imports what it needs (the runtime, a store driver, rich) when it runs.

    faaskit routes examples/shop --json | jq '.[].path'
"""

from __future__ import annotations

from faaskit.cli import (
    breakers,
    cost,
    cost_report,  # noqa: F401  (attaches `cost report`)
    cost_tune,  # noqa: F401  (attaches `cost tune`)
    demo,
    dlq,
    events,
    projections,
    routes,
    sagas,
    serve,
    stats,
    token,
)
from faaskit.cli.app import cli, main
from faaskit.packaging.command import package_command

__all__ = ["cli", "main"]

# In the order ``faaskit --help`` lists them.
cli.command()(serve.dev)
cli.command()(serve.worker)
cli.command()(routes.routes)
cli.command()(routes.openapi)
cli.command()(token.token)
cli.command()(demo.demo)
cli.command(name="package")(package_command)
cli.add_typer(dlq.dlq, name="dlq")
cli.add_typer(events.events, name="events")
cli.add_typer(projections.projections, name="projections")
cli.add_typer(sagas.sagas, name="sagas")
cli.add_typer(breakers.breakers, name="breakers")
cli.command()(stats.stats)
cli.add_typer(cost.cost, name="cost")
