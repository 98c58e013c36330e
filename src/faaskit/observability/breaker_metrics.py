"""Circuit breaker metrics of one runtime (:mod:`faaskit.breakers`), on ``/metrics``.

``faaskit_breaker_transitions_total{breaker, to}`` counts the changes of state this
process made: each change happens in exactly one process's atomic store operation, so
the sum over processes is the breaker's true history. ``faaskit_breaker_state{breaker,
state}`` is 1 for the state this process last saw a breaker in, 0 for the other two.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["STATES", "BreakerMetrics"]

STATES = ("closed", "open", "half_open")


class BreakerMetrics:
    """Plain numbers updated on the event loop, turned into families on each scrape."""

    def __init__(self) -> None:
        self.transitions: dict[tuple[str, str], int] = {}
        self.states: dict[str, str] = {}

    def saw(self, breaker: str, state: str) -> None:
        """The state a store operation just reported."""
        self.states[breaker] = state

    def moved(self, breaker: str, to: str) -> None:
        """This process moved ``breaker`` to ``to``."""
        key = (breaker, to)
        self.transitions[key] = self.transitions.get(key, 0) + 1
        self.states[breaker] = to

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        transitions = CounterMetricFamily(
            "faaskit_breaker_transitions",
            "Circuit breaker changes of state made by this process",
            labels=["breaker", "to"],
        )
        for (breaker, to), count in sorted(self.transitions.items()):
            transitions.add_metric([breaker, to], count)
        yield transitions
        states = GaugeMetricFamily(
            "faaskit_breaker_state",
            "1 for the state this process last saw each circuit breaker in",
            labels=["breaker", "state"],
        )
        for breaker, current in sorted(self.states.items()):
            for state in STATES:
                states.add_metric([breaker, state], 1.0 if state == current else 0.0)
        yield states
