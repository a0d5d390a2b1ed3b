"""A test double of liqtui.feeds.backfill.Backfill (the same interface): history made up minute
by minute, deterministic per exchange and market, with no network. For tests of the live start
(liqtui.feeds.preload) while the real backfill is elsewhere, and for failures it cannot easily
be made to show (an exchange that refuses, an answer that stops half way).

Per minute M of [since, until): a mark at M + 30 s (a slow wave around `prices[market]`), one
closed 1m kline's taker flow stamped M, open interest at M + 59 s (rising and falling), and,
every `print_every` minutes, a liquidation print (none by default: backfill has no prints).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest, Side, TradeFlow
from liqtui.feeds.backfill import BackfillResult

MINUTE_MS = 60_000
DAY_MS = 86_400_000
OI_HISTORY_MS = {"binance": 30 * DAY_MS, "bybit": 200 * DAY_MS, "okx": 30 * DAY_MS}
PRICES = {"BTC": 97_000.0, "ETH": 3_400.0, "SOL": 180.0}


def made_up(
    exchange: str,
    market: str,
    since_ms: int,
    until_ms: int,
    *,
    price: float,
    print_every: int = 0,
) -> list[MarketEvent]:
    """The double's history of one exchange and market, in time order."""
    out: list[MarketEvent] = []
    share = {"binance": 1.0, "bybit": 0.6, "okx": 0.4}.get(exchange, 0.3)
    first = since_ms - since_ms % MINUTE_MS + (MINUTE_MS if since_ms % MINUTE_MS else 0)
    for minute in range(first, until_ms - MINUTE_MS + 1, MINUTE_MS):
        k = minute // MINUTE_MS
        p = price * (1 + 0.01 * math.sin(k / 90))
        oi = share * 50_000_000 / price * (1 + 0.08 * math.sin(k / 240) + 0.02 * math.sin(k / 17))
        buy = share * (12 + 4 * math.sin(k / 7))
        sell = share * (11 + 4 * math.cos(k / 9))
        out.append(
            TradeFlow(exchange, market, minute, MINUTE_MS, buy, sell, p, p * 1.0005, p * 0.9995, p)
        )
        out.append(MarkPrice(exchange, market, minute + 30_000, p, 0.0001))
        out.append(OpenInterest(exchange, market, minute + 59_000, oi))
        if print_every and k % print_every == 0:
            side: Side = "long" if k % 2 else "short"
            px = p * (0.995 if side == "long" else 1.005)
            qty = 200_000.0 / px
            out.append(Liquidation(exchange, market, minute + 45_000, side, px, qty, qty * px))
    return out


class FakeBackfill:
    """Answers `fetch` with `made_up` history. `available` says how far back each exchange
        keeps open interest (None: none, as Hyperliquid); `fail` maps an exchange to the error it
        answers with (nothing received); `partial` to the error after half of the span; `gate`
        holds every fetch until set (tests interleave live data with a loading history); `delays`
    holds one exchange's answers that many seconds more (it answers much later than others)."""

    def __init__(
        self,
        *,
        available: Mapping[str, int | None] | None = None,
        prices: Mapping[str, float] | None = None,
        fail: Mapping[str, str] | None = None,
        partial: Mapping[str, str] | None = None,
        gate: asyncio.Event | None = None,
        print_every: int = 0,
        delay_s: float = 0.0,
        delays: Mapping[str, float] | None = None,
    ) -> None:
        self.available = dict(OI_HISTORY_MS if available is None else available)
        self.prices = dict(PRICES if prices is None else prices)
        self.fail = dict(fail or {})
        self.partial = dict(partial or {})
        self.gate = gate
        self.print_every = print_every
        self.delay_s = delay_s
        self.delays = dict(delays or {})
        self.calls: list[tuple[str, str, int, int]] = []
        self.made: list[Any] = []  # what the factory was called with

    def factory(self) -> Callable[..., FakeBackfill]:
        """What liqtui.feeds.preload.HistoryOptions.make_backfill takes."""

        def make(settings: Any, session: Any, budgets: Any, **kw: Any) -> FakeBackfill:
            self.made.append((settings, session, budgets, kw))
            return self

        return make

    def available_ms(self, exchange: str) -> int | None:
        return self.available.get(exchange)

    def events(self, exchange: str, market: str, since_ms: int, until_ms: int) -> list[MarketEvent]:
        return made_up(
            exchange, market, since_ms, until_ms,
            price=self.prices[market], print_every=self.print_every,
        )  # fmt: skip

    async def fetch(
        self,
        exchange: str,
        market: str,
        since_ms: int,
        until_ms: int,
        progress: Callable[..., None] | None = None,
    ) -> BackfillResult:
        self.calls.append((exchange, market, since_ms, until_ms))
        if self.gate is not None:
            await self.gate.wait()
        if self.delay_s or self.delays.get(exchange):
            await asyncio.sleep(self.delay_s + self.delays.get(exchange, 0.0))
        if exchange in self.fail:
            return BackfillResult([], 1, False, self.fail[exchange], None)
        if exchange in self.partial:
            middle = (since_ms + until_ms) // 2
            events = self.events(exchange, market, middle, until_ms)
            return BackfillResult(events, 2, False, self.partial[exchange], middle)
        events = self.events(exchange, market, since_ms, until_ms)
        if progress is not None:
            progress(1, 2)
            progress(2, 2)
        return BackfillResult(events, 3, True, None, since_ms)


def all_events(backfill: FakeBackfill, calls: Iterable[tuple[str, str, int, int]]) -> list:
    """Every event the double answered `calls` with (failed exchanges: none)."""
    out: list[MarketEvent] = []
    for exchange, market, since, until in calls:
        if exchange not in backfill.fail:
            if exchange in backfill.partial:
                since = (since + until) // 2
            out.extend(backfill.events(exchange, market, since, until))
    return out
