"""Retries of outside calls (:func:`faaskit.retry`), on ``/metrics``.

``faaskit_outside_call_retries_total{function, call}`` counts the waits taken before
another attempt, ``faaskit_outside_call_retry_wait_seconds_total{function, call}`` the
seconds slept in them (billed time, on a cloud), and
``faaskit_outside_call_retries_exhausted_total{function, call, reason}`` the calls that
gave up and raised their last error: ``attempts`` (all used), ``deadline`` (the retry's
own), ``invocation`` (the next wait would outlive the invocation) or ``retry_after`` (the
service asked for a longer wait than ``max_wait``). ``function`` is the invocation's
function and ``call`` the retried function's qualified name (or the ``name=`` given): code,
never arguments, so the series stay few.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["RetryMetrics"]


class RetryMetrics:
    """Plain numbers turned into families on each scrape. Sync handlers retry in their
    threads, so updates take a lock (a retry is rare beside an invocation: it costs
    nothing that matters)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.retries: dict[tuple[str, str], int] = {}
        self.waited: dict[tuple[str, str], float] = {}
        self.exhausted: dict[tuple[str, str, str], int] = {}

    def retried(self, function: str, call: str, wait: float) -> None:
        """One wait of ``wait`` seconds before another attempt of ``call``."""
        key = (function, call)
        with self._lock:
            self.retries[key] = self.retries.get(key, 0) + 1
            self.waited[key] = self.waited.get(key, 0.0) + wait

    def gave_up(self, function: str, call: str, reason: str) -> None:
        """``call`` raised its last error, for ``reason``."""
        key = (function, call, reason)
        with self._lock:
            self.exhausted[key] = self.exhausted.get(key, 0) + 1

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily

        with self._lock:
            retries = sorted(self.retries.items())
            waited = sorted(self.waited.items())
            exhausted = sorted(self.exhausted.items())
        labels = ["function", "call"]
        family = CounterMetricFamily(
            "faaskit_outside_call_retries",
            "Waits before another attempt of an outside call (faaskit.retry)",
            labels=labels,
        )
        for key, count in retries:
            family.add_metric(list(key), count)
        yield family
        family = CounterMetricFamily(
            "faaskit_outside_call_retry_wait_seconds",
            "Seconds slept between attempts of outside calls (faaskit.retry)",
            labels=labels,
        )
        for key, seconds in waited:
            family.add_metric(list(key), seconds)
        yield family
        family = CounterMetricFamily(
            "faaskit_outside_call_retries_exhausted",
            "Outside calls that gave up and raised their last error, by reason",
            labels=[*labels, "reason"],
        )
        for reason_key, count in exhausted:
            family.add_metric(list(reason_key), count)
        yield family
