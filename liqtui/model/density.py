"""Per-market liquidation density: estimated levels (E) and realized prints (R). Pure numpy.

Estimated layer (models.md §5), per exchange, one update per interval of source time:
1. decay:   E *= 0.5 ** (dt / half_life)
2. consume: long bins at or above the interval's lowest mark, short bins at or below its highest
            mark, are liquidated: their notional moves from E to C (predicted liquidations).
3. create:  a rise in open interest (coin units) × the interval's VWAP is new notional; each unit
            of OI is one long and one short, weighted toward the taker aggressor:
            f_long = clip(0.5 + k·imbalance, 0.2, 0.8); entries are spread over the interval's
            price range and each leverage tier's exchange-exact liquidation price gets a deposit.
4. remove:  a fall in open interest closes positions; by default side-aware proportional (net
            taker buying while OI falls means shorts are covering).
E is stored per leverage tier *unweighted*: every tier receives the full new notional at its own
liquidation price. A leverage preset is a weight vector applied when a view is taken, so presets
and the tier filter switch instantly and exactly (decay, consumption and removal are linear).

Realized layer: every liquidation print, deduplicated, kept with its price for the rolling window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from liqtui.events import EXCHANGES, Liquidation, MarkPrice, OpenInterest, TradeFlow
from liqtui.model.grid import PriceGrid, remap
from liqtui.model.mechanics import level_factors

LEVERAGE_TIERS: tuple[int, ...] = (2, 5, 10, 25, 50, 100)
PRESETS: dict[str, dict[int, float]] = {
    # models.md §5.3. "high" is Coinglass-like; "observed-low" follows Hyperliquid's Dec 2025 split.
    "high": {10: 0.30, 25: 0.30, 50: 0.25, 100: 0.15},
    "balanced": {5: 0.15, 10: 0.30, 25: 0.25, 50: 0.20, 100: 0.10},
    "observed-low": {2: 0.35, 5: 0.45, 10: 0.12, 25: 0.05, 50: 0.03},
}
TIER_FILTERS: tuple[str, ...] = ("all", "25x+")
OI_DECREASE_RULES: tuple[str, ...] = ("side-aware", "proportional", "survival-only")
EXCHANGE_INDEX: dict[str, int] = {name: i for i, name in enumerate(EXCHANGES)}
# Leverage above an exchange's maximum is deposited at the maximum (Hyperliquid BTC: 40x).
MAX_LEVERAGE: dict[str, int] = {"binance": 125, "bybit": 100, "okx": 100, "hyperliquid": 40}
LONG, SHORT = 0, 1


def preset_weights(preset: str, tier_filter: str = "all") -> NDArray[np.float64]:
    """Weight per entry of LEVERAGE_TIERS for a preset, with the tier filter applied."""
    weights = PRESETS[preset]
    w = np.array([weights.get(t, 0.0) for t in LEVERAGE_TIERS], dtype=np.float64)
    if tier_filter == "25x+":
        w[np.array(LEVERAGE_TIERS) < 25] = 0.0
    elif tier_filter != "all":
        raise ValueError(f"unknown tier filter {tier_filter!r}")
    return w


@dataclass(frozen=True, slots=True)
class ModelParams:
    bin_pct: float = 0.0005  # bin width ≈ 0.05% of price
    span_pct: float = 0.35  # grid covers price ± 35%
    step_ms: int = 60_000  # one model interval
    half_life_ms: int = 12 * 3_600_000
    imbalance_k: float = 0.5
    funding_tilt: float = 0.05  # long share shifts this much toward the side paying funding
    entry_points: int = 8  # entries spread over the interval's range
    oi_decrease: str = "side-aware"
    window_ms: int = 24 * 3_600_000  # realized window kept


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
        self.mark_high = self.mark_low = self.mark_last
        self.oi_start = self.oi_last
        self.taker_buy = self.taker_sell = self.flow_notional = 0.0
        self.flow_high, self.flow_low = -math.inf, math.inf


class RealizedLog:
    """Realized liquidations of one market in a rolling window, deduplicated; columnar arrays."""

    def __init__(self, window_ms: int, capacity: int = 256) -> None:
        self.window_ms = window_ms
        self.time = np.zeros(capacity, dtype=np.int64)
        self.side = np.zeros(capacity, dtype=np.int8)
        self.exchange = np.zeros(capacity, dtype=np.int8)
        self.price = np.zeros(capacity, dtype=np.float64)
        self.notional = np.zeros(capacity, dtype=np.float64)
        self.size = 0
        self.duplicates = 0
        self._seen: set[tuple[str, int, int, float, float]] = set()
        self._newest = 0

    def add(self, ev: Liquidation) -> bool:
        """Append a print; False if it is a duplicate (same exchange, time, side, qty, price)."""
        side = LONG if ev.side == "long" else SHORT
        key = (ev.exchange, ev.time_ms, side, ev.quantity, ev.price)
        if key in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(key)
        if self.size == len(self.time):
            self._grow()
        i = self.size
        self.time[i] = ev.time_ms
        self.side[i] = side
        self.exchange[i] = EXCHANGE_INDEX.get(ev.exchange, len(EXCHANGES))
        self.price[i] = ev.price
        self.notional[i] = ev.notional_usd
        self.size += 1
        self._newest = max(self._newest, ev.time_ms)
        return True

    def _grow(self) -> None:
        cap = 2 * len(self.time)
        for name in ("time", "side", "exchange", "price", "notional"):
            old = getattr(self, name)
            new = np.zeros(cap, dtype=old.dtype)
            new[: self.size] = old[: self.size]
            setattr(self, name, new)

    def expire(self, now_ms: int) -> None:
        """Drop prints older than the window (and their dedupe keys)."""
        if self.size == 0:
            return
        cutoff = now_ms - self.window_ms
        t = self.time[: self.size]
        old = t < cutoff
        n_old = int(old.sum())
        # Compact only when a real share expired: keeps the per-tick cost O(1) amortised.
        if n_old == 0 or n_old * 4 < self.size:
            return
        keep = ~old
        for name in ("time", "side", "exchange", "price", "notional"):
            arr = getattr(self, name)
            kept = arr[: self.size][keep]
            arr[: kept.size] = kept
        self.size = int(keep.sum())
        self._seen = {k for k in self._seen if k[1] >= cutoff}

    def columns(
        self,
    ) -> tuple[NDArray[np.int64], NDArray[np.int8], NDArray[np.int8], NDArray, NDArray]:
        n = self.size
        return self.time[:n], self.side[:n], self.exchange[:n], self.price[:n], self.notional[:n]


@dataclass(slots=True)
class MarketModel:
    """Model state of one market (all exchanges)."""

    symbol: str
    params: ModelParams = field(default_factory=ModelParams)
    grid: PriceGrid | None = None
    estimated: NDArray[np.float64] | None = None  # E[exchange, side, tier, bin], USD
    consumed: NDArray[np.float64] | None = None  # C[exchange, side, bin], USD since start
    realized: RealizedLog = field(init=False)
    intervals: dict[str, _Interval] = field(default_factory=dict)
    marks: dict[str, tuple[float, int]] = field(default_factory=dict)  # exchange → (mark, time)
    funding: dict[str, float] = field(default_factory=dict)
    open_interest: dict[str, float] = field(default_factory=dict)
    last_liquidation_price: float | None = None
    last_step_ms: int | None = None
    steps: int = 0

    def __post_init__(self) -> None:
        self.realized = RealizedLog(self.params.window_ms)

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
        elif self.grid.needs_recentre(price):
            new = PriceGrid.around(
                price, bin_pct=p.bin_pct, span_pct=p.span_pct, keep_width=self.grid.width
            )
            if self.estimated is not None and self.consumed is not None:
                self.estimated = remap(self.estimated, self.grid, new)
                self.consumed = remap(self.consumed, self.grid, new)
            self.grid = new

    def on_mark(self, ev: MarkPrice) -> None:
        self._ensure_grid(ev.mark_price)
        iv = self._interval(ev.exchange)
        iv.mark_last = ev.mark_price
        iv.touch(ev.mark_price)
        self.marks[ev.exchange] = (ev.mark_price, ev.time_ms)
        if ev.funding_rate is not None:
            iv.funding = ev.funding_rate
            self.funding[ev.exchange] = ev.funding_rate

    def on_open_interest(self, ev: OpenInterest) -> None:
        iv = self._interval(ev.exchange)
        if iv.oi_start is None:
            iv.oi_start = ev.open_interest  # first reading is the baseline, not new positions
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
        if self.grid is None:
            self._ensure_grid(ev.vwap)

    def on_liquidation(self, ev: Liquidation) -> bool:
        if not self.realized.add(ev):
            return False
        self.last_liquidation_price = ev.price
        if self.grid is None:
            self._ensure_grid(ev.price)
        return True

    # -- interval step ------------------------------------------------------------------------
    def step(self, now_ms: int) -> None:
        """Close the interval ending at `now_ms` (a gap of several intervals is one step)."""
        p = self.params
        dt = now_ms - (self.last_step_ms if self.last_step_ms is not None else now_ms)
        self.last_step_ms = now_ms
        self.steps += 1
        self.realized.expire(now_ms)
        if self.grid is None:
            for iv in self.intervals.values():
                iv.reset()
            return
        if self.estimated is not None and dt > 0:
            self.estimated *= 0.5 ** (dt / p.half_life_ms)
        for exchange, iv in self.intervals.items():
            ex = EXCHANGE_INDEX.get(exchange)
            if ex is not None:
                self._consume(ex, iv)
                self._open_interest_change(exchange, ex, iv)
            iv.reset()

    def _arrays(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        if self.estimated is None or self.consumed is None:
            assert self.grid is not None
            n = self.grid.n_bins
            self.estimated = np.zeros((len(EXCHANGES), 2, len(LEVERAGE_TIERS), n))
            self.consumed = np.zeros((len(EXCHANGES), 2, n))
        return self.estimated, self.consumed

    def _consume(self, ex: int, iv: _Interval) -> None:
        if self.estimated is None or not math.isfinite(iv.mark_low):
            return
        grid = self.grid
        assert grid is not None and self.consumed is not None
        lo = max(grid.index_of(iv.mark_low), 0)  # long levels at or above the low are hit
        if lo < grid.n_bins:
            hit = self.estimated[ex, LONG, :, lo:]
            self.consumed[ex, LONG, lo:] += hit.sum(axis=0)
            hit[...] = 0.0
        hi = min(grid.index_of(iv.mark_high), grid.n_bins - 1)  # short levels at or below
        if hi >= 0:
            hit = self.estimated[ex, SHORT, :, : hi + 1]
            self.consumed[ex, SHORT, : hi + 1] += hit.sum(axis=0)
            hit[...] = 0.0

    def _open_interest_change(self, exchange: str, ex: int, iv: _Interval) -> None:
        if iv.oi_start is None or iv.oi_last is None or iv.oi_start <= 0:
            return
        delta = iv.oi_last - iv.oi_start
        if delta == 0:
            return
        p = self.params
        volume = iv.taker_buy + iv.taker_sell
        imbalance = (iv.taker_buy - iv.taker_sell) / volume if volume > 0 else 0.0
        if delta > 0:
            vwap = iv.flow_notional / volume if volume > 0 else iv.mark_last
            if not (vwap > 0 and math.isfinite(vwap)):
                return
            f_long = 0.5 + p.imbalance_k * imbalance
            if iv.funding:
                f_long += math.copysign(p.funding_tilt, iv.funding)  # payers are the crowded side
            f_long = min(max(f_long, 0.2), 0.8)
            low = min(iv.mark_low, iv.flow_low, vwap)
            high = max(iv.mark_high, iv.flow_high, vwap)
            self._deposit(exchange, ex, delta * vwap, f_long, low, high)
            return
        estimated = self.estimated
        if estimated is None or p.oi_decrease == "survival-only":
            return
        closed = min(-delta / iv.oi_start, 1.0)
        if p.oi_decrease == "proportional":
            estimated[ex] *= 1.0 - closed
            return
        short_share = min(max(0.5 + p.imbalance_k * imbalance, 0.2), 0.8)  # buyers cover shorts
        estimated[ex, SHORT] *= 1.0 - min(2.0 * short_share * closed, 1.0)
        estimated[ex, LONG] *= 1.0 - min(2.0 * (1.0 - short_share) * closed, 1.0)

    def _deposit(
        self, exchange: str, ex: int, notional: float, f_long: float, low: float, high: float
    ) -> None:
        estimated, _ = self._arrays()
        grid = self.grid
        assert grid is not None
        n_points = self.params.entry_points if high > low else 1
        entries = np.linspace(low, high, n_points) if n_points > 1 else np.array([low])
        leverage = tuple(float(min(t, MAX_LEVERAGE[exchange])) for t in LEVERAGE_TIERS)
        factors = level_factors(exchange, leverage)  # (side, tier): price per unit entry
        n_tiers, n_bins = len(LEVERAGE_TIERS), grid.n_bins
        levels = factors[:, :, None] * entries[None, None, :]  # (side, tier, entry)
        offsets = (np.arange(2 * n_tiers) * n_bins).reshape(2, n_tiers, 1)
        flat = (offsets + grid.clipped_index(levels)).ravel()
        share = np.array([f_long, 1.0 - f_long]) * (notional / n_points)
        weights = np.broadcast_to(share[:, None, None], levels.shape).ravel()
        estimated[ex] += np.bincount(flat, weights=weights, minlength=2 * n_tiers * n_bins).reshape(
            2, n_tiers, n_bins
        )

    # -- reading --------------------------------------------------------------------------------
    def price(self, now_ms: int, fresh_ms: int = 120_000) -> tuple[float | None, str | None]:
        """Median of the fresh mark prices; else the last liquidation price; with its source."""
        fresh = [m for m, t in self.marks.values() if now_ms - t <= fresh_ms]
        if fresh:
            return float(np.median(fresh)), "mark"
        if self.marks:
            newest = max(self.marks.values(), key=lambda mt: mt[1])
            return newest[0], "mark (stale)"
        if self.last_liquidation_price is not None:
            return self.last_liquidation_price, "last liquidation"
        return None, None
