"""Normalized market events: what every feed (live, replay, demo) turns exchange messages into.

Conventions, the same for every exchange:
- times are milliseconds since the Unix epoch (exchange event time where the feed gives one);
- quantities are in base units (BTC for BTCUSDT), never contracts;
- notionals are in USD (USDT);
- `side` of a liquidation is the side of the *liquidated position*: "long" or "short".
  Binance and OKX report the liquidation order's side (SELL closes a long); Bybit reports the
  position side (Buy means a long was liquidated). Parsers convert; nothing downstream guesses.
- `symbol` is the market key liqtui uses everywhere: the base asset of the USDT-margined
  perpetual ("BTC", "ETH", "1000PEPE"); see `liqtui.markets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["long", "short"]
SIDES: tuple[Side, Side] = ("long", "short")

EXCHANGES: tuple[str, ...] = ("binance", "bybit", "okx", "hyperliquid")


@dataclass(frozen=True, slots=True)
class Liquidation:
    """One forced close as reported by an exchange (a lower bound on throttled feeds)."""

    exchange: str
    symbol: str
    time_ms: int
    side: Side  # side of the liquidated position
    # The price as the exchange reported it (Binance `ap`, Bybit `p`, OKX `bkPx`, see
    # docs/feeds.md); the print is placed there. Parsers never convert it.
    price: float
    quantity: float  # base units
    notional_usd: float  # quantity × price


@dataclass(frozen=True, slots=True)
class OpenInterest:
    exchange: str
    symbol: str
    time_ms: int
    open_interest: float  # base units, one side (a long and a short make one unit)


@dataclass(frozen=True, slots=True)
class MarkPrice:
    exchange: str
    symbol: str
    time_ms: int
    mark_price: float
    funding_rate: float | None = None


@dataclass(frozen=True, slots=True)
class TradeFlow:
    """Taker volume over an interval (a closed 1m kline, or aggregated trades)."""

    exchange: str
    symbol: str
    time_ms: int  # end of the interval
    interval_ms: int
    taker_buy_base: float
    taker_sell_base: float
    vwap: float
    high: float | None = None
    low: float | None = None
    close: float | None = None  # last traded price of the interval (kline close)
    source: Literal["kline", "trades"] = "trades"  # what the exchange sent


@dataclass(frozen=True, slots=True)
class BookDepth:
    """Cumulative resting notional within each distance of mid (fractions: 0.005 = 0.5%)."""

    exchange: str
    symbol: str
    time_ms: int
    mid: float
    distances: tuple[float, ...]
    bid_usd: tuple[float, ...]
    ask_usd: tuple[float, ...]
    bid_reach: float = 0.0  # how far below mid the visible book reaches (fraction)
    ask_reach: float = 0.0


MarketEvent = Liquidation | OpenInterest | MarkPrice | TradeFlow | BookDepth
