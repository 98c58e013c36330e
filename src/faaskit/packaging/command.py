"""The ``faaskit package`` command: its options, and the summary it prints. The work is
:func:`faaskit.packaging.package`'s."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from faaskit.packaging.output import Package

__all__ = ["package_command"]


def package_command(
    app: Annotated[
        str, typer.Argument(help="module:attribute, a module, or a path (examples/shop)")
    ],
    target: Annotated[str, typer.Option(help="aws-sam, gcp or azure")],
    out: Annotated[Path, typer.Option(help="The folder to write; absent or empty")],
    force: Annotated[
        bool, typer.Option("--force", help="Replace what an earlier faaskit package wrote there")
    ] = False,
    api: Annotated[
        str | None, typer.Option(help="aws-sam: http (HTTP API, the default) or rest")
    ] = None,
    arch: Annotated[
        str | None, typer.Option("--arch", help="aws-sam: arm64 (the default) or x86_64")
    ] = None,
) -> None:
    """Write APP's deployable artifacts for a cloud: a SAM application, a Cloud Functions
    folder or an Azure Functions project, with faaskit, the app's code and a README."""
    from faaskit.packaging import package

    written = package(app, target, out, force=force, api=api, architecture=arch)
    print_summary(written)


def print_summary(written: Package) -> None:
    """A table of what the package deploys, and the top-level files written."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"faaskit package --target {written.target} → {written.folder}")
    for column in ("Kind", "Name", "What"):
        table.add_column(column)
    for item in written.items:
        table.add_row(item.kind, item.name, item.detail)
    console.print(table)
    top = sorted({path.relative_to(written.folder).parts[0] for path in written.files})
    console.print(f"Wrote {', '.join(top)}; see {written.folder / 'README.md'} to deploy.")
