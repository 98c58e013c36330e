"""Google Cloud Run's bill with request-based billing: vCPU-seconds and GiB-seconds while an
instance serves requests (its billable time rounded up to 100 ms), shared by the requests it
serves at once, plus requests, after the monthly free tier."""

from __future__ import annotations

from decimal import Decimal

from faaskit.cost.bill import Bill, LineItem
from faaskit.cost.catalog import Catalog
from faaskit.cost.money import ZERO, ceil_to
from faaskit.cost.tiers import tiered_charge
from faaskit.cost.workload import Workload

__all__ = ["cloud_run", "instance_seconds"]


def instance_seconds(catalog: Catalog, w: Workload) -> Decimal:
    """Billable instance time for the month: each request's time rounded up to 100 ms and
    divided by the requests an instance serves at once (cost per request = instance time /
    concurrency), plus instance start-ups (cold starts x init time, rounded the same way)."""
    step = catalog.quantity("gcp.run.rounding")
    serving = w.requests * ceil_to(w.duration_ms, step) / 1000 / w.concurrency
    starting = w.cold_starts * ceil_to(w.init_ms, step) / 1000 if w.init_ms else ZERO
    return serving + starting


def cloud_run(workload: Workload, catalog: Catalog, *, free_tier: bool = True) -> Bill:
    """A month of ``workload`` on Cloud Run (``vcpu`` and ``memory_mb`` an instance)."""
    w = workload
    seconds = instance_seconds(catalog, w)
    cpu_s = seconds * w.vcpu
    gib_s = seconds * Decimal(w.memory_mb) / 1024

    def free(key: str) -> Decimal:
        return catalog.quantity(key) if free_tier else ZERO

    cpu, cpu_free = tiered_charge(
        [catalog.price("gcp.run.request.cpu")], cpu_s, free=free("gcp.run.free.cpu")
    )
    memory, memory_free = tiered_charge(
        [catalog.price("gcp.run.request.memory")], gib_s, free=free("gcp.run.free.memory")
    )
    requests, requests_free = tiered_charge(
        [catalog.price("gcp.run.request.requests")],
        Decimal(w.requests),
        free=free("gcp.run.free.requests"),
    )
    shared = f"{seconds.normalize():,} instance-s (100 ms steps, concurrency {w.concurrency})"
    return Bill(
        "cloud-run",
        [
            LineItem(
                "compute (CPU)",
                cpu_s,
                "vCPU-s",
                cpu,
                f"{shared} x {w.vcpu} vCPU",
                cpu_free,
                ("gcp.run.request.cpu", "gcp.run.free.cpu"),
            ),
            LineItem(
                "compute (memory)",
                gib_s,
                "GiB-s",
                memory,
                f"{shared} x {w.memory_mb} MiB",
                memory_free,
                ("gcp.run.request.memory", "gcp.run.free.memory"),
            ),
            LineItem(
                "requests",
                Decimal(w.requests),
                "requests",
                requests,
                f"free {free('gcp.run.free.requests'):,}",
                requests_free,
                ("gcp.run.request.requests", "gcp.run.free.requests"),
            ),
        ],
        free_tier,
        ["Cloud Run serves HTTPS itself: no gateway line"],
    )
