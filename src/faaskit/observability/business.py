"""Business metrics a handler records — ``ctx.metrics.count("UserRegistrationSuccess")``,
gauges and timings — exported on ``/metrics`` beside faaskit's own, and, when configured,
as CloudWatch Embedded Metric Format lines (what Powertools' ``Metrics`` writes on Lambda).

Labels stay bounded: a metric keeps at most :data:`MAX_SERIES` tag combinations (later
ones are dropped, with one warning), tag values are cut to :data:`MAX_TAG_LENGTH`, and
names must be identifiers — so an id passed as a tag cannot grow the exposition without
end. ``FAASKIT_METRICS_EMF=on`` (or a namespace: ``FAASKIT_METRICS_EMF=Shop``) prints one
EMF line per invocation that recorded metrics, on stdout, where CloudWatch Logs reads it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from bisect import bisect_left
from collections.abc import Iterator, Mapping
from typing import Any, TextIO

from faaskit.errors import ValidationError

__all__ = ["EMF_VARIABLE", "BusinessMetrics", "EmfWriter", "InvocationMetricsView"]

logger = logging.getLogger("faaskit.metrics")
EMF_VARIABLE = "FAASKIT_METRICS_EMF"
MAX_SERIES = 100
"""Tag combinations one metric keeps."""
MAX_TAG_LENGTH = 64
TIMING_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
Tags = tuple[tuple[str, str], ...]


def _tags(tags: Mapping[str, Any] | None) -> Tags:
    if not tags:
        return ()
    found = []
    for key, value in sorted(tags.items()):
        if not _NAME.match(key):
            raise ValidationError(f"metric tag {key!r} is not a name (letters, digits, _)")
        found.append((key, str(value)[:MAX_TAG_LENGTH]))
    return tuple(found)


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValidationError(f"metric name {name!r}: use letters, digits and _ (at most 100)")
    return name


class BusinessMetrics:
    """Every business metric of one runtime: counters, gauges and timings by tag set."""

    def __init__(self) -> None:
        self.counters: dict[str, dict[Tags, float]] = {}
        self.gauges: dict[str, dict[Tags, float]] = {}
        self.timings: dict[str, dict[Tags, list[float]]] = {}
        """Per series: bucket counts (the last is +Inf), then the sum."""
        self._kinds: dict[str, str] = {}
        self._warned: set[str] = set()

    def _series(self, kind: str, name: str, table: dict[str, dict[Tags, Any]], tags: Tags) -> Any:
        known = self._kinds.setdefault(_checked(name), kind)
        if known != kind:
            raise ValidationError(f"metric {name!r} is a {known}, not a {kind}")
        series = table.setdefault(name, {})
        if tags not in series and len(series) >= MAX_SERIES:
            if name not in self._warned:
                self._warned.add(name)
                logger.warning(
                    "metric %s has %s tag combinations already; new ones are dropped "
                    "(an id as a tag?)",
                    name,
                    MAX_SERIES,
                )
            return None
        return series

    def count(self, name: str, amount: float, tags: Tags) -> None:
        series = self._series("counter", name, self.counters, tags)
        if series is not None:
            series[tags] = series.get(tags, 0.0) + amount

    def gauge(self, name: str, value: float, tags: Tags) -> None:
        series = self._series("gauge", name, self.gauges, tags)
        if series is not None:
            series[tags] = value

    def timing(self, name: str, seconds: float, tags: Tags) -> None:
        series = self._series("timing", name, self.timings, tags)
        if series is None:
            return
        buckets = series.get(tags)
        if buckets is None:
            buckets = series[tags] = [0.0] * (len(TIMING_BUCKETS) + 2)
        buckets[bisect_left(TIMING_BUCKETS, seconds)] += 1
        buckets[-1] += seconds

    def collect(self) -> Iterator[Any]:
        """Prometheus families (``app_`` before each name, to keep clear of faaskit's)."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        for name, series in sorted(self.counters.items()):
            labels = _keys(series)
            family = CounterMetricFamily(
                f"app_{name}", f"{name} (ctx.metrics.count)", labels=labels
            )
            for tags, value in sorted(series.items()):
                family.add_metric(_values(tags, labels), value)
            yield family
        for name, series in sorted(self.gauges.items()):
            labels = _keys(series)
            gauge = GaugeMetricFamily(f"app_{name}", f"{name} (ctx.metrics.gauge)", labels=labels)
            for tags, value in sorted(series.items()):
                gauge.add_metric(_values(tags, labels), value)
            yield gauge
        for name, timed in sorted(self.timings.items()):
            labels = _keys(timed)
            histogram = HistogramMetricFamily(
                f"app_{name}_seconds", f"{name} (ctx.metrics.timing)", labels=labels
            )
            for tags, buckets in sorted(timed.items()):
                cumulative, pairs = 0.0, []
                bounds = (*map(str, TIMING_BUCKETS), "+Inf")
                for bound, count in zip(bounds, buckets[:-1], strict=True):
                    cumulative += count
                    pairs.append((bound, cumulative))
                histogram.add_metric(_values(tags, labels), pairs, sum_value=buckets[-1])
            yield histogram


def _keys(series: Mapping[Tags, Any]) -> list[str]:
    return sorted({key for tags in series for key, _ in tags})


def _values(tags: Tags, names: list[str]) -> list[str]:
    given = dict(tags)
    return [given.get(name, "") for name in names]


class InvocationMetricsView:
    """``ctx.metrics``: business metrics recorded by one invocation (into the runtime's
    :class:`BusinessMetrics`, and its EMF line when configured)."""

    __slots__ = ("_emf", "_function", "_metrics")

    def __init__(self, metrics: BusinessMetrics, function: str, emf: EmfWriter | None) -> None:
        self._metrics = metrics
        self._function = function
        self._emf = emf

    def count(self, name: str, amount: float = 1, *, tags: Mapping[str, Any] | None = None) -> None:
        """Add ``amount`` to the counter ``name`` (``app_<name>`` on /metrics)."""
        key = _tags(tags)
        self._metrics.count(name, amount, key)
        if self._emf is not None:
            self._emf.add(self._function, name, amount, "Count", key)

    def gauge(self, name: str, value: float, *, tags: Mapping[str, Any] | None = None) -> None:
        """Set the gauge ``name`` to ``value``."""
        key = _tags(tags)
        self._metrics.gauge(name, value, key)
        if self._emf is not None:
            self._emf.add(self._function, name, value, "None", key)

    def timing(self, name: str, seconds: float, *, tags: Mapping[str, Any] | None = None) -> None:
        """Observe ``seconds`` in the histogram ``name`` (``app_<name>_seconds``)."""
        key = _tags(tags)
        self._metrics.timing(name, seconds, key)
        if self._emf is not None:
            self._emf.add(self._function, name, seconds * 1000, "Milliseconds", key)


class EmfWriter:
    """CloudWatch Embedded Metric Format: the metrics an invocation recorded, one JSON line
    per tag set, written when the invocation ends (:meth:`flush`)."""

    def __init__(self, namespace: str, out: TextIO | None = None) -> None:
        self.namespace = namespace
        self.out = out
        self._waiting: dict[tuple[str, Tags], dict[str, tuple[list[float], str]]] = {}

    @classmethod
    def from_environment(cls) -> EmfWriter | None:
        value = os.environ.get(EMF_VARIABLE, "").strip()
        if value.lower() in ("", "off", "0", "false", "no"):
            return None
        return cls("faaskit" if value.lower() in ("on", "1", "true", "yes") else value)

    def add(self, function: str, name: str, value: float, unit: str, tags: Tags) -> None:
        metrics = self._waiting.setdefault((function, tags), {})
        values, _ = metrics.setdefault(name, ([], unit))
        values.append(value)

    def flush(self, function: str) -> None:
        """Write the lines of ``function``'s waiting metrics."""
        import orjson

        keys = [key for key in self._waiting if key[0] == function]
        out = self.out or sys.stdout
        for key in keys:
            metrics = self._waiting.pop(key)
            _, tags = key
            dimensions = ["function", *(name for name, _ in tags)]
            line: dict[str, Any] = {
                "_aws": {
                    "Timestamp": int(time.time() * 1000),
                    "CloudWatchMetrics": [
                        {
                            "Namespace": self.namespace,
                            "Dimensions": [dimensions],
                            "Metrics": [
                                {"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()
                            ],
                        }
                    ],
                },
                "function": function,
                **dict(tags),
            }
            for name, (values, _) in metrics.items():
                line[name] = values[0] if len(values) == 1 else values
            out.write(orjson.dumps(line).decode() + "\n")
        out.flush()
