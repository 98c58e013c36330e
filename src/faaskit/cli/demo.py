"""``faaskit demo``: the shop's tour (the work is :func:`faaskit.demo.run_demo`'s)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

__all__ = ["demo"]


def demo(
    serve: Annotated[bool, typer.Option("--serve", help="Keep serving after the tour")] = False,
    port: Annotated[int, typer.Option(help="Port (default: a free one)")] = 0,
) -> None:
    """Run the shop on a scratch SQLite store and walk its tour over real HTTP."""
    from faaskit.demo import run_demo

    os.environ.setdefault("FAASKIT_ENV", "development")
    raise typer.Exit(run_demo(serve=serve, port=port))
