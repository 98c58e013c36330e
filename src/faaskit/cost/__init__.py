"""What an app costs on each platform: a dated, sourced price catalog
(:mod:`faaskit.cost.catalog`), one pricing function per platform
(:mod:`faaskit.cost.platforms`), and the model that compares them with an always-on VM
fleet (:mod:`faaskit.cost.model`), all in exact decimals rounded to the cent at the end.

``import faaskit`` does not import this package; ``faaskit cost estimate`` and code that
asks for it do.

    from faaskit.cost import Workload, estimate, load_catalog

    work = Workload.build(requests=3_000_000, duration_ms=120, memory_mb=512, gateway="http")
    print(estimate(work, "aws-lambda", load_catalog()).total)
"""

from __future__ import annotations

from faaskit.cost.bill import Bill, LineItem
from faaskit.cost.catalog import Catalog, PriceCatalogError, PriceRow, load_catalog
from faaskit.cost.model import (
    PLATFORMS,
    Fleet,
    break_even_rps,
    estimate,
    requests_at,
    size_fleet,
    threshold_rps,
)
from faaskit.cost.scaling import DurationBounds, scale_duration
from faaskit.cost.workload import TrafficProfile, Workload

__all__ = [
    "PLATFORMS",
    "Bill",
    "Catalog",
    "DurationBounds",
    "Fleet",
    "LineItem",
    "PriceCatalogError",
    "PriceRow",
    "TrafficProfile",
    "Workload",
    "break_even_rps",
    "estimate",
    "load_catalog",
    "requests_at",
    "scale_duration",
    "size_fleet",
    "threshold_rps",
]
