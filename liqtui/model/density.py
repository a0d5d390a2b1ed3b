"""Per-market liquidation density: estimated levels (E), consumption (C), realized prints (R) and
the bounded history (H, activity). Pure numpy, independent of the UI.

Estimated layer (models.md §5), per exchange, one update per interval of source time:
1. decay:   E *= 0.5 ** (dt / half_life); the half-life is a parameter of the market's model
            (`half_life_ms`: the config's, else the market's fit, else DEFAULT_HALF_LIFE_MS),
            never of the view: the window and lookback change what is shown, not E.
2. consume: long bins at or above the interval's lowest mark, short bins at or below its highest
            mark, are liquidated: their notional moves from E to C (predicted liquidations in
            the current window).
3. create:  a rise in open interest (coin units) × the interval's VWAP is new notional; each unit
            of OI is one long and one short, weighted toward the taker aggressor:
            f_long = clip(0.5 + k·imbalance, 0.2, 0.8); entries are spread over the
            interval's price range and each leverage tier gets a deposit at the exchange-exact
            liquidation price of a representative position (`position_usd`), from the exchange's
            tier table for the market (bracket MMR, maintenance amount / deduction, OKX fee,
            Hyperliquid 1/(2·max leverage)).
4. remove:  a fall in open interest closes positions; by default side-aware proportional (net
            taker buying while OI falls means shorts are covering).
5. turnover: a share `turnover × dt / 1 h` of the open interest closes (every level alike) and
            is opened again at the interval's prices, so levels near the price always exist
            (docs/model.md "Fitted parameters": the one parameter the fit found earning its place).
E is stored per leverage tier *unweighted*: every tier receives the full new notional at its own
liquidation price. A leverage preset is a weight vector applied when a view is taken, so presets
and the tier filter switch instantly and exactly (decay, consumption and removal are linear).

Speed: E is kept as `stored × scale[exchange, side]`. Decay and OI removal multiply the scale (two
floats) instead of the whole array; a deposit divides by it; consumption multiplies only the
crossed bins. The scale is folded back into the array when it gets small (every ~100 half-lives).
The highest long bin and lowest short bin holding mass are tracked, so an interval that crosses no
level costs no array work at all.

Realized layer: every liquidation print, deduplicated, kept with its price for the rolling window.

Price: each market remembers, per exchange, its latest mark price, its latest traded price (the
close of a kline or of a minute of trades) and its latest liquidation print, each with its time
(`price_quote`, docs/model.md "Price, its source and its age").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from liqtui import exchanges as registry
from liqtui.config import Model, parse_duration
from liqtui.events import (
    BookDepth,
    Liquidation,
    MarkPrice,
    OpenInterest,
    PrintKey,
    TradeFlow,
    print_key,
)
from liqtui.model.grid import PriceGrid, remap
from liqtui.model.history import ActivityRing, HistoryRing
from liqtui.model.mechanics import TierTables, model_level_factors, shipped_tier_tables
from liqtui.presets import (
    DEFAULT_FITTED_WEIGHTS,
    DEFAULT_HALF_LIFE_MS,
    DEFAULT_TURNOVER,
    FITTED,
    LEVERAGE_TIERS,
    PRESETS,
    filter_tiers,
)

EXCHANGE_INDEX: dict[str, int] = {name: i for i, name in enumerate(registry.ids())}
LONG, SHORT = 0, 1
_RENORMALIZE_BELOW = 1e-100
HOUR_MS, DAY_MS = 3_600_000, 86_400_000
# A price observed longer ago than this is stale: two missed mark updates of the slowest
# exchange plus a one-minute kline or trade minute fit well inside it.
PRICE_STALE_AFTER_MS = 120_000
# Price sources, most trusted first (the order breaks ties between equally new observations).
PRICE_SOURCES: tuple[str, ...] = ("mark", "kline", "trades", "liquidation")


@dataclass(frozen=True, slots=True)
class PriceQuote:
    """A market's price with where and when it was observed."""

    price: float
    source: str  # one of PRICE_SOURCES
    exchanges: tuple[str, ...]  # the exchange(s) it came from (several: median of their marks)
    time_ms: int  # when it was observed (a median: its oldest mark), exchange clock


