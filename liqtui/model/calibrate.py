"""Calibration: the model's predicted consumption (C, E) against realized prints (R).

Pure scoring (numpy): a `Calibrator` sits in front of the engine, attached to every market
model, while a recording (or the simulator) is replayed through it, and in the same run scores
the naive baseline (models.md §5.5: the taihey5555 "Model 1" map, all current open interest at
the current price spread over the same leverage prior at ±1/L, no maintenance margin, no
history). Figures, per model:

- rank correlation per cell: Spearman over the (window, exchange, side, price cell) cells where
  C or R is non-zero;
- rank correlation per window: Spearman of ΣC against ΣR over the windows where either is;
- top-20% share: the share of realized notional that fell in price cells the map had among its
  top 20% (by estimated notional, within ±`band` of the price) *before* price crossed them: for
  the model, the map at the start of the interval in which the print came; for the naive map,
  the map as drawn at the start of the window (it is rebuilt once per window);
- ρ = ΣR/ΣC, the share of the predicted consumption the feeds actually printed (Binance and
  OKX throttle their feeds: ρ from them is a lower bound).

Only exchanges with both an estimated map (open interest) and realized prints are compared. The
first `warmup` of the replay builds the map and is not scored. The weight fit finds non-negative
leverage weights (R ≈ Σ_tier w·C_tier over the cells, non-negative least squares) and ρ for them.

The command (`liqtui calibrate`: sources, printing, --write into the config, the tiers file) is
liqtui.commands.calibrate; fetching tier tables over HTTP is liqtui.feeds.tiers.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from liqtui import exchanges as registry
from liqtui.events import Liquidation, MarketEvent, OpenInterest
from liqtui.model.density import LONG, SHORT, MarketModel, preset_weights
from liqtui.model.engine import Engine
from liqtui.model.scoring import rankdata as rankdata  # re-exported
from liqtui.model.scoring import spearman
from liqtui.presets import LEVERAGE_TIERS

if TYPE_CHECKING:
    from liqtui.health import FeedHealth

HOUR_MS, DAY_MS = 3_600_000, 86_400_000
END_MAP_DISTANCES = (0.01, 0.02, 0.05, 0.10)  # E within these of the price at the end
# Exchanges that send at most one liquidation per symbol (contract) per second.
THROTTLED = registry.throttled()


# -- statistics ----------------------------------------------------------------------------


def nnls(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Non-negative least squares for a few columns: the best unconstrained fit over every
    subset of columns whose solution is non-negative (exact for ≤ ~10 columns)."""
    n = a.shape[1]
    best, best_err = np.zeros(n), float(np.sum(b**2))
    for k in range(1, n + 1):
        for cols in itertools.combinations(range(n), k):
            sub = a[:, cols]
            sol, *_ = np.linalg.lstsq(sub, b, rcond=None)
            if np.any(sol < 0):
                continue
            err = float(np.sum((sub @ sol - b) ** 2))
            if err < best_err - 1e-12 * max(best_err, 1.0):
                best_err = err
                best = np.zeros(n)
                best[list(cols)] = sol
    return best


# -- the collector ----------------------------------------------------------------------------


def top_cells(cells: NDArray[np.int64], usd: NDArray[Any], share: float) -> set[int]:
    """The cells among the top `share` of `cells` by notional (non-zero only)."""
    if cells.size == 0:
        return set()
    n_top = max(1, math.ceil(share * cells.size))
    order = np.argsort(-usd, kind="stable")[:n_top]
    return {int(cells[i]) for i in order if usd[i] > 0}


@dataclass
class _MarketState:
    cell_w: float
    start_ms: int
    model_top: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    naive: dict[tuple[str, int], dict[int, float]] = field(default_factory=dict)
    naive_top: dict[tuple[str, int], set[int]] = field(default_factory=dict)
    naive_window: int | None = None


Key = tuple[str, int, str, int, int]  # symbol, window, exchange, side, cell


