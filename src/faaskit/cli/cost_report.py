"""``faaskit cost report``: what the app's own invocations would cost a month on each
platform at a traffic profile, beside an always-on VM fleet, with the rates at which each
breaks even and stays 70% cheaper; rich tables, ``--json`` for CI, ``--html`` for people."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faaskit.cli.app import AppArg, DatabaseOpt, JsonOpt, with_store
from faaskit.cli.cost import cost
from faaskit.cli.output import console, print_json
from faaskit.errors import ValidationError

if TYPE_CHECKING:
    from faaskit.cost.report import CostReport

__all__ = [
    "function_table",
    "pattern_table",
    "platform_table",
    "print_report",
    "report_command",
    "report_records",
    "verdict_table",
]

_PLATFORM_NAMES = {
    "aws-lambda": "AWS Lambda",
    "azure-consumption": "Azure Consumption",
    "azure-flex": "Azure Flex",
    "cloud-run": "Cloud Run",
    "vm": "VM fleet",
}


@cost.command("report")
def report_command(
    app: AppArg,
    profile: Annotated[
        str | None,
        typer.Option(help="Traffic profile, a TOML or JSON file (default: the demo's 2 req/s)"),
    ] = None,
    since: Annotated[
        str, typer.Option(help="Price the records of the last 90s, 15m, 1h, 7d…")
    ] = "1h",
    memory: Annotated[
        int | None, typer.Option(help="Lambda memory in MB for every function (default: peak)")
    ] = None,
    arch: Annotated[str, typer.Option(help="arm64 or x86 (Lambda)")] = "arm64",
    prices: Annotated[
        str | None, typer.Option(help="Your price file, overlaid on faaskit's (FAASKIT_PRICES)")
    ] = None,
    html: Annotated[
        str | None, typer.Option(help="Also write a self-contained HTML report with charts")
    ] = None,
    database_url: DatabaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """Price APP's invocation records on AWS Lambda, Azure Functions (Consumption, Flex) and
    Cloud Run at a traffic profile, against the VM fleet serving its peak: per function and
    platform, the break-even rate, and whether "70% cheaper" holds at 1x, 10x and 100x."""
    from faaskit.cost.catalog import load_catalog
    from faaskit.cost.measured import measure
    from faaskit.cost.profile import DEMO_PROFILE, load_profile
    from faaskit.cost.report import build_report
    from faaskit.loader import load_app
    from faaskit.runtime.recorder import parse_duration

    if arch not in ("arm64", "x86"):
        raise ValidationError(f"--arch {arch!r}: choose arm64 or x86")
    if memory is not None and not 128 <= memory <= 10240:
        raise ValidationError(f"--memory {memory}: Lambda takes 128 to 10240 MB")
    window = parse_duration(since, "--since")
    traffic = load_profile(profile) if profile else DEMO_PROFILE
    load_app(app)  # a wrong APP is one clear line, before any store is opened
    records = report_records(database_url, time.time() - window)
    if not records:
        raise ValidationError(
            f"no invocation records in the last {since}: run the app first (`faaskit dev`, "
            "its tests, or `faaskit demo`), with FAASKIT_RECORDS on"
        )
    report = build_report(
        measure(records), load_catalog(prices), traffic, app=app, arch=arch, memory_mb=memory
    )
    if html:
        from faaskit.cost.html import write_html

        written = write_html(report.to_dict(), html)
    if json:
        print_json(report.to_dict())
        return
    print_report(report)
    if html:
        console().print(f"HTML report: {written}")


def report_records(database_url: str | None, since: float) -> list[Any]:
    """The invocation records since ``since`` in the store."""
    records: list[Any] = with_store(database_url, lambda store: store.invocations(since=since))
    return records


def print_report(report: CostReport) -> None:
    """The tables and the verdict lines ``faaskit cost report`` prints."""
    from faaskit.cost.profile import describe
    from faaskit.cost.report import verdict_lines

    out = console()
    out.print(
        f"[bold]{report.app}[/]: {report.record_count:,} invocation records of "
        f"{len(report.functions)} functions, priced at {describe(report.profile)}"
    )
    out.print(function_table(report))
    out.print(platform_table(report))
    out.print(verdict_table(report))
    if report.patterns:
        out.print(pattern_table(report))
        for p in report.patterns:
            out.print(f"  [dim]{p.pattern}: {p.assumption}[/]")
    for line in verdict_lines(report):
        out.print(f"  {line}")
    for note in report.notes:
        out.print(f"  [dim]{note}[/]")


def function_table(report: CostReport, *, limit: int | None = None) -> Any:
    """Per function: measured, its month's invocations and size, and its bill per platform."""
    from rich import box
    from rich.table import Table

    shown = list(report.functions)[:limit] if limit else report.functions
    table = Table(
        title=(
            f"Per function a month at {report.profile.name} (USD, no free tier; Lambda at MB, "
            "where it takes ms)"
        ),
        box=box.SIMPLE_HEAD,
    )
    table.add_column("Function", overflow="fold", ratio=1, min_width=14)
    for column in ("Calls", "CPU", "MB", "ms", "A month"):
        table.add_column(column, justify="right", no_wrap=True)
    for name in report.totals:
        table.add_column(_short(name), justify="right", no_wrap=True)
    for f in shown:
        table.add_row(
            f.measured.function,
            f"{f.measured.count:,}",
            f"{f.measured.cpu_share:.0%}",
            f"{f.memory_mb:,}",
            f"{f.duration.estimate:,.2f}",
            f"{f.requests:,}",
            *(f"${bill.total:,.2f}" for bill in f.bills.values()),
        )
    return table


