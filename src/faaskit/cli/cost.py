"""``faaskit cost estimate``: what a workload given by numbers costs a month on a platform,
line by line, with and without the free tier (no invocation records needed)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any

import typer

from faaskit.cli.app import JsonOpt
from faaskit.cli.output import console, print_json
from faaskit.errors import ValidationError

if TYPE_CHECKING:
    from faaskit.cost.bill import Bill
    from faaskit.cost.catalog import Catalog
    from faaskit.cost.workload import Workload

__all__ = ["cost", "parse_count"]

cost = typer.Typer(help="What it costs: estimate a workload on a platform.", no_args_is_help=True)

_SUFFIXES = {"k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_GATEWAYS = {"http": "HTTP API", "rest": "REST API", "url": "function URL", "none": "no gateway"}


def parse_count(text: str, option: str) -> int:
    """``3000000``, ``3M``, ``1.5b``, ``250k`` or ``3_000_000`` as a whole count."""
    raw = text.strip().replace("_", "").replace(",", "")
    scale = _SUFFIXES.get(raw[-1:].lower(), 1) if raw else 1
    digits = raw[:-1] if scale != 1 else raw
    try:
        value = Decimal(digits) * scale
    except InvalidOperation:
        raise ValidationError(f"{option} {text!r}: give a count like 3000000, 3M or 250k") from None
    if value < 0 or value != value.to_integral_value():
        raise ValidationError(f"{option} {text!r}: give a whole, non-negative count")
    return int(value)


def _decimal(value: float | None, option: str) -> Decimal | None:
    # typer hands floats; their shortest repr is what the user typed.
    return None if value is None else Decimal(repr(value))


@cost.command("estimate")
def estimate_command(
    platform: Annotated[
        str,
        typer.Option(help="aws-lambda, azure-consumption, azure-flex, cloud-run or vm"),
    ],
    memory: Annotated[int, typer.Option(help="Memory in MB (Azure Consumption: observed)")],
    duration: Annotated[float, typer.Option(help="Mean duration of an invocation in ms")],
    requests: Annotated[
        str | None, typer.Option(help="Requests a month: 3000000, 3M, 250k")
    ] = None,
    rate: Annotated[
        float | None, typer.Option(help="…or a mean rate in requests/s (730-hour month)")
    ] = None,
    arch: Annotated[str, typer.Option(help="arm64 or x86")] = "arm64",
    gateway: Annotated[str, typer.Option(help="http, rest, url or none (AWS)")] = "none",
    cold_share: Annotated[float, typer.Option(help="Share of invocations that start cold")] = 0,
    init_ms: Annotated[float, typer.Option(help="INIT time of a cold start in ms")] = 0,
    cpu_share: Annotated[
        float, typer.Option(help="Share of the duration on CPU (sizes the VM fleet)")
    ] = 1,
    concurrency: Annotated[
        int, typer.Option(help="Requests an instance serves at once (Cloud Run, Flex)")
    ] = 1,
    vcpu: Annotated[float, typer.Option(help="vCPUs an instance (Cloud Run)")] = 1,
    instance: Annotated[str, typer.Option(help="VM instance type (vm)")] = "m7g.large",
    peak_to_mean: Annotated[float, typer.Option(help="Peak over mean rate (vm sizing)")] = 1,
    utilisation: Annotated[float, typer.Option(help="Target CPU at the peak (vm)")] = 0.6,
    prices: Annotated[
        str | None, typer.Option(help="Your price file, overlaid on faaskit's (FAASKIT_PRICES)")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Price a month of a workload given by numbers: line items (compute, requests, gateway,
    INIT…) with and without the free tier. Prices: faaskit's dated catalog, in USD, us-east-1
    / East US / us-central1, a month of 730 hours."""
    from faaskit.cost.catalog import load_catalog
    from faaskit.cost.model import PLATFORMS, estimate, requests_at, size_fleet
    from faaskit.cost.money import SECONDS_PER_MONTH
    from faaskit.cost.workload import Workload

    if platform not in PLATFORMS:
        raise ValidationError(f"--platform {platform!r}: choose one of {', '.join(PLATFORMS)}")
    if (requests is None) == (rate is None):
        raise ValidationError("give the traffic as --requests N (a month) or --rate R (req/s)")
    count = (
        parse_count(requests, "--requests")
        if requests is not None
        else requests_at(_decimal(rate, "--rate") or Decimal(0))
    )
    work: Workload = Workload.build(
        requests=count,
        duration_ms=_decimal(duration, "--duration"),
        memory_mb=memory,
        arch=arch,
        gateway=gateway,
        cold_share=_decimal(cold_share, "--cold-share"),
        init_ms=_decimal(init_ms, "--init-ms"),
        cpu_share=_decimal(cpu_share, "--cpu-share"),
        concurrency=concurrency,
        vcpu=_decimal(vcpu, "--vcpu"),
    )
    catalog = load_catalog(prices)
    fleet = None
    if platform == "vm":
        peak = work.requests / SECONDS_PER_MONTH * (_decimal(peak_to_mean, "") or Decimal(1))
        fleet = size_fleet(
            work,
            catalog,
            peak,
            instance=instance,
            utilisation=_decimal(utilisation, "--utilisation") or Decimal(0),
        )
    with_free = estimate(work, platform, catalog, free_tier=True, fleet=fleet)
    without = estimate(work, platform, catalog, free_tier=False, fleet=fleet)
    if json:
        print_json(estimate_document(work, platform, catalog, with_free, without))
        return
    console().print(estimate_table(work, platform, with_free, without))
    for note in (*with_free.notes, *_price_notes(catalog, with_free, work.arch)):
        console().print(f"  {note}")