class Calibrator:
    """An EventSink in front of the engine that records C, R and the baselines per cell."""

    def __init__(
        self,
        engine: Engine,
        *,
        preset: str | None = None,
        tier_filter: str = "all",
        window_ms: int = HOUR_MS,
        cell_pct: float = 0.0025,
        band: float = 0.10,
        top_share: float = 0.2,
        warmup_ms: int = DAY_MS,
        symbols: Sequence[str] | None = None,
    ) -> None:
        self.engine = engine
        self.preset = preset or engine.preset
        self.tier_filter = tier_filter
        self.weights = preset_weights(self.preset, tier_filter, engine.fitted_weights)
        self.window_ms = window_ms
        self.cell_pct = cell_pct
        self.band = band
        self.top_share = top_share
        self.warmup_ms = warmup_ms
        self.symbols = set(symbols) if symbols else None
        self.feeds = engine.feeds
        self.markets: dict[str, _MarketState] = {}
        self.c_model: dict[Key, NDArray[np.float64]] = {}  # per tier, unweighted
        self.c_naive: dict[Key, float] = defaultdict(float)
        self.r: dict[Key, float] = defaultdict(float)
        self.r_total: dict[tuple[str, str], float] = defaultdict(float)
        self.r_count: dict[tuple[str, str], int] = defaultdict(int)
        self.r_top_model: dict[tuple[str, str], float] = defaultdict(float)
        self.r_top_naive: dict[tuple[str, str], float] = defaultdict(float)
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.scored_from_ms: int | None = None
        # Everything the source carried, scored or not: to say why a market cannot be scored.
        self.prints_seen: dict[tuple[str, str], int] = defaultdict(int)
        self.oi_seen: set[tuple[str, str]] = set()

    # -- EventSink ------------------------------------------------------------------------------
    def feed(self, name: str) -> FeedHealth:
        return self.engine.feed(name)

    def apply(self, event: MarketEvent) -> bool:
        # Observe the market before its first event: that event may be a print to score.
        model = self.engine.market(event.symbol)
        if model.observer is None and (self.symbols is None or event.symbol in self.symbols):
            model.observer = self
        duplicates = model.realized.duplicates
        if not self.engine.apply(event):
            return False  # implausible: refused by the engine, counted by the feed
        if isinstance(event, Liquidation) and model.realized.duplicates == duplicates:
            self.prints_seen[(event.symbol, event.exchange)] += 1  # distinct prints only
        elif isinstance(event, OpenInterest):
            self.oi_seen.add((event.symbol, event.exchange))
        return True

    def advance(self, now_ms: int) -> None:
        if self.first_ms is None:
            self.first_ms = now_ms
        self.last_ms = max(self.last_ms or now_ms, now_ms)
        self.engine.advance(now_ms)

    # -- helpers --------------------------------------------------------------------------------
    def _state(self, model: MarketModel, now_ms: int) -> _MarketState | None:
        state = self.markets.get(model.symbol)
        if state is None:
            grid = model.grid
            price, _ = model.price(now_ms)
            if grid is None or price is None:
                return None
            k = max(1, round(self.cell_pct * price / grid.width))
            state = self.markets[model.symbol] = _MarketState(k * grid.width, now_ms)
        return state

    def _scored(self, state: _MarketState, t_ms: int) -> bool:
        start = state.start_ms + self.warmup_ms
        if t_ms >= start and (self.scored_from_ms is None or start < self.scored_from_ms):
            self.scored_from_ms = start
        return t_ms >= start

    def _cells_in_band(self, state: _MarketState, price: float, side: int) -> tuple[int, int]:
        """Inclusive range of cells within the band on one side of the price."""
        w = state.cell_w
        if side == LONG:
            return math.floor(price * (1 - self.band) / w), math.floor(price / w)
        return math.floor(price / w), math.floor(price * (1 + self.band) / w)

    # -- ModelObserver --------------------------------------------------------------------------
    def consumed(
        self, model: MarketModel, exchange: str, side: int, lo: int, hit: NDArray[np.float64]
    ) -> None:
        now = model.last_step_ms or 0
        state = self._state(model, now)
        grid = model.grid
        if state is None or grid is None or not self._scored(state, now):
            return
        centres = grid.origin + (lo + np.arange(hit.shape[1]) + 0.5) * grid.width
        cells = np.floor(centres / state.cell_w).astype(np.int64)
        uniq, inv = np.unique(cells, return_inverse=True)
        per_cell = np.zeros((hit.shape[0], uniq.size))
        for t in range(hit.shape[0]):
            per_cell[t] = np.bincount(inv, weights=hit[t], minlength=uniq.size)
        window = now // self.window_ms
        for j in np.flatnonzero(per_cell.sum(axis=0) > 0):
            key = (model.symbol, window, exchange, side, int(uniq[j]))
            acc = self.c_model.get(key)
            if acc is None:
                self.c_model[key] = per_cell[:, j].copy()
            else:
                acc += per_cell[:, j]

    def realized(self, model: MarketModel, event: Liquidation) -> None:
        state = self._state(model, event.time_ms)
        if state is None or not self._scored(state, event.time_ms):
            return
        side = LONG if event.side == "long" else SHORT
        cell = math.floor(event.price / state.cell_w)
        key = (model.symbol, event.time_ms // self.window_ms, event.exchange, side, cell)
        usd = event.notional_usd
        self.r[key] += usd
        who = (model.symbol, event.exchange)
        self.r_total[who] += usd
        self.r_count[who] += 1
        if cell in state.model_top.get((event.exchange, side), ()):
            self.r_top_model[who] += usd
        if cell in state.naive_top.get((event.exchange, side), ()):
            self.r_top_naive[who] += usd

    def stepping(self, model: MarketModel, now_ms: int) -> None:
        """Consume the naive map along each exchange's mark path of the closing interval."""
        state = self._state(model, now_ms)
        if state is None:
            return
        scored = self._scored(state, now_ms)
        window = now_ms // self.window_ms
        for exchange, iv in model.intervals.items():
            if not iv.mark_low <= iv.mark_high:
                continue
            lo = math.floor(iv.mark_low / state.cell_w)
            hi = math.floor(iv.mark_high / state.cell_w)
            for side in (LONG, SHORT):
                levels = state.naive.get((exchange, side))
                if not levels:
                    continue
                crossed = [c for c in levels if (c >= lo if side == LONG else c <= hi)]
                for cell in crossed:
                    usd = levels.pop(cell)
                    if scored and usd > 0:
                        self.c_naive[(model.symbol, window, exchange, side, cell)] += usd

    def stepped(self, model: MarketModel, now_ms: int) -> None:
        state = self._state(model, now_ms)
        price, _ = model.price(now_ms)
        if state is None or price is None or model.grid is None:
            return
        self._model_top(model, state, price)
        window = now_ms // self.window_ms
        if state.naive_window != window:
            self._naive_map(model, state, price)
            state.naive_window = window

    def _model_top(self, model: MarketModel, state: _MarketState, price: float) -> None:
        """Top cells of the model's map (preset-weighted), per exchange and side, for the next
        interval's prints."""
        stored, grid = model.stored, model.grid
        if stored is None or grid is None:
            return
        weighted = np.einsum("esbn,b->esn", stored, self.weights) * model.scale[:, :, None]
        centres = grid.centres()
        cells = np.floor(centres / state.cell_w).astype(np.int64)
        for exchange, slot in model.slots.items():
            for side in (LONG, SHORT):
                c0, c1 = self._cells_in_band(state, price, side)
                mask = (cells >= c0) & (cells <= c1)
                if side == LONG:
                    mask &= centres < price
                else:
                    mask &= centres > price
                sel = cells[mask]
                if sel.size == 0:
                    state.model_top[(exchange, side)] = set()
                    continue
                uniq, inv = np.unique(sel, return_inverse=True)
                usd = np.bincount(inv, weights=weighted[slot, side][mask], minlength=uniq.size)
                state.model_top[(exchange, side)] = top_cells(uniq, usd, self.top_share)

    def _naive_map(self, model: MarketModel, state: _MarketState, price: float) -> None:
        """The naive map as drawn now: all open interest at the price, ±1/L, preset weights."""
        lev = np.asarray(LEVERAGE_TIERS, dtype=np.float64)
        for exchange, oi in model.open_interest.items():
            if exchange not in model.slots:
                continue
            notional = oi * price
            for side, sign in ((LONG, -1.0), (SHORT, 1.0)):
                levels = price * (1.0 + sign / lev)
                cells = np.floor(levels / state.cell_w).astype(np.int64)
                usd = 0.5 * notional * self.weights
                m: dict[int, float] = defaultdict(float)
                for c, v in zip(cells, usd, strict=True):
                    if v > 0:
                        m[int(c)] += float(v)
                state.naive[(exchange, side)] = dict(m)
                c0, c1 = self._cells_in_band(state, price, side)
                band_cells = np.arange(c0, c1 + 1, dtype=np.int64)
                band_usd = np.array([m.get(int(c), 0.0) for c in band_cells])
                state.naive_top[(exchange, side)] = top_cells(band_cells, band_usd, self.top_share)

    # -- results --------------------------------------------------------------------------------
    def compared_exchanges(self, symbol: str) -> list[str]:
        model = self.engine.markets.get(symbol)
        slots = set(model.slots) if model is not None else set()
        return sorted(
            ex
            for (sym, ex), usd in self.r_total.items()
            if sym == symbol and usd > 0 and ex in slots
        )

    def result(self, symbol: str) -> CalibrationResult:
        exchanges = self.compared_exchanges(symbol)
        keep = set(exchanges)

        def mine(key: Key) -> bool:
            return key[0] == symbol and key[2] in keep

        c_tiers = {k: v for k, v in self.c_model.items() if mine(k)}
        c_model = {k: float(v @ self.weights) for k, v in c_tiers.items()}
        c_naive = {k: v for k, v in self.c_naive.items() if mine(k)}
        r = {k: v for k, v in self.r.items() if mine(k)}
        r_total = sum(self.r_total[(symbol, ex)] for ex in exchanges)
        prints = sum(self.r_count[(symbol, ex)] for ex in exchanges)
        model = _metrics(
            c_model, r, sum(self.r_top_model[(symbol, ex)] for ex in exchanges), r_total
        )
        naive = _metrics(
            c_naive, r, sum(self.r_top_naive[(symbol, ex)] for ex in exchanges), r_total
        )
        excluded = {
            ex: usd
            for (sym, ex), usd in self.r_total.items()
            if sym == symbol and ex not in keep and usd > 0
        }
        all_c = sum(float(v @ self.weights) for k, v in self.c_model.items() if k[0] == symbol)
        all_naive = sum(v for k, v in self.c_naive.items() if k[0] == symbol)
        fit = _fit_weights(c_tiers, r) if c_tiers and r else None
        end_map: dict[str, float] = {}
        snap = self.engine.snapshot(symbol, preset=self.preset, tier_filter=self.tier_filter)
        from liqtui.model.risk import e_within

        near = e_within(snap, END_MAP_DISTANCES)
        if snap.price is not None and near.long_usd is not None and near.short_usd is not None:
            end_map["price"] = snap.price
            for side, values, within in (
                ("long", snap.estimated_long, near.long_usd),
                ("short", snap.estimated_short, near.short_usd),
            ):
                end_map[f"{side}_total"] = float(np.sum(values))
                for x, usd in zip(END_MAP_DISTANCES, within, strict=True):
                    end_map[f"{side}_within_{x:g}"] = usd
        return CalibrationResult(
            not_comparable_reason=self._why_not_comparable(symbol, prints, model.sum_c),
            symbol=symbol,
            preset=self.preset,
            tier_filter=self.tier_filter,
            window_ms=self.window_ms,
            cell_pct=self.cell_pct,
            band=self.band,
            top_share=self.top_share,
            first_ms=self.first_ms,
            last_ms=self.last_ms,
            scored_from_ms=self.scored_from_ms,
            exchanges=tuple(exchanges),
            throttled=tuple(ex for ex in exchanges if ex in THROTTLED),
            prints=prints,
            excluded_realized_usd=excluded,
            model_c_all_exchanges_usd=all_c,
            naive_c_all_exchanges_usd=all_naive,
            end_map=end_map,
            model=model,
            naive=naive,
            fit=fit,
        )

    def _why_not_comparable(self, symbol: str, prints: int, sum_c: float) -> str | None:
        """Why `symbol` cannot be scored (None: it can), in terms of what the source carried."""
        model = self.engine.markets.get(symbol)
        if model is None:
            return f"no data for {symbol} in the source"
        found = {ex: n for (sym, ex), n in sorted(self.prints_seen.items()) if sym == symbol}
        n_found = sum(found.values())
        found_text = f"{n_found} realized prints found" + (
            f" ({', '.join(f'{ex} {n}' for ex, n in found.items())})" if found else ""
        )
        with_oi = sorted(ex for sym, ex in self.oi_seen if sym == symbol)
        mapped = sorted(model.slots)
        if not with_oi:
            return f"no open interest in the recording: the estimated map needs OI; {found_text}"
        if not mapped:
            return (
                f"open interest ({', '.join(with_oi)}) never changed, so the estimated map is "
                f"empty; {found_text}"
            )
        if n_found == 0:
            return f"no realized prints in the recording (open interest from {', '.join(with_oi)})"
        if not set(found) & set(mapped):
            return (
                f"{found_text}, but none from an exchange with an estimated map "
                f"({', '.join(mapped)}, from open interest)"
            )
        if prints == 0:
            warmup = self.warmup_ms / HOUR_MS
            return (
                f"{found_text}, all within the warm-up (the first {warmup:g}h, which builds the "
                "map): use a shorter --warmup or a longer recording"
            )
        if sum_c <= 0:
            return (
                f"{prints} realized prints scored, but price never crossed an estimated level in "
                "the scored period: the map predicted nothing to compare them with"
            )
        return None


@dataclass(frozen=True)
class Metrics:
    rank_cells: float | None
    n_cells: int
    rank_windows: float | None
    n_windows: int
    top_share: float | None  # share of R in cells the map had in its top 20% before the cross
    rho: float | None  # ΣR / ΣC
    sum_c: float  # Σ predicted consumption (E)
    sum_r: float  # Σ realized (R)


def _metrics(c: dict[Key, float], r: dict[Key, float], r_top: float, r_total: float) -> Metrics:
    keys = sorted(k for k in set(c) | set(r) if c.get(k, 0.0) > 0 or r.get(k, 0.0) > 0)
    cv = [c.get(k, 0.0) for k in keys]
    rv = [r.get(k, 0.0) for k in keys]
    per_window: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for k in keys:
        per_window[k[1]][0] += c.get(k, 0.0)
        per_window[k[1]][1] += r.get(k, 0.0)
    wc = [v[0] for v in per_window.values()]
    wr = [v[1] for v in per_window.values()]
    sum_c, sum_r = float(sum(c.values())), float(sum(r.values()))
    return Metrics(
        rank_cells=spearman(cv, rv),
        n_cells=len(keys),
        rank_windows=spearman(wc, wr),
        n_windows=len(per_window),
        top_share=r_top / r_total if r_total > 0 else None,
        rho=sum_r / sum_c if sum_c > 0 and sum_r > 0 else None,
        sum_c=sum_c,
        sum_r=sum_r,
    )


@dataclass(frozen=True)
class WeightFit:
    weights: tuple[float, ...]  # normalized to sum 1 (per LEVERAGE_TIERS)
    rho: float | None  # ΣR / Σ(fitted C)
    rank_cells: float | None
    n_cells: int


def _fit_weights(c_tiers: dict[Key, NDArray[np.float64]], r: dict[Key, float]) -> WeightFit | None:
    keys = sorted(set(c_tiers) | set(r))
    n_tiers = len(LEVERAGE_TIERS)
    a = np.array([c_tiers.get(k, np.zeros(n_tiers)) for k in keys])
    b = np.array([r.get(k, 0.0) for k in keys])
    if not a.any() or not b.any():
        return None
    scale = a.max()
    w = nnls(a / scale, b / scale)
    if not w.any():
        return None
    w_norm = w / w.sum()
    fitted_c = a @ w_norm
    sum_c = float(fitted_c.sum())
    return WeightFit(
        weights=tuple(float(x) for x in w_norm),
        rho=float(b.sum()) / sum_c if sum_c > 0 else None,
        rank_cells=spearman(fitted_c, b),
        n_cells=len(keys),
    )


@dataclass(frozen=True)
class CalibrationResult:
    symbol: str
    preset: str
    tier_filter: str
    window_ms: int
    cell_pct: float
    band: float
    top_share: float
    first_ms: int | None
    last_ms: int | None
    scored_from_ms: int | None
    exchanges: tuple[str, ...]  # compared (map and prints)
    throttled: tuple[str, ...]  # of those, feeds that send at most one print per second
    prints: int
    excluded_realized_usd: dict[str, float]  # prints from exchanges without a map
    model_c_all_exchanges_usd: float  # C over the scored period, every exchange (E)
    naive_c_all_exchanges_usd: float
    end_map: dict[str, float]  # E at the end: totals and within 1/2/5/10% of the price
    model: Metrics
    naive: Metrics
    fit: WeightFit | None
    not_comparable_reason: str | None = None  # why the map cannot be scored (None: it can)

    @property
    def comparable(self) -> bool:
        return self.prints > 0 and self.model.sum_c > 0
