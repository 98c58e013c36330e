"""Prometheus metrics of one runtime, in its own registry (several apps per process stay apart).

Invocations are recorded on the event loop, so the counts are plain Python numbers updated
without locks and turned into Prometheus families only when ``/metrics`` is scraped; the
prometheus-client's locked counters cost more per request than everything else here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

__all__ = ["BUCKETS", "COUNTERS", "InvocationMetrics"]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


COUNTERS = {
    "faaskit_messages_deduplicated": ("Published messages dropped as duplicates", "function"),
    "faaskit_messages_expired": ("Messages expired before delivery (TTL)", "function"),
    "faaskit_dead_letters": ("Deliveries moved to the dead-letter store", "target"),
}


GAUGES = {
    "faaskit_projection_lag": ("Events in the log not yet applied by a projection", "projection"),
}


class _Durations:
    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS) + 1)  # the last one is +Inf
        self.total = 0.0


class InvocationMetrics:
    """Invocations by function and outcome, their durations, and cold starts."""

    def __init__(self) -> None:
        self.invocations: dict[tuple[str, str], int] = {}
        self.durations: dict[str, _Durations] = {}
        self.cold_starts: dict[str, int] = {}
        self.counters: dict[str, dict[str, int]] = {name: {} for name in COUNTERS}
        self.gauges: dict[str, dict[str, float]] = {name: {} for name in GAUGES}
        self._registry: Any = None

    def record(self, function: str, outcome: str, seconds: float) -> None:
        key = (function, outcome)
        self.invocations[key] = self.invocations.get(key, 0) + 1
        durations = self.durations.get(function)
        if durations is None:
            durations = self.durations[function] = _Durations()
        durations.counts[bisect_left(BUCKETS, seconds)] += 1
        durations.total += seconds

    def count(self, name: str, label: str, amount: int = 1) -> None:
        """Add to one of :data:`COUNTERS`, labelled by function or target."""
        counter = self.counters[name]
        counter[label] = counter.get(label, 0) + amount

    def gauge(self, name: str, label: str, value: float) -> None:
        """Set one of :data:`GAUGES`."""
        self.gauges[name][label] = value

    def cold_start(self, function: str) -> None:
        self.cold_starts[function] = self.cold_starts.get(function, 0) + 1

    def collect(self) -> Iterator[Any]:
        """Prometheus metric families (the registry calls this on every scrape)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        invocations = CounterMetricFamily(
            "faaskit_invocations",
            "Invocations by function and outcome",
            labels=["function", "outcome"],
        )
        for (function, outcome), count in sorted(self.invocations.items()):
            invocations.add_metric([function, outcome], count)
        yield invocations
        histogram = HistogramMetricFamily(
            "faaskit_invocation_duration_seconds",
            "Invocation duration, handler and commit",
            labels=["function"],
        )
        for function, durations in sorted(self.durations.items()):
            cumulative, buckets = 0, []
            for bound, count in zip((*map(str, BUCKETS), "+Inf"), durations.counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            histogram.add_metric([function], buckets, durations.total)
        yield histogram
        cold = CounterMetricFamily(
            "faaskit_cold_starts",
            "First invocation of a function in this process",
            labels=["function"],
        )
        for function, count in sorted(self.cold_starts.items()):
            cold.add_metric([function], count)
        yield cold
        for name, (help_text, label) in GAUGES.items():
            gauge = GaugeMetricFamily(name, help_text, labels=[label])
            for value, amount in sorted(self.gauges[name].items()):
                gauge.add_metric([value], amount)
            yield gauge
        for name, (help_text, label) in COUNTERS.items():
            family = CounterMetricFamily(name, help_text, labels=[label])
            for value, count in sorted(self.counters[name].items()):
                family.add_metric([value], count)
            yield family

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(self)
        return generate_latest(self._registry), CONTENT_TYPE_LATEST
