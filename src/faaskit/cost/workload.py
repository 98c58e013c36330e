"""What is priced: a month of one function's invocations given by numbers (requests,
duration, memory, architecture, gateway, cold starts, queue messages and secret look-ups per
request), and the traffic profile behind it (mean rate, peak-to-mean, daily shape, growth).

    Workload.build(requests=3_000_000, duration_ms=1000, memory_mb=512, arch="x86")
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from faaskit.cost.money import SECONDS_PER_MONTH
from faaskit.errors import ValidationError

__all__ = ["Gateway", "Queue", "TrafficProfile", "Workload"]

Gateway = Literal["http", "rest", "url", "none"]
Queue = Literal["sqs", "sns", "eventbridge", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def build(cls, **fields: Any) -> Any:
        """A validated instance, or faaskit's ValidationError listing every bad field."""
        try:
            return cls.model_validate(fields)
        except PydanticValidationError as error:
            failures = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()
            ]
            text = "; ".join(f"{'.'.join(map(str, f['loc']))}: {f['msg']}" for f in failures)
            raise ValidationError(f"bad workload: {text}", failures) from None


class Workload(_Model):
    """One function's month. ``duration_ms`` is the mean handler time an invocation;
    ``cpu_share`` the part of it spent on CPU (the rest waits on I/O); ``memory_mb`` the
    configured size (Lambda, Cloud Run) or the observed peak (Azure Consumption)."""

    requests: int = Field(ge=0)
    duration_ms: Decimal = Field(ge=0)
    memory_mb: int = Field(ge=1, le=32768)
    arch: Literal["x86", "arm64"] = "arm64"
    gateway: Gateway = "none"
    cold_share: Decimal = Field(default=Decimal(0), ge=0, le=1)
    init_ms: Decimal = Field(default=Decimal(0), ge=0)
    cpu_share: Decimal = Field(default=Decimal(1), ge=0, le=1)
    queue: Queue = "none"
    messages_per_request: Decimal = Field(default=Decimal(0), ge=0)
    secrets_calls_per_request: Decimal = Field(default=Decimal(0), ge=0)
    parameter_calls_per_request: Decimal = Field(default=Decimal(0), ge=0)
    secrets_stored: int = Field(default=0, ge=0)
    provisioned: int = Field(default=0, ge=0)
    concurrency: int = Field(default=1, ge=1, le=1000)
    vcpu: Decimal = Field(default=Decimal(1), gt=0, le=8)
    always_ready: int = Field(default=0, ge=0)

    @property
    def memory_gb(self) -> Decimal:
        return Decimal(self.memory_mb) / 1024

    @property
    def seconds(self) -> Decimal:
        return self.duration_ms / 1000

    @property
    def cold_starts(self) -> Decimal:
        return self.cold_share * self.requests

    def with_requests(self, requests: int) -> Workload:
        """The same function at another volume."""
        return self.model_copy(update={"requests": requests})


class TrafficProfile(_Model):
    """Traffic over a month at the app's front door: a mean rate, how far the peak rises above
    it (given, or taken from a 24-hour ``daily_shape`` of relative weights), monthly
    ``growth`` (0.1 = 10%), and optionally the share of invocations that start cold."""

    mean_rps: Decimal = Field(ge=0, le=1_000_000)
    peak_to_mean: Decimal | None = Field(default=None, ge=1, le=1000)
    daily_shape: tuple[Decimal, ...] | None = None
    growth: Decimal = Field(default=Decimal(0), gt=-1, le=1)
    name: str = Field(default="profile", min_length=1, max_length=80, pattern=r"^[^\x00-\x1f]+$")
    cold_share: Decimal | None = Field(default=None, ge=0, le=1)
    """The share of invocations that start cold at this traffic; ``None``: as measured. A
    tour or a test starts every function cold once in a few calls, production far less."""

    @model_validator(mode="after")
    def _shape(self) -> TrafficProfile:
        if self.daily_shape is not None:
            if len(self.daily_shape) != 24 or any(w < 0 for w in self.daily_shape):
                raise ValueError("daily_shape is 24 non-negative hourly weights")
            if sum(self.daily_shape) == 0:
                raise ValueError("daily_shape needs a positive weight")
        return self

    @property
    def ratio(self) -> Decimal:
        """Peak over mean: given, else the daily shape's busiest hour over its mean."""
        if self.peak_to_mean is not None:
            return self.peak_to_mean
        if self.daily_shape is not None:
            return max(self.daily_shape) * 24 / sum(self.daily_shape)
        return Decimal(1)

    def mean_in_month(self, month: int = 0) -> Decimal:
        """The mean rate ``month`` months from now, growth compounding."""
        return self.mean_rps * (1 + self.growth) ** month

    def peak_in_month(self, month: int = 0) -> Decimal:
        return self.mean_in_month(month) * self.ratio

    def requests_in_month(self, month: int = 0) -> int:
        return int(self.mean_in_month(month) * SECONDS_PER_MONTH)
