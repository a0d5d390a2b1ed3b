"""Time series the time × price heat map and the chart draw: one column per period per market.

The UI keeps its own bounded history (`History`), sampled by `HistorySink`, a thin proxy
between the source and the engine: whenever the source clock crosses a period boundary, each
followed market's estimated levels (E per price bin around the price), price and open interest
are stored as one column. Sampling on the *source* clock means a replay at any speed and the
demo's warm-up fill the history just as live data does, and the UI's redraw rate does not
matter. Memory is bounded: `capacity` columns × (2 × bins within ±`span_pct` of the price)
float32 values per market (480 columns ±15% at the default 0.05% bins: about 2.3 MB).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from liqtui.events import MarketEvent
from liqtui.health import FeedHealth
from liqtui.model.engine import Engine

DEFAULT_PERIOD_MS = 60_000
DEFAULT_CAPACITY = 480


@dataclass(frozen=True, slots=True)
class Marks:
    """The realized prints of a column's period: where (price), which side (0 long, 1 short),
    how much (USD). From the model's rings of H: one per cell with prints, at its centre."""

    price: NDArray[np.float64]
    side: NDArray[np.int64]
    usd: NDArray[np.float64]

    @classmethod
    def of_prints(cls, prints: object) -> Marks | None:
        """From a snapshot's RealizedPrints (None when there are none)."""
        if prints is None or not len(prints):  # type: ignore[arg-type]
            return None
        return cls(
            np.asarray(prints.price, dtype=np.float64),  # type: ignore[attr-defined]
            np.asarray(prints.side, dtype=np.int64),  # type: ignore[attr-defined]
            np.asarray(prints.usd, dtype=np.float64),  # type: ignore[attr-defined]
        )

    @classmethod
    def of_cells(cls, origin: float, width: float, long: NDArray, short: NDArray) -> Marks | None:
        """From R per cell of a grid (`origin`, `width`) and side."""
        lc, sc = np.flatnonzero(long > 0), np.flatnonzero(short > 0)
        if not lc.size and not sc.size:
            return None
        cells = np.concatenate([lc, sc])
        return cls(
            origin + (cells + 0.5) * width,
            np.concatenate([np.zeros(lc.size, np.int64), np.ones(sc.size, np.int64)]),
            np.concatenate([long[lc], short[sc]]).astype(np.float64),
        )


@dataclass(frozen=True, slots=True)
class Column:
    """One period of one market."""

    t_ms: int
    price: float | None
    oi_usd: float  # open interest summed over exchanges, in USD at the period's price
    origin_bin: int  # absolute bin index (price / width) of long[0] / short[0]
    width: float  # bin width
    long: NDArray[np.float32]  # E per bin
    short: NDArray[np.float32]
    price_low: float | None = None  # the period's price range (the model's lookback columns)
    price_high: float | None = None
    marks: Marks | None = None  # realized prints of the period (None: none)
    period_ms: int = 0  # the period the column ends (t_ms - period_ms, t_ms]; 0: unknown

    def realized_row_sums(self, lows: NDArray[np.float64], highs: NDArray[np.float64]) -> NDArray:
        """R long and short per row ([2, rows]): the marks whose price lies in [lows, highs)."""
        out = np.zeros((2, len(lows)))
        marks = self.marks
        if marks is None or not len(lows):
            return out
        order = np.argsort(lows)
        j = np.searchsorted(lows[order], marks.price, side="right") - 1
        jc = np.maximum(j, 0)
        inside = (j >= 0) & (marks.price < highs[order][jc])
        np.add.at(out, (marks.side[inside], order[jc[inside]]), marks.usd[inside])
        return out

    def sums(self, low: float, high: float) -> tuple[float, float]:
        """E long and short in bins whose lower edge lies in [low, high)."""
        if self.width <= 0 or not self.long.size:
            return 0.0, 0.0
        lo = math.ceil(low / self.width - 1e-9) - self.origin_bin
        hi = math.ceil(high / self.width - 1e-9) - self.origin_bin
        lo, hi = max(lo, 0), min(hi, self.long.size)
        if hi <= lo:
            return 0.0, 0.0
        return float(self.long[lo:hi].sum()), float(self.short[lo:hi].sum())

    def row_sums(self, lows: NDArray[np.float64], highs: NDArray[np.float64]) -> NDArray:
        """E long and short per row ([2, rows]) for rows covering [lows[i], highs[i])."""
        n = self.long.size
        if self.width <= 0 or not n:
            return np.zeros((2, len(lows)))
        lo = np.clip(np.ceil(lows / self.width - 1e-9).astype(np.int64) - self.origin_bin, 0, n)
        hi = np.clip(np.ceil(highs / self.width - 1e-9).astype(np.int64) - self.origin_bin, 0, n)
        out = np.empty((2, len(lows)))
        for k, values in enumerate((self.long, self.short)):
            cs = np.concatenate(([0.0], np.cumsum(values, dtype=np.float64)))
            out[k] = np.where(hi > lo, cs[hi] - cs[lo], 0.0)
        return out


