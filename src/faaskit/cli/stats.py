"""``faaskit stats``: what the invocation records say, per function."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faaskit.cli.app import DatabaseOpt, JsonOpt, with_store
from faaskit.cli.output import console, print_json

if TYPE_CHECKING:
    from faaskit.observability.stats import FunctionStats

__all__ = ["stats", "stats_table"]


def stats(
    function: Annotated[str | None, typer.Option(help="Only this function")] = None,
    since: Annotated[
        str, typer.Option(help="Records of the last 90s, 15m, 1h, 7d… (default: 1h)")
    ] = "1h",
    database_url: DatabaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """Invocations per function: count, error rate, p50/p95/p99 duration, CPU and cold-start
    shares (from the invocation records in the store)."""
    from faaskit.observability.stats import summarize
    from faaskit.runtime.recorder import RETENTION_VARIABLE, parse_duration

    window = parse_duration(since, "--since")
    after = time.time() - window
    records = with_store(
        database_url, lambda store: store.invocations(since=after, function=function)
    )
    summaries = summarize(records)
    if json:
        print_json([summary.to_dict() for summary in summaries])
        return
    table = stats_table(summaries, f"{len(records)} invocations in the last {since}")
    out = console()
    out.print(table)
    if not records:
        out.print(
            f"no records: invocations leave them unless FAASKIT_RECORDS=off; they are kept "
            f"for {RETENTION_VARIABLE} (7d by default)"
        )


def stats_table(summaries: Sequence[FunctionStats], title: str, *, compact: bool = False) -> Any:
    """The rich table ``faaskit stats`` prints; ``compact`` (the demo's) leaves out p95 and
    draws fewer lines, to fit a narrow terminal."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD if compact else box.HEAVY_HEAD)
    table.add_column("Function", overflow="fold", ratio=1)
    table.add_column("Trigger", overflow="fold")
    columns: tuple[str, ...] = ("Count", "Errors", "p50", "p95", "p99", "CPU", "Cold")
    if compact:
        columns = tuple(column for column in columns if column != "p95")
    for column in columns:  # numbers never wrap: the names fold instead
        table.add_column(column, justify="right", no_wrap=True)
    for s in summaries:
        times = (s.p50, s.p99) if compact else (s.p50, s.p95, s.p99)
        table.add_row(
            s.function,
            s.trigger,
            f"{s.count:,}",
            f"{s.error_rate:.0%}" if compact else f"{s.error_rate:.1%}",
            *(_ms(t) for t in times),
            f"{s.cpu_share:.0%}",
            f"{s.cold_share:.0%}" if compact else f"{s.cold_share:.1%}",
        )
    return table


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"
