"""Offline power tuning: what a function would take and cost per invocation at each Lambda
memory size, predicted from its own invocation records, and the size a strategy picks.

AWS Lambda Power Tuning (alexcasalboni/aws-lambda-power-tuning) runs the function at each
size in a live account; faaskit scales the measured duration instead
(:func:`faaskit.cost.scaling.scale_duration`): the records are taken to be measured at
:data:`MEASURED_AT_MB` (a laptop core is about one vCPU, which Lambda gives at 1,769 MB),
the CPU-bound share of the duration scales with the vCPUs a size brings, the I/O share
stays, and both bounds are kept.

The strategies are Power Tuning's, from ``lambda/analyzer.js`` (``findCheapest``,
``findFastest``, ``findBalanced``): see :meth:`Tuning.best`.

    tuning = tune(measure(records)[0], load_catalog())
    tuning.best("balanced", Decimal("0.3")).memory_mb
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from faaskit.cost.bill import plain
from faaskit.cost.money import MILLION, ZERO, ceil_to
from faaskit.cost.scaling import LAMBDA_MAX_MB, DurationBounds, scale_duration
from faaskit.cost.tiers import per_unit
from faaskit.errors import ValidationError

if TYPE_CHECKING:
    from faaskit.cost.catalog import Catalog
    from faaskit.cost.measured import MeasuredFunction

__all__ = [
    "DEFAULT_SIZES",
    "MEASURED_AT_MB",
    "STRATEGIES",
    "Tuning",
    "TuningPoint",
    "check_sizes",
    "duration_at",
    "lambda_point",
    "tune",
]

DEFAULT_SIZES: tuple[int, ...] = (128, 256, 512, 1024, 1536, 1769, 2048, 3008, 4096, 10240)
MEASURED_AT_MB = 1769
"""A laptop core is about one vCPU, which Lambda gives at 1,769 MB: records are taken to be
measured there."""
STRATEGIES = ("cost", "speed", "balanced")
DEFAULT_WEIGHT = Decimal("0.5")
"""Power Tuning's default ``balancedWeight``."""

_LAMBDA_MIN_MB = 128
_ARCHES = ("arm64", "x86")
_MS = Decimal(1)  # Lambda bills each invocation to the next millisecond
_SHOWN = Decimal("0.0001")  # durations in the JSON: a tenth of a microsecond is noise


