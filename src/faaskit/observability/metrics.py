"""Prometheus metrics of one runtime, in its own registry (several apps per process stay apart)."""

from __future__ import annotations

from typing import Any

__all__ = ["InvocationMetrics"]

OUTCOMES = ("success", "client_error", "error")


class InvocationMetrics:
    """Invocations by function and outcome, their durations, and cold starts."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.invocations = Counter(
            "faaskit_invocations",
            "Invocations by function and outcome",
            ["function", "outcome"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "faaskit_invocation_duration_seconds",
            "Invocation duration, handler and commit",
            ["function"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.cold_starts = Counter(
            "faaskit_cold_starts",
            "First invocation of a function in this process",
            ["function"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str], Any] = {}
        self._durations: dict[str, Any] = {}

    def record(self, function: str, outcome: str, seconds: float) -> None:
        counter = self._children.get((function, outcome))
        if counter is None:
            counter = self._children[function, outcome] = self.invocations.labels(function, outcome)
        counter.inc()
        histogram = self._durations.get(function)
        if histogram is None:
            histogram = self._durations[function] = self.duration.labels(function)
        histogram.observe(seconds)

    def cold_start(self, function: str) -> None:
        self.cold_starts.labels(function).inc()

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
