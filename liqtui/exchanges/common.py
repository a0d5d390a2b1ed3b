"""Pure helpers the exchange parsers share: reading JSON values, order books, trades → minutes.

Order books: a snapshot → cumulative resting notional within fixed distances of mid.

Trades → one TradeFlow per market per closed clock minute (Bybit, OKX and Hyperliquid
stream trades; Binance sends closed 1m klines instead).
A minute is emitted when a trade of a later minute arrives. Trade ids of the open and the
previous minute are remembered, so the overlap of two connections (a planned renewal, or a
resubscription that replays recent trades) counts once. A trade for a minute already emitted
cannot change it any more: it is counted as late and dropped.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import TYPE_CHECKING, Any, TypeVar

from liqtui.events import BookDepth, MarketEvent, MarkPrice, TradeFlow
from liqtui.exchanges.spec import NotTracked, ParseError, PartlyBad, RawJSON
from liqtui.markets import SymbolError, market_key, market_of_symbol, split_multiple

if TYPE_CHECKING:
    import numpy as np

T = TypeVar("T")
QUOTE = "USDT"


# -- symbols ------------------------------------------------------------------------------------
def to_usdt_symbol(key: str) -> str:
    """A listing key as a BTCUSDT-style symbol (Binance, Bybit)."""
    return f"{key}{QUOTE}"


def from_usdt_symbol(symbol: str) -> str | None:
    """The listing key of a BTCUSDT-style symbol (None: another quote)."""
    if not symbol.endswith(QUOTE) or len(symbol) <= len(QUOTE):
        return None
    return symbol[: -len(QUOTE)]


def ccxt_usdt_market(market: Mapping[str, Any]) -> tuple[str, float] | None:
    """Market key and units of the asset per contract of a ccxt USDT-settled swap."""
    if market.get("settle") != QUOTE:
        return None
    try:
        key = market_key(str(market.get("base") or ""))
    except SymbolError:
        return None
    return key, split_multiple(str(market.get("baseName") or market.get("base") or "").upper())[1]


# -- JSON values --------------------------------------------------------------------------------
def number(obj: object, name: str) -> float:
    """A finite number from a JSON value (exchanges send decimals as strings)."""
    kind = type(obj)
    if kind is str or kind is float or kind is int:  # the usual values, checked the same way
        try:
            value = float(obj)  # type: ignore[arg-type]
        except ValueError:
            raise ParseError(f"{name}: {obj!r} is not a number") from None
        if value - value == 0.0:  # finite: inf - inf and NaN - NaN are NaN
            return value
        raise ParseError(f"{name}: {obj!r} is not finite")
    if isinstance(obj, bool) or not isinstance(obj, (str, int, float)):
        raise ParseError(f"{name}: expected a number, got {type(obj).__name__}")
    try:
        value = float(obj)
    except ValueError:
        raise ParseError(f"{name}: {obj!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ParseError(f"{name}: {obj!r} is not finite")
    return value


def positive(obj: object, name: str) -> float:
    value = number(obj, name)
    if value <= 0:
        raise ParseError(f"{name}: {obj!r} is not positive")
    return value


def timestamp_ms(obj: object, name: str) -> int:
    """Milliseconds since the epoch: an integer (or integral string) after 2001 and before 2100."""
    if type(obj) is int and 1_000_000_000_000 <= obj < 4_102_444_800_000:  # the usual value
        return obj
    if isinstance(obj, bool) or not isinstance(obj, (str, int)):
        raise ParseError(f"{name}: expected integer milliseconds, got {type(obj).__name__}")
    try:
        value = int(obj)
    except ValueError:
        raise ParseError(f"{name}: {obj!r} is not an integer") from None
    if not 1_000_000_000_000 <= value < 4_102_444_800_000:
        raise ParseError(f"{name}: {value} is not a time in milliseconds")
    return value


def listed(exchange: str, items: list[object], **required: str) -> frozenset[str]:
    """Market keys of the instruments in a listing whose fields equal `required` (contract
    type, quote coin, trading status), by their `symbol`."""
    markets = (
        market_of_symbol(exchange, item.get("symbol"))
        for item in items
        if isinstance(item, dict) and all(item.get(k) == v for k, v in required.items())
    )
    return frozenset(m for m in markets if m is not None)


def field(obj: dict[str, object], key: str, where: str) -> object:
    try:
        return obj[key]
    except KeyError:
        raise ParseError(f"{where}: missing {key!r}") from None


_STRAY = (KeyError, TypeError, IndexError, AttributeError, ValueError, ArithmeticError)


def schema_violation(where: str, exc: Exception) -> ParseError:
    """A stray exception from walking a message, as the ParseError it really is."""
    return ParseError(f"{where}{exc.__class__.__name__}: {exc}")


def guard(call: Callable[[], T], where: str = "") -> T:
    """Run a parse step; anything but ParseError/NotTracked becomes a ParseError."""
    try:
        return call()
    except (ParseError, NotTracked):
        raise
    except _STRAY as exc:
        raise schema_violation(where, exc) from None


# -- order books --------------------------------------------------------------------------------
DEPTH_DISTANCES: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05)


class Levels:
    """A side of an order book read by a typed decoder (`book_message`): its (n, 2) array of
    prices and sizes, already checked (finite, positive), for `levels_array` to hand on."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