class History:
    """Columns per market, oldest first, at most `capacity` each."""

    def __init__(
        self,
        period_ms: int = DEFAULT_PERIOD_MS,
        capacity: int = DEFAULT_CAPACITY,
        span_pct: float = 0.15,
    ) -> None:
        self.period_ms = period_ms
        self.capacity = capacity
        self.span_pct = span_pct
        self._columns: dict[str, deque[Column]] = {}
        self.version = 0  # bumped on every new column (any market)

    def take_over(self, other: History) -> None:
        """Take the columns of `other` (a history rebuilt off to the side)."""
        self._columns = other._columns
        self.version += 1

    def columns(self, symbol: str) -> list[Column]:
        return list(self._columns.get(symbol, ()))

    def count(self, symbol: str) -> int:
        return len(self._columns.get(symbol, ()))

    def sample(self, engine: Engine, symbols: Iterable[str], now_ms: int) -> None:
        for symbol in symbols:
            model = engine.markets.get(symbol)
            if model is None or model.grid is None:
                continue
            buf = self._columns.get(symbol)
            since = buf[-1].t_ms if buf else now_ms - self.period_ms
            snap = engine.snapshot(symbol, prints_since_ms=since)
            grid = snap.grid
            if grid is None:
                continue
            price = snap.price
            if price is not None:
                half = max(1, math.ceil(price * self.span_pct / grid.width))
                centre = math.floor(price / grid.width) - grid.origin_bin
                lo, hi = max(centre - half, 0), min(centre + half, grid.n_bins)
            else:
                lo, hi = 0, grid.n_bins
            oi_usd = sum(snap.open_interest.values()) * (price or 0.0)
            column = Column(
                t_ms=now_ms,
                price=price,
                oi_usd=float(oi_usd),
                origin_bin=grid.origin_bin + lo,
                width=grid.width,
                long=snap.estimated_long[lo:hi].astype(np.float32),
                short=snap.estimated_short[lo:hi].astype(np.float32),
                marks=Marks.of_prints(snap.prints),
                period_ms=max(now_ms - since, 0),
            )
            if buf is None:
                buf = self._columns[symbol] = deque(maxlen=self.capacity)
            buf.append(column)
        self.version += 1


