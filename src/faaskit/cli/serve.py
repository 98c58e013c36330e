"""``faaskit dev`` and ``faaskit worker``: serve an app over HTTP, or deliver its messages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from faaskit.cli.app import AppArg, DatabaseOpt

__all__ = ["dev", "worker"]


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
    prewarm: Annotated[
        bool,
        typer.Option(help="Create every @app.resource at start (like provisioned concurrency)"),
    ] = False,
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
    if prewarm:
        os.environ["FAASKIT_PREWARM"] = "1"  # read by the runtime, in the reloader's child
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
