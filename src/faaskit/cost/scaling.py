"""Duration at a memory size not measured. On Lambda CPU comes with memory (1,769 MB = one
vCPU, up to 6 vCPUs at 10,240 MB), so the CPU-bound part of a duration shrinks or grows with
the CPU share while the I/O part (waiting on a database, an API) stays fixed; a
single-threaded handler (most Python) gains nothing above one vCPU.

    scale_duration(Decimal(200), cpu_share=Decimal("0.5"), from_mb=512, to_mb=1024)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from faaskit.errors import ValidationError

__all__ = ["LAMBDA_MB_PER_VCPU", "DurationBounds", "lambda_vcpus", "scale_duration"]

LAMBDA_MB_PER_VCPU = Decimal(1769)
LAMBDA_MAX_MB = 10240
LAMBDA_MAX_VCPUS = Decimal(6)


def lambda_vcpus(memory_mb: int, *, threads: int = 1) -> Decimal:
    """The CPU a handler can use at ``memory_mb``: memory/1,769 vCPU, capped by the six a
    Lambda has at most and by the ``threads`` the handler runs on."""
    if not 128 <= memory_mb <= LAMBDA_MAX_MB:
        raise ValidationError(f"memory {memory_mb} MB: Lambda takes 128 to {LAMBDA_MAX_MB} MB")
    share = Decimal(memory_mb) / LAMBDA_MB_PER_VCPU
    return min(share, LAMBDA_MAX_VCPUS, Decimal(threads))


@dataclass(frozen=True, slots=True)
class DurationBounds:
    """Durations at the new size: ``estimate`` from the measured CPU share, between
    ``cpu_bound`` (as if all of it scaled with CPU) and ``io_bound`` (as if none did)."""

    estimate: Decimal
    cpu_bound: Decimal
    io_bound: Decimal

    @property
    def low(self) -> Decimal:
        return min(self.cpu_bound, self.io_bound)

    @property
    def high(self) -> Decimal:
        return max(self.cpu_bound, self.io_bound)


def scale_duration(
    duration_ms: Decimal,
    *,
    cpu_share: Decimal,
    from_mb: int,
    to_mb: int,
    threads: int = 1,
) -> DurationBounds:
    """``duration_ms`` measured at ``from_mb`` with ``cpu_share`` of it on CPU, moved to
    ``to_mb``: the CPU part x (CPU before / CPU after), the I/O part unchanged."""
    if not 0 <= cpu_share <= 1:
        raise ValidationError(f"cpu_share {cpu_share}: give a share in [0, 1]")
    factor = lambda_vcpus(from_mb, threads=threads) / lambda_vcpus(to_mb, threads=threads)
    cpu = duration_ms * cpu_share
    return DurationBounds(
        estimate=cpu * factor + (duration_ms - cpu),
        cpu_bound=duration_ms * factor,
        io_bound=duration_ms,
    )
