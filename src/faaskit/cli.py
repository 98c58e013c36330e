"""The ``faaskit`` command line. A user mistake prints one line and exits non-zero."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from faaskit.errors import FaaskitError

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
        "--database-url", help="sqlite:///path.db or postgresql://… (default: .faaskit/app.db)"
    ),
]


@cli.command()
def dev(
    app: AppArg,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    database_url: DatabaseOpt = None,
    reload: Annotated[bool, typer.Option(help="Restart when the code changes")] = True,
    target: Annotated[
        str | None,
        typer.Option(help="Apply a platform's HTTP limits: aws, gcp or azure"),
    ] = None,
) -> None:
    """Serve APP over HTTP with reload, for development."""
    from faaskit.config import Settings
    from faaskit.loader import load_app
    from faaskit.serving import APP_VARIABLE, check_port_free, run_server, uvicorn_config

    # Development: /metrics is public and a JWT signing key may be generated.
    os.environ.setdefault("FAASKIT_ENV", "development")
    loaded = load_app(app)  # fail here, with one line, rather than inside the reloader
    settings = Settings.load(database_url=database_url, target=target)
    if settings.target is not None:
        os.environ["FAASKIT_TARGET"] = settings.target  # for the reloader's child
    check_port_free(host, port)
    os.environ[APP_VARIABLE] = app
    os.environ["FAASKIT_DATABASE_URL"] = settings.database_url
    os.environ["FAASKIT_HOME"] = str(settings.data_dir)
    _print_urls(loaded.title, f"http://{host}:{port}", settings.database_url, settings.target)
    run_server(
        uvicorn_config(
            "faaskit.serving:asgi_from_environment",
            factory=True,
            host=host,
            port=port,
            reload=reload,
            reload_dirs=[str(Path.cwd())] if reload else None,
            access_log=False,
        )
    )


@cli.command()
def worker(
    app: AppArg,
    concurrency: Annotated[int, typer.Option(min=1, help="Messages handled at once")] = 64,
    database_url: DatabaseOpt = None,
    lease: Annotated[
        float,
        typer.Option(
            min=0.1, help="Seconds a claimed message is leased; a crashed worker's comes back then"
        ),
    ] = 60.0,
) -> None:
    """Deliver APP's messages, tasks and cron ticks (no HTTP). Stops gracefully on SIGTERM."""
    import asyncio

    from faaskit.config import Settings
    from faaskit.serving import run_worker

    settings = Settings.load(database_url=database_url)
    asyncio.run(run_worker(app, settings, concurrency=concurrency, lease=lease))


@cli.command()
def routes(app: AppArg) -> None:
    """List APP's HTTP functions."""
    from rich.console import Console
    from rich.table import Table

    from faaskit.loader import load_app

    loaded = load_app(app)
    table = Table(title=f"{loaded.title} — {len(loaded.routes)} functions")
    for column in ("Method", "Path", "Function", "Status", "Auth"):
        table.add_column(column)
    for route in loaded.routes:
        auth = "public" if route.scopes is None else (" ".join(route.scopes) or "any token")
        table.add_row(route.method, route.path, route.name, str(route.status), auth)
    Console().print(table)


@cli.command()
def openapi(app: AppArg) -> None:
    """Print APP's OpenAPI 3.1 document."""
    import orjson

    from faaskit.http.binding import build_endpoint
    from faaskit.http.openapi import openapi_document
    from faaskit.http.paths import compile_path
    from faaskit.loader import load_app

    loaded = load_app(app)
    endpoints = [build_endpoint(r, compile_path(r.path)[1]) for r in loaded.routes]
    document = openapi_document(loaded, endpoints)
    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


@cli.command()
def token(
    sub: Annotated[str, typer.Option("--sub", help="The subject (user id)")],
    scope: Annotated[
        str, typer.Option("--scope", help='Space-separated scopes: "users:read users:write"')
    ] = "",
    ttl: Annotated[str, typer.Option(help="Lifetime: 3600, 30m, 1h, 7d")] = "1h",
    app: Annotated[str | None, typer.Option("--app", help="Use this app's JWT settings")] = None,
) -> None:
    """Mint a bearer token with the app's key; prints the token alone."""
    from faaskit.auth import JWTAuth, TokenIssuer
    from faaskit.config import Settings
    from faaskit.loader import load_app
    from faaskit.secrets import Secrets

    config = load_app(app).auth if app else JWTAuth()
    issuer = TokenIssuer(config, Secrets(Settings.load().secrets_dir))
    sys.stdout.write(issuer.mint(sub, scope.split(), ttl=parse_duration(ttl)) + "\n")


@cli.command()
def demo(
    serve: Annotated[bool, typer.Option("--serve", help="Keep serving after the tour")] = False,
    port: Annotated[int, typer.Option(help="Port (default: a free one)")] = 0,
) -> None:
    """Run the shop on a scratch SQLite store and walk its tour over real HTTP."""
    from faaskit.demo import run_demo

    os.environ.setdefault("FAASKIT_ENV", "development")
    raise typer.Exit(run_demo(serve=serve, port=port))


def parse_duration(text: str) -> int:
    """Seconds in ``3600``, ``90s``, ``30m``, ``1h`` or ``7d``."""
    match = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not match or int(match.group(1)) == 0:
        raise typer.BadParameter(f"{text!r} is not a duration like 3600, 30m, 1h or 7d")
    return int(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]


def _print_urls(title: str, base: str, database_url: str, target: str | None = None) -> None:
    from rich.console import Console

    from faaskit.store.urls import redacted

    console = Console(stderr=True, soft_wrap=True)  # URLs are never wrapped or cut
    console.print(f"[bold]faaskit dev[/] — {title}")
    lines = [
        ("App", base),
        ("OpenAPI", f"{base}/openapi.json"),
        ("Metrics", f"{base}/metrics"),
        ("Database", redacted(database_url)),
    ]
    if target is not None:
        from faaskit.platforms import TARGETS

        limits = TARGETS[target]
        lines.append(
            (
                "Limits",
                f"{limits.name}: requests and answers up to {limits.max_request_bytes:,} / "
                f"{limits.max_response_bytes:,} bytes, {limits.timeout_seconds:g} s",
            )
        )
    for label, value in lines:
        console.print(f"  {label:<9}[cyan]{value}[/]", highlight=False)


def _register_subcommands() -> None:
    from faaskit.cli_messages import dlq, events
    from faaskit.cli_projections import projections
    from faaskit.cli_sagas import sagas
    from faaskit.packaging.command import package_command

    cli.command(name="package")(package_command)
    cli.add_typer(dlq, name="dlq")
    cli.add_typer(events, name="events")
    cli.add_typer(projections, name="projections")
    cli.add_typer(sagas, name="sagas")


_register_subcommands()


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
