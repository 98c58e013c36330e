"""Memory scaling: the CPU-bound part of a duration follows Lambda's CPU share (1,769 MB =
one vCPU), the I/O part stays; a single-threaded handler gains nothing above one vCPU."""

from __future__ import annotations

from decimal import Decimal

import pytest

from faaskit.cost import scale_duration
from faaskit.cost.scaling import lambda_vcpus
from faaskit.errors import ValidationError

D = Decimal


def test_doubling_memory_halves_the_cpu_part_only() -> None:
    got = scale_duration(D(200), cpu_share=D("0.5"), from_mb=512, to_mb=1024)

    assert got.estimate == D(150)  # 100 ms CPU -> 50, 100 ms I/O stays
    assert (got.cpu_bound, got.io_bound) == (D(100), D(200))
    assert got.low <= got.estimate <= got.high


def test_a_single_threaded_handler_gains_nothing_above_one_vcpu() -> None:
    single = scale_duration(D(100), cpu_share=D(1), from_mb=1769, to_mb=3538)
    threaded = scale_duration(D(100), cpu_share=D(1), from_mb=1769, to_mb=3538, threads=4)

    assert single.estimate == D(100)
    assert threaded.estimate == D(50)
    assert lambda_vcpus(10240, threads=8) == D(10240) / D(1769)  # under the 6-vCPU ceiling


def test_shrinking_memory_slows_the_cpu_part() -> None:
    got = scale_duration(D(40), cpu_share=D("0.25"), from_mb=1024, to_mb=256)

    assert got.estimate == D(10) * 4 + D(30)
    assert got.high == D(160) and got.low == D(40)


def test_bad_sizes_and_shares_are_refused() -> None:
    with pytest.raises(ValidationError, match="128 to 10240"):
        scale_duration(D(10), cpu_share=D(1), from_mb=64, to_mb=512)
    with pytest.raises(ValidationError, match="cpu_share"):
        scale_duration(D(10), cpu_share=D(2), from_mb=512, to_mb=1024)
