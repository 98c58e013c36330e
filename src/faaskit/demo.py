"""``faaskit demo``: the shop on a scratch SQLite store, and its tour as a live table."""

from __future__ import annotations

import asyncio
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from faaskit.errors import ConfigurationError

__all__ = ["find_shop", "run_demo"]


def find_shop() -> Path:
    """examples/shop, next to the working directory or to this checkout of faaskit."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        candidate = root / "examples" / "shop"
        if (candidate / "__init__.py").is_file():
            return candidate
    raise ConfigurationError(
        "cannot find examples/shop: run `faaskit demo` from the faaskit repository"
    )


def run_demo(*, serve: bool = False, port: int = 0) -> int:
    """Serve the shop, walk the tour, print each step; 0 when every step answered as expected."""
    import uvicorn
    from rich.console import Console
    from rich.table import Table

    from faaskit.config import Settings
    from faaskit.http.gateway import create_asgi_app
    from faaskit.loader import load_app
    from faaskit.runtime.runtime import Runtime
    from faaskit.serving import check_port_free, uvicorn_config

    console = Console()
    shop = find_shop()
    # The tour waits for the shop's emails: shorten "in 5 minutes" and "in 3 days".
    os.environ.setdefault("SHOP_WELCOME_DELAY", "2")
    os.environ.setdefault("SHOP_ONBOARDING_DELAY", "4")
    app = load_app(str(shop))
    # importable once load_app has put examples/ on the path
    from shop.tour import Step, run_tour  # type: ignore[import-not-found]

    scratch = Path(tempfile.mkdtemp(prefix="faaskit-demo-"))
    settings = Settings.load(database_url=f"sqlite:///{scratch / 'shop.db'}", data_dir=scratch)
    runtime = Runtime(app, settings)
    from faaskit.runtime.worker import Worker

    runtime.add_service(Worker(runtime, poll_interval=0.2).run)
    if port:
        check_port_free("127.0.0.1", port)
    server = uvicorn.Server(
        uvicorn_config(
            create_asgi_app(app, runtime),
            host="127.0.0.1",
            port=port,
            access_log=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    base_url = _wait_for(server, thread)
    console.print(
        f"[bold]faaskit demo[/] — the shop at [cyan]{base_url}[/] on SQLite {scratch / 'shop.db'}\n"
    )

    table = Table(
        title="The shop over real HTTP: users, events, orders (delays shortened to seconds)",
        expand=False,
    )
    for column, style in (
        ("#", "dim"),
        ("Step", ""),
        ("Request", "cyan"),
        ("Status", ""),
        ("What came back", "dim"),
    ):
        table.add_column(column, style=style)

    def report(step: Step) -> None:
        mark = "[green]✓[/]" if step.ok else f"[red]✗ expected {step.expected}[/]"
        table.add_row(
            str(len(table.rows) + 1),
            step.title,
            f"{step.method} {step.shown}",
            f"{step.status} {mark}",
            step.note[:60],
        )

    admin = runtime.tokens.mint(
        "demo-admin", ["users:read", "users:write", "users:staff", "users:admin"]
    )
    from rich.live import Live

    with Live(table, console=console, refresh_per_second=12):
        steps = run_tour(base_url, admin, report)
    failed = [s for s in steps if not s.ok]
    if failed:
        console.print(f"[red]{len(failed)} of {len(steps)} steps did not answer as expected[/]")
    else:
        console.print(
            f"[green]All {len(steps)} steps answered as expected.[/] "
            f"Metrics: {base_url}/metrics · API: {base_url}/openapi.json"
        )
    if serve:
        console.print(f"Serving the shop at {base_url} — Ctrl-C to stop.")
        try:
            while thread.is_alive():
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    thread.join(timeout=10)
    return 1 if failed else 0


def _wait_for(server: Any, thread: threading.Thread) -> str:
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigurationError("the shop did not start; see the log above")
        time.sleep(0.02)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"
