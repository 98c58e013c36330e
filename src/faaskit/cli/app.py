"""The root ``faaskit`` command, its entry point, and what the command groups share: the
options every group spells the same way, and opening an app's store or runtime for one
command. A user mistake prints one line on stderr and exits non-zero."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from faaskit.errors import FaaskitError

if TYPE_CHECKING:
    from faaskit.runtime.runtime import Runtime
    from faaskit.store.protocol import Store

__all__ = ["AppArg", "DatabaseOpt", "JsonOpt", "cli", "main", "with_runtime", "with_store"]

T = TypeVar("T")

cli = typer.Typer(
    name="faaskit",
    help="Serverless applications in plain Python.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

AppArg = Annotated[
    str, typer.Argument(help="module:attribute, a module, or a path (examples/shop)")
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path.db or postgresql://… (default: FAASKIT_DATABASE_URL or .faaskit/)",
    ),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print one JSON document for scripts instead of a table")
]


def with_store(database_url: str | None, work: Callable[[Store], Awaitable[T]]) -> T:
    """Open the store (``--database-url``, else the settings'), run ``work``, close it."""
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


def with_runtime(app: str, database_url: str | None, work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Load APP, run ``work`` with a runtime on its store, and stop the runtime."""
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


def main(argv: list[str] | None = None) -> Any:
    """Entry point: user mistakes become one line on stderr and a non-zero exit."""
    # typer may vendor click; its BadParameter → UsageError → ClickException either way.
    click_exception: type[Exception] = typer.BadParameter.__mro__[2]
    command = typer.main.get_command(cli)
    try:
        code = command.main(args=argv, prog_name="faaskit", standalone_mode=False)
    except typer.Abort:
        _fail("aborted", 130)
    except click_exception as error:
        _fail(error.format_message(), getattr(error, "exit_code", 2))  # type: ignore[attr-defined]
    except FaaskitError as error:
        _fail(error.detail, 1)
    except KeyboardInterrupt:
        _fail("interrupted", 130)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> None:
    if message:  # no-args-is-help has already printed the help
        sys.stderr.write(f"faaskit: error: {message}\n")
    sys.exit(code)
