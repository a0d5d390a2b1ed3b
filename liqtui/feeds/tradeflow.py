"""Trades → one TradeFlow per market per closed clock minute (Bybit, OKX and Hyperliquid
stream trades; Binance sends closed 1m klines instead).

A minute is emitted when a trade of a later minute arrives. Trade ids of the open and the
previous minute are remembered, so the overlap of two connections (a planned renewal, or a
resubscription that replays recent trades) counts once. A trade for a minute already emitted
cannot change it any more: it is counted as late and dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from liqtui.events import TradeFlow

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Trade:
    """One trade, normalized: base units, the taker's side."""

    market: str
    time_ms: int
    price: float
    base: float
    taker_buy: bool
    trade_id: str | int | None = None


@dataclass(slots=True)
class _Minute:
    start_ms: int
    buy: float = 0.0
    sell: float = 0.0
    notional: float = 0.0
    high: float = float("-inf")
    low: float = float("inf")
    last: float | None = None  # price of the latest trade (trades are added in time order)
    ids: set[str | int] = field(default_factory=set)
    previous_ids: set[str | int] = field(default_factory=set)

    def seen(self, trade_id: str | int | None) -> bool:
        return trade_id is not None and (trade_id in self.ids or trade_id in self.previous_ids)

    def add(self, trade: Trade) -> None:
        if trade.taker_buy:
            self.buy += trade.base
        else:
            self.sell += trade.base
        self.notional += trade.base * trade.price
        self.high = max(self.high, trade.price)
        self.low = min(self.low, trade.price)
        self.last = trade.price
        if trade.trade_id is not None:
            self.ids.add(trade.trade_id)

    def flow(self, exchange: str, market: str) -> TradeFlow:
        volume = self.buy + self.sell
        return TradeFlow(
            exchange=exchange,
            symbol=market,
            time_ms=self.start_ms + MINUTE_MS,
            interval_ms=MINUTE_MS,
            taker_buy_base=self.buy,
            taker_sell_base=self.sell,
            vwap=self.notional / volume,
            high=self.high,
            low=self.low,
            close=self.last,
        )


class MinuteFlows:
    def __init__(self, exchange: str) -> None:
        self.exchange = exchange
        self.duplicates = 0  # seen on another connection
        self.late = 0  # for a minute already emitted
        self._open: dict[str, _Minute] = {}

    @property
    def open_minutes(self) -> int:
        """Markets with trades counted in a minute not emitted yet."""
        return len(self._open)

    def add(self, trades: list[Trade]) -> list[TradeFlow]:
        """Add validated trades (in any order); returns the minutes they closed."""
        closed: list[TradeFlow] = []
        for trade in sorted(trades, key=lambda t: t.time_ms):
            start = trade.time_ms - trade.time_ms % MINUTE_MS
            minute = self._open.get(trade.market)
            if minute is None:
                minute = self._open[trade.market] = _Minute(start)
            elif minute.seen(trade.trade_id):
                self.duplicates += 1
                continue
            elif start < minute.start_ms:
                self.late += 1
                continue
            elif start > minute.start_ms:
                closed.append(minute.flow(self.exchange, trade.market))
                minute = self._open[trade.market] = _Minute(start, previous_ids=minute.ids)
            minute.add(trade)
        return closed