def platform_table(report: CostReport, *, compact: bool = False) -> Any:
    """Per platform: the month at the profile, its line items (not when ``compact``: the
    demo's narrow terminal), the saving against the VM fleet, and the break-even and 70%
    rates."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"The app a month at {report.profile.name}, against {report.fleet.describe()}",
        box=box.HEAVY_HEAD,
    )
    table.add_column("Platform")
    table.add_column("A month", justify="right", no_wrap=True)
    if not compact:
        table.add_column("Line items", overflow="fold", ratio=1)
    table.add_column("vs VM", justify="right", no_wrap=True)
    table.add_column("Break-even", justify="right", no_wrap=True)
    table.add_column("70% below", justify="right", no_wrap=True)
    for name, bill in report.totals.items():
        verdict = report.verdict(name)
        items = ", ".join(f"{line.item} ${line.cents:,.2f}" for line in bill.items if line.cents)
        table.add_row(
            _PLATFORM_NAMES.get(name, name),
            f"${bill.total:,.2f}",
            *([] if compact else [items]),
            _saving(verdict.saving),
            _rps(report.break_even[name]),
            _rps(report.seventy[name]),
        )
    table.add_section()
    vm_items = ", ".join(f"{line.item} ${line.cents:,.2f}" for line in report.vm.items)
    table.add_row(
        _PLATFORM_NAMES["vm"],
        f"${report.vm.total:,.2f}",
        *([] if compact else [vm_items]),
        "",
        "",
        "",
    )
    return table


def verdict_table(report: CostReport) -> Any:
    """Platform x scale: does "70% cheaper than the VM" hold?"""
    from rich import box
    from rich.table import Table

    from faaskit.cost.report import SCALES

    table = Table(
        title=f'"70% cheaper than a VM": does it hold? (the VM: {_vm_months(report)})',
        box=box.SIMPLE_HEAD,
    )
    table.add_column("Platform", no_wrap=True)
    for scale in SCALES:
        mean = report.profile.mean_rps * scale
        table.add_column(f"{scale}x: {_number(mean)} req/s", justify="right", no_wrap=True)
    for name in report.totals:
        cells = []
        for scale in SCALES:
            v = report.verdict(name, scale)
            mark = "[green]✓[/]" if v.holds else "[red]✗[/]"
            cells.append(f"{mark} ${v.monthly:,.2f} {_saving(v.saving)}")
        table.add_row(_PLATFORM_NAMES.get(name, name), *cells)
    return table


def _vm_months(report: CostReport) -> str:
    from faaskit.cost.report import SCALES

    months = [f"${report.verdict(next(iter(report.totals)), s).vm_monthly:,.2f}" for s in SCALES]
    return " / ".join(months)


def pattern_table(report: CostReport) -> Any:
    """The article's patterns, each before and after on Lambda at the profile, with what
    was assumed."""
    from rich import box
    from rich.table import Table

    table = Table(
        title=f"The article's patterns on Lambda at {report.profile.name} (USD a month)",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("Pattern", overflow="fold")
    table.add_column("Before → after", overflow="fold", ratio=1)
    table.add_column("Before", justify="right", no_wrap=True)
    table.add_column("After", justify="right", no_wrap=True)
    table.add_column("Saving", justify="right", no_wrap=True)
    for p in report.patterns:
        table.add_row(
            p.pattern,
            f"{p.before} → {p.after}",
            f"${p.before_monthly:,.2f}",
            f"${p.after_monthly:,.2f}",
            _saving(p.saving),
        )
    return table


def _short(platform: str) -> str:
    return {
        "aws-lambda": "Lambda",
        "azure-consumption": "Az Cons",
        "azure-flex": "Az Flex",
        "cloud-run": "Run",
    }.get(platform, platform)


def _saving(saving: Decimal) -> str:
    from faaskit.cost.report import saving_text  # the CLI imports the cost model lazily

    return saving_text(saving)


def _number(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


def _rps(value: Decimal | None) -> str:
    if value is None:
        return "> 100,000/s"
    if value == 0:
        return "never"
    return f"{_number(value)}/s" if value < 100 else f"{value:,.0f}/s"
