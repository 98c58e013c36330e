"""``faaskit cost tune APP FUNCTION``: offline power tuning — one function's predicted
duration and price per invocation at each Lambda memory size, from its invocation records,
and the size Power Tuning's strategies (cost, speed, balanced) pick."""

from __future__ import annotations

import difflib
import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faaskit.cli.app import AppArg, DatabaseOpt, JsonOpt, with_store
from faaskit.cli.cost import cost
from faaskit.cli.output import console, print_json
from faaskit.errors import ValidationError

if TYPE_CHECKING:
    from faaskit.app import App
    from faaskit.cost.tuning import Tuning, TuningPoint

__all__ = ["app_functions", "parse_sizes", "picks_line", "tune_command", "tuning_table"]


@cost.command("tune")
def tune_command(
    app: AppArg,
    function: Annotated[str, typer.Argument(help="The function to tune, as the app names it")],
    since: Annotated[
        str, typer.Option(help="Use the records of the last 90s, 15m, 1h, 7d…")
    ] = "1h",
    strategy: Annotated[str, typer.Option(help="cost, speed or balanced")] = "cost",
    weight: Annotated[str, typer.Option(help="balanced: 1 = cost only, 0 = speed only")] = "0.5",
    arch: Annotated[str, typer.Option(help="arm64 or x86")] = "arm64",
    sizes: Annotated[
        str | None, typer.Option(help="Memory sizes in MB, comma-separated: 128,256,512")
    ] = None,
    prices: Annotated[
        str | None, typer.Option(help="Your price file, overlaid on faaskit's (FAASKIT_PRICES)")
    ] = None,
    database_url: DatabaseOpt = None,
    json: JsonOpt = False,
) -> None:
    """Predict FUNCTION's duration and price per invocation at each Lambda memory size from
    its invocation records (scaled from 1,769 MB, about one laptop core), with the request
    fee and INIT apart, and pick a size as AWS Lambda Power Tuning does."""
    from faaskit.cost.catalog import load_catalog
    from faaskit.cost.measured import measure
    from faaskit.cost.tuning import DEFAULT_SIZES, STRATEGIES, tune
    from faaskit.loader import load_app
    from faaskit.runtime.recorder import parse_duration

    if strategy not in STRATEGIES:
        raise ValidationError(f"--strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
    share = _weight(weight)
    if arch not in ("arm64", "x86"):
        raise ValidationError(f"--arch {arch!r}: choose arm64 or x86")
    chosen = parse_sizes(sizes) if sizes is not None else DEFAULT_SIZES
    window = parse_duration(since, "--since")
    names = app_functions(load_app(app))
    if function not in names:
        raise ValidationError(_unknown(function, app, names))
    after = time.time() - window
    records = with_store(
        database_url, lambda store: store.invocations(since=after, function=function)
    )
    if not records:
        raise ValidationError(
            f"no invocation records of {function!r} in the last {since}: run it first "
            "(`faaskit dev`, the app's tests, or `faaskit demo`) with FAASKIT_RECORDS not off"
        )
    measured = measure(records)[0]
    tuning = tune(measured, load_catalog(prices), sizes=chosen, arch=arch)
    if json:
        print_json(tuning.to_dict(strategy, share))
        return
    out = console()
    out.print(tuning_table(tuning, strategy, share, len(records)))
    out.print(picks_line(tuning, share))
    out.print(
        f"  [dim]durations scaled from {tuning.measured_at_mb:,} MB (a laptop core ≈ 1 vCPU): "
        "the CPU share scales with the vCPUs of a size, the I/O share stays;[/]"
    )
    out.print(
        "  [dim]low-high: as if none or all of it scaled. Strategies as AWS Lambda Power "
        "Tuning's, on the billed-duration price (compute + INIT).[/]"
    )


def app_functions(app: App) -> list[str]:
    """Every function the app declares, as its invocation records name them: routes,
    subscribers, tasks (saga steps among them), crons and projections."""
    names = {route.name for route in app.routes} | {s.name for s in app.subscriptions}
    names |= set(app.tasks) | set(app.crons) | set(app.projections)
    return sorted(names)


def parse_sizes(text: str) -> tuple[int, ...]:
    """``128,256,512`` as memory sizes, checked (ascending, no repeats, 128-10,240 MB)."""
    from faaskit.cost.tuning import check_sizes

    parts = [part.strip() for part in text.split(",") if part.strip()]
    try:
        values = [int(part) for part in parts]
    except ValueError:
        raise ValidationError(
            f"--sizes {text!r}: give memory sizes in MB, comma-separated (128,256,512)"
        ) from None
    return check_sizes(values)


def tuning_table(tuning: Tuning, strategy: str, weight: Decimal, records: int) -> Any:
    """The rich table: a row a memory size, the strategy's pick marked (and the others')."""
    from rich import box
    from rich.table import Table

    from faaskit.cost.tuning import STRATEGIES

    best = tuning.best(strategy, weight).memory_mb
    picks = {name: tuning.best(name, weight).memory_mb for name in STRATEGIES}
    title = (
        f"{tuning.function} on Lambda {tuning.arch}: {records:,} invocation records, "
        f"best by {_strategy(strategy, weight)}: {best:,} MB"
    )
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        caption="$/1M: USD per million invocations",
    )
    table.add_column("Memory\nMB", justify="right", no_wrap=True)
    table.add_column("Duration\nms", justify="right", no_wrap=True)
    table.add_column("\nlow-high", justify="right", no_wrap=True)
    for column in ("Compute $/1M", "Request $/1M", "INIT $/1M", "Total $/1M"):
        table.add_column(column.replace(" ", "\n"), justify="right", no_wrap=True)
    table.add_column("Pick", no_wrap=True)
    for p in tuning.points:
        picked = p.memory_mb == best
        by = ", ".join(name for name, size in picks.items() if size == p.memory_mb)
        table.add_row(
            f"{p.memory_mb:,}",
            _ms(p.duration.estimate),
            f"{_ms(p.duration.low)}-{_ms(p.duration.high)}",
            _per_million(p.compute),
            _per_million(p.request),
            _per_million(p.init),
            _per_million(p.cost),
            f"[green]{by}[/]" if picked else f"[dim]{by}[/]",
            style="bold" if picked else None,
        )
    return table


