"""What the invocation records say, per function: how many, how often they failed, how
long they took (p50/p95/p99), the share of that time spent on CPU and the share of cold
starts — ``faaskit stats``, and later the cost model."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from faaskit.store.protocol import InvocationRecord

__all__ = ["FunctionStats", "percentile", "summarize"]


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``ordered`` (ascending, not empty)."""
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class FunctionStats:
    """The summary of one function's records (one trigger kind)."""

    __slots__ = (
        "cold_share",
        "count",
        "cpu_share",
        "error_rate",
        "function",
        "init_p50",
        "p50",
        "p95",
        "p99",
        "trigger",
    )

    def __init__(self, function: str, trigger: str, records: Sequence[InvocationRecord]) -> None:
        durations = sorted(r.duration for r in records)
        total = sum(durations)
        self.function = function
        self.trigger = trigger
        self.count = len(records)
        self.error_rate = sum(r.outcome != "success" for r in records) / self.count
        self.p50 = percentile(durations, 0.50)
        self.p95 = percentile(durations, 0.95)
        self.p99 = percentile(durations, 0.99)
        self.cpu_share = sum(r.cpu for r in records) / total if total > 0 else 0.0
        cold = [r for r in records if r.cold]
        self.cold_share = len(cold) / self.count
        inits = sorted(r.init_seconds for r in cold if r.init_seconds is not None)
        self.init_p50 = percentile(inits, 0.5) if inits else None

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _ORDER}


_ORDER = (
    "function",
    "trigger",
    "count",
    "error_rate",
    "p50",
    "p95",
    "p99",
    "cpu_share",
    "cold_share",
    "init_p50",
)


def summarize(records: Iterable[InvocationRecord]) -> list[FunctionStats]:
    """One summary per (function, trigger), the busiest first."""
    groups: dict[tuple[str, str], list[InvocationRecord]] = {}
    for record in records:
        groups.setdefault((record.function, record.trigger), []).append(record)
    found = [FunctionStats(function, trigger, rs) for (function, trigger), rs in groups.items()]
    return sorted(found, key=lambda s: (-s.count, s.function))
