"""The article's cost patterns priced on the app's own workload: each a month on AWS Lambda
before and after, from the invocation records at a stated traffic, with the one assumption
it rests on — so "save 70%" is confirmed or refuted pattern by pattern.

Each pattern prices only the functions it changes (its ``before`` says which), each function
at its cheapest memory size (:meth:`faaskit.cost.tuning.Tuning.best` ``"cost"``) with its
duration scaled from the records (:mod:`faaskit.cost.tuning`), unless the pattern is about
the size. A pattern whose functions the app does not have (no message handlers, no saga) is
left out, not faked. Free tiers, when asked for, are applied per function (they are the
account's: an app of several functions gets less than that).

    prices = price_patterns(measure(records), {"create_order": 2_628_000}, load_catalog())
    [(p.pattern, p.saving) for p in prices]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from faaskit.cost.catalog import Catalog
from faaskit.cost.measured import MESSAGE_TRIGGERS, MeasuredFunction
from faaskit.cost.model import estimate
from faaskit.cost.money import SECONDS_PER_MONTH, ZERO, ceil_to
from faaskit.cost.tuning import MEASURED_AT_MB, duration_at, tune
from faaskit.cost.workload import Workload

__all__ = ["BATCH_SIZE", "ENVIRONMENTS", "PatternPrice", "price_patterns"]

BATCH_SIZE = 10
"""Messages a batched invocation takes (SQS's default batch size for Lambda)."""
ENVIRONMENTS = 10
"""Warm environments a function keeps, each re-reading a cached secret once a TTL."""
ONE_SIZE_MB = 1024
"""The "before" of right-sizing: one size for every function."""


@dataclass(frozen=True, slots=True)
class PatternPrice:
    """One pattern's month on Lambda, in USD (each a sum of bills' cents): ``before``
    and ``after`` say what was priced, ``assumption`` what it rests on."""

    pattern: str
    before: str
    after: str
    before_monthly: Decimal
    after_monthly: Decimal
    assumption: str

    @property
    def saving(self) -> Decimal:
        """``1 - after/before``: 0.7 is 70% cheaper, negative is dearer (0 when before is 0)."""
        if not self.before_monthly:
            return ZERO
        return 1 - self.after_monthly / self.before_monthly

    def to_dict(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "before": self.before,
            "after": self.after,
            "before_monthly": float(self.before_monthly),
            "after_monthly": float(self.after_monthly),
            "saving": float(self.saving.quantize(Decimal("0.0001"))),
            "assumption": self.assumption,
        }


class _Shop:
    """What the patterns share: the traffic, each function's cheapest size, and a month of
    a function at a size as a Lambda bill."""

    def __init__(
        self,
        functions: Sequence[MeasuredFunction],
        requests: Mapping[str, int],
        catalog: Catalog,
        arch: str,
        free_tier: bool,
        cold_share: Decimal | None = None,
    ) -> None:
        self.functions = list(functions)
        self.traffic = requests
        self.catalog, self.arch, self.free_tier = catalog, arch, free_tier
        self.cold_share = cold_share
        self.sizes = {
            f.function: tune(f, catalog, arch=arch, cold_share=cold_share).best("cost").memory_mb
            for f in functions
        }

    def cold(self, f: MeasuredFunction) -> Decimal:
        """``f``'s share of cold starts: the profile's, else as measured."""
        return f.cold_share if self.cold_share is None else self.cold_share

    def requests(self, f: MeasuredFunction) -> int:
        return self.traffic.get(f.function, 0)

    def duration(self, f: MeasuredFunction, memory_mb: int) -> Decimal:
        """``f``'s measured duration moved to ``memory_mb`` (the estimate)."""
        return duration_at(f, memory_mb).estimate

    def work(self, f: MeasuredFunction, memory_mb: int | None = None, **fields: Any) -> Workload:
        """``f``'s month at ``memory_mb`` (its cheapest size by default); ``fields``
        override any Workload field (duration_ms, requests, gateway…)."""
        size = memory_mb or self.sizes[f.function]
        chosen: dict[str, Any] = {
            "requests": self.requests(f),
            "duration_ms": self.duration(f, size),
            "arch": self.arch,
            "cold_share": self.cold(f),
            **fields,
        }
        return f.workload(memory_mb=size, **chosen)

    def monthly(self, workloads: Iterable[Workload]) -> Decimal:
        return sum(
            (
                estimate(w, "aws-lambda", self.catalog, free_tier=self.free_tier).total
                for w in workloads
            ),
            ZERO,
        )

    def busiest_http(self) -> MeasuredFunction | None:
        http = [f for f in self.functions if f.trigger == "http"]
        return max(http, key=lambda f: (self.requests(f), f.count), default=None)


def price_patterns(
    functions: Sequence[MeasuredFunction],
    requests: Mapping[str, int],
    catalog: Catalog,
    *,
    arch: str = "arm64",
    free_tier: bool = False,
    cold_share: Decimal | None = None,
) -> list[PatternPrice]:
    """The article's patterns priced for ``functions`` at ``requests`` (invocations a month
    per function name): right-sized memory, arm64 vs x86, cached secrets, batched
    messages, an async saga, HTTP API vs REST API, provisioned concurrency — those the
    app has the functions for. ``cold_share`` (the traffic profile's) replaces the
    measured share of cold starts: a tour starts far more cold than production."""
    shop = _Shop(functions, requests, catalog, arch, free_tier, cold_share)
    found = (
        _right_sized(shop),
        _arm64(shop),
        _cached_secrets(shop),
        _batched(shop),
        _async_saga(shop),
        _http_api(shop),
        _provisioned(shop),
    )
    return [price for price in found if price is not None]


def _right_sized(shop: _Shop) -> PatternPrice | None:
    if not shop.functions:
        return None
    sizes = sorted(shop.sizes.values())
    span = f"{sizes[0]:,} MB" if sizes[0] == sizes[-1] else f"{sizes[0]:,}-{sizes[-1]:,} MB"
    return PatternPrice(
        "right-sized memory",
        f"{ONE_SIZE_MB:,} MB for every function",
        f"each function at its cheapest size ({span})",
        shop.monthly(shop.work(f, ONE_SIZE_MB) for f in shop.functions),
        shop.monthly(shop.work(f) for f in shop.functions),
        f"durations scaled from {MEASURED_AT_MB:,} MB (a laptop core ≈ 1 vCPU) by each "
        f"function's CPU share; sizes by Power Tuning's cost strategy; {shop.arch}",
    )


def _arm64(shop: _Shop) -> PatternPrice | None:
    if not shop.functions:
        return None
    return PatternPrice(
        "arm64 vs x86",
        "every function on x86",
        "every function on arm64 (Graviton)",
        shop.monthly(shop.work(f, arch="x86") for f in shop.functions),
        shop.monthly(shop.work(f, arch="arm64") for f in shop.functions),
        "arm64 runs as fast as x86 (the measured durations on both); the same sizes, each "
        "function's cheapest",
    )


def _cached_secrets(shop: _Shop) -> PatternPrice | None:
    from faaskit.secrets import DEFAULT_TTL  # the TTL ctx.secrets caches a value for

    if not shop.functions:
        return None
    ttl = Decimal(repr(DEFAULT_TTL))
    per_function = int(ENVIRONMENTS * SECONDS_PER_MONTH / ttl)

    def cached(f: MeasuredFunction) -> Workload:
        n = shop.requests(f)
        calls = min(n, per_function)
        return shop.work(f, secrets_calls_per_request=Decimal(calls) / n if n else ZERO)

    return PatternPrice(
        "cached secrets",
        "a Secrets Manager call per invocation",
        f"ctx.secrets: one call per {ttl.normalize():f} s TTL per warm environment",
        shop.monthly(shop.work(f, secrets_calls_per_request=Decimal(1)) for f in shop.functions),
        shop.monthly(cached(f) for f in shop.functions),
        f"every function reads one secret; cached, each of {ENVIRONMENTS} warm environments "
        f"of a function re-reads it every {ttl.normalize():f} s (at most {per_function:,} "
        "calls a month a function); the call's latency is not added to uncached durations",
    )


def _batched(shop: _Shop) -> PatternPrice | None:
    queued = [f for f in shop.functions if f.trigger in MESSAGE_TRIGGERS]
    if not queued:
        return None

    def batched(f: MeasuredFunction) -> Workload:
        size = shop.sizes[f.function]
        return shop.work(
            f,
            requests=math.ceil(shop.requests(f) / BATCH_SIZE),
            duration_ms=shop.duration(f, size) * BATCH_SIZE,
        )

    return PatternPrice(
        "batched messages",
        f"{_count(len(queued), 'message, task or saga-step function')} invoked once a message "
        "(SQS batch size 1)",
        f"SQS batch size {BATCH_SIZE}",
        shop.monthly(shop.work(f) for f in queued),
        shop.monthly(batched(f) for f in queued),
        f"a batch of {BATCH_SIZE} takes {BATCH_SIZE} x a message's measured duration (no "
        f"overhead saved); invocations and SQS requests / {BATCH_SIZE} (a receive takes "
        f"{BATCH_SIZE})",
    )


def _async_saga(shop: _Shop) -> PatternPrice | None:
    steps = [f for f in shop.functions if f.trigger == "saga_step" and f.function.endswith(".do")]
    steps = [f for f in steps if shop.requests(f)]
    if not steps:
        return None
    # Synchronous, the function that starts the saga runs the steps itself, in one long
    # invocation it already pays the request and gateway for: only the steps' work is
    # added, at the biggest step's size. Asynchronous, each step is an invocation of its
    # own, with its request fee and its queued message. The route that starts the saga costs
    # the same either way and is left out of both.
    size = max(shop.sizes[f.function] for f in steps)
    inline = [
        shop.work(f, size, duration_ms=shop.duration(f, size), gateway="none", queue="none")
        for f in steps
    ]
    waiting = sum((_compute(shop, w) for w in inline), ZERO).quantize(Decimal("0.01"))
    messages = shop.monthly(shop.work(f) for f in steps)
    # What a second of waiting costs the month: one per saga (the most-run step ran at
    # least once a saga, so this many sagas at most), at the waiting size.
    sagas = max(shop.requests(f) for f in steps)
    price = shop.catalog.tiers("aws.lambda.duration", shop.arch)[0].price
    per_second = sagas * Decimal(size) / 1024 * price
    pays_off = (messages - waiting) / per_second * 1000 if per_second else ZERO
    return PatternPrice(
        "async saga",
        f"the route waits for {_count(len(steps), 'saga step')} (one synchronous function)",
        "the route answers 202, the steps run as messages",
        waiting,
        messages,
        f"waiting, the route runs the steps' measured durations (their I/O included) at "
        f"{size:,} MB, and is billed for the time between steps too (a payment provider's "
        f"answer, a person's click): the messages pay off once that is over "
        f"{max(pays_off, ZERO):,.0f} ms a saga",
    )


def _compute(shop: _Shop, work: Workload) -> Decimal:
    bill = estimate(work, "aws-lambda", shop.catalog, free_tier=shop.free_tier)
    return sum((line.amount for line in bill.items if line.item in ("compute", "INIT")), ZERO)


def _http_api(shop: _Shop) -> PatternPrice | None:
    http = [f for f in shop.functions if f.trigger == "http"]
    if not http:
        return None
    return PatternPrice(
        "HTTP API vs REST API",
        f"{_count(len(http), 'HTTP function')} behind an API Gateway REST API",
        "behind an HTTP API",
        shop.monthly(shop.work(f, gateway="rest") for f in http),
        shop.monthly(shop.work(f, gateway="http") for f in http),
        "one gateway request per invocation; REST API features (usage plans, caching, WAF) "
        "not used",
    )


def _provisioned(shop: _Shop) -> PatternPrice | None:
    f = shop.busiest_http()
    if f is None:
        return None
    on_demand = shop.work(f)
    return PatternPrice(
        "provisioned concurrency",
        f"{f.function} on demand: {shop.cold(f):.2%} cold starts, INIT billed",
        f"{f.function} with 1 provisioned environment all month",
        shop.monthly([on_demand]),
        shop.monthly([shop.work(f, provisioned=1)]),
        f"{'the measured' if shop.cold_share is None else 'the profile'}'s cold share "
        f"({shop.cold(f):.2%}, INIT {f.init_ms.normalize():f} ms); "
        f"one environment serves all traffic (mean concurrency "
        f"{_concurrency(on_demand)}); {_pays_off(shop, on_demand)}",
    )


def _pays_off(shop: _Shop, w: Workload) -> str:
    """At which volume one provisioned environment costs what on-demand does: its standby
    charge over what each invocation saves (the lower duration rate, no INIT)."""
    catalog, arch = shop.catalog, w.arch
    on_demand = catalog.tiers("aws.lambda.duration", arch)[0].price
    provisioned = catalog.price("aws.lambda.provisioned.duration", arch).price
    standby = catalog.price("aws.lambda.provisioned.standby", arch).price
    gbs = ceil_to(w.duration_ms, Decimal(1)) / 1000 * w.memory_gb
    init_gbs = w.cold_share * ceil_to(w.init_ms, Decimal(1)) / 1000 * w.memory_gb
    saved = gbs * (on_demand - provisioned) + init_gbs * on_demand
    if saved <= 0:
        return "it never pays off at this duration"
    volume = standby * w.memory_gb * SECONDS_PER_MONTH / saved
    rate = volume / SECONDS_PER_MONTH
    return (
        f"it pays off above {volume:,.0f} invocations a month ({rate:,.2f} req/s, "
        "no free tier) while one environment keeps up"
    )


def _concurrency(w: Workload) -> str:
    """Invocations running at once on average: rate x duration (Little's law)."""
    busy = Decimal(w.requests) / SECONDS_PER_MONTH * w.duration_ms / 1000
    return f"{busy:,.2f}"


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}" if n == 1 else f"{n:,} {thing}s"