def picks_line(tuning: Tuning, weight: Decimal) -> str:
    """``cost: 512 MB ($0.41/1M) · speed: 1,769 MB ($1.23/1M) · balanced(0.5): …``."""
    from faaskit.cost.tuning import STRATEGIES

    parts = [
        f"{_strategy(name, weight)}: {_size(tuning.best(name, weight))}" for name in STRATEGIES
    ]
    return " · ".join(parts)


def _size(point: TuningPoint) -> str:
    return f"{point.memory_mb:,} MB (${_per_million(point.cost)}/1M)"


def _strategy(strategy: str, weight: Decimal) -> str:
    return f"balanced({weight.normalize():f})" if strategy == "balanced" else strategy


def _weight(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(f"--weight {text!r}: give a share in [0, 1]") from None
    if not value.is_finite() or not 0 <= value <= 1:
        raise ValidationError(f"--weight {text!r}: give a share in [0, 1]")
    return value


def _unknown(function: str, app: str, names: list[str]) -> str:
    close = difflib.get_close_matches(function, names, n=3)
    if close:
        return f"{app} has no function {function!r}; did you mean {', '.join(close)}?"
    listed = ", ".join(names) if names else "none"
    return f"{app} has no function {function!r}; its functions: {listed}"


def _per_million(amount: Decimal) -> str:
    value = amount * 1_000_000
    return f"{value:,.2f}" if value >= Decimal("0.01") or not value else f"{value:,.4f}"


def _ms(value: Decimal) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"
