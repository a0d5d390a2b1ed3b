"""Normalized market events: what every feed (live, replay, demo) turns exchange messages into.

Conventions, the same for every exchange:
- times are milliseconds since the Unix epoch (exchange event time where the feed gives one);
- quantities are in base units (BTC for BTCUSDT), never contracts;
- notionals are in USD (USDT);
- `side` of a liquidation is the side of the *liquidated position*: "long" or "short".
  Binance and OKX report the liquidation order's side (SELL closes a long); Bybit reports the
  position side (Buy means a long was liquidated). Parsers convert; nothing downstream guesses.
- `symbol` is the market key liqtui uses everywhere: the base asset of the USDT-margined
  perpetual ("BTC", "ETH", "PEPE": the plain asset, priced per 1 unit, also where an exchange
  lists it in multiples such as 1000PEPEUSDT); see `liqtui.markets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["long", "short"]
SIDES: tuple[Side, Side] = ("long", "short")


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

# Plausibility bounds (docs/feeds.md, "Bad messages"): finite values beyond them are not market
# data but a broken message, and would overflow sums or send the price grid to an absurd range.
MIN_PRICE = 1e-9  # USD per base unit
MAX_PRICE = 1e9
MAX_PRINT_USD = 1e11  # one liquidation print
MAX_OPEN_INTEREST_USD = 1e13  # one exchange's open interest in one market (and a minute's flow)
MAX_BASE_UNITS = MAX_OPEN_INTEREST_USD / MIN_PRICE  # any quantity, whatever the price
MAX_FUNDING_RATE = 1.0  # 100 % per funding interval


def _price_problem(name: str, value: float) -> str | None:
    if not MIN_PRICE <= value <= MAX_PRICE:  # also False for NaN
        return f"{name} {value!r} is outside {MIN_PRICE:g}..{MAX_PRICE:g}"
    return None


def implausible(event: MarketEvent) -> str | None:
    """Why `event` cannot be market data (None: plausible). Shared by the feeds, which skip and
    count such events like any bad message, and the engine, which never applies one."""
    if isinstance(event, Liquidation):
        if problem := _price_problem("price", event.price):
            return problem
        if not 0 < event.quantity <= MAX_BASE_UNITS:
            return f"quantity {event.quantity!r} is not a size"
        if not 0 < event.notional_usd < MAX_PRINT_USD:
            return f"notional {event.notional_usd:.3g} USD is not below {MAX_PRINT_USD:g}"
    elif isinstance(event, MarkPrice):
        if problem := _price_problem("mark price", event.mark_price):
            return problem
        if event.funding_rate is not None and not abs(event.funding_rate) <= MAX_FUNDING_RATE:
            return f"funding rate {event.funding_rate!r} is not a rate"
    elif isinstance(event, OpenInterest):
        if not 0 <= event.open_interest <= MAX_BASE_UNITS:
            return f"open interest {event.open_interest!r} is not a size"
    elif isinstance(event, TradeFlow):
        for name, price in (("vwap", event.vwap), ("high", event.high), ("low", event.low),
                            ("close", event.close)):  # fmt: skip
            if price is not None and (problem := _price_problem(name, price)):
                return problem
        volume = event.taker_buy_base + event.taker_sell_base
        if not (event.taker_buy_base >= 0 and event.taker_sell_base >= 0):
            return "negative taker volume"
        if not volume * event.vwap < MAX_OPEN_INTEREST_USD:
            return (
                f"taker volume {volume * event.vwap:.3g} USD is not below {MAX_OPEN_INTEREST_USD:g}"
            )
    elif isinstance(event, BookDepth):
        if problem := _price_problem("book mid", event.mid):
            return problem
        if not all(0 <= usd < MAX_OPEN_INTEREST_USD for usd in (*event.bid_usd, *event.ask_usd)):
            return f"book depth is not below {MAX_OPEN_INTEREST_USD:g} USD"
    return None


PrintKey = tuple[str, int, Side, float, float]
# The identity of a liquidation print within its market (the fields of `print_key`, in order).
PRINT_KEY_FIELDS: tuple[str, ...] = ("exchange", "time_ms", "side", "quantity", "price")


def print_key(event: Liquidation) -> PrintKey:
    """Two prints of one market with the same key are one print (a reconnect overlap, a doubled
    recording): the engine's realized log and the local store (liqtui.store) both dedupe on it."""
    return (event.exchange, event.time_ms, event.side, event.quantity, event.price)
