"""The terminal: a live table of the numbers so far above a progress bar, then the tables."""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import results_cqrs
import results_messaging
from results import (
    Results,
    fmt_ms,
    fmt_ratio,
    fmt_rps,
    fmt_verdict,
    hello_aims,
    import_aim,
    startup_aim,
)


class Display:
    """A live table of the numbers so far above a progress bar of the steps."""

    def __init__(self, console: Console, results: Results) -> None:
        self.results = results
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
        )
        self.task = self.progress.add_task("starting", total=None)
        self.live = Live(console=console, refresh_per_second=4)
        self.started = 0

    def __enter__(self) -> Display:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def start(self, total: int) -> None:
        self.progress.update(self.task, total=total, completed=0)
        self._refresh()

    def step(self, description: str) -> None:
        """A step begins: the ones before it are done."""
        self.progress.update(self.task, description=description, completed=self.started)
        self.started += 1
        self._refresh()

    def finish(self) -> None:
        self.progress.update(self.task, description="done", completed=self.started)
        self._refresh()

    def _refresh(self) -> None:
        tables = [live_table(self.results)]
        later = sections_table(self.results)
        if later.row_count:
            tables.append(later)
        self.live.update(Group(*tables, self.progress))


def live_table(results: Results) -> Table:
    """Every HTTP number measured so far (hello rounds and writes)."""
    table = Table(title="faaskit benchmarks (so far)", expand=False)
    for column in ("run", "req/s", "p50 ms", "p99 ms", "vs Starlette", "errors"):
        table.add_column(column, justify="left" if column == "run" else "right")
    for row in results.hello + results.writes:
        for index, r in enumerate(row.rounds, start=1):
            label = f"{row.name} #{index}" if len(row.rounds) > 1 else row.name
            table.add_row(
                label,
                fmt_rps(r.rps),
                fmt_ms(r.p50_ms),
                fmt_ms(r.p99_ms),
                fmt_ratio(results.starlette_ratio(r)),
                str(r.errors),
            )
        if row.error:
            table.add_row(row.name, "failed", "", "", "", row.error[:40])
    return table


def sections_table(results: Results) -> Table:
    """Messaging and CQRS numbers so far, one line per measurement."""
    table = Table(title="messaging and CQRS (so far)", expand=False)
    table.add_column("run")
    table.add_column("result", justify="right")
    m = results.messaging
    for row in m.throughput:
        label = f"{row.name}, {row.processes} process(es)"
        if row.error:
            table.add_row(label, f"failed: {row.error[:40]}")
            continue
        table.add_row(
            label,
            f"{fmt_rps(row.end_to_end_per_s)} msg/s end-to-end "
            f"(publish {fmt_rps(row.published_per_s)}, drain {fmt_rps(row.consumed_per_s)})",
        )
    for latency in m.latency:
        label = f"latency {latency.name}, {latency.setup}"
        if latency.error:
            table.add_row(label, f"failed: {latency.error[:40]}")
            continue
        table.add_row(
            label,
            f"p50 {fmt_ms(latency.percentile(0.5))} ms, p99 {fmt_ms(latency.percentile(0.99))} ms",
        )
    for raw in m.raw:
        table.add_row(f"raw {raw.name}", raw.error or f"{fmt_rps(raw.per_s)} rows/s")
    for events in results.cqrs.events:
        rates = ", ".join(
            f"{key} {fmt_rps(value.per_s)}/s" for key, value in events.measured.items()
        )
        table.add_row(events.name, events.error or rates)
    for search in results.cqrs.search:
        run = search.default
        if run is None:
            table.add_row(f"search {search.name}", f"failed: {(search.error or '')[:40]}")
            continue
        every = run.all_latencies
        table.add_row(
            f"search {search.name} ({search.documents:,} docs)",
            f"p50 {fmt_ms(results_cqrs.percentile(every, 0.5))} ms, "
            f"p99 {fmt_ms(results_cqrs.percentile(every, 0.99))} ms, "
            f"{run.timed_out} kind(s) timed out",
        )
    return table


def failed_rows(results: Results) -> list[str]:
    """Messaging and CQRS measurements that failed (their errors are in RESULTS.md)."""
    m, c = results.messaging, results.cqrs
    rows: list[object] = [*m.throughput, *m.latency, *m.raw, *c.events, *c.search]
    return [str(getattr(row, "name", "?")) for row in rows if getattr(row, "error", None)]


def all_aims(results: Results) -> list[tuple[str, str, bool | str | None]]:
    found: list[tuple[str, str, bool | str | None]] = []
    if results.hello:
        found += hello_aims(results)
    if results.imports:
        found.append(import_aim(results))
    if results.startup:
        found.append(startup_aim(results))
    if results.messaging.throughput:
        found += results_messaging.aims(results.messaging)
    if results.cqrs.events:
        found += results_cqrs.aims(results.cqrs)
    found += results_cqrs.search_aims(results.cqrs)
    return found


def final_tables(results: Results) -> list[Table]:
    http = Table(title="HTTP (median round)")
    for column in ("run", "req/s", "p50 ms", "p99 ms", "vs Starlette", "errors"):
        http.add_column(column, justify="left" if column == "run" else "right")
    for row in results.hello + results.writes:
        r = row.median
        http.add_row(
            row.name,
            fmt_rps(r.rps if r else None),
            fmt_ms(r.p50_ms if r else None),
            fmt_ms(r.p99_ms if r else None),
            fmt_ratio(results.starlette_ratio(r)),
            str(r.errors) if r else "failed",
        )
    imports = Table(title="Import time (median)")
    for column in ("module", "-X importtime ms", "wall - empty ms"):
        imports.add_column(column, justify="left" if column == "module" else "right")
    for i in results.imports:
        imports.add_row(i.module, f"{i.importtime_ms:.1f}", f"{i.wall_ms:.1f}")
    startup = Table(title="Start-up to first 200 (median)")
    startup.add_column("server")
    startup.add_column("ms", justify="right")
    for started in results.startup:
        startup.add_row(started.name, fmt_ms(started.median_ms))
    aims = Table(title="Aims")
    for column in ("aim", "measured", "verdict"):
        aims.add_column(column)
    for aim, measured, met in all_aims(results):
        aims.add_row(aim, measured, fmt_verdict(met).strip("*"))
    later = sections_table(results)
    later.title = "Messaging and CQRS"
    tables = [http, imports, startup, later]
    return [table for table in tables if table.row_count] + [aims]