@dataclass(frozen=True, slots=True)
class TuningPoint:
    """One memory size: the scaled ``duration`` (estimate and bounds, ms) and what an
    invocation costs there in USD, exact: ``compute`` (the estimate rounded up to 1 ms x
    GB x the architecture's first-tier duration price), Lambda's ``request`` fee and the
    ``init`` an average invocation carries (cold share x INIT ms rounded up x GB x the
    same price; billed since 2025-08-01), the last two shown apart."""

    memory_mb: int
    duration: DurationBounds
    compute: Decimal
    request: Decimal
    init: Decimal
    compute_low: Decimal
    compute_high: Decimal

    @property
    def cost(self) -> Decimal:
        """An invocation's whole price: compute + request + INIT."""
        return self.compute + self.request + self.init

    @property
    def duration_cost(self) -> Decimal:
        """What Power Tuning ranks by: the billed-duration price of an invocation (compute
        and its share of INIT, which Lambda now bills as duration), without the request fee
        that is the same at every size."""
        return self.compute + self.init

    @property
    def cost_low(self) -> Decimal:
        """The whole price at the shorter duration bound."""
        return self.compute_low + self.request + self.init

    @property
    def cost_high(self) -> Decimal:
        """The whole price at the longer duration bound."""
        return self.compute_high + self.request + self.init

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: durations in ms and per-million dollars as floats, each invocation's
        exact prices as strings."""
        d = self.duration
        return {
            "memory_mb": self.memory_mb,
            "duration_ms": {
                "estimate": float(d.estimate.quantize(_SHOWN)),
                "low": float(d.low.quantize(_SHOWN)),
                "high": float(d.high.quantize(_SHOWN)),
            },
            "per_invocation": {
                "compute": plain(self.compute),
                "request": plain(self.request),
                "init": plain(self.init),
                "total": plain(self.cost),
                "low": plain(self.cost_low),
                "high": plain(self.cost_high),
            },
            "per_million": {
                "compute": float(self.compute * MILLION),
                "request": float(self.request * MILLION),
                "init": float(self.init * MILLION),
                "total": float(self.cost * MILLION),
                "low": float(self.cost_low * MILLION),
                "high": float(self.cost_high * MILLION),
            },
        }


@dataclass(frozen=True, slots=True)
class Tuning:
    """``function`` at each size of ``points`` (ascending memory) on ``arch``, from records
    taken to be measured at ``measured_at_mb``."""

    function: str
    arch: str
    measured_at_mb: int
    points: tuple[TuningPoint, ...]

    def best(self, strategy: str = "cost", weight: Decimal = DEFAULT_WEIGHT) -> TuningPoint:
        """The size ``strategy`` picks, as Power Tuning's ``lambda/analyzer.js`` does:

        - ``cost``: the lowest billed-duration price (:attr:`TuningPoint.duration_cost`,
          Power Tuning's ``averagePrice``); on a tie, the faster.
        - ``speed``: the lowest estimated duration; on a tie, the cheaper.
        - ``balanced``: the lowest ``weight x cost / max cost + (1 - weight) x duration /
          max duration`` (1 = cost only, 0 = speed only).

        Any remaining tie goes to the smaller size (Power Tuning's sort is stable over
        ascending sizes). A ``weight`` outside [0, 1] is an error here, where Power Tuning
        clamps it."""
        if strategy not in STRATEGIES:
            raise ValidationError(f"strategy {strategy!r}: choose one of {', '.join(STRATEGIES)}")
        if not isinstance(weight, Decimal) or not ZERO <= weight <= 1:
            raise ValidationError(f"weight {weight}: give a share in [0, 1]")
        points = list(self.points)  # ascending memory: min() keeps the first of equals
        if strategy == "cost":
            return min(points, key=lambda p: (p.duration_cost, p.duration.estimate))
        if strategy == "speed":
            return min(points, key=lambda p: (p.duration.estimate, p.duration_cost))
        top_cost = max(p.duration_cost for p in points)
        top_duration = max(p.duration.estimate for p in points)

        def value(p: TuningPoint) -> Decimal:
            # A zero maximum (a function that takes no time) leaves its term out.
            cost = p.duration_cost / top_cost if top_cost else ZERO
            duration = p.duration.estimate / top_duration if top_duration else ZERO
            return weight * cost + (1 - weight) * duration

        return min(points, key=value)

    def point(self, memory_mb: int) -> TuningPoint:
        """The point at ``memory_mb`` (ValidationError when it was not tuned)."""
        for p in self.points:
            if p.memory_mb == memory_mb:
                return p
        sizes = ", ".join(str(p.memory_mb) for p in self.points)
        raise ValidationError(f"{memory_mb} MB was not tuned (sizes: {sizes})")

    def to_dict(self, strategy: str = "cost", weight: Decimal = DEFAULT_WEIGHT) -> dict[str, Any]:
        """JSON-safe: the points, the size ``strategy`` picks, and each strategy's pick."""
        best = self.best(strategy, weight)
        return {
            "function": self.function,
            "arch": self.arch,
            "measured_at_mb": self.measured_at_mb,
            "strategy": strategy,
            "weight": float(weight),
            "best_mb": best.memory_mb,
            "picks": {
                "cost": self.best("cost").memory_mb,
                "speed": self.best("speed").memory_mb,
                "balanced": self.best("balanced", weight).memory_mb,
            },
            "points": [p.to_dict() for p in self.points],
        }


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """``sizes`` ascending, or ValidationError when empty, repeated or outside Lambda's
    128 to 10,240 MB."""
    if not sizes:
        raise ValidationError("give at least one memory size")
    bad = [s for s in sizes if not _LAMBDA_MIN_MB <= s <= LAMBDA_MAX_MB]
    if bad:
        raise ValidationError(
            f"memory {', '.join(map(str, bad))} MB: Lambda takes {_LAMBDA_MIN_MB} to "
            f"{LAMBDA_MAX_MB} MB"
        )
    repeated = sorted({s for s in sizes if list(sizes).count(s) > 1})
    if repeated:
        raise ValidationError(f"memory {', '.join(map(str, repeated))} MB given twice")
    return tuple(sorted(sizes))


def lambda_point(
    duration_ms: Decimal,
    cpu_share: Decimal,
    cold_share: Decimal,
    init_ms: Decimal,
    memory_mb: int,
    catalog: Catalog,
    *,
    arch: str = "arm64",
    measured_at_mb: int = MEASURED_AT_MB,
    threads: int = 1,
) -> TuningPoint:
    """One size priced: ``duration_ms`` (with ``cpu_share`` of it on CPU) measured at
    ``measured_at_mb``, moved to ``memory_mb`` on ``arch``. The first duration tier's price
    is used: a single function's invocations seldom reach the next (6 billion GB-s on x86,
    7.5 billion on Arm)."""
    if arch not in _ARCHES:
        raise ValidationError(f"arch {arch!r}: choose arm64 or x86")
    duration = scale_duration(
        duration_ms,
        cpu_share=cpu_share,
        from_mb=measured_at_mb,
        to_mb=memory_mb,
        threads=threads,
    )
    rate = per_unit(catalog.tiers("aws.lambda.duration", arch)[0])  # USD a GB-second
    gb = Decimal(memory_mb) / 1024

    def billed(ms: Decimal) -> Decimal:
        return ceil_to(ms, _MS) / 1000 * gb * rate

    return TuningPoint(
        memory_mb=memory_mb,
        duration=duration,
        compute=billed(duration.estimate),
        request=per_unit(catalog.price("aws.lambda.requests")),
        init=cold_share * billed(init_ms),
        compute_low=billed(duration.low),
        compute_high=billed(duration.high),
    )


def duration_at(
    measured: MeasuredFunction,
    memory_mb: int,
    *,
    measured_at_mb: int = MEASURED_AT_MB,
    threads: int = 1,
) -> DurationBounds:
    """``measured``'s trimmed-mean duration on Lambda at ``memory_mb``, its CPU share
    scaled by the vCPUs there (the report, the patterns and tuning all use this)."""
    return scale_duration(
        measured.duration_ms,
        cpu_share=measured.cpu_share,
        from_mb=measured_at_mb,
        to_mb=memory_mb,
        threads=threads,
    )


def tune(
    measured: MeasuredFunction,
    catalog: Catalog,
    *,
    sizes: Sequence[int] = DEFAULT_SIZES,
    arch: str = "arm64",
    measured_at_mb: int = MEASURED_AT_MB,
    threads: int = 1,
    cold_share: Decimal | None = None,
) -> Tuning:
    """``measured`` predicted at each of ``sizes`` on ``arch``, from its trimmed-mean
    duration, CPU share, cold-start share (``cold_share``, else as measured) and INIT
    time. Sizes below the peak memory the records saw are left out (the function would
    run out of memory there; Power Tuning never sees them, they fail live): the smallest
    size that holds the peak is tuned in their place."""
    chosen = check_sizes(sizes)
    if measured.memory_mb is not None:
        floor = measured.default_memory_mb
        if chosen[0] < floor:
            chosen = check_sizes([floor, *(size for size in chosen if size > floor)])
    duration, cpu_share = measured.duration_ms, measured.cpu_share
    points = tuple(
        lambda_point(
            duration,
            cpu_share,
            measured.cold_share if cold_share is None else cold_share,
            measured.init_ms,
            size,
            catalog,
            arch=arch,
            measured_at_mb=measured_at_mb,
            threads=threads,
        )
        for size in chosen
    )
    return Tuning(measured.function, arch, measured_at_mb, points)