class HistorySink:
    """An EventSink in front of the engine that samples `history` on period boundaries of the
    source clock, for the markets `symbols()` names (the watchlist and the market on screen)."""

    def __init__(
        self, engine: Engine, history: History, symbols: Callable[[], Iterable[str]]
    ) -> None:
        self.engine = engine
        self.history = history
        self.symbols = symbols
        self._next_ms: int | None = None

    def apply(self, event: MarketEvent) -> bool:
        return self.engine.apply(event)  # False: refused as implausible

    def feed(self, name: str) -> FeedHealth:
        return self.engine.feed(name)

    def advance(self, now_ms: int) -> None:
        self.engine.advance(now_ms)
        period = self.history.period_ms
        if self._next_ms is None:
            self._next_ms = now_ms - now_ms % period + period
            return
        if now_ms >= self._next_ms:
            self.history.sample(self.engine, self.symbols(), now_ms)
            self._next_ms = now_ms - now_ms % period + period

    def start_over(self) -> HistorySink:
        """An empty sink like this one (an engine fork, an empty history) to rebuild the state
        in, off to the side (a replay seeking back); `take_over` then swaps it in."""
        h = self.history
        fresh = History(period_ms=h.period_ms, capacity=h.capacity, span_pct=h.span_pct)
        return HistorySink(self.engine.start_over(), fresh, self.symbols)

    def copy_state(self) -> HistorySink:
        """A copy of the engine and the history to move forward off to the side (a replay
        seeking forward); `take_over` then swaps it in."""
        import copy

        fresh = HistorySink(self.engine.copy_state(), copy.deepcopy(self.history), self.symbols)
        fresh._next_ms = self._next_ms
        return fresh

    def take_over(self, other: HistorySink) -> None:
        self.engine.take_over(other.engine)
        self.history.take_over(other.history)
        self._next_ms = other._next_ms

    def __getattr__(self, name: str) -> object:  # anything else a source may use
        return getattr(self.engine, name)


def _price(values: object, i: int) -> float | None:
    if values is None:
        return None
    v = float(np.asarray(values)[i])
    return v if math.isfinite(v) else None


def columns_from_model(
    view: object, ui_columns: list[Column], *, own_prices: bool = False
) -> list[Column]:
    """The model's time × price history H (`MarketSnapshot.history`, a HistoryView) as columns,
    with the price of each row taken from the UI's own samples (the nearest in time), or with
    `own_prices` from H's own price path (last, low, high of each row). Empty when there is no
    usable H."""
    times = getattr(view, "times_ms", None)
    cells = getattr(view, "cells", None)
    longs = getattr(view, "long_usd", None)
    shorts = getattr(view, "short_usd", None)
    if times is None or cells is None or longs is None or shorts is None or not len(times):
        return []
    row_ms = int(getattr(view, "row_ms", 0) or 0)
    r_long, r_short = getattr(view, "realized_long", None), getattr(view, "realized_short", None)

    def marks(i: int) -> Marks | None:
        if r_long is None or r_short is None:
            return None
        return Marks.of_cells(float(cells.origin), float(cells.width), r_long[i], r_short[i])

    if own_prices:
        last, low, high = (getattr(view, n, None) for n in ("price", "price_low", "price_high"))
        return [
            Column(
                t_ms=int(t),
                price=_price(last, i),
                oi_usd=0.0,
                origin_bin=int(cells.origin_bin),
                width=float(cells.width),
                long=np.asarray(longs[i], dtype=np.float32),
                short=np.asarray(shorts[i], dtype=np.float32),
                price_low=_price(low, i),
                price_high=_price(high, i),
                marks=marks(i),
                period_ms=row_ms,
            )
            for i, t in enumerate(np.asarray(times).tolist())
        ]
    priced = [(c.t_ms, c.price) for c in ui_columns if c.price]
    stamps = [t for t, _ in priced]
    out = []
    for i, t in enumerate(np.asarray(times).tolist()):
        price = None
        if stamps:
            j = min(max(bisect.bisect_left(stamps, t), 0), len(stamps) - 1)
            if j > 0 and abs(stamps[j - 1] - t) < abs(stamps[j] - t):
                j -= 1
            if abs(stamps[j] - t) <= 2 * getattr(view, "row_ms", 60_000):
                price = priced[j][1]
        out.append(
            Column(
                t_ms=int(t),
                price=price,
                oi_usd=0.0,
                origin_bin=int(cells.origin_bin),
                width=float(cells.width),
                long=np.asarray(longs[i], dtype=np.float32),
                short=np.asarray(shorts[i], dtype=np.float32),
                marks=marks(i),
                period_ms=row_ms,
            )
        )
    return out
