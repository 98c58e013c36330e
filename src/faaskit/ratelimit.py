"""Rate limits: token buckets kept in the store, so a limit holds across every process.

    from datetime import timedelta
    from faaskit import RateLimit

    LOGIN = RateLimit(5, per=timedelta(minutes=1))  # 5 a minute, in bursts of up to 5
    SEARCH = RateLimit(10, per=1, burst=20)         # 10 a second, in bursts of up to 20

    await limiter.take(f"login:{email}", LOGIN)     # else TooManyRequestsError (a 429)

A bucket starts full with ``capacity`` tokens and refills continuously at
``refill_per_second``; each request takes ``cost`` tokens or is refused with the seconds
until they will be there. A take commits at once, outside the invocation's unit of work:
a failed login rolls back everything else it did, but its token stays spent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from faaskit.errors import ConfigurationError, TooManyRequestsError

if TYPE_CHECKING:
    from faaskit.clock import Clock
    from faaskit.store.protocol import Store

__all__ = ["RateLimit", "RateLimiter"]


@dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` requests per ``per`` seconds (a timedelta is accepted too),
    in bursts of up to ``burst`` (default: ``limit``).

    >>> RateLimit(5, per=timedelta(minutes=1)).refill_per_second
    0.08333333333333333
    >>> RateLimit(10, per=1, burst=20).capacity
    20
    """

    limit: int
    per: float
    burst: int | None = None

    if TYPE_CHECKING:  # the dataclass's own __init__ at run time; this says per may be a timedelta

        def __init__(
            self, limit: int, per: float | timedelta, burst: int | None = None
        ) -> None: ...

    def __post_init__(self) -> None:
        per: object = self.per
        if isinstance(per, timedelta):
            per = per.total_seconds()
        if isinstance(per, bool) or not isinstance(per, int | float):
            raise ConfigurationError(f"RateLimit per= takes seconds or a timedelta, got {per!r}")
        if not (math.isfinite(per) and per > 0):
            raise ConfigurationError(f"RateLimit per= must be more than 0 seconds, got {per!r}")
        object.__setattr__(self, "per", float(per))  # frozen: the one normalising write
        if not _whole_at_least_one(self.limit):
            raise ConfigurationError(
                f"RateLimit limit= is a number of requests, 1 or more; got {self.limit!r}"
            )
        if self.burst is not None and not _whole_at_least_one(self.burst):
            raise ConfigurationError(
                f"RateLimit burst= is a number of requests, 1 or more; got {self.burst!r}"
            )

    @property
    def capacity(self) -> int:
        """Tokens a full bucket holds: the largest burst that passes at once."""
        return self.limit if self.burst is None else self.burst

    @property
    def refill_per_second(self) -> float:
        """Tokens a bucket gains each second, up to :attr:`capacity`."""
        return self.limit / self.per


def _whole_at_least_one(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


class RateLimiter:
    """Takes tokens from buckets kept in ``store``, at the time ``clock`` says.

    Name a bucket for the rule and the client (``f"login:{email}"``): buckets are
    independent, and one bucket name used with two rules would share its tokens. Keys may
    be any text (client input included); the store hashes the long and odd ones.
    """

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def take(self, bucket: str, rule: RateLimit, *, cost: int = 1) -> None:
        """Take ``cost`` tokens from ``bucket`` or raise TooManyRequestsError(retry_after=seconds).

        A ``cost`` above ``rule.capacity`` could never pass, however long the caller
        waited, so it raises ValueError (a bug to fix: raise ``burst`` or split the work)
        rather than a 429 whose Retry-After would be a lie.
        """
        if isinstance(cost, bool) or not isinstance(cost, int) or cost < 1:
            raise ValueError(f"cost= is a number of tokens, 1 or more; got {cost!r}")
        if cost > rule.capacity:
            raise ValueError(
                f"cost={cost} is more than the {rule.capacity} tokens bucket {bucket!r} holds"
                f" ({rule}), so it could never pass: raise burst= or lower the cost"
            )
        now = self._clock.now().timestamp()
        wait = await self._store.take_tokens(
            bucket, rule.capacity, rule.refill_per_second, cost, now
        )
        if wait > 0:
            raise TooManyRequestsError(
                f"rate limit reached: try again in {math.ceil(wait)} s", retry_after=wait
            )
