"""What the invocation records say a function costs to run: per function, its samples of
wall and CPU time, its peak memory, how often it started cold and how long INIT took, and
the trigger it ran from — and from those, the :class:`~faaskit.cost.workload.Workload` the
pricing functions take, at any volume, memory size and architecture.

Durations are Power Tuning's statistic: the mean of what is left once the fastest and the
slowest 20% are dropped, so one stalled invocation (a garbage collection, a noisy
neighbour) does not price the month.

    functions = measure(await store.invocations(since=time.time() - 3600))
    work = functions[0].workload(requests=3_000_000, memory_mb=512)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from faaskit.cost.workload import Gateway, Queue, Workload
from faaskit.errors import ValidationError

if TYPE_CHECKING:
    from faaskit.store.protocol import InvocationRecord

__all__ = ["MESSAGE_TRIGGERS", "TRIM", "MeasuredFunction", "measure", "trimmed_mean"]

TRIM = Decimal("0.2")
"""Power Tuning drops this share of the samples from each end before it averages."""

_MB = 1024 * 1024
MESSAGE_TRIGGERS = frozenset({"message", "task", "saga_step"})
"""Triggers that arrive as one queued message each."""
# How far the figures are rounded: a record is measured in perf_counter seconds, but a
# bill's tenth of a microsecond is noise.
_MS = Decimal("0.0001")


def trimmed_mean(values: Sequence[float], cut: Decimal = TRIM) -> Decimal:
    """The mean of ``values`` without the lowest and highest ``cut`` share of them (with
    fewer than five samples, nothing is dropped)."""
    if not values:
        raise ValidationError("a trimmed mean needs at least one sample")
    if not 0 <= cut < Decimal("0.5"):
        raise ValidationError(f"trim {cut}: give a share in [0, 0.5)")
    ordered = sorted(values)
    drop = int(len(ordered) * cut)
    kept = ordered[drop : len(ordered) - drop]
    return (Decimal(repr(math.fsum(kept))) / len(kept)).quantize(_MS)


@dataclass(frozen=True, slots=True)
class MeasuredFunction:
    """One function's records: ``durations_ms`` and ``cpu_ms`` per invocation (in the
    records' order), ``memory_mb`` the highest peak resident memory observed (``None``
    where the platform does not report it), cold starts and their INIT time, and the
    trigger most of its invocations came from."""

    function: str
    trigger: str
    count: int
    errors: int
    durations_ms: tuple[float, ...]
    cpu_ms: tuple[float, ...]
    memory_mb: int | None
    cold_starts: int
    init_ms: Decimal
    first_at: float
    last_at: float

    duration_ms: Decimal
    """The trimmed mean duration of an invocation."""
    cpu_share: Decimal
    """The share of the (trimmed) duration spent on CPU, at most 1."""

    @property
    def cold_share(self) -> Decimal:
        return (Decimal(self.cold_starts) / self.count).quantize(Decimal("0.000001"))

    @property
    def observed_rps(self) -> Decimal:
        """The rate the records arrived at (0 for a single record)."""
        span = self.last_at - self.first_at
        if span <= 0:
            return Decimal(0)
        return (Decimal(self.count - 1) / Decimal(repr(span))).quantize(_MS)

    @property
    def gateway(self) -> Gateway:
        """An HTTP function sits behind an HTTP API by default; others have none."""
        return "http" if self.trigger == "http" else "none"

    @property
    def queue(self) -> Queue:
        """Messages, tasks and saga steps each arrive as one queued message."""
        return "sqs" if self.trigger in MESSAGE_TRIGGERS else "none"

    def workload(
        self,
        *,
        requests: int,
        memory_mb: int | None = None,
        duration_ms: Decimal | None = None,
        **overrides: Any,
    ) -> Workload:
        """This function's month at ``requests`` invocations: the measured duration (or
        ``duration_ms``, e.g. scaled to another memory size), CPU share, cold-start share and
        INIT time, its gateway or queue; ``memory_mb`` the configured size (by default the
        observed peak rounded up to a 64 MB step, at least 128 MB). ``overrides`` are any
        other :class:`Workload` fields (``arch``, ``gateway``, ``provisioned``…)."""
        fields: dict[str, Any] = {
            "requests": requests,
            "duration_ms": self.duration_ms if duration_ms is None else duration_ms,
            "memory_mb": memory_mb or self.default_memory_mb,
            "cpu_share": self.cpu_share,
            "cold_share": self.cold_share,
            "init_ms": self.init_ms,
            "gateway": self.gateway,
            "queue": self.queue,
            "messages_per_request": Decimal(1) if self.queue != "none" else Decimal(0),
        }
        fields.update(overrides)
        built: Workload = Workload.build(**fields)
        return built

    @property
    def default_memory_mb(self) -> int:
        """The observed peak rounded up to a 64 MB step, at least 128 MB (Lambda's least)."""
        if self.memory_mb is None:
            return 128
        return max(128, math.ceil(self.memory_mb / 64) * 64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "trigger": self.trigger,
            "count": self.count,
            "errors": self.errors,
            "duration_ms": str(self.duration_ms),
            "cpu_share": str(self.cpu_share),
            "memory_mb": self.memory_mb,
            "cold_share": str(self.cold_share),
            "init_ms": str(self.init_ms),
            "observed_rps": str(self.observed_rps),
        }


def measure(records: Iterable[InvocationRecord]) -> list[MeasuredFunction]:
    """The records grouped per function, busiest first (then by name)."""
    grouped: dict[str, list[InvocationRecord]] = defaultdict(list)
    for record in records:
        grouped[record.function].append(record)
    measured = [_measure(name, rows) for name, rows in grouped.items()]
    measured.sort(key=lambda m: (-m.count, m.function))
    return measured


def _measure(function: str, rows: list[InvocationRecord]) -> MeasuredFunction:
    triggers = Counter(row.trigger for row in rows)
    inits = [row.init_seconds for row in rows if row.cold and row.init_seconds is not None]
    memories = [row.memory for row in rows if row.memory is not None]
    started = [row.started_at for row in rows]
    durations = tuple(row.duration * 1000 for row in rows)
    cpu = tuple(row.cpu * 1000 for row in rows)
    # Computed once: a report prices each function hundreds of times.
    duration = trimmed_mean(durations)
    cpu_share = (
        min(Decimal(1), trimmed_mean(cpu) / duration).quantize(_MS) if duration else Decimal(1)
    )
    return MeasuredFunction(
        function=function,
        trigger=triggers.most_common(1)[0][0],
        count=len(rows),
        errors=sum(1 for row in rows if row.outcome == "error"),
        durations_ms=durations,
        cpu_ms=cpu,
        memory_mb=math.ceil(max(memories) / _MB) if memories else None,
        cold_starts=sum(1 for row in rows if row.cold),
        init_ms=(
            (Decimal(repr(math.fsum(inits))) * 1000 / len(inits)).quantize(_MS)
            if inits
            else Decimal(0)
        ),
        first_at=min(started),
        last_at=max(started),
        duration_ms=duration,
        cpu_share=cpu_share,
    )
