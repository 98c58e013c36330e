"""The cost report: an app's measured functions priced on every platform at a traffic
profile, beside the always-on VM fleet that would serve the same traffic, with the request
rates at which each platform breaks even with that fleet and stays 70% cheaper than it.

The profile's rate is the app's front door: its HTTP invocations. Every other function runs
as often, relative to them, as it did in the records (a sign-up that sends two emails keeps
sending two). Durations were measured on this machine, taken to be Lambda at 1,769 MB (one
vCPU); Lambda sizes scale them by CPU share (:mod:`faaskit.cost.scaling`); the other
platforms run them as measured on one vCPU.

    report = build_report(measure(records), load_catalog(), DEMO_PROFILE)
    for line in verdict_lines(report):
        print(line)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from faaskit.cost.bill import Bill, LineItem
from faaskit.cost.catalog import Catalog
from faaskit.cost.measured import MeasuredFunction
from faaskit.cost.model import Fleet, estimate, size_fleet
from faaskit.cost.money import SECONDS_PER_MONTH, ZERO, cents
from faaskit.cost.patterns import PatternPrice, price_patterns
from faaskit.cost.platforms import FUNCTION_PLATFORMS
from faaskit.cost.platforms.vm import instance_vcpus
from faaskit.cost.profile import describe, scaled
from faaskit.cost.scaling import DurationBounds
from faaskit.cost.tuning import MEASURED_AT_MB, duration_at, tune
from faaskit.cost.workload import TrafficProfile, Workload
from faaskit.errors import ValidationError

__all__ = [
    "GROWTH_MONTHS",
    "SCALES",
    "CostReport",
    "PricedFunction",
    "Verdict",
    "build_report",
    "rate_text",
    "saving_text",
    "verdict_lines",
]

SCALES: tuple[int, ...] = (1, 10, 100)
"""The profile's multiples every report gives a verdict at."""

GROWTH_MONTHS = 12
"""How far ahead a profile with growth is also judged."""

TARGET = Decimal("0.7")
"""The article's promise: 70% cheaper."""

_CLOUD_RUN_MB = 512  # Cloud Run's default instance memory
_TOP_RPS = Decimal(100_000)
_MAX_STEPS = 256
_CURVE_RPS = tuple(Decimal(10) ** exponent for exponent in range(-2, 5))


@dataclass(frozen=True, slots=True)
class PricedFunction:
    """One function's month at the profile: its invocations, the Lambda size and the
    duration there, and its bill on each pay-per-use platform (no free tier)."""

    measured: MeasuredFunction
    requests: int
    memory_mb: int
    duration: DurationBounds
    bills: Mapping[str, Bill]

    def to_dict(self) -> dict[str, Any]:
        m = self.measured
        return {
            "function": m.function,
            "trigger": m.trigger,
            "count": m.count,
            "requests": self.requests,
            "memory_mb": self.memory_mb,
            "duration_ms": float(self.duration.estimate),
            "measured_ms": float(m.duration_ms),
            "cpu_share": float(m.cpu_share),
            "cold_share": float(m.cold_share),
            "init_ms": float(m.init_ms),
            "monthly": {name: float(bill.total) for name, bill in self.bills.items()},
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """``platform`` at ``scale`` times the profile: its month against the fleet's."""

    platform: str
    scale: int
    mean_rps: Decimal
    monthly: Decimal
    vm_monthly: Decimal
    month: int = 0
    """Months ahead, the profile's growth compounding (0: now)."""

    @property
    def saving(self) -> Decimal:
        """1 - platform/VM: 0.8 is 80% cheaper, -0.5 half as dear again."""
        if self.vm_monthly == 0:
            return ZERO
        return 1 - self.monthly / self.vm_monthly

    @property
    def holds(self) -> bool:
        """Whether the article's "70% cheaper" holds here."""
        return self.saving >= TARGET

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "scale": self.scale,
            "mean_rps": float(self.mean_rps),
            "monthly": float(self.monthly),
            "vm_monthly": float(self.vm_monthly),
            "saving": round(float(self.saving), 4),
            "holds": self.holds,
            "month": self.month,
        }


