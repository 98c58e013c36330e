"""``faaskit demo``: the shop on a scratch SQLite store, and its tour as a live table."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
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
    # The tour's table tells the story (a breaker opening is a step of it): faaskit's own
    # log lines would print over the live table, so they are kept for the log level ERROR.
    logging.getLogger("faaskit").setLevel(logging.ERROR)
    shop = find_shop()
    # The tour waits for the shop's emails: shorten "in 5 minutes" and "in 3 days".
    os.environ.setdefault("SHOP_WELCOME_DELAY", "2")
    os.environ.setdefault("SHOP_ONBOARDING_DELAY", "4")
    os.environ.setdefault("SHOP_PAYMENT_DELAY", "0.3")  # the payment provider's answer
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
    # the simulated payment provider posts its signed notices to this server
    os.environ.setdefault("SHOP_PAYMENT_WEBHOOK_URL", f"{base_url}/payments/webhook")
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
        "demo-admin",
        ["users:read", "users:write", "users:staff", "users:admin", "orders:read", "orders:admin"],
    )
    from rich.live import Live

    database_url = settings.database_url

    def retry(saga_id: str) -> int:
        """``faaskit sagas retry``, as an operator would run it, on the demo's store."""
        command = [sys.executable, "-m", "faaskit", "sagas", "retry", saga_id, str(shop)]
        command += ["--database-url", database_url]
        env = {**os.environ, "FAASKIT_HOME": str(scratch)}
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        if done.returncode:
            console.print(f"[red]faaskit sagas retry failed:[/] {done.stderr.strip()}")
        return done.returncode

    sagas: dict[str, str] = {}
    with Live(table, console=console, refresh_per_second=12):
        steps = run_tour(base_url, admin, report, retry, sagas)
    console.print()
    for name in ("order", "stuck"):
        if name in sagas:
            _print_timeline(console, runtime, sagas[name])
    records = _print_stats(console, runtime)
    if records:
        _print_cost(console, records, shop, database_url)
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


def _print_timeline(console: Any, runtime: Any, saga_id: str) -> None:
    """A saga's timeline, as ``faaskit sagas show`` prints it."""
    from rich.table import Table
    from rich.text import Text

    from faaskit.sagas import get_saga
    from faaskit.sagas.queries import saga_timeline

    state = asyncio.run_coroutine_threadsafe(get_saga(runtime, saga_id), runtime.loop).result(10)
    if state is None:
        return
    table = Table(title=f"Saga {saga_id[:18]}…: {state.status}", expand=False)
    for column in ("+ms", "Step", "Event", "Try", "Outcome"):
        table.add_column(column)
    for entry in saga_timeline(state):
        outcome = entry.error or ("" if entry.result is None else json.dumps(entry.result))
        step = entry.step or "(saga)"
        table.add_row(
            f"{(entry.at - state.started_at) * 1000:.0f}",
            f"undo {step}" if entry.kind == "compensation" else step,
            entry.event,
            "" if entry.attempts is None else str(entry.attempts),
            Text(outcome[:48]),  # user text: never read as rich markup
        )
    console.print(table)


def _print_stats(console: Any, runtime: Any) -> list[Any]:
    """The tour's invocations, as ``faaskit stats`` prints them (the busiest); the records."""
    from faaskit.cli.stats import stats_table
    from faaskit.observability.stats import summarize

    async def records() -> Any:
        if runtime.recorder is not None:
            await runtime.recorder.flush()
        return await runtime.store.invocations()

    found: list[Any] = asyncio.run_coroutine_threadsafe(records(), runtime.loop).result(30)
    if not found:
        return found
    summaries = summarize(found)
    shown = summaries[:12]
    title = f"faaskit stats: the tour's {len(found)} invocations of {len(summaries)} functions"
    more = " (the 12 busiest)" if len(summaries) > 12 else ""
    console.print(stats_table(shown, title + more, compact=True))
    return found


def _print_cost(console: Any, records: list[Any], shop: Path, database_url: str) -> None:
    """What the tour's own invocations would cost a month at the demo's traffic profile on
    each platform, against a VM, and whether "70% cheaper" holds at 1x, 10x and 100x."""
    from faaskit.cli.cost_report import platform_table
    from faaskit.cost.catalog import load_catalog
    from faaskit.cost.measured import measure
    from faaskit.cost.profile import DEMO_PROFILE, describe
    from faaskit.cost.report import build_report, verdict_lines

    report = build_report(measure(records), load_catalog(), DEMO_PROFILE, app="the shop")
    console.print(
        f"\n[bold]faaskit cost report[/]: the tour's records priced at {describe(DEMO_PROFILE)}"
    )
    console.print(platform_table(report, compact=True))
    for line in verdict_lines(report):
        console.print(f"  {line}")
    console.print(
        f"  [dim]per function, the patterns and charts: faaskit cost report {shop} "
        f"--database-url {database_url} --since 1d --html cost.html[/]"
    )


def _wait_for(server: Any, thread: threading.Thread) -> str:
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ConfigurationError("the shop did not start; see the log above")
        time.sleep(0.02)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    return f"http://{host}:{port}"