def estimate_document(
    work: Workload, platform: str, catalog: Catalog, with_free: Bill, without: Bill
) -> dict[str, Any]:
    """The ``--json`` of ``cost estimate``."""
    return {
        "platform": platform,
        "workload": work.model_dump(mode="json"),
        "hours_per_month": 730,
        "currency": "USD",
        "price_files": [str(path) for path in catalog.files],
        "unconfirmed_prices": sorted(_unconfirmed(catalog, with_free, work.arch)),
        "with_free_tier": with_free.to_dict(),
        "without_free_tier": without.to_dict(),
    }


def estimate_table(work: Workload, platform: str, with_free: Bill, without: Bill) -> Any:
    """The rich table: one row a line item, the month with and without the free tier."""
    from rich import box
    from rich.table import Table

    title = (
        f"{platform}: {work.requests:,} requests a month, {work.memory_mb} MB x "
        f"{work.duration_ms.normalize():f} ms, {work.arch}, {_GATEWAYS[work.gateway]}"
    )
    table = Table(title=title, box=box.HEAVY_HEAD, caption="USD, 730-hour month")
    table.add_column("Item", overflow="fold")
    table.add_column("Quantity", justify="right", no_wrap=True)
    table.add_column("How", overflow="fold", ratio=1)
    table.add_column("With free tier", justify="right", no_wrap=True)
    table.add_column("Without", justify="right", no_wrap=True)
    for free_line, full_line in zip(with_free.items, without.items, strict=True):
        table.add_row(
            free_line.item,
            f"{free_line.quantity:,.0f} {free_line.unit}",
            free_line.detail,
            f"${free_line.cents:,.2f}",
            f"${full_line.cents:,.2f}",
        )
    table.add_section()
    table.add_row("total", "", "", f"${with_free.total:,.2f}", f"${without.total:,.2f}")
    return table


def _unconfirmed(catalog: Catalog, bill: Bill, arch: str) -> set[str]:
    used = {key for line in bill.items for key in line.keys}
    return {
        row.key
        for row in catalog.unconfirmed()
        if row.key in used and row.arch in (arch, "any") and not row.tier_from
    }


def _price_notes(catalog: Catalog, bill: Bill, arch: str) -> list[str]:
    unconfirmed = _unconfirmed(catalog, bill, arch)
    days = sorted({row.read_on.isoformat() for row in catalog})
    notes = [f"prices read {days[-1] if len(days) == 1 else ' to '.join((days[0], days[-1]))}"]
    if unconfirmed:
        notes.append(
            f"not confirmed on the provider's page: {', '.join(sorted(unconfirmed))} "
            "(see src/faaskit/cost/prices.toml; override with --prices FILE)"
        )
    return notes
