"""The cost model: a workload's monthly bill on each platform, with and without free tiers;
the always-on VM fleet that serves its peak at a stated utilisation; and the mean request
rate at which a pay-per-use platform costs as much as that fleet (or a given share of it).

    catalog = load_catalog()
    work = Workload.build(requests=1_000_000, duration_ms=50, memory_mb=512, gateway="http")
    estimate(work, "aws-lambda", catalog).total              # Decimal('1.53') a month
    break_even_rps(work, "aws-lambda", catalog, vm_monthly)  # ≈ 14.8 req/s
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from faaskit.cost.bill import Bill
from faaskit.cost.catalog import Catalog
from faaskit.cost.money import SECONDS_PER_MONTH, ZERO
from faaskit.cost.platforms import FUNCTION_PLATFORMS
from faaskit.cost.platforms.vm import instance_vcpus, vm_fleet_bill
from faaskit.cost.workload import Workload
from faaskit.errors import ValidationError

__all__ = [
    "PLATFORMS",
    "Fleet",
    "break_even_rps",
    "estimate",
    "requests_at",
    "size_fleet",
    "threshold_rps",
]

PLATFORMS = (*FUNCTION_PLATFORMS, "vm")


@dataclass(frozen=True, slots=True)
class Fleet:
    """``count`` ``instance`` VMs: enough vCPU for ``peak_rps`` at ``utilisation``."""

    instance: str
    count: int
    vcpus: Decimal
    peak_rps: Decimal
    utilisation: Decimal

    def describe(self) -> str:
        return (
            f"{self.count} x {self.instance} ({self.vcpus} vCPU) serve a peak of "
            f"{self.peak_rps.quantize(Decimal('0.01')):,} req/s at {self.utilisation:.0%} CPU"
        )


def size_fleet(
    workload: Workload,
    catalog: Catalog,
    peak_rps: Decimal,
    *,
    instance: str = "m7g.large",
    utilisation: Decimal = Decimal("0.6"),
    minimum: int = 1,
) -> Fleet:
    """The fleet that serves ``peak_rps``: a vCPU serves 1/cpu-time requests a second, so
    instances = ceil(peak x duration x cpu_share / (vCPUs x utilisation)), at least
    ``minimum``."""
    if not 0 < utilisation <= 1:
        raise ValidationError(f"utilisation {utilisation}: give a share in (0, 1]")
    vcpus = instance_vcpus(catalog, instance)
    busy = peak_rps * workload.seconds * workload.cpu_share
    count = max(minimum, math.ceil(busy / (vcpus * utilisation)))
    return Fleet(instance, count, vcpus, peak_rps, utilisation)


def estimate(
    workload: Workload,
    platform: str,
    catalog: Catalog,
    *,
    free_tier: bool = True,
    fleet: Fleet | None = None,
    public_ipv4: int | None = None,
) -> Bill:
    """The month's bill for ``workload`` on ``platform`` (``vm``: ``fleet``, by default the
    one sized for the workload's mean rate at 60% CPU)."""
    if platform == "vm":
        chosen = fleet or size_fleet(workload, catalog, workload.requests / SECONDS_PER_MONTH)
        return vm_fleet_bill(
            workload,
            catalog,
            instance=chosen.instance,
            count=chosen.count,
            public_ipv4=public_ipv4,
            free_tier=free_tier,
            notes=(chosen.describe(),),
        )
    try:
        pricer = FUNCTION_PLATFORMS[platform]
    except KeyError:
        raise ValidationError(
            f"unknown platform {platform!r}: choose one of {', '.join(PLATFORMS)}"
        ) from None
    return pricer(workload, catalog, free_tier=free_tier)


def requests_at(rps: Decimal) -> int:
    """Requests in a 730-hour month at a mean of ``rps`` a second."""
    return int(rps * SECONDS_PER_MONTH)


def threshold_rps(
    workload: Workload,
    platform: str,
    catalog: Catalog,
    target: Decimal,
    *,
    free_tier: bool = False,
    high: Decimal = Decimal(100_000),
) -> Decimal:
    """The mean rate (req/s) at which ``platform``'s monthly bill reaches ``target`` dollars,
    by bisection (a bill only grows with traffic); ``high`` when it never does below it."""

    def cost(rps: Decimal) -> Decimal:
        bill = estimate(
            workload.with_requests(requests_at(rps)), platform, catalog, free_tier=free_tier
        )
        return bill.exact

    if cost(ZERO) >= target:
        return ZERO
    if cost(high) < target:
        return high
    low, top = ZERO, high
    while top - low > Decimal("0.0001"):
        middle = (low + top) / 2
        if cost(middle) < target:
            low = middle
        else:
            top = middle
    return ((low + top) / 2).quantize(Decimal("0.001"))


def break_even_rps(
    workload: Workload,
    platform: str,
    catalog: Catalog,
    vm_monthly: Decimal,
    *,
    free_tier: bool = False,
) -> Decimal:
    """The mean rate at which ``platform`` costs what an always-on fleet costs a month."""
    return threshold_rps(workload, platform, catalog, vm_monthly, free_tier=free_tier)
