"""A relay that loses messages, for the shop-over-a-cloud-queue tests of every adapter."""

from __future__ import annotations

from collections.abc import Sequence

from faaskit.runtime.relay import Relay, RelayedDelivery


class LosingRelay:
    """Loses every other delivery it is asked to relay, as a flaky network might."""

    def __init__(self, inner: Relay) -> None:
        self.inner = inner
        self.asked = 0
        self.lost: list[RelayedDelivery] = []

    async def send(self, deliveries: Sequence[RelayedDelivery]) -> None:
        kept = []
        for delivery in deliveries:
            self.asked += 1
            (self.lost if self.asked % 2 else kept).append(delivery)
        await self.inner.send(kept)