# Up to 2**53 every integer is a float exactly, so a number decodes to the same float whether
# it was written as an integer or as a decimal, by whichever decoder.
_EXACT = float(2**53)


class _Generic(Exception):
    """A typed book with a side the generic path must judge."""


def _levels(rows: list[tuple[float, ...]]) -> Levels:
    """A typed side as `Levels`; _Generic where the generic path must judge it: empty, or a
    value that is not finite and positive (a size of "-0" decodes as 0.0 in msgspec but as
    -0.0 in numpy), or too large for every decoder to agree on."""
    import numpy as np

    if not rows:
        raise _Generic
    n, width = len(rows), len(rows[0])  # the typed decoder made every row this wide
    flat = np.fromiter(chain.from_iterable(rows), np.float64, count=n * width)
    arr = flat.reshape(n, width)[:, :2]  # laid out as levels_array's own
    if not (arr.min() > 0 and arr.max() <= _EXACT):  # NaN fails both
        raise _Generic
    return Levels(arr)


def _plain(obj: object, levels: bool = False) -> object:
    """A typed book as the generic JSON value the parse code walks (objects as dicts, fields
    that were absent left out), its level lists (`levels`: the Struct's fields typed as lists
    of tuples, named in its `book_sides`) as `Levels`. Raises _Generic if a side must go the
    generic way."""
    import msgspec

    if isinstance(obj, msgspec.Struct):
        out: dict[str, object] = {}
        sides = getattr(obj, "book_sides", ())
        for name in obj.__struct_fields__:
            value = getattr(obj, name)
            if value is not msgspec.UNSET:
                out[name] = _plain(value, name in sides)
        return out
    if levels:
        return _levels(obj)  # type: ignore[arg-type]
    if isinstance(obj, list):
        return [_plain(item) for item in obj]
    return obj


def book_message(msg: object, decoder: Callable[[Any], object]) -> object:
    """An order-book answer for the parse code. A `RawJSON` one is read by the exchange's typed
    `decoder` (a msgspec Struct of exactly the fields the exchange sends, levels as floats):
    the result is the generic value the parse code would have walked, the same in every field
    but the level lists, which come as checked `Levels` of the same floats — so the parse code
    takes the same path to the same event, without a Python string per price and size. A book
    that does not fit the typed shape (another field, a bad level, an empty side, an error
    answer) is decoded in full and parsed exactly as before."""
    if type(msg) is not RawJSON:
        return msg
    import msgspec

    try:
        return _plain(decoder(msg.data))
    except (msgspec.DecodeError, msgspec.ValidationError, _Generic):
        return msg.value


