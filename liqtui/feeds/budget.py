"""Pacing every REST request of one exchange within its documented rate limit.

Each exchange gets one `RestBudget`, shared by all its pollers (open interest, order books,
metadata, retries): a token bucket refilled at `share` of the documented rate (the rest is
headroom for other programs on the same IP) that holds at most a couple of seconds of it, and
never more than half the headroom. Any window of the exchange's own length (Binance: a minute)
therefore sees at most `share` × the limit plus that small burst. Requests wait their turn in
order (asyncio.Lock is fair), so no poller starves.

The bucket alone would make every poller late when many markets are watched; `stretch` says by
how much the planned intervals must grow instead, so the polls fit the budget with room left for
retries and start-up requests, and the feed's health shows it.

Time comes from a `Clock`, so tests can run the pacing on a faster one.
"""

from __future__ import annotations

import asyncio
import time

from liqtui.exchanges.spec import RateLimit

BURST_S = 2.0  # the bucket holds this many seconds of the budget at most
PLANNED_SHARE = 0.9  # planned polls use at most this much of the budget (retries get the rest)
_EPSILON = 1e-6  # of weight


class Clock:
    """Monotonic seconds, and sleeping on them."""

    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class RestBudget:
    """A token bucket of request weight for one exchange's REST API."""

    def __init__(self, limit: RateLimit, share: float, clock: Clock | None = None) -> None:
        self.limit = limit
        self.rate = limit.per_second * share  # weight per second liqtui may spend
        headroom = limit.weight * (1.0 - share)
        self.capacity = min(self.rate * BURST_S, headroom / 2)
        self.clock = clock or Clock()
        self.spent = 0.0  # weight acquired so far
        self._tokens = self.capacity
        self._at = self.clock.now()
        self._lock = asyncio.Lock()

    def _refill(self, cap: float) -> None:
        now = self.clock.now()
        self._tokens = min(cap, self._tokens + (now - self._at) * self.rate)
        self._at = now

    async def acquire(self, weight: float) -> None:
        """Wait until `weight` may be spent, then spend it."""
        async with self._lock:
            cap = max(self.capacity, weight)  # a request heavier than the burst still gets out
            self._refill(cap)
            while self._tokens < weight - _EPSILON:  # (rounding must not wait forever)
                await self.clock.sleep((weight - self._tokens) / self.rate)
                self._refill(cap)
            self._tokens -= weight
            self.spent += weight

    def stretch(self, demand_per_s: float) -> float:
        """The factor (≥ 1) by which poll intervals grow so that polls asking for
        `demand_per_s` weight a second fit the budget."""
        return max(1.0, demand_per_s / (self.rate * PLANNED_SHARE))