@dataclass(frozen=True, slots=True)
class CostReport:
    """Everything ``faaskit cost report`` shows: per function and platform, the totals, the
    VM fleet, and per platform the break-even and 70% rates (front-door req/s; ``None`` when
    not reached below 100,000 req/s) and the verdicts at :data:`SCALES`."""

    app: str
    profile: TrafficProfile
    arch: str
    functions: Sequence[PricedFunction]
    totals: Mapping[str, Bill]
    fleet: Fleet
    vm: Bill
    break_even: Mapping[str, Decimal | None]
    seventy: Mapping[str, Decimal | None]
    verdicts: Sequence[Verdict]
    curves: Mapping[str, Sequence[Decimal]]
    ahead: Sequence[Verdict] = field(default=())
    """With the profile's growth: the verdicts GROWTH_MONTHS months on (none without)."""
    notes: Sequence[str] = field(default=())
    memory: Sequence[Mapping[str, Any]] = field(default=())
    """Per function, its power tuning (:meth:`faaskit.cost.tuning.Tuning.to_dict`)."""
    patterns: Sequence[PatternPrice] = field(default=())

    @property
    def record_count(self) -> int:
        return sum(f.measured.count for f in self.functions)

    def verdict(self, platform: str, scale: int = 1) -> Verdict:
        for verdict in self.verdicts:
            if verdict.platform == platform and verdict.scale == scale:
                return verdict
        raise KeyError((platform, scale))

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` document (and what the HTML page is drawn from)."""
        profile = self.profile
        document: dict[str, Any] = {
            "app": self.app,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "currency": "USD",
            "hours_per_month": 730,
            "arch": self.arch,
            "profile": {
                "name": profile.name,
                "mean_rps": float(profile.mean_rps),
                "peak_rps": float(profile.peak_in_month()),
                "peak_to_mean": float(profile.ratio),
                "requests_a_month": profile.requests_in_month(),
                "cold_share": None if profile.cold_share is None else float(profile.cold_share),
                "description": describe(profile),
            },
            "records": {"count": self.record_count, "functions": len(self.functions)},
            "functions": [f.to_dict() for f in self.functions],
            "platforms": [
                {
                    "platform": name,
                    "monthly": float(bill.total),
                    "items": _items(bill),
                    "saving": round(float(self.verdict(name).saving), 4),
                    "break_even_rps": _maybe(self.break_even[name]),
                    "seventy_rps": _maybe(self.seventy[name]),
                }
                for name, bill in self.totals.items()
            ],
            "vm": {
                "platform": "vm",
                "monthly": float(self.vm.total),
                "fleet": self.fleet.describe(),
                "instance": self.fleet.instance,
                "count": self.fleet.count,
                "items": _items(self.vm),
            },
            "verdicts": [v.to_dict() for v in self.verdicts],
            "ahead": [v.to_dict() for v in self.ahead],
            "curves": {
                "rps": [float(r) for r in self.curves["rps"]],
                "platforms": {name: [float(c) for c in self.curves[name]] for name in self.totals},
                "vm": [float(c) for c in self.curves["vm"]],
            },
            "notes": list(self.notes),
        }
        if self.memory:
            document["memory"] = list(self.memory)
        if self.patterns:
            document["patterns"] = [p.to_dict() for p in self.patterns]
        return document


def build_report(
    functions: Sequence[MeasuredFunction],
    catalog: Catalog,
    profile: TrafficProfile,
    *,
    app: str = "app",
    arch: str = "arm64",
    memory_mb: int | None = None,
    instance: str = "m7g.large",
    utilisation: Decimal = Decimal("0.6"),
) -> CostReport:
    """Price ``functions`` (from :func:`~faaskit.cost.measured.measure`) at ``profile``:
    each on Lambda at ``memory_mb`` (default: its observed peak, rounded up) and on the
    other platforms; one VM fleet for the whole app at the profile's peak."""
    if not functions:
        raise ValidationError("no invocation records to price: run the app first")
    app_at = _AppPricer(functions, catalog, arch=arch, memory_mb=memory_mb, profile=profile)
    priced = app_at.priced(profile.requests_in_month())
    totals = {name: _total(name, [f.bills[name] for f in priced]) for name in FUNCTION_PLATFORMS}

    def fleet_at(mean_rps: Decimal) -> tuple[Fleet, Bill]:
        work = app_at.fleet_workload(requests=int(mean_rps * SECONDS_PER_MONTH))
        fleet = size_fleet(
            work, catalog, mean_rps * profile.ratio, instance=instance, utilisation=utilisation
        )
        return fleet, estimate(work, "vm", catalog, free_tier=False, fleet=fleet)

    fleet, vm = fleet_at(profile.mean_rps)

    def vm_cost(rps: Decimal) -> Decimal:
        return fleet_at(rps)[1].exact

    # The mean rate each instance of the fleet adds capacity for: the VM's bill steps up
    # there, and a platform can be dearer than it just below a step, cheaper just after.
    cpu_seconds = app_at.fleet_workload(requests=0).seconds
    steps = (
        instance_vcpus(catalog, instance) * utilisation / (profile.ratio * cpu_seconds)
        if cpu_seconds
        else None
    )

    def verdicts_at(scale: int, mean_rps: Decimal, month: int = 0) -> list[Verdict]:
        vm_month = fleet_at(mean_rps)[1].total
        functions_then = app_at.priced(int(mean_rps * SECONDS_PER_MONTH))
        return [
            # as the app's bill is totalled: its line items summed exactly, then rounded
            Verdict(
                name,
                scale,
                mean_rps,
                _total(name, [f.bills[name] for f in functions_then]).total,
                vm_month,
                month,
            )
            for name in FUNCTION_PLATFORMS
        ]

    verdicts = [v for scale in SCALES for v in verdicts_at(scale, scaled(profile, scale).mean_rps)]
    ahead = (
        verdicts_at(1, profile.mean_in_month(GROWTH_MONTHS), GROWTH_MONTHS)
        if profile.growth
        else []
    )

    break_even: dict[str, Decimal | None] = {}
    seventy: dict[str, Decimal | None] = {}
    curves: dict[str, list[Decimal]] = {"rps": list(_CURVE_RPS)}
    for name in FUNCTION_PLATFORMS:

        def cost(rps: Decimal, platform: str = name) -> Decimal:
            return app_at.monthly(platform, int(rps * SECONDS_PER_MONTH))

        break_even[name] = _first_crossing(cost, vm_cost, Decimal(1), steps)
        seventy[name] = _first_crossing(cost, vm_cost, 1 - TARGET, steps)
        curves[name] = [cents(cost(rps)) for rps in _CURVE_RPS]
    curves["vm"] = [cents(vm_cost(rps)) for rps in _CURVE_RPS]
    return CostReport(
        app=app,
        profile=profile,
        arch=arch,
        functions=priced,
        totals=totals,
        fleet=fleet,
        vm=vm,
        break_even=break_even,
        seventy=seventy,
        verdicts=verdicts,
        ahead=ahead,
        curves=curves,
        notes=_notes(app_at, fleet),
        memory=[
            tune(f, catalog, arch=arch, cold_share=profile.cold_share).to_dict() for f in functions
        ],
        patterns=price_patterns(
            functions,
            {f.measured.function: f.requests for f in priced},
            catalog,
            arch=arch,
            cold_share=profile.cold_share,
        ),
    )


def verdict_lines(report: CostReport) -> list[str]:
    """One line per platform: whether 70% cheaper than the VM fleet holds at the profile and
    at 10x and 100x of it, and below which rate it does."""
    lines = []
    for name in report.totals:
        parts = []
        for scale in SCALES:
            v = report.verdict(name, scale)
            verdict = "holds" if v.holds else "fails"
            if scale == 1:
                parts.append(
                    f"{verdict} at the profile ({rate_text(v.mean_rps)}: ${v.monthly:,.2f} vs "
                    f"${v.vm_monthly:,.2f} a month, {saving_text(v.saving)})"
                )
            else:
                parts.append(
                    f"{verdict} at {scale}x ({rate_text(v.mean_rps)}, {saving_text(v.saving)})"
                )
        limit = report.seventy[name]
        below = (
            f"70% holds below {rate_text(limit)}"
            if limit is not None and limit > 0
            else ("70% never holds" if limit == 0 else "70% holds below 100,000 req/s")
        )
        for v in report.ahead:
            if v.platform == name:
                parts.append(
                    f"{'holds' if v.holds else 'fails'} in {v.month} months "
                    f"({rate_text(v.mean_rps)} at {report.profile.growth:.0%} a month, "
                    f"{saving_text(v.saving)})"
                )
        lines.append(f"{name}: 70% cheaper {'; '.join(parts)}; {below}")
    return lines


class _AppPricer:
    """Prices the app's functions at any front-door volume (their shares fixed)."""

    def __init__(
        self,
        functions: Sequence[MeasuredFunction],
        catalog: Catalog,
        *,
        arch: str,
        memory_mb: int | None,
        profile: TrafficProfile,
    ) -> None:
        self.functions = functions
        self.catalog = catalog
        self.arch = arch
        self.memory_mb = memory_mb
        self.cold_share = profile.cold_share
        http = sum(f.count for f in functions if f.trigger == "http")
        self.front_door = http or sum(f.count for f in functions)
        self.has_http = bool(http)

    def share(self, function: MeasuredFunction) -> Decimal:
        return Decimal(function.count) / self.front_door

    def workload(self, function: MeasuredFunction, requests: int, platform: str) -> Workload:
        """The function's month on ``platform``: Lambda at its size with the duration scaled
        there; Azure and Cloud Run on one vCPU, as measured, at the observed peak memory
        (Consumption measures it; Flex and Cloud Run take the size that holds it)."""
        common: dict[str, Any] = {"requests": requests, "arch": self.arch}
        if self.cold_share is not None:
            common["cold_share"] = self.cold_share
        peak = function.default_memory_mb
        if platform == "aws-lambda":
            memory = self.memory_mb or peak
            duration = self.duration(function, memory).estimate
            return function.workload(memory_mb=memory, duration_ms=duration, **common)
        memory = {
            "azure-consumption": min(peak, 1536),
            "azure-flex": min(peak, 4096),
            "cloud-run": max(peak, _CLOUD_RUN_MB),
        }[platform]
        return function.workload(memory_mb=memory, **common)

    def duration(self, function: MeasuredFunction, memory_mb: int) -> DurationBounds:
        return duration_at(function, memory_mb)

    def volume(self, function: MeasuredFunction, front_door: int) -> int:
        return int(front_door * self.share(function))

    def priced(self, front_door: int) -> list[PricedFunction]:
        out = []
        for function in self.functions:
            requests = self.volume(function, front_door)
            bills = {name: self.bill(function, requests, name) for name in FUNCTION_PLATFORMS}
            memory = self.workload(function, requests, "aws-lambda").memory_mb
            out.append(
                PricedFunction(function, requests, memory, self.duration(function, memory), bills)
            )
        return out

    def bill(self, function: MeasuredFunction, requests: int, platform: str) -> Bill:
        work = self.workload(function, requests, platform)
        return estimate(work, platform, self.catalog, free_tier=False)

    def monthly(self, platform: str, front_door: int) -> Decimal:
        return sum(
            (self.bill(f, self.volume(f, front_door), platform).exact for f in self.functions),
            ZERO,
        )

    def fleet_workload(self, *, requests: int) -> Workload:
        """The whole app as one workload a VM serves: per front-door request, the CPU time of
        every function it sets off (what sizes the fleet)."""
        cpu_ms = sum((self.share(f) * f.duration_ms * f.cpu_share for f in self.functions), ZERO)
        built: Workload = Workload.build(
            requests=requests, duration_ms=cpu_ms, memory_mb=128, cpu_share=Decimal(1)
        )
        return built


def _first_crossing(
    cost: Callable[[Decimal], Decimal],
    vm_cost: Callable[[Decimal], Decimal],
    share: Decimal,
    steps: Decimal | None = None,
) -> Decimal | None:
    """The lowest front-door rate at which ``cost`` reaches ``share`` of the fleet's: 0 when
    it is there from the start, ``None`` when not below 100,000 req/s.

    Between the fleet's steps (one more instance every ``steps`` req/s) the VM's bill is
    flat and the platform's only grows, so within a step the first crossing is found by
    bisection; a step is checked just before it ends, where the platform is dearest
    against the VM. The steps are walked on a doubling grid of rates (at most
    :data:`_MAX_STEPS` of them one by one: past that a step is a small share of the fleet)."""

    def over(rps: Decimal) -> bool:
        return cost(rps) >= share * vm_cost(rps)

    low = Decimal("0.001")
    if over(low):
        return ZERO
    checked = 0
    while True:
        high = min(low * 2, _TOP_RPS)
        # the step ends inside (low, high], each checked just before the fleet grows
        if steps is not None and checked < _MAX_STEPS:
            first, last = int(low / steps) + 1, int(high / steps)
            for n in range(first, min(last, first + _MAX_STEPS - checked - 1) + 1):
                checked += 1
                end = n * steps * (1 - Decimal("1e-9"))
                if over(end):
                    high = end
                    break
                low = end
        if over(high):
            break
        if high >= _TOP_RPS:
            return None
        low = high
    for _ in range(60):
        if high - low <= max(Decimal("0.001"), low * Decimal("0.0001")):
            break
        middle = (low + high) / 2
        if over(middle):
            high = middle
        else:
            low = middle
    return ((low + high) / 2).quantize(Decimal("0.001"))


def _total(platform: str, bills: Sequence[Bill]) -> Bill:
    """The app's bill on ``platform``: the functions' line items summed by name."""
    sums: dict[tuple[str, str], list[Decimal]] = {}
    for bill in bills:
        for line in bill.items:
            quantity, amount = sums.setdefault((line.item, line.unit), [ZERO, ZERO])
            sums[(line.item, line.unit)] = [quantity + line.quantity, amount + line.amount]
    items = [
        LineItem(item, quantity, unit, amount, f"{len(bills)} functions")
        for (item, unit), (quantity, amount) in sums.items()
    ]
    notes = sorted({note for bill in bills for note in bill.notes})
    return Bill(platform, items, False, notes)


def _items(bill: Bill) -> dict[str, float]:
    return {line.item: float(line.cents) for line in bill.items}


def _maybe(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def rate_text(rps: Decimal) -> str:
    """``2.5 req/s``, ``1,200 req/s``."""
    if rps >= 100:
        return f"{rps:,.0f} req/s"
    return f"{rps.quantize(Decimal('0.01')).normalize():f} req/s"


def saving_text(saving: Decimal) -> str:
    """``80% cheaper`` or ``40% dearer``."""
    if saving >= 0:
        return f"{saving:,.0%} cheaper"
    return f"{-saving:,.0%} dearer"


def _notes(app_at: _AppPricer, fleet: Fleet) -> list[str]:
    notes = [
        "no free tiers: they are per account, shared by everything in it "
        "(`faaskit cost estimate` shows them)",
        f"durations measured here, taken as Lambda at {MEASURED_AT_MB:,} MB (one vCPU); "
        "Azure and Cloud Run run them as measured",
        f"VM: {fleet.describe()}; the database is priced on neither side",
        "queues: Lambda pays SQS for its messages; on the VM faaskit's outbox is its "
        "database (secrets and queues are not priced on Azure and Cloud Run)",
        "Cloud Run and Flex with one request an instance at a time (they overlap rarely "
        "at these rates)",
    ]
    if not app_at.has_http:
        notes.insert(0, "no HTTP invocations: the profile's rate is all invocations")
    return notes
