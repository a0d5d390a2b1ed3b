"""Normalized events → minute rows (`MinuteAggregator`) and stored rows → events
(`events_from_rows`), so that stored data goes through the same path as a replay.

A minute row holds what one exchange reported about one market in one minute [M, M + 60 s) of
*event* time (`time_ms // 60_000`); the engine closes its intervals on the same one-minute
boundaries (of receive time, which is the event time within a second or so; a closed kline's
time is the end of its minute, so it lands in the minute the engine applied it in).

events → row (`MinuteAggregator.add`):
- MarkPrice: open (the earliest), high, low, close (the latest), with the times of the first and
  last mark; funding: the latest non-None rate.
- TradeFlow: taker buy and sell volume summed; VWAP = Σ vwap·volume / Σ volume (the last VWAP
  when the volume is zero); trade high/low the extremes, trade close the latest close (its VWAP
  when it has none); flow_kline whether the exchange sent klines.
- OpenInterest: the latest reading and its time.
- Liquidation: not aggregated: every print is kept as it is (`print_key` dedupes them).
- BookDepth: not kept.

row → events (`events_from_rows`), in time order, within the row's minute:
- marks: open at open_ms; then the extremes as the usual OHLC path assumes (a minute that closed
  at or above its open went open → low → high → close, a falling one open → high → low → close),
  at evenly spaced times between open_ms and close_ms; close at close_ms with the funding rate.
  Marks equal to a neighbour are left out.
- one TradeFlow at the minute start M (where a closed 1m kline of the previous minute is
  stamped), interval 60 s, with the row's volumes, VWAP, trade high/low/close and source.
- one OpenInterest at oi_ms.
- prints: as stored.

What is lost (the engine's one-minute step uses none of it, so a map built from stored rows
equals the map built live, up to float rounding, except where noted):
- the order and times of the marks between the first and the last, and repeated marks (the
  activity ring sees 2 to 4 marks per minute instead of every one);
- several flows in one minute become one (sums exact), stamped at the minute start;
- OI readings between the first and the last of a minute: the first loaded minute's
  intra-minute OI change is lost (the engine takes its first reading as the baseline anyway);
  changes between minutes are exact;
- order-book depth;
- two writers of one minute keep the taker volumes of the more complete one (never the sum): a
  process restarted inside a minute keeps the larger of its two partial minutes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest, TradeFlow, implausible
from liqtui.store import MinuteRow

MINUTE_MS = 60_000
# Minutes of a market kept open in memory behind its newest event: a late event for one of them
# still updates the whole minute; an older one starts a partial minute that merges (max, min).
KEEP_OPEN_MS = 5 * MINUTE_MS


@dataclass(slots=True)
class _Minute:
    open: float | None = None
    high: float = -math.inf
    low: float = math.inf
    close: float | None = None
    open_ms: int = 0
    close_ms: int = 0
    funding: float | None = None
    funding_ms: int = 0
    buy: float = 0.0
    sell: float = 0.0
    notional: float = 0.0
    flows: int = 0
    last_vwap: float = 0.0
    trade_high: float = -math.inf
    trade_low: float = math.inf
    trade_close: float | None = None
    trade_close_ms: int = 0
    flow_kline: bool = False
    oi: float | None = None
    oi_ms: int = 0

    def mark(self, ev: MarkPrice) -> None:
        t, price = ev.time_ms, ev.mark_price
        if self.open is None or t < self.open_ms:
            self.open, self.open_ms = price, t
        if self.close is None or t >= self.close_ms:
            self.close, self.close_ms = price, t
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        if ev.funding_rate is not None and (self.funding is None or t >= self.funding_ms):
            self.funding, self.funding_ms = ev.funding_rate, t

    def flow(self, ev: TradeFlow) -> None:
        volume = ev.taker_buy_base + ev.taker_sell_base
        self.buy += ev.taker_buy_base
        self.sell += ev.taker_sell_base
        self.notional += ev.vwap * volume
        self.flows += 1
        self.last_vwap = ev.vwap
        if ev.high is not None:
            self.trade_high = max(self.trade_high, ev.high)
        if ev.low is not None:
            self.trade_low = min(self.trade_low, ev.low)
        if self.trade_close is None or ev.time_ms >= self.trade_close_ms:
            self.trade_close = ev.close if ev.close is not None else ev.vwap
            self.trade_close_ms = ev.time_ms
            self.flow_kline = ev.source == "kline"

    def open_interest(self, ev: OpenInterest) -> None:
        if self.oi is None or ev.time_ms >= self.oi_ms:
            self.oi, self.oi_ms = ev.open_interest, ev.time_ms

    def row(self, exchange: str, symbol: str, minute_ms: int) -> MinuteRow:
        marked = self.open is not None
        flowed = self.flows > 0
        volume = self.buy + self.sell
        return MinuteRow(
            exchange=exchange,
            symbol=symbol,
            minute_ms=minute_ms,
            open=self.open,
            high=self.high if marked else None,
            low=self.low if marked else None,
            close=self.close,
            open_ms=self.open_ms if marked else None,
            close_ms=self.close_ms if marked else None,
            vwap=(self.notional / volume if volume > 0 else self.last_vwap) if flowed else None,
            taker_buy=self.buy if flowed else None,
            taker_sell=self.sell if flowed else None,
            trade_high=self.trade_high if self.trade_high > -math.inf else None,
            trade_low=self.trade_low if self.trade_low < math.inf else None,
            trade_close=self.trade_close,
            flow_kline=self.flow_kline if flowed else None,
            open_interest=self.oi,
            oi_ms=self.oi_ms if self.oi is not None else None,
            funding=self.funding,
        )


class MinuteAggregator:
    """Folds normalized events into minute rows. Each `drain()` returns the *whole* minute of
    every minute that changed since the last one (not an increment), so writing a row again
    replaces it, and the store's merge (max/min/latest) never adds a minute up twice."""

    def __init__(self, keep_open_ms: int = KEEP_OPEN_MS) -> None:
        self.keep_open_ms = keep_open_ms
        self._open: dict[tuple[str, str, int], _Minute] = {}
        self._dirty: set[tuple[str, str, int]] = set()
        self._newest: dict[tuple[str, str], int] = {}
        self._prints: list[Liquidation] = []

    def add(self, event: MarketEvent) -> bool:
        """Take one event; False if the store does not keep it (book depth, implausible)."""
        if not isinstance(event, (MarkPrice, TradeFlow, OpenInterest, Liquidation)):
            return False
        if implausible(event) is not None:
            return False
        if isinstance(event, Liquidation):
            self._prints.append(event)
            return True
        minute_ms = event.time_ms - event.time_ms % MINUTE_MS
        key = (event.exchange, event.symbol, minute_ms)
        minute = self._open.get(key)
        if minute is None:
            minute = self._open[key] = _Minute()
        if isinstance(event, MarkPrice):
            minute.mark(event)
        elif isinstance(event, TradeFlow):
            minute.flow(event)
        else:
            minute.open_interest(event)
        self._dirty.add(key)
        market = (event.exchange, event.symbol)
        if minute_ms > self._newest.get(market, -1):
            self._newest[market] = minute_ms
        return True

    def drain(self) -> tuple[list[MinuteRow], list[Liquidation]]:
        """The changed minutes (whole) and the new prints since the last drain; minutes more
        than `keep_open_ms` behind their market's newest are forgotten."""
        rows = [self._open[key].row(*key) for key in sorted(self._dirty)]
        prints, self._prints = self._prints, []
        self._dirty.clear()
        for key in [k for k in self._open if k[2] < self._newest[k[:2]] - self.keep_open_ms]:
            del self._open[key]
        return rows, prints