def levels_array(levels: object, name: str) -> np.ndarray:
    """[[price, size, ...], ...] (strings or numbers) → float array of shape (n, 2)."""
    import numpy as np  # here: reading settings (which asks the registry) must not load numpy

    if type(levels) is Levels:
        return levels.array
    if not isinstance(levels, list):
        raise ParseError(f"{name}: expected a list of [price, size]")
    try:
        # numpy parses the decimal strings itself: ~10× faster than float() per cell on a
        # 1,000-level book. Extra columns (OKX's order count) are dropped.
        arr = np.array(levels, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(name)
        arr = arr[:, :2]
    except (TypeError, ValueError, IndexError, KeyError):
        if levels:
            raise ParseError(f"{name}: bad price level") from None
        arr = np.zeros((0, 2))
    if not np.isfinite(arr).all() or (arr[:, 0] <= 0).any() or (arr[:, 1] < 0).any():
        raise ParseError(f"{name}: non-finite, non-positive price or negative size")
    return arr


def reduce_book(
    exchange: str,
    symbol: str,
    time_ms: int,
    bids: np.ndarray,
    asks: np.ndarray,
    *,
    size_to_base: float = 1.0,
    distances: Sequence[float] = DEPTH_DISTANCES,
) -> BookDepth:
    """Cumulative bid and ask notional (USD) within each distance of mid."""
    import numpy as np

    if bids.size == 0 or asks.size == 0:
        raise ParseError("order book has an empty side")
    best_bid, best_ask = float(bids[:, 0].max()), float(asks[:, 0].min())
    if best_bid >= best_ask:
        raise ParseError("crossed order book")
    mid = 0.5 * (best_bid + best_ask)
    bid_dist = 1.0 - bids[:, 0] / mid
    ask_dist = asks[:, 0] / mid - 1.0
    bid_notional = bids[:, 0] * bids[:, 1] * size_to_base
    ask_notional = asks[:, 0] * asks[:, 1] * size_to_base
    d = np.asarray(distances, dtype=np.float64)
    bid_usd = (bid_notional[None, :] * (bid_dist[None, :] <= d[:, None])).sum(axis=1)
    ask_usd = (ask_notional[None, :] * (ask_dist[None, :] <= d[:, None])).sum(axis=1)
    return BookDepth(
        exchange=exchange,
        symbol=symbol,
        time_ms=time_ms,
        mid=mid,
        distances=tuple(float(x) for x in d),
        bid_usd=tuple(float(x) for x in bid_usd),
        ask_usd=tuple(float(x) for x in ask_usd),
        bid_reach=float(bid_dist.max()),
        ask_reach=float(ask_dist.max()),
    )


# -- trades → minutes -------------------------------------------------------------------------
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
    ids: set[str | int] = dataclasses.field(default_factory=set)
    previous_ids: set[str | int] = dataclasses.field(default_factory=set)

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


# -- history (backfill) -------------------------------------------------------------------------
# A backfilled 1m bar becomes the events a live minute leaves behind, in the local store's own
# shape (liqtui.store.minutes): marks from the bar's open (at the minute start) through its
# extremes to its close (at the minute's last second), one TradeFlow at the end of the minute.
# Stored and reloaded, the minute gives back the same events.
MARK_CLOSE_MS = 59_000  # the close mark of a backfilled minute: its last second


def minute_marks(
    exchange: str,
    market: str,
    start_ms: int,
    bar: tuple[float, float, float, float],
    funding: float | None = None,
) -> list[MarkPrice]:
    """The mark path of one minute from its OHLC `bar`: open → low → high → close for a minute
    that closed at or above its open, open → high → low → close otherwise (the usual OHLC path
    assumption), evenly spaced from the minute start to its last second; equal neighbours are
    left out; the close carries the funding rate."""
    open_, high, low, close = bar
    t0, t1 = start_ms, start_ms + MARK_CLOSE_MS
    points = [open_]
    for price in (low, high) if close >= open_ else (high, low):
        if price != points[-1] and price != close:
            points.append(price)
    points.append(close)
    n = len(points) - 1
    return [
        MarkPrice(
            exchange,
            market,
            t1 if i == n else t0 + (t1 - t0) * i // n,
            price,
            funding if i == n else None,
        )
        for i, price in enumerate(points)
    ]


def ohlc(row: list[object], names: tuple[str, str, str, str]) -> tuple[float, float, float, float]:
    """A bar row's open, high, low and close (`row[1:5]`, the order every exchange's klines
    use) as positive prices; an error names the field (`names`)."""
    return (
        positive(row[1], names[0]),
        positive(row[2], names[1]),
        positive(row[3], names[2]),
        positive(row[4], names[3]),
    )


def bar_events(
    exchange: str,
    market: str,
    start_ms: int,
    bar: tuple[float, float, float, float],
    volume: float,
    quote: float | None,
    taker_buy: float | None,
    funding: float | None = None,
) -> list[MarketEvent]:
    """The events of one closed 1m bar: its mark path (`minute_marks`) and one TradeFlow at the
    end of the minute (where a live closed kline is stamped). VWAP = quote volume / volume (the
    close when there was no volume or no quote volume). `taker_buy` None: the exchange gives no
    taker split, and half the volume is taken as bought (no imbalance is invented)."""
    open_, high, low, close = bar
    if not (low <= min(open_, close) and max(open_, close) <= high):
        raise ParseError(f"bar: open/close outside low..high ({bar})")
    if volume < 0 or (quote is not None and quote < 0):
        raise ParseError("bar: negative volume")
    buy = volume / 2 if taker_buy is None else taker_buy
    if not 0 <= buy <= volume * (1 + 1e-9):
        raise ParseError("bar: taker-buy volume outside 0..volume")
    vwap = quote / volume if quote and volume > 0 else close
    flow = TradeFlow(
        exchange=exchange,
        symbol=market,
        time_ms=start_ms + MINUTE_MS,
        interval_ms=MINUTE_MS,
        taker_buy_base=buy,
        taker_sell_base=max(volume - buy, 0.0),
        vwap=min(max(vwap, low), high),
        high=high,
        low=low,
        close=close,
        source="kline",
    )
    return [*minute_marks(exchange, market, start_ms, bar, funding), flow]


class FundingHistory:
    """Settled funding rates learned from a funding-history answer, per market. A backfilled
    minute's closing mark carries the rate of the settlement that ends the funding interval the
    minute lies in (the rate that accrued during it, which the live feed shows as the current
    rate); minutes after the last settlement carry the last one."""

    def __init__(self) -> None:
        self._rates: dict[str, dict[int, float]] = {}
        self._sorted: dict[str, tuple[list[int], list[float]]] = {}

    def add(self, market: str, rates: Mapping[int, float]) -> None:
        if rates:
            self._rates.setdefault(market, {}).update(rates)
            self._sorted.pop(market, None)

    def at(self, market: str, time_ms: int) -> float | None:
        table = self._sorted.get(market)
        if table is None:
            rates = self._rates.get(market)
            if not rates:
                return None
            times = sorted(rates)
            table = self._sorted[market] = (times, [rates[t] for t in times])
        times, values = table
        i = bisect.bisect_right(times, time_ms)
        return values[min(i, len(values) - 1)]


def batch(
    items: Sequence[object], parse: Callable[[object], list[MarketEvent]], where: str
) -> list[MarketEvent]:
    """Every item's events; a malformed item costs only itself (PartlyBad when there were any)."""
    events: list[MarketEvent] = []
    errors: list[str] = []
    for item in items:
        try:
            events.extend(guard(lambda item=item: parse(item), f"{where}: "))  # type: ignore[misc]
        except NotTracked:
            continue
        except ParseError as exc:
            errors.append(str(exc))
    if errors:
        raise PartlyBad(events, errors)
    return events


def item_times(items: object, read: Callable[[object], object]) -> tuple[int, ...]:
    """The times of the items of a history answer that have one (for paging; never raises)."""
    if not isinstance(items, list):
        return ()
    out: list[int] = []
    for item in items:
        try:
            out.append(timestamp_ms(read(item), "time"))
        except (ParseError, *_STRAY):
            continue
    return tuple(out)
