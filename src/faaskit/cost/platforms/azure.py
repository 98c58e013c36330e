"""Azure Functions' bills. Consumption: observed memory rounded up to 128 MB (at least 128,
at most 1,536), each execution at least 100 ms, after the monthly free grant. Flex
Consumption: the instance's memory (512, 2,048 or 4,096 MB) while it executes, shared by the
executions it runs at once; always ready instances pay a baseline all month and no free
grant applies to them."""

from __future__ import annotations

from decimal import Decimal

from faaskit.cost.bill import Bill, LineItem
from faaskit.cost.catalog import Catalog
from faaskit.cost.money import SECONDS_PER_MONTH, ZERO, ceil_to
from faaskit.cost.tiers import tiered_charge
from faaskit.cost.workload import Workload
from faaskit.errors import ValidationError

__all__ = ["FLEX_SIZES_MB", "azure_consumption", "azure_flex", "consumption_gb_seconds"]

CONSUMPTION_MAX_MB = 1536
FLEX_SIZES_MB = (512, 2048, 4096)


def consumption_gb_seconds(catalog: Catalog, memory_mb: int, duration_ms: Decimal) -> Decimal:
    """GB-s one Consumption execution is billed: memory up to the next 128 MB (min one
    step), time up to the next 1 ms and at least 100 ms."""
    step = catalog.quantity("azure.consumption.memory.step")
    minimum = catalog.quantity("azure.consumption.minimum.duration")
    memory = min(Decimal(CONSUMPTION_MAX_MB), max(step, ceil_to(Decimal(memory_mb), step)))
    ms = max(minimum, ceil_to(duration_ms, Decimal(1)))
    return memory / 1024 * ms / 1000


def azure_consumption(workload: Workload, catalog: Catalog, *, free_tier: bool = True) -> Bill:
    """A month of ``workload`` on the Consumption plan (``memory_mb`` is the observed peak)."""
    w = workload
    if w.memory_mb > CONSUMPTION_MAX_MB:
        raise ValidationError(
            f"memory {w.memory_mb} MB: the Consumption plan measures at most "
            f"{CONSUMPTION_MAX_MB} MB an instance; try azure-flex"
        )
    each = consumption_gb_seconds(catalog, w.memory_mb, w.duration_ms)
    gbs = each * w.requests
    free_gbs = catalog.quantity("azure.consumption.free.duration") if free_tier else ZERO
    free_runs = catalog.quantity("azure.consumption.free.executions") if free_tier else ZERO
    compute, compute_free = tiered_charge(
        [catalog.price("azure.consumption.duration")], gbs, free=free_gbs
    )
    runs, runs_free = tiered_charge(
        [catalog.price("azure.consumption.executions")], Decimal(w.requests), free=free_runs
    )
    return Bill(
        "azure-consumption",
        [
            LineItem(
                "compute",
                gbs,
                "GB-s",
                compute,
                f"{w.requests:,} x {each.normalize()} GB-s (128 MB steps, 100 ms minimum)",
                compute_free,
                ("azure.consumption.duration", "azure.consumption.free.duration"),
            ),
            LineItem(
                "requests",
                Decimal(w.requests),
                "executions",
                runs,
                f"free {free_runs:,}",
                runs_free,
                ("azure.consumption.executions", "azure.consumption.free.executions"),
            ),
        ],
        free_tier,
        ["HTTP triggers need no separate gateway; storage and Application Insights not priced"],
    )


def flex_instance_mb(memory_mb: int) -> int:
    """The smallest Flex instance size that holds ``memory_mb``."""
    for size in FLEX_SIZES_MB:
        if memory_mb <= size:
            return size
    raise ValidationError(f"memory {memory_mb} MB: Flex Consumption instances hold at most 4096")


def azure_flex(workload: Workload, catalog: Catalog, *, free_tier: bool = True) -> Bill:
    """A month of ``workload`` on Flex Consumption; with ``always_ready`` instances, they are
    assumed to serve all of it (an approximation until traffic shapes are priced)."""
    w = workload
    size = flex_instance_mb(w.memory_mb)
    gb = Decimal(size) / 1024
    # Executions running at once on one instance share its billed memory-time.
    busy_gbs = w.requests * ceil_to(w.duration_ms, Decimal(1)) / 1000 * gb / w.concurrency
    detail = (
        f"{w.requests:,} x {w.duration_ms} ms on {size} MB instances / concurrency {w.concurrency}"
    )
    if w.always_ready:
        baseline = w.always_ready * gb * SECONDS_PER_MONTH
        items = [
            LineItem(
                "always ready baseline",
                baseline,
                "GB-s",
                baseline * catalog.price("azure.flex.alwaysready.baseline").price,
                f"{w.always_ready} x {size} MB x 730 h",
                keys=("azure.flex.alwaysready.baseline",),
            ),
            LineItem(
                "compute",
                busy_gbs,
                "GB-s",
                busy_gbs * catalog.price("azure.flex.alwaysready.duration").price,
                detail + " (always ready rate)",
                keys=("azure.flex.alwaysready.duration",),
            ),
            _flex_runs(w, catalog, "azure.flex.alwaysready.executions", ZERO),
        ]
        return Bill("azure-flex", items, free_tier, ["always ready billing has no free grant"])
    free_gbs = catalog.quantity("azure.flex.free.duration") if free_tier else ZERO
    compute, covered = tiered_charge(
        [catalog.price("azure.flex.ondemand.duration")], busy_gbs, free=free_gbs
    )
    free_runs = catalog.quantity("azure.flex.free.executions") if free_tier else ZERO
    return Bill(
        "azure-flex",
        [
            LineItem(
                "compute",
                busy_gbs,
                "GB-s",
                compute,
                detail,
                covered,
                ("azure.flex.ondemand.duration", "azure.flex.free.duration"),
            ),
            _flex_runs(w, catalog, "azure.flex.ondemand.executions", free_runs),
        ],
        free_tier,
    )


def _flex_runs(w: Workload, catalog: Catalog, key: str, free: Decimal) -> LineItem:
    amount, covered = tiered_charge([catalog.price(key)], Decimal(w.requests), free=free)
    return LineItem(
        "requests", Decimal(w.requests), "executions", amount, f"free {free:,}", covered, (key,)
    )
