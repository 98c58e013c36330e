"""Prometheus metrics of one runtime, in its own registry (several apps per process stay apart).

Invocations are recorded on the event loop, so the counts are plain Python numbers updated
without locks and turned into Prometheus families only when ``/metrics`` is scraped; the
prometheus-client's locked counters cost more per request than everything else here.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

__all__ = ["BUCKETS", "COUNTERS", "SAGA_BUCKETS", "InvocationMetrics", "MetricsOff", "SagaMetrics"]

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
INIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30)


COUNTERS = {
    "faaskit_messages_deduplicated": ("Published messages dropped as duplicates", "function"),
    "faaskit_messages_expired": ("Messages expired before delivery (TTL)", "function"),
    "faaskit_dead_letters": ("Deliveries moved to the dead-letter store", "target"),
}


GAUGES = {
    "faaskit_projection_lag": ("Events in the log not yet applied by a projection", "projection"),
    "faaskit_queue_depth": ("Deliveries waiting (due or not) per target", "target"),
    "faaskit_queue_oldest_age_seconds": (
        "Age of the oldest message a target has not handled yet",
        "target",
    ),
    "faaskit_dead_letters_waiting": ("Dead letters in the store per target", "target"),
    "faaskit_sagas": ("Sagas in the store by state", "state"),
}


SAGA_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600)
"""Seconds a saga step takes, retries and waits for a webhook included."""
UNCOMMITTED_FOR = 900.0
"""Seconds after which saga observations whose unit of work never committed are dropped."""


class _Durations:
    __slots__ = ("counts", "total")

    def __init__(self, buckets: int = len(BUCKETS)) -> None:
        self.counts = [0] * (buckets + 1)  # the last one is +Inf
        self.total = 0.0


def _histogram(
    name: str,
    help_text: str,
    labels: list[str],
    series: dict[Any, _Durations],
    bounds: tuple[float, ...],
) -> Any:
    from prometheus_client.core import HistogramMetricFamily

    histogram = HistogramMetricFamily(name, help_text, labels=labels)
    for key, durations in sorted(series.items()):
        cumulative, buckets = 0, []
        for bound, count in zip((*map(str, bounds), "+Inf"), durations.counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        histogram.add_metric(
            list(key) if isinstance(key, tuple) else [key], buckets, durations.total
        )
    return histogram


class SagaMetrics:
    """Sagas by status entered, step and compensation durations, attempts used.

    A saga transition is observed when it is saved, but counted only once the unit of
    work holding it has committed (a transition that loses a race at commit is retried,
    and must not count twice): :meth:`observe` keeps it beside its unit of work, and
    :meth:`flush` (after every invocation and on every scrape) counts what committed.
    """

    def __init__(self) -> None:
        self.statuses: dict[tuple[str, str], int] = {}
        self.durations: dict[tuple[str, str, str, str], _Durations] = {}
        self.attempts: dict[tuple[str, str, str, str], int] = {}
        self._pending: list[tuple[Any, float, list[tuple[Any, ...]]]] = []

    def observe(self, unit: Any, observations: list[tuple[Any, ...]]) -> None:
        """Count ``observations`` once ``unit.committed`` (a UnitOfWork) is true: each is
        ``("status", saga, status)`` or ``("step", saga, step, phase, outcome, seconds,
        attempts)``."""
        import time

        if observations:
            self._pending.append((unit, time.monotonic(), observations))

    def flush(self) -> None:
        import time

        if not self._pending:
            return
        now, waiting = time.monotonic(), []
        for unit, since, observations in self._pending:
            if unit.committed:
                for observation in observations:
                    self._count(observation)
            elif now - since < UNCOMMITTED_FOR:
                waiting.append((unit, since, observations))
        self._pending = waiting

    def _count(self, observation: tuple[Any, ...]) -> None:
        if observation[0] == "status":
            key = (observation[1], observation[2])
            self.statuses[key] = self.statuses.get(key, 0) + 1
            return
        _, saga, step, phase, outcome, seconds, attempts = observation
        series = (saga, step, phase, outcome)
        self.attempts[series] = self.attempts.get(series, 0) + attempts
        if seconds is not None:
            durations = self.durations.get(series)
            if durations is None:
                durations = self.durations[series] = _Durations(len(SAGA_BUCKETS))
            durations.counts[bisect_left(SAGA_BUCKETS, seconds)] += 1
            durations.total += seconds

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        self.flush()
        statuses = CounterMetricFamily(
            "faaskit_saga_transitions",
            "Sagas that entered each status",
            labels=["saga", "status"],
        )
        for (saga, status), count in sorted(self.statuses.items()):
            statuses.add_metric([saga, status], count)
        yield statuses
        step_labels = ["saga", "step", "phase", "outcome"]
        yield _histogram(
            "faaskit_saga_step_duration_seconds",
            "A saga step (phase do) or compensation (undo) from first scheduled to its outcome",
            step_labels,
            self.durations,
            SAGA_BUCKETS,
        )
        attempts = CounterMetricFamily(
            "faaskit_saga_step_attempts",
            "Attempts used by saga steps and compensations, by their outcome",
            labels=step_labels,
        )
        for key, count in sorted(self.attempts.items()):
            attempts.add_metric(list(key), count)
        yield attempts


class InvocationMetrics:
    """Invocations by function and outcome, their durations, and cold starts."""

    def __init__(self) -> None:
        self.invocations: dict[tuple[str, str], int] = {}
        self.durations: dict[str, _Durations] = {}
        self.cold_starts: dict[str, int] = {}
        self.errors: dict[tuple[str, str], int] = {}
        """(function, exception class) → failed invocations (class names are code: bounded)."""
        self.init: dict[str, _Durations] = {}
        self.counters: dict[str, dict[str, int]] = {name: {} for name in COUNTERS}
        self.gauges: dict[str, dict[str, float]] = {name: {} for name in GAUGES}
        self.sagas = SagaMetrics()
        from faaskit.observability.business import BusinessMetrics

        self.business = BusinessMetrics()
        """What handlers record through ``ctx.metrics``."""
        from faaskit.observability.breaker_metrics import BreakerMetrics

        self.breakers = BreakerMetrics()
        """Circuit breakers' changes of state (:mod:`faaskit.breakers`)."""
        from faaskit.observability.retry_metrics import RetryMetrics

        self.retries = RetryMetrics()
        """Retries of outside calls (:func:`faaskit.retry`)."""
        self._registry: Any = None

    def record(self, function: str, outcome: str, seconds: float) -> None:
        key = (function, outcome)
        self.invocations[key] = self.invocations.get(key, 0) + 1
        durations = self.durations.get(function)
        if durations is None:
            durations = self.durations[function] = _Durations()
        durations.counts[bisect_left(BUCKETS, seconds)] += 1
        durations.total += seconds
        if self.sagas._pending:  # what this invocation's saga transitions committed
            self.sagas.flush()

    def count(self, name: str, label: str, amount: int = 1) -> None:
        """Add to one of :data:`COUNTERS`, labelled by function or target."""
        counter = self.counters[name]
        counter[label] = counter.get(label, 0) + amount

    def gauge(self, name: str, label: str, value: float) -> None:
        """Set one of :data:`GAUGES`."""
        self.gauges[name][label] = value

    def cold_start(self, function: str) -> None:
        self.cold_starts[function] = self.cold_starts.get(function, 0) + 1

    def error(self, function: str, error: BaseException) -> None:
        key = (function, type(error).__name__)
        self.errors[key] = self.errors.get(key, 0) + 1

    def initialised(self, function: str, seconds: float) -> None:
        """A cold invocation's initialisation time (the process's start, or the platform's)."""
        durations = self.init.get(function)
        if durations is None:
            durations = self.init[function] = _Durations(len(INIT_BUCKETS))
        durations.counts[bisect_left(INIT_BUCKETS, seconds)] += 1
        durations.total += seconds

    def backlog(self, rows: list[tuple[str, int, float | None, int]], now: float) -> None:
        """The store's queue gauges (:meth:`Store.backlog`); targets gone drop out."""
        depth, age, dead = ({} for _ in range(3))
        for target, pending, oldest, buried in rows:
            depth[target] = float(pending)
            age[target] = max(0.0, now - oldest) if oldest is not None else 0.0
            dead[target] = float(buried)
        self.gauges["faaskit_queue_depth"] = depth
        self.gauges["faaskit_queue_oldest_age_seconds"] = age
        self.gauges["faaskit_dead_letters_waiting"] = dead

    def saga_states(self, counts: dict[str, int]) -> None:
        """Sagas by state, as the store counts them."""
        self.gauges["faaskit_sagas"] = {state: float(n) for state, n in counts.items()}

    def collect(self) -> Iterator[Any]:
        """Prometheus metric families (the registry calls this on every scrape)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        invocations = CounterMetricFamily(
            "faaskit_invocations",
            "Invocations by function and outcome",
            labels=["function", "outcome"],
        )
        for (function, outcome), count in sorted(self.invocations.items()):
            invocations.add_metric([function, outcome], count)
        yield invocations
        yield _histogram(
            "faaskit_invocation_duration_seconds",
            "Invocation duration, handler and commit",
            ["function"],
            self.durations,
            BUCKETS,
        )
        cold = CounterMetricFamily(
            "faaskit_cold_starts",
            "First invocation of a function in this process",
            labels=["function"],
        )
        for function, count in sorted(self.cold_starts.items()):
            cold.add_metric([function], count)
        yield cold
        errors = CounterMetricFamily(
            "faaskit_invocation_errors",
            "Failed invocations by function and exception class",
            labels=["function", "error"],
        )
        for (function, error), count in sorted(self.errors.items()):
            errors.add_metric([function, error], count)
        yield errors
        yield _histogram(
            "faaskit_init_seconds",
            "Initialisation before a function's first invocation in a process (cold starts)",
            ["function"],
            self.init,
            INIT_BUCKETS,
        )
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
        yield from self.sagas.collect()
        yield from self.business.collect()
        yield from self.breakers.collect()
        yield from self.retries.collect()

    def exposition(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self._registry is None:
            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(self)
        return generate_latest(self._registry), CONTENT_TYPE_LATEST


class _SagaMetricsOff(SagaMetrics):
    def observe(self, unit: Any, observations: list[tuple[Any, ...]]) -> None:
        return None


class MetricsOff(InvocationMetrics):
    """What the runtime keeps with ``FAASKIT_METRICS=off``: nobody can read ``/metrics``,
    so no invocation counts, durations, errors, gauges or saga series are kept either (the
    hello benchmark measures what keeping them costs). Handlers' business metrics
    (``ctx.metrics``) are still written as EMF lines when ``FAASKIT_METRICS_EMF`` asks."""

    def __init__(self) -> None:
        super().__init__()
        self.sagas = _SagaMetricsOff()

    def record(self, function: str, outcome: str, seconds: float) -> None:
        return None

    def count(self, name: str, label: str, amount: int = 1) -> None:
        return None

    def gauge(self, name: str, label: str, value: float) -> None:
        return None

    def cold_start(self, function: str) -> None:
        return None

    def error(self, function: str, error: BaseException) -> None:
        return None

    def initialised(self, function: str, seconds: float) -> None:
        return None

    def backlog(self, rows: list[tuple[str, int, float | None, int]], now: float) -> None:
        return None

    def saga_states(self, counts: dict[str, int]) -> None:
        return None