def aggregate(events: Iterable[MarketEvent]) -> tuple[list[MinuteRow], list[Liquidation]]:
    """Minute rows and prints of a list of events (one drain)."""
    agg = MinuteAggregator(keep_open_ms=2**62)
    for event in events:
        agg.add(event)
    return agg.drain()


_MARK, _OI, _FLOW, _PRINT = 0, 1, 2, 3  # order of events stamped with the same time


def _mark_events(row: MinuteRow) -> list[tuple[int, int, MarketEvent]]:
    if row.open is None or row.close is None:
        return []
    high = row.high if row.high is not None else max(row.open, row.close)
    low = row.low if row.low is not None else min(row.open, row.close)
    t0 = row.open_ms if row.open_ms is not None else row.minute_ms
    t1 = row.close_ms if row.close_ms is not None else t0
    if t0 == t1 and high == low:  # one mark: both the open and the close
        return [(t1, _MARK, MarkPrice(row.exchange, row.symbol, t1, row.close, row.funding))]
    points = [row.open]
    for price in (low, high) if row.close >= row.open else (high, low):
        if price != points[-1] and price != row.close:
            points.append(price)
    points.append(row.close)  # always: it carries the last time and the funding rate
    n = len(points) - 1
    out: list[tuple[int, int, MarketEvent]] = []
    for i, price in enumerate(points):
        t = t1 if i == n else t0 + (t1 - t0) * i // n
        funding = row.funding if i == n else None
        out.append((t, _MARK, MarkPrice(row.exchange, row.symbol, t, price, funding)))
    return out


def events_from_rows(
    minutes: Iterable[MinuteRow], prints: Iterable[Liquidation] = ()
) -> list[MarketEvent]:
    """Stored minute rows and prints as normalized events in time order (see the module doc)."""
    timed: list[tuple[int, int, MarketEvent]] = []
    for row in minutes:
        timed.extend(_mark_events(row))
        if row.taker_buy is not None and row.taker_sell is not None and row.vwap is not None:
            flow = TradeFlow(
                exchange=row.exchange,
                symbol=row.symbol,
                time_ms=row.minute_ms,
                interval_ms=MINUTE_MS,
                taker_buy_base=row.taker_buy,
                taker_sell_base=row.taker_sell,
                vwap=row.vwap,
                high=row.trade_high,
                low=row.trade_low,
                close=row.trade_close,
                source="kline" if row.flow_kline else "trades",
            )
            timed.append((row.minute_ms, _FLOW, flow))
        if row.open_interest is not None:
            t = row.oi_ms if row.oi_ms is not None else row.minute_ms
            timed.append((t, _OI, OpenInterest(row.exchange, row.symbol, t, row.open_interest)))
    timed.extend((p.time_ms, _PRINT, p) for p in prints)
    timed.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in timed]
