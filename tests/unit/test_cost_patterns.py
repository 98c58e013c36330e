"""The article's patterns priced on a small synthetic shop: each pattern's direction, the
figures that can be done by hand exact to the cent, and a pattern left out when the shop
has no functions for it.

The shop (records taken at 1,769 MB = one vCPU; every function's cheapest size is 128 MB,
where a CPU millisecond takes 1769/128 = 13.8203125 ms):

- create_order (http): 100 ms, 50 on CPU, 1 of 10 cold with 250 ms INIT -> 741.02 ms,
  billed 742; 1M a month
- list_products (http): 20 ms, 10 on CPU -> 148.20 ms, billed 149; 3M a month
- saga.order.charge.do (saga step): 40 ms, 4 on CPU -> 91.28125 ms, billed 92; 1M
- send_receipt (message): 30 ms, 3 on CPU -> 68.4609375 ms, billed 69; 1M

Arm duration $0.0000133334 a GB-s, requests $0.20/1M, SQS $0.40/1M, Secrets Manager
$0.05/10K calls, HTTP API $1.00/1M, REST API $3.50/1M; no free tier. Each function's
month at 128 MB behind an HTTP API, line by line (each line rounded to the cent):

- create_order: compute 1M x 0.742 s x 0.125 GB = 92,750 GB-s x ARM = $1.24; INIT 100,000
  x 0.25 s x 0.125 GB = 3,125 GB-s = $0.04; requests $0.20; gateway $1.00 -> $2.48
- list_products: 3M x 0.149 x 0.125 = 55,875 GB-s = $0.75; requests $0.60; gateway $3.00
  -> $4.35
- the saga step: 1M x 0.092 x 0.125 = 11,500 GB-s = $0.15; requests $0.20; SQS $0.40 ->
  $0.75
- send_receipt: 1M x 0.069 x 0.125 = 8,625 GB-s = $0.12; $0.20; $0.40 -> $0.72

The shop at its cheapest sizes: $8.30 a month.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from faaskit.cost.catalog import load_catalog
from faaskit.cost.measured import MeasuredFunction, measure
from faaskit.cost.patterns import PatternPrice, price_patterns
from faaskit.store.protocol import InvocationRecord

REQUESTS = {
    "create_order": 1_000_000,
    "list_products": 3_000_000,
    "saga.order.charge.do": 1_000_000,
    "send_receipt": 1_000_000,
}


def records(function: str, trigger: str, ms: float, cpu_ms: float, cold: int = 0) -> list:  # type: ignore[type-arg]
    return [
        InvocationRecord(
            function,
            trigger,
            100.0 + i,
            ms / 1000,
            cpu_ms / 1000,
            None,
            i < cold,
            0.25 if i < cold else None,
            "success",
        )
        for i in range(10)
    ]


def shop(*, with_queues: bool = True) -> list[MeasuredFunction]:
    rows = records("create_order", "http", 100, 50, cold=1)
    rows += records("list_products", "http", 20, 10)
    if with_queues:
        rows += records("saga.order.charge.do", "saga_step", 40, 4)
        rows += records("send_receipt", "message", 30, 3)
    return measure(rows)


@pytest.fixture(scope="module")
def priced() -> dict[str, PatternPrice]:
    found = price_patterns(shop(), REQUESTS, load_catalog())
    return {p.pattern: p for p in found}


def test_every_pattern_is_priced_in_order(priced: dict[str, PatternPrice]) -> None:
    assert list(priced) == [
        "right-sized memory",
        "arm64 vs x86",
        "cached secrets",
        "batched messages",
        "async saga",
        "HTTP API vs REST API",
        "provisioned concurrency",
    ]


def test_http_api_against_rest_api(priced: dict[str, PatternPrice]) -> None:
    p = priced["HTTP API vs REST API"]
    # the two HTTP functions: REST $3.50 + $10.50 against HTTP $1.00 + $3.00;
    # before 1.24 + 0.04 + 0.20 + 3.50 + 0.75 + 0.60 + 10.50
    assert (p.before_monthly, p.after_monthly) == (Decimal("16.83"), Decimal("6.83"))
    assert p.saving == 1 - Decimal("6.83") / Decimal("16.83")  # 59%


def test_batched_messages(priced: dict[str, PatternPrice]) -> None:
    p = priced["batched messages"]
    # before: the saga step's $0.75 + send_receipt's $0.72
    assert p.before_monthly == Decimal("1.47")
    # after, 100,000 invocations of 10 messages each:
    # step: 100,000 x 0.913 s (10 x 91.28125 ms, billed up) x 0.125 GB = 11,412.5 GB-s x
    #   ARM = $0.15, requests $0.02, SQS $0.04 -> $0.21
    # receipt: 100,000 x 0.685 s x 0.125 = 8,562.5 GB-s = $0.11 + $0.02 + $0.04 -> $0.17
    assert p.after_monthly == Decimal("0.38")
    assert "batch size 10" in p.after


def test_cached_secrets(priced: dict[str, PatternPrice]) -> None:
    p = priced["cached secrets"]
    # before: 6M calls x $0.000005 = $30.00 on top of the shop's $8.30
    assert p.before_monthly == Decimal("38.30")
    # after: each function 10 environments x 2,628,000 s / 300 s = 87,600 calls = $0.44
    assert p.after_monthly == Decimal("8.30") + 4 * Decimal("0.44")
    assert "300 s" in p.assumption and "10 warm environments" in p.assumption


def test_right_sizing_and_arm64_end_at_the_cheapest_sizes(
    priced: dict[str, PatternPrice],
) -> None:
    sized = priced["right-sized memory"]
    assert sized.after_monthly == Decimal("8.30")
    assert sized.after == "each function at its cheapest size (128 MB)"
    # at 1,024 MB create_order alone is 137 ms x 1 GB x 1M = 137,000 GB-s = $1.83 (vs $1.24)
    assert sized.before_monthly > sized.after_monthly
    arm = priced["arm64 vs x86"]
    assert arm.after_monthly == Decimal("8.30")
    assert arm.before_monthly > arm.after_monthly  # x86 duration is 25% dearer


def test_the_async_saga_is_not_cheaper_here(priced: dict[str, PatternPrice]) -> None:
    p = priced["async saga"]
    # Waiting, the route adds the step's work to its own invocation: 1M x 92 ms (91.28
    # billed up) x 0.125 GB = 11,500 GB-s x $0.0000133334 = $0.15, no request or message.
    # As messages, the step's own bill: compute $0.15 + requests $0.20 + SQS $0.40 = $0.75.
    assert (p.before_monthly, p.after_monthly) == (Decimal("0.15"), Decimal("0.75"))
    assert p.saving < 0
    # A second of waiting a saga costs 1M x 0.125 GB x $0.0000133334 = $1.67 a month: the
    # $0.60 the messages cost more is 0.36 s of waiting a saga.
    assert "pay off once that is over 360 ms a saga" in p.assumption


def test_provisioned_concurrency_dearer_below_its_break_even(
    priced: dict[str, PatternPrice],
) -> None:
    p = priced["provisioned concurrency"]
    assert p.before_monthly == Decimal("4.35")  # list_products on demand
    # standby 0.125 GB x 2,628,000 s x $0.0000033334 = $1.10; duration 55,875 GB-s x
    # $0.0000077778 = $0.43; requests $0.60; gateway $3.00
    assert p.after_monthly == Decimal("5.13")
    assert p.saving < 0
    # the standby $1.0950219 over what an invocation saves, 0.149 s x 0.125 GB = 0.018625
    # GB-s x ($0.0000133334 - $0.0000077778): 1.0950219 / 1.0347305e-7 = 10,582,677 a
    # month, / 2,628,000 s = 4.03 req/s
    assert "pays off above 10,582,677 invocations a month (4.03 req/s" in p.assumption


def test_patterns_without_their_functions_are_left_out() -> None:
    found = [p.pattern for p in price_patterns(shop(with_queues=False), REQUESTS, load_catalog())]
    assert "batched messages" not in found and "async saga" not in found
    assert "HTTP API vs REST API" in found
    assert price_patterns([], {}, load_catalog()) == []


def test_to_dict_and_a_zero_before() -> None:
    p = PatternPrice("p", "a", "b", Decimal(0), Decimal(0), "none")
    assert p.saving == 0
    document = PatternPrice("p", "a", "b", Decimal(4), Decimal(1), "x").to_dict()
    assert document["saving"] == 0.75 and document["before_monthly"] == 4.0
