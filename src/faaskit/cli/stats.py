"""``faaskit stats``: what the invocation records say, per function."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from faaskit.cli.app import DatabaseOpt, JsonOpt, with_store
from faaskit.cli.output import console, print_json

__all__ = ["stats"]


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
    from rich.table import Table

    table = Table(title=f"{len(records)} invocations in the last {since}")
    columns = ("Function", "Trigger", "Count", "Errors", "p50", "p95", "p99", "CPU", "Cold")
    for column in columns:
        table.add_column(column, justify="left" if column in ("Function", "Trigger") else "right")
    for s in summaries:
        table.add_row(
            s.function,
            s.trigger,
            f"{s.count:,}",
            f"{s.error_rate:.1%}",
            _ms(s.p50),
            _ms(s.p95),
            _ms(s.p99),
            f"{s.cpu_share:.0%}",
            f"{s.cold_share:.1%}",
        )
    out = console()
    out.print(table)
    if not records:
        out.print(
            f"no records: invocations leave them unless FAASKIT_RECORDS=off; they are kept "
            f"for {RETENTION_VARIABLE} (7d by default)"
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"
