"""From invocation records to what is priced: Power Tuning's trimmed mean, the CPU share,
cold starts and INIT, peak memory rounded to a size, and the gateway or queue a trigger
implies."""

from __future__ import annotations

from decimal import Decimal

import pytest

from faaskit.cost.measured import measure, trimmed_mean
from faaskit.errors import ValidationError
from faaskit.store.protocol import InvocationRecord

MB = 1024 * 1024


def record(function: str, trigger: str, at: float, ms: float, cpu_ms: float, **extra: object):
    fields: dict[str, object] = {
        "memory": 90 * MB,
        "cold": False,
        "init_seconds": None,
        "outcome": "success",
        **extra,
    }
    return InvocationRecord(function, trigger, at, ms / 1000, cpu_ms / 1000, **fields)  # type: ignore[arg-type]


def test_the_trimmed_mean_drops_a_fifth_of_the_samples_from_each_end() -> None:
    assert trimmed_mean([1, 2, 3, 4, 100]) == Decimal(3)  # 1 and 100 dropped
    assert trimmed_mean([5, 1, 9, 3, 7, 1000, 2, 8, 4, 6]) == Decimal("5.5")  # 1, 2 / 9, 1000
    assert trimmed_mean([4, 8]) == Decimal(6)  # too few to drop any
    with pytest.raises(ValidationError):
        trimmed_mean([])


def test_a_function_measured_from_its_records() -> None:
    rows = [record("orders", "http", 100 + i, 10 * (i + 1), 4 * (i + 1)) for i in range(10)]
    rows[0] = record("orders", "http", 100, 10, 4, cold=True, init_seconds=0.25)
    rows.append(record("orders", "http", 110, 12, 5, memory=200 * MB, outcome="error"))
    rows.append(record("mailer", "message", 105, 3, 1))

    orders, mailer = measure(rows)

    assert (orders.function, orders.count, orders.errors) == ("orders", 11, 1)
    assert orders.cold_starts == 1
    assert orders.memory_mb == 200 and orders.default_memory_mb == 256
    assert orders.init_ms == Decimal(250)
    # 11 samples: the 2 lowest (10, 12) and 2 highest (90, 100) dropped
    assert orders.duration_ms == Decimal(50)
    assert orders.cpu_share == Decimal("0.4")
    assert orders.observed_rps == Decimal(1)  # 11 records over 10 seconds
    work = orders.workload(requests=1_000_000)
    assert (work.gateway, work.queue, work.memory_mb) == ("http", "none", 256)
    assert work.cold_share == Decimal(1) / 11 - (Decimal(1) / 11) % Decimal("0.000001")
    assert mailer.workload(requests=10, memory_mb=512, arch="x86").queue == "sqs"
    assert mailer.default_memory_mb == 128