def preset_weights(
    preset: str, tier_filter: str = "all", fitted: tuple[float, ...] | None = None
) -> NDArray[np.float64]:
    """Weight per entry of LEVERAGE_TIERS for a preset, with the tier filter applied ("fitted":
    `fitted`, the market's fitted weights, else DEFAULT_FITTED_WEIGHTS)."""
    if preset == FITTED:
        if fitted is not None and len(fitted) != len(LEVERAGE_TIERS):
            raise ValueError(f"the fitted preset needs {len(LEVERAGE_TIERS)} weights, one a tier")
        w = np.array(fitted or DEFAULT_FITTED_WEIGHTS, dtype=np.float64)
    else:
        weights = PRESETS[preset]
        w = np.array([weights.get(t, 0.0) for t in LEVERAGE_TIERS], dtype=np.float64)
    kept = filter_tiers(tier_filter)
    w[~np.isin(np.array(LEVERAGE_TIERS), kept)] = 0.0
    return w


@dataclass(frozen=True, slots=True)
class ModelParams:
    bin_pct: float = 0.0005  # bin width ≈ 0.05% of price
    span_pct: float = 0.35  # grid covers price ± 35%
    step_ms: int = 60_000  # one model interval
    half_life_ms: int = 0  # 0: "auto", the market's fit, else DEFAULT_HALF_LIFE_MS
    imbalance_k: float = 0.5
    entry_points: int = 8  # entries spread over the interval's range
    # Share of open interest that closes and is opened again per hour while OI stands still
    # (positions change hands): keeps levels near the price. -1: the market's fit, else
    # DEFAULT_TURNOVER (see `turnover_per_hour`).
    turnover: float = -1.0
    oi_decrease: str = "side-aware"
    window_ms: int = 24 * HOUR_MS  # realized window kept, the range of the history H
    history_rows: int = 96  # rows of H over the window (15 min each for 24 h)
    history_bin_pct: float = 0.0025  # price cell of H ≈ 0.25% of price (whole grid bins)
    position_usd: float = 10_000.0  # representative position for the tier tables
    detector_days: int = 7  # per-minute activity kept for the cascade detector
    # Longer, coarser rings of H for the heat map's lookbacks beyond the window: (rows, row
    # time); 7 days of 2 h rows and 30 days of 8 h rows (≈ 2.9 MB a market in all, with their R).
    lookback_rings: tuple[tuple[int, int], ...] = ((84, 2 * HOUR_MS), (90, 8 * HOUR_MS))
    # False: no history H at all (the parameter fit replays a recording once per candidate;
    # H is for views and costs half of each step there).
    keep_history: bool = True

    @property
    def half_life(self) -> int:
        """The half-life in effect: set, else the default (never the window's: see above)."""
        return self.half_life_ms or DEFAULT_HALF_LIFE_MS

    @property
    def turnover_per_hour(self) -> float:
        """The turnover in effect: set, else the default."""
        return self.turnover if self.turnover >= 0.0 else DEFAULT_TURNOVER

    @property
    def history_row_ms(self) -> int:
        return max(self.window_ms // self.history_rows, self.step_ms)

    @classmethod
    def from_settings(cls, model: Model, window_ms: int | None = None) -> ModelParams:
        """The parameters of the [model] settings; `window_ms` overrides model.window."""
        return cls(
            bin_pct=model.bin_pct,
            span_pct=model.span_pct,
            step_ms=parse_duration(model.step),
            half_life_ms=0 if model.half_life == "auto" else parse_duration(model.half_life),
            imbalance_k=model.imbalance_k,
            entry_points=model.entry_points,
            oi_decrease=model.oi_decrease,
            turnover=-1.0 if model.turnover == "auto" else float(model.turnover),
            window_ms=window_ms or parse_duration(model.window),
            history_rows=model.history_rows,
            history_bin_pct=model.history_bin_pct,
            position_usd=model.position_usd,
        )


class ModelObserver(Protocol):
    """Hooks for calibration (liqtui.model.calibrate); the live engine has none."""

    def consumed(
        self, model: MarketModel, exchange: str, side: int, lo: int, hit: NDArray[np.float64]
    ) -> None:
        """Bins lo … lo + hit.shape[1] − 1 of `side` were crossed: hit[tier, bin] USD left E."""

    def realized(self, model: MarketModel, event: Liquidation) -> None:
        """A new (deduplicated) realized print."""

    def stepping(self, model: MarketModel, now_ms: int) -> None:
        """Start of a step: `model.intervals` still hold the interval's mark path."""

    def stepped(self, model: MarketModel, now_ms: int) -> None:
        """End of a step: E is the map the next interval starts from."""


@dataclass(slots=True)
class _Interval:
    """What one exchange reported about one market during the current interval."""

    mark_last: float = math.nan
    mark_high: float = -math.inf
    mark_low: float = math.inf
    funding: float | None = None
    oi_start: float | None = None  # OI at the interval start (the baseline for ΔOI)
    oi_last: float | None = None
    taker_buy: float = 0.0
    taker_sell: float = 0.0
    flow_notional: float = 0.0
    flow_high: float = -math.inf
    flow_low: float = math.inf

    def touch(self, price: float) -> None:
        self.mark_high = max(self.mark_high, price)
        self.mark_low = min(self.mark_low, price)

    def reset(self) -> None:
        if math.isnan(self.mark_last):  # no mark yet: an empty range (NaN would stick forever)
            self.mark_high, self.mark_low = -math.inf, math.inf
        else:
            self.mark_high = self.mark_low = self.mark_last
        self.oi_start = self.oi_last
        self.taker_buy = self.taker_sell = self.flow_notional = 0.0
        self.flow_high, self.flow_low = -math.inf, math.inf


class RealizedLog:
    """Realized liquidations of one market in a rolling window, deduplicated; columnar arrays.

    New prints are appended to Python lists and moved into the arrays in batches (when read,
    expired or every 4,096 prints): appending to a list costs far less than numpy scalar writes.
    """

    _COLUMNS = ("time", "side", "exchange", "price", "notional")
    _BATCH = 4096

    def __init__(self, window_ms: int, capacity: int = 256) -> None:
        self.window_ms = window_ms
        self.time = np.zeros(capacity, dtype=np.int64)
        self.side = np.zeros(capacity, dtype=np.int8)
        self.exchange = np.zeros(capacity, dtype=np.int8)
        self.price = np.zeros(capacity, dtype=np.float64)
        self.notional = np.zeros(capacity, dtype=np.float64)
        self._size = 0
        self.duplicates = 0
        self._seen: set[PrintKey] = set()
        self._newest = 0
        self._pending: list[tuple[int, int, int, float, float]] = []

    @property
    def size(self) -> int:
        return self._size + len(self._pending)

    def add(self, ev: Liquidation) -> bool:
        """Append a print; False if it is a duplicate (same exchange, time, side, qty, price)."""
        key = print_key(ev)
        if key in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(key)
        side = LONG if ev.side == "long" else SHORT
        ex = EXCHANGE_INDEX.get(ev.exchange, len(EXCHANGE_INDEX))
        self._pending.append((ev.time_ms, side, ex, ev.price, ev.notional_usd))
        if ev.time_ms > self._newest:
            self._newest = ev.time_ms
        if len(self._pending) >= self._BATCH:
            self._flush()
        return True

    def _flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        n, m = self._size, len(pending)
        cap = len(self.time)
        if n + m > cap:
            while cap < n + m:
                cap *= 2
            for name in self._COLUMNS:
                old = getattr(self, name)
                new = np.zeros(cap, dtype=old.dtype)
                new[:n] = old[:n]
                setattr(self, name, new)
        for name, values in zip(self._COLUMNS, zip(*pending, strict=True), strict=True):
            getattr(self, name)[n : n + m] = values
        self._size = n + m
        self._pending = []

    def expire(self, now_ms: int) -> None:
        """Drop prints older than the window (and their dedupe keys)."""
        self._flush()
        if self._size == 0:
            return
        cutoff = now_ms - self.window_ms
        t = self.time[: self._size]
        old = t < cutoff
        n_old = int(old.sum())
        # Compact only when a real share expired: keeps the per-tick cost O(1) amortised.
        if n_old == 0 or n_old * 4 < self._size:
            return
        keep = ~old
        for name in self._COLUMNS:
            arr = getattr(self, name)
            kept = arr[: self._size][keep]
            arr[: kept.size] = kept
        self._size = int(keep.sum())
        self._seen = {k for k in self._seen if k[1] >= cutoff}

    def columns(
        self,
    ) -> tuple[NDArray[np.int64], NDArray[np.int8], NDArray[np.int8], NDArray, NDArray]:
        self._flush()
        n = self._size
        return self.time[:n], self.side[:n], self.exchange[:n], self.price[:n], self.notional[:n]


@dataclass(slots=True)
class MarketModel:
    """Model state of one market (all exchanges)."""

    symbol: str
    params: ModelParams = field(default_factory=ModelParams)
    tiers: TierTables = field(default_factory=shipped_tier_tables)
    grid: PriceGrid | None = None
    slots: dict[str, int] = field(default_factory=dict)  # exchange → index in the E arrays
    stored: NDArray[np.float64] | None = None  # E / scale: [slot, side, tier, bin]
    scale: NDArray[np.float64] = field(default_factory=lambda: np.ones((0, 2)))
    window_consumed: NDArray[np.float64] | None = None  # C[slot, side, tier, bin], USD
    consumed_since_ms: int | None = None
    long_top: list[int] = field(default_factory=list)  # highest long bin with mass, per slot
    short_bottom: list[int] = field(default_factory=list)  # lowest short bin with mass
    history: HistoryRing | None = None
    lookback_history: tuple[HistoryRing, ...] = ()  # longer, coarser rings (lookbacks)
    activity: ActivityRing = field(init=False)
    realized: RealizedLog = field(init=False)
    intervals: dict[str, _Interval] = field(default_factory=dict)
    marks: dict[str, tuple[float, int]] = field(default_factory=dict)  # exchange → (mark, time)
    # exchange → (price, time, "kline" | "trades"): the latest traded price; → (price, time):
    # the latest liquidation print.
    traded: dict[str, tuple[float, int, str]] = field(default_factory=dict)
    prints: dict[str, tuple[float, int]] = field(default_factory=dict)
    funding: dict[str, float] = field(default_factory=dict)
    open_interest: dict[str, float] = field(default_factory=dict)
    # exchange → time of its first open-interest reading: the map's history starts there
    # (the store, a backfill, a replay or live; `MarketSnapshot.oi_history_ms`)
    oi_since: dict[str, int] = field(default_factory=dict)
    depth: dict[str, BookDepth] = field(default_factory=dict)  # latest book per exchange
    last_step_ms: int | None = None
    steps: int = 0
    observer: ModelObserver | None = None
    factors: dict[str, NDArray[np.float64]] = field(default_factory=dict)  # exchange → (2, tiers)
    _half_life: float = 0.0
    # New prints (time, side, price, USD) for the rings' R, moved in at the next step (a list
    # append per print: numpy scalar writes cost more).
    _ring_prints: list[tuple[int, int, float, float]] = field(default_factory=list)
    _turnover_rate: float = 0.0

    def __post_init__(self) -> None:
        self.realized = RealizedLog(self.params.window_ms)
        self.activity = ActivityRing(self.params.detector_days)
        self._half_life = float(self.params.half_life)
        self._turnover_rate = self.params.turnover_per_hour

    # -- state views ------------------------------------------------------------------------------
    @property
    def exchanges(self) -> list[str]:
        """Exchanges with estimated state, in slot order."""
        return sorted(self.slots, key=self.slots.__getitem__)

    @property
    def estimated(self) -> NDArray[np.float64] | None:
        """E[slot, side, tier, bin] in USD (a new array; slot order is `exchanges`)."""
        if self.stored is None:
            return None
        return self.stored * self.scale[:, :, None, None]

    @property
    def consumed(self) -> NDArray[np.float64] | None:
        """C[slot, side, tier, bin]: USD consumed since `consumed_since_ms` (current window)."""
        return self.window_consumed

    @property
    def rings(self) -> tuple[HistoryRing, ...]:
        """Every ring of H: the window's, then the lookback rings."""
        return (*((self.history,) if self.history is not None else ()), *self.lookback_history)

    @property
    def half_life_ms(self) -> int:
        return int(self._half_life)

    @property
    def nbytes(self) -> int:
        """Bytes of numpy state (E, C, H, activity ring, realized arrays)."""
        total = self.activity.nbytes + self.scale.nbytes
        for arr in (self.stored, self.window_consumed):
            if arr is not None:
                total += arr.nbytes
        for ring in self.rings:
            total += ring.nbytes
        r = self.realized
        total += sum(
            getattr(r, n).nbytes for n in ("time", "side", "exchange", "price", "notional")
        )
        return total

    # -- events -------------------------------------------------------------------------------
    def _interval(self, exchange: str) -> _Interval:
        iv = self.intervals.get(exchange)
        if iv is None:
            iv = self.intervals[exchange] = _Interval()
        return iv

    def _ensure_grid(self, price: float) -> None:
        p = self.params
        if self.grid is None:
            self.grid = PriceGrid.around(price, bin_pct=p.bin_pct, span_pct=p.span_pct)
            if p.keep_history:
                self.history = HistoryRing(
                    self.grid,
                    price,
                    rows=p.history_rows,
                    row_ms=p.history_row_ms,
                    n_tiers=len(LEVERAGE_TIERS),
                    cell_pct=p.history_bin_pct,
                )
        elif self.grid.needs_recentre(price):
            new = PriceGrid.around(
                price, bin_pct=p.bin_pct, span_pct=p.span_pct, keep_width=self.grid.width
            )
            if self.stored is not None and self.window_consumed is not None:
                self.stored = remap(self.stored, self.grid, new)
                self.window_consumed = remap(self.window_consumed, self.grid, new)
                self._recompute_extents(new)
            for ring in self.rings:
                ring.regrid(new, price)
            self.grid = new
            self.factors.clear()  # OKX tiers are by size: re-evaluate at the new price

    def _recompute_extents(self, grid: PriceGrid) -> None:
        assert self.stored is not None
        for slot in range(self.stored.shape[0]):
            longs = np.flatnonzero(self.stored[slot, LONG].any(axis=0))
            shorts = np.flatnonzero(self.stored[slot, SHORT].any(axis=0))
            self.long_top[slot] = int(longs[-1]) if longs.size else -1
            self.short_bottom[slot] = int(shorts[0]) if shorts.size else grid.n_bins

    def on_mark(self, ev: MarkPrice) -> None:
        self._ensure_grid(ev.mark_price)
        iv = self._interval(ev.exchange)
        iv.mark_last = ev.mark_price
        iv.touch(ev.mark_price)
        self.marks[ev.exchange] = (ev.mark_price, ev.time_ms)
        self.activity.add_price(ev.time_ms, ev.mark_price)
        if ev.funding_rate is not None:
            iv.funding = ev.funding_rate
            self.funding[ev.exchange] = ev.funding_rate

    def on_open_interest(self, ev: OpenInterest) -> None:
        iv = self._interval(ev.exchange)
        if iv.oi_start is None:
            iv.oi_start = ev.open_interest  # first reading is the baseline, not new positions
        since = self.oi_since.get(ev.exchange)
        if since is None or ev.time_ms < since:
            self.oi_since[ev.exchange] = ev.time_ms
        iv.oi_last = ev.open_interest
        self.open_interest[ev.exchange] = ev.open_interest

    def on_trade_flow(self, ev: TradeFlow) -> None:
        iv = self._interval(ev.exchange)
        iv.taker_buy += ev.taker_buy_base
        iv.taker_sell += ev.taker_sell_base
        iv.flow_notional += ev.vwap * (ev.taker_buy_base + ev.taker_sell_base)
        if ev.high is not None and ev.low is not None:
            iv.flow_high = max(iv.flow_high, ev.high)
            iv.flow_low = min(iv.flow_low, ev.low)
        last = ev.close if ev.close is not None else ev.vwap
        current = self.traded.get(ev.exchange)
        if current is None or ev.time_ms >= current[1]:
            self.traded[ev.exchange] = (last, ev.time_ms, ev.source)
        if self.grid is None:
            self._ensure_grid(ev.vwap)

    def on_depth(self, ev: BookDepth) -> None:
        current = self.depth.get(ev.exchange)
        if current is None or ev.time_ms >= current.time_ms:
            self.depth[ev.exchange] = ev

    def on_liquidation(self, ev: Liquidation) -> bool:
        if not self.realized.add(ev):
            return False
        current = self.prints.get(ev.exchange)
        if current is None or ev.time_ms >= current[1]:
            self.prints[ev.exchange] = (ev.price, ev.time_ms)
        self.activity.add_liquidation(ev.time_ms, ev.side == "long", ev.notional_usd)
        if self.grid is None:
            self._ensure_grid(ev.price)
        self._ring_prints.append(
            (ev.time_ms, LONG if ev.side == "long" else SHORT, ev.price, ev.notional_usd)
        )
        if self.observer is not None:
            self.observer.realized(self, ev)
        return True

    # -- interval step ------------------------------------------------------------------------
    def step(self, now_ms: int) -> None:
        """Close the interval ending at `now_ms` (a gap of several intervals is one step)."""
        dt = now_ms - (self.last_step_ms if self.last_step_ms is not None else now_ms)
        self.last_step_ms = now_ms
        self.steps += 1
        self.realized.expire(now_ms)
        if self.grid is None:
            for iv in self.intervals.values():
                iv.reset()
            return
        if self.observer is not None:
            self.observer.stepping(self, now_ms)
        if self.stored is not None and dt > 0:
            self.scale *= 0.5 ** (dt / self._half_life)
        low, high = math.inf, -math.inf  # the interval's price range (the price path of H)
        for iv in self.intervals.values():
            low = min(low, iv.mark_low, iv.flow_low)
            high = max(high, iv.mark_high, iv.flow_high)
        if low <= high:
            for ring in self.rings:
                ring.note_price(low, high)
        self._flush_ring_prints()
        for exchange, iv in self.intervals.items():
            slot = self.slots.get(exchange)
            if slot is not None and iv.mark_low <= iv.mark_high:
                self._consume(exchange, slot, iv)
            if iv.oi_start is not None and iv.oi_last is not None and iv.oi_last != iv.oi_start:
                self._open_interest_change(exchange, iv)
            if self._turnover_rate > 0.0 and dt > 0 and slot is not None:
                self._turnover(exchange, slot, iv, dt)
            iv.reset()
        if self.stored is not None and self.scale.min() < _RENORMALIZE_BELOW:
            self._renormalize()
        self._bookkeeping(now_ms)
        if self.observer is not None:
            self.observer.stepped(self, now_ms)

    def _flush_ring_prints(self) -> None:
        """Move the prints since the last step into every ring's R."""
        pending = self._ring_prints
        if not pending:
            return
        self._ring_prints = []
        t, side, price, usd = (np.array(c) for c in zip(*pending, strict=True))
        for ring in self.rings:
            ring.add_prints(t.astype(np.int64), side.astype(np.int64), price, usd)

    def _bookkeeping(self, now_ms: int) -> None:
        """History row and the window roll of C."""
        if self.stored is None or self.window_consumed is None:
            return
        summed: NDArray[np.float64] | None = None
        for ring in self.rings:
            if ring.due(now_ms):
                if summed is None:
                    summed = (self.stored * self.scale[:, :, None, None]).sum(axis=0)
                quote = self.price_quote(now_ms)
                ring.capture(now_ms, summed, quote.price if quote is not None else None)
        if self.consumed_since_ms is None:
            self.consumed_since_ms = now_ms
        elif now_ms - self.consumed_since_ms >= self.params.window_ms:
            self.window_consumed[...] = 0.0
            self.consumed_since_ms = now_ms

    def _renormalize(self) -> None:
        assert self.stored is not None
        self.stored *= self.scale[:, :, None, None]
        self.scale[...] = 1.0

    def _slot(self, exchange: str) -> int:
        """The E slot of an exchange, allocating arrays on first use."""
        slot = self.slots.get(exchange)
        if slot is not None:
            return slot
        assert self.grid is not None
        shape = (1, 2, len(LEVERAGE_TIERS), self.grid.n_bins)
        if self.stored is None or self.window_consumed is None:
            self.stored, self.window_consumed = np.zeros(shape), np.zeros(shape)
            self.scale = np.ones((1, 2))
            self._add_lookback_rings()
        else:
            self.stored = np.concatenate([self.stored, np.zeros(shape)])
            self.window_consumed = np.concatenate([self.window_consumed, np.zeros(shape)])
            self.scale = np.concatenate([self.scale, np.ones((1, 2))])
        slot = self.slots[exchange] = len(self.slots)
        self.long_top.append(-1)
        self.short_bottom.append(self.grid.n_bins)
        return slot

    def _add_lookback_rings(self) -> None:
        """The lookback rings, with the first E: a market that only ever has prints (no open
        interest, so no E) keeps none (≈ 2.9 MB saved a market)."""
        p, grid = self.params, self.grid
        assert grid is not None
        if not p.keep_history:
            return
        self.lookback_history = tuple(
            HistoryRing(
                grid,
                grid.centre,
                rows=rows,
                row_ms=max(row_ms, p.step_ms),
                n_tiers=len(LEVERAGE_TIERS),
                cell_pct=p.history_bin_pct,
            )
            for rows, row_ms in p.lookback_rings
        )

    def _consume(self, exchange: str, slot: int, iv: _Interval) -> None:
        grid = self.grid
        stored, consumed = self.stored, self.window_consumed
        assert grid is not None and stored is not None and consumed is not None
        lo = max(grid.index_of(iv.mark_low), 0)  # long levels at or above the low are hit
        top = self.long_top[slot]
        if lo <= top:
            seg = stored[slot, LONG, :, lo : top + 1]
            hit = seg * self.scale[slot, LONG]
            consumed[slot, LONG, :, lo : top + 1] += hit
            seg[...] = 0.0
            self.long_top[slot] = lo - 1
            if self.observer is not None:
                self.observer.consumed(self, exchange, LONG, lo, hit)
        hi = min(grid.index_of(iv.mark_high), grid.n_bins - 1)  # short levels at or below
        bottom = self.short_bottom[slot]
        if hi >= bottom:
            seg = stored[slot, SHORT, :, bottom : hi + 1]
            hit = seg * self.scale[slot, SHORT]
            consumed[slot, SHORT, :, bottom : hi + 1] += hit
            seg[...] = 0.0
            self.short_bottom[slot] = hi + 1
            if self.observer is not None:
                self.observer.consumed(self, exchange, SHORT, bottom, hit)

    def _open_interest_change(self, exchange: str, iv: _Interval) -> None:
        oi_start, oi_last = iv.oi_start, iv.oi_last
        assert oi_start is not None and oi_last is not None
        if oi_start <= 0 or exchange not in EXCHANGE_INDEX:
            return
        delta = oi_last - oi_start
        p = self.params
        volume = iv.taker_buy + iv.taker_sell
        imbalance = (iv.taker_buy - iv.taker_sell) / volume if volume > 0 else 0.0
        if delta > 0:
            vwap = iv.flow_notional / volume if volume > 0 else iv.mark_last
            if not (vwap > 0 and math.isfinite(vwap)):
                return
            # No funding tilt: it moved the fit's score by ±0.001 (docs/model.md), so it went.
            f_long = min(max(0.5 + p.imbalance_k * imbalance, 0.2), 0.8)
            low = min(iv.mark_low, iv.flow_low, vwap)
            high = max(iv.mark_high, iv.flow_high, vwap)
            if not (0 < low <= high < math.inf):  # never place levels off a broken range
                low = high = vwap
            self._deposit(exchange, delta * vwap, f_long, low, high)
            return
        slot = self.slots.get(exchange)
        if slot is None or p.oi_decrease == "survival-only":
            return
        closed = min(-delta / oi_start, 1.0)
        if p.oi_decrease == "proportional":
            keep_long = keep_short = 1.0 - closed
        else:
            short_share = min(max(0.5 + p.imbalance_k * imbalance, 0.2), 0.8)  # buyers cover
            keep_short = 1.0 - min(2.0 * short_share * closed, 1.0)
            keep_long = 1.0 - min(2.0 * (1.0 - short_share) * closed, 1.0)
        for side, keep in ((LONG, keep_long), (SHORT, keep_short)):
            if keep > 0.0:
                self.scale[slot, side] *= keep
            else:  # the whole side closed
                assert self.stored is not None and self.grid is not None
                self.stored[slot, side] = 0.0
                self.scale[slot, side] = 1.0
                if side == LONG:
                    self.long_top[slot] = -1
                else:
                    self.short_bottom[slot] = self.grid.n_bins

    def _turnover(self, exchange: str, slot: int, iv: _Interval, dt: int) -> None:
        """Positions change hands while open interest stands still: a share of it closes
        (everywhere alike) and is opened again at this interval's prices."""
        oi = self.open_interest.get(exchange)
        price = iv.mark_last
        if not oi or not (price > 0 and math.isfinite(price)):
            return
        share = min(self._turnover_rate * dt / HOUR_MS, 1.0)
        self.scale[slot] *= 1.0 - share
        low, high = min(iv.mark_low, price), max(iv.mark_high, price)
        self._deposit(exchange, share * oi * price, 0.5, low, high)

    def level_factors(self, exchange: str, price: float) -> NDArray[np.float64]:
        """Liquidation price / entry per (side, leverage tier) for this market on `exchange`."""
        factors = self.factors.get(exchange)
        if factors is None:
            table = self.tiers.table(exchange, self.symbol)
            factors, _ = model_level_factors(
                exchange,
                tuple(float(t) for t in LEVERAGE_TIERS),
                table,
                position_usd=self.params.position_usd,
                price=price,
            )
            self.factors[exchange] = factors
        return factors

    def _deposit(
        self, exchange: str, notional: float, f_long: float, low: float, high: float
    ) -> None:
        grid = self.grid
        assert grid is not None
        slot = self._slot(exchange)
        stored = self.stored
        assert stored is not None
        n_points = self.params.entry_points if high > low else 1
        entries = _spread(low, high, n_points)
        factors = self.level_factors(exchange, 0.5 * (low + high))  # (side, tier)
        n_tiers, n_bins = factors.shape[1], grid.n_bins
        # Bin of every (side, tier, entry) level, kept on the grid (far levels in the edge bins).
        idx = np.multiply.outer(factors.ravel(), entries)
        idx -= grid.origin
        idx /= grid.width
        idx = np.floor(idx, out=idx).astype(np.int64)
        np.maximum(idx, 0, out=idx)
        np.minimum(idx, n_bins - 1, out=idx)
        scale = self.scale[slot]
        per_point = notional / n_points
        half = n_tiers * n_points
        weights = np.empty(2 * half)
        weights[:half] = per_point * f_long / scale[LONG]
        weights[half:] = per_point * (1.0 - f_long) / scale[SHORT]
        self.long_top[slot] = max(self.long_top[slot], int(idx[:n_tiers].max()))
        self.short_bottom[slot] = min(self.short_bottom[slot], int(idx[n_tiers:].min()))
        idx += _row_offsets(slot, n_tiers, n_points, n_bins)
        np.add.at(stored.reshape(-1), idx.ravel(), weights)

    # -- reading --------------------------------------------------------------------------------
    def price_quote(self, now_ms: int) -> PriceQuote | None:
        """The market's price: the median of the marks observed within PRICE_STALE_AFTER_MS of
        `now_ms`; without one, the newest observation of any kind (mark, traded price,
        liquidation print), which may itself be stale. None before any observation."""
        fresh = [
            (m, t, ex)
            for ex, (m, t) in sorted(self.marks.items())
            if now_ms - t <= PRICE_STALE_AFTER_MS
        ]
        if fresh:
            values = sorted(m for m, _, _ in fresh)
            mid = len(values) // 2
            median = values[mid] if len(values) % 2 else 0.5 * (values[mid - 1] + values[mid])
            oldest = min(t for _, t, _ in fresh)
            return PriceQuote(median, "mark", tuple(ex for _, _, ex in fresh), oldest)
        candidates = [(t, "mark", ex, m) for ex, (m, t) in self.marks.items()]
        candidates += [(t, kind, ex, p) for ex, (p, t, kind) in self.traded.items()]
        candidates += [(t, "liquidation", ex, p) for ex, (p, t) in self.prints.items()]
        if not candidates:
            return None
        # Newest first; equally new: the more trusted source, then the exchange name.
        t, source, exchange, price = min(
            candidates, key=lambda c: (-c[0], PRICE_SOURCES.index(c[1]), c[2])
        )
        return PriceQuote(price, source, (exchange,), t)

    def price(self, now_ms: int) -> tuple[float | None, str | None]:
        """The price and its source (see `price_quote`)."""
        quote = self.price_quote(now_ms)
        return (quote.price, quote.source) if quote is not None else (None, None)


_SPREADS: dict[int, NDArray[np.float64]] = {}
_OFFSETS: dict[tuple[int, int, int, int], NDArray[np.int64]] = {}


def _row_offsets(slot: int, n_tiers: int, n_points: int, n_bins: int) -> NDArray[np.int64]:
    """Flat offset of each (side·tier, entry) row of one slot in E[slot, side, tier, bin]."""
    key = (slot, n_tiers, n_points, n_bins)
    off = _OFFSETS.get(key)
    if off is None:
        rows = slot * 2 * n_tiers + np.arange(2 * n_tiers, dtype=np.int64)
        off = _OFFSETS[key] = np.repeat(rows * n_bins, n_points).reshape(2 * n_tiers, n_points)
    return off


def _spread(low: float, high: float, n: int) -> NDArray[np.float64]:
    """n entry prices evenly over [low, high] (np.linspace without its per-call overhead)."""
    if n == 1:
        return np.array([low])
    frac = _SPREADS.get(n)
    if frac is None:
        frac = _SPREADS[n] = np.linspace(0.0, 1.0, n)
    return low + (high - low) * frac
