"""Calibration: the model's predicted consumption (C) against realized liquidations (R), per
window and side, beside the naive map and a map-free baseline.

A `Calibrator` sits in front of the engine, attached to every market model, while a recording
(or the simulator) is replayed through it. Per (window, exchange, side) it collects:

- the model's C: the notional (per leverage tier) the map said price crossed in the window;
- the naive map's C (models.md §5.5: the taihey5555 "Model 1" map, all current open interest at
  the current price spread over the preset's leverage weights at ±1/L, no maintenance margin, no
  history), redrawn at every model step, i.e. as often as the model's map refreshes, and
  consumed along the same mark path;
- R, the realized notional;
- per window: its opening price, low and high (the excursion on each side) and the OI at its
  start, for the map-free baseline C = OI × excursion.

Every map is scored on exactly the same (window, side) pairs by liqtui.model.scoring: the
headline is the partial Spearman of C and R controlling for the excursion (what the map knows
beyond "price moved far"), beside the plain Spearman and the rank-space explained variance over
the baseline. ρ = ΣR/ΣC is reported, never applied: Binance and OKX throttle their feeds (at most
one print per symbol a second), so R and ρ from them are lower bounds, and bar-level data pairs
OI and liquidations of different scopes (docs/model.md). Per-price-cell figures (rank per cell,
"share in the top 20% cells") are not computed: they rewarded a map that only knows "nearest
first", and bar-level data has no price per print.

Only exchanges with both an estimated map (open interest) and realized prints are compared. The
first `warmup` of the replay builds the map and is not scored. The weight fit finds non-negative
leverage weights (R ≈ Σ_tier w·C_tier over the pairs, non-negative least squares, in-sample).

The command (`liqtui calibrate`: sources, printing, --write into the config, the tiers file) is
liqtui.commands.calibrate; fetching tier tables over HTTP is liqtui.feeds.tiers.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from liqtui import exchanges as registry
from liqtui.events import Liquidation, MarketEvent, OpenInterest
from liqtui.model.density import LONG, SHORT, MarketModel, preset_weights
from liqtui.model.engine import Engine
from liqtui.model.scoring import (
    MapScore,
    baseline_c,
    partial_spearman,
    score_windows,
    side_excursion,
    spearman,
)
from liqtui.model.scoring import rankdata as rankdata  # re-exported
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


@dataclass
class _Window:
    """One scored window of one market: its opening price, range and open interest."""

    open: float
    low: float
    high: float
    oi_usd: dict[str, float]  # per exchange, at the window's start (OI × price)


@dataclass
class _MarketState:
    start_ms: int
    last_price: float | None = None  # at the end of the last step: the next window's open
    windows: dict[int, _Window] = field(default_factory=dict)
    # The naive map as drawn at the end of the last step, per exchange: (price, OI in USD).
    naive: dict[str, tuple[float, float]] = field(default_factory=dict)


Key = tuple[str, int, str, int]  # symbol, window, exchange, side
SIDES = ((LONG, "long"), (SHORT, "short"))


class Calibrator:
    """An EventSink in front of the engine that records, per window, exchange and side, the
    model's C (per leverage tier), the naive map's C, R, and the window's excursion and OI."""

    def __init__(
        self,
        engine: Engine,
        *,
        preset: str | None = None,
        tier_filter: str = "all",
        window_ms: int = HOUR_MS,
        warmup_ms: int = DAY_MS,
        symbols: Sequence[str] | None = None,
    ) -> None:
        self.engine = engine
        self.preset = preset or engine.preset
        self.tier_filter = tier_filter
        # "fitted": the market's own fit (liqtui.fitted) when one market is scored.
        fitted = engine.fitted_for(symbols[0]) if symbols and len(symbols) == 1 else None
        self.weights = preset_weights(self.preset, tier_filter, fitted or engine.fitted_weights)
        self.window_ms = window_ms
        self.warmup_ms = warmup_ms
        self.symbols = set(symbols) if symbols else None
        self.feeds = engine.feeds
        self.markets: dict[str, _MarketState] = {}
        self.c_model: dict[Key, NDArray[np.float64]] = {}  # per tier, unweighted
        self.c_naive: dict[Key, float] = defaultdict(float)  # preset-weighted
        self.r: dict[Key, float] = defaultdict(float)
        self.r_total: dict[tuple[str, str], float] = defaultdict(float)
        self.r_count: dict[tuple[str, str], int] = defaultdict(int)
        self.first_ms: int | None = None
        self.last_ms: int | None = None
        self.scored_from_ms: int | None = None
        # Everything the source carried, scored or not: to say why a market cannot be scored.
        self.prints_seen: dict[tuple[str, str], int] = defaultdict(int)
        self.oi_seen: set[tuple[str, str]] = set()
        lev = np.asarray(LEVERAGE_TIERS, dtype=np.float64)
        self._naive_long = 1.0 - 1.0 / lev  # level / price of each tier's longs
        self._naive_short = 1.0 + 1.0 / lev

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
    def _state(self, model: MarketModel, now_ms: int) -> _MarketState:
        state = self.markets.get(model.symbol)
        if state is None:
            state = self.markets[model.symbol] = _MarketState(now_ms)
        return state

    def _scored(self, state: _MarketState, t_ms: int) -> bool:
        start = state.start_ms + self.warmup_ms
        if t_ms >= start and (self.scored_from_ms is None or start < self.scored_from_ms):
            self.scored_from_ms = start
        return t_ms >= start

    def _interval_window(self, step_ms: int) -> int:
        """The window of the interval a step at `step_ms` closes: (previous step, step_ms], so
        a step on the hour closes the last minute of the hour before."""
        return (step_ms - 1) // self.window_ms

    # -- ModelObserver --------------------------------------------------------------------------
    def consumed(
        self, model: MarketModel, exchange: str, side: int, lo: int, hit: NDArray[np.float64]
    ) -> None:
        now = model.last_step_ms or 0
        state = self._state(model, now)
        if not self._scored(state, now):
            return
        key = (model.symbol, self._interval_window(now), exchange, side)
        per_tier = hit.sum(axis=1)
        acc = self.c_model.get(key)
        if acc is None:
            self.c_model[key] = per_tier
        else:
            acc += per_tier

    def realized(self, model: MarketModel, event: Liquidation) -> None:
        state = self._state(model, event.time_ms)
        if not self._scored(state, event.time_ms):
            return
        side = LONG if event.side == "long" else SHORT
        key = (model.symbol, event.time_ms // self.window_ms, event.exchange, side)
        usd = event.notional_usd
        self.r[key] += usd
        who = (model.symbol, event.exchange)
        self.r_total[who] += usd
        self.r_count[who] += 1

    def stepping(self, model: MarketModel, now_ms: int) -> None:
        """The interval just closed: extend the window's range, and consume the naive map (as
        drawn at the end of the previous step) along each exchange's mark path."""
        state = self._state(model, now_ms)
        if not self._scored(state, now_ms):
            return
        window_id = self._interval_window(now_ms)
        window = state.windows.get(window_id)
        if window is None and state.last_price is not None:
            oi = {
                ex: amount * state.last_price
                for ex, amount in model.open_interest.items()
                if amount > 0
            }
            price = state.last_price
            window = state.windows[window_id] = _Window(price, price, price, oi)
        for exchange, iv in model.intervals.items():
            if not iv.mark_low <= iv.mark_high:
                continue
            if window is not None:
                window.low = min(window.low, iv.mark_low)
                window.high = max(window.high, iv.mark_high)
            drawn = state.naive.get(exchange)
            if drawn is None:
                continue
            price, notional = drawn
            half = 0.5 * notional * self.weights
            long_c = float(half[price * self._naive_long >= iv.mark_low].sum())
            short_c = float(half[price * self._naive_short <= iv.mark_high].sum())
            if long_c > 0:
                self.c_naive[(model.symbol, window_id, exchange, LONG)] += long_c
            if short_c > 0:
                self.c_naive[(model.symbol, window_id, exchange, SHORT)] += short_c

    def stepped(self, model: MarketModel, now_ms: int) -> None:
        """Redraw the naive map from the current price and OI: it refreshes as often as the
        model (every step), so neither is scored on a staler map than the other."""
        state = self._state(model, now_ms)
        price, _ = model.price(now_ms)
        if price is None:
            return
        state.last_price = price
        state.naive = {
            ex: (price, oi * price)
            for ex, oi in model.open_interest.items()
            if ex in model.slots and oi > 0
        }

    # -- results --------------------------------------------------------------------------------
    def compared_exchanges(self, symbol: str) -> list[str]:
        model = self.engine.markets.get(symbol)
        slots = set(model.slots) if model is not None else set()
        return sorted(
            ex
            for (sym, ex), usd in self.r_total.items()
            if sym == symbol and usd > 0 and ex in slots
        )

    def pairs(self, symbol: str, exchanges: Sequence[str]) -> WindowPairs:
        """One row per scored (window, side) of `symbol`, summed over `exchanges`: C per tier of
        the model, the naive map's C, R, the excursion and the OI at the window's start."""
        state = self.markets.get(symbol)
        ids = sorted(state.windows) if state is not None else []
        n_tiers = len(LEVERAGE_TIERS)
        n = 2 * len(ids)
        out = WindowPairs(
            start_ms=np.repeat(np.asarray(ids, dtype=np.int64) * self.window_ms, 2),
            side=np.tile(np.array([LONG, SHORT], dtype=np.int64), len(ids)),
            model_tiers=np.zeros((n, n_tiers)),
            naive=np.zeros(n),
            realized=np.zeros(n),
            excursion=np.full(n, np.nan),
            oi_usd=np.full(n, np.nan),
        )
        if state is None:
            return out
        for i, wid in enumerate(ids):
            window = state.windows[wid]
            oi = sum(window.oi_usd.get(ex, 0.0) for ex in exchanges)
            down, up = side_excursion(window.open, window.high, window.low)
            for j, (side, _) in enumerate(SIDES):
                row = 2 * i + j
                out.excursion[row] = float(down if side == LONG else up)
                out.oi_usd[row] = oi if oi > 0 else np.nan
                for ex in exchanges:
                    key = (symbol, wid, ex, side)
                    tiers = self.c_model.get(key)
                    if tiers is not None:
                        out.model_tiers[row] += tiers
                    out.naive[row] += self.c_naive.get(key, 0.0)
                    out.realized[row] += self.r.get(key, 0.0)
        return out

    def result(self, symbol: str) -> CalibrationResult:
        exchanges = self.compared_exchanges(symbol)
        pairs = self.pairs(symbol, exchanges)
        model_c = pairs.model_tiers @ self.weights
        prints = sum(self.r_count[(symbol, ex)] for ex in exchanges)
        scores = score_windows(
            pairs.realized,
            pairs.excursion,
            pairs.oi_usd,
            {"model": model_c, "naive": pairs.naive},
            window=pairs.start_ms,
            block=2 * max(1, -(-DAY_MS // self.window_ms)),  # a day of windows, both sides
        )
        keep = _finite(pairs)
        sum_r = float(pairs.realized[keep].sum())
        base_c = baseline_c(pairs.oi_usd, pairs.excursion)

        def metrics(name: str, c: NDArray[np.float64]) -> Metrics:
            return Metrics.of(scores.maps[name], float(c[keep].sum()), sum_r)

        excluded = {
            ex: usd
            for (sym, ex), usd in self.r_total.items()
            if sym == symbol and ex not in exchanges and usd > 0
        }
        all_c = sum(float(v @ self.weights) for k, v in self.c_model.items() if k[0] == symbol)
        all_naive = sum(v for k, v in self.c_naive.items() if k[0] == symbol)
        fit = _fit_weights(pairs, keep) if exchanges else None
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
        windows = tuple(
            WindowRow(
                start_ms=int(pairs.start_ms[i]),
                end_ms=int(pairs.start_ms[i]) + self.window_ms,
                side="long" if pairs.side[i] == LONG else "short",
                model_usd=float(model_c[i]),
                naive_usd=float(pairs.naive[i]),
                baseline_usd=float(base_c[i]),
                realized_usd=float(pairs.realized[i]),
                excursion=float(pairs.excursion[i]),
                oi_usd=float(pairs.oi_usd[i]),
            )
            for i in np.flatnonzero(keep)
        )
        return CalibrationResult(
            not_comparable_reason=self._why_not_comparable(
                symbol, prints, float(model_c[keep].sum())
            ),
            symbol=symbol,
            preset=self.preset,
            tier_filter=self.tier_filter,
            window_ms=self.window_ms,
            first_ms=self.first_ms,
            last_ms=self.last_ms,
            scored_from_ms=self.scored_from_ms,
            exchanges=tuple(exchanges),
            throttled=tuple(ex for ex in exchanges if ex in THROTTLED),
            prints=prints,
            n_pairs=scores.n,
            n_windows=scores.n_windows,
            excluded_realized_usd=excluded,
            model_c_all_exchanges_usd=all_c,
            naive_c_all_exchanges_usd=all_naive,
            end_map=end_map,
            model=metrics("model", model_c),
            naive=metrics("naive", pairs.naive),
            baseline=metrics("baseline", base_c),
            lead_over_naive_ci=scores.differences.get("model-naive"),
            lead_over_baseline_ci=scores.differences.get("model-baseline"),
            fit=fit,
            windows=windows,
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
class WindowPairs:
    """Per (window, side) rows (long then short for each window, in time order)."""

    start_ms: NDArray[np.int64]
    side: NDArray[np.int64]  # LONG or SHORT
    model_tiers: NDArray[np.float64]  # (n, tiers): C of the model per leverage tier, unweighted
    naive: NDArray[np.float64]  # C of the naive map (preset-weighted)
    realized: NDArray[np.float64]  # R
    excursion: NDArray[np.float64]  # of price from the window's open, on that side
    oi_usd: NDArray[np.float64]  # at the window's start (NaN: no OI yet)


def _finite(p: WindowPairs) -> NDArray[np.bool_]:
    """The rows every map is scored on (score_windows keeps the same ones)."""
    return np.isfinite(p.excursion) & np.isfinite(p.oi_usd) & np.isfinite(p.realized)


@dataclass(frozen=True)
class Metrics:
    """One map's figures over the scored (window, side) pairs (liqtui.model.scoring.MapScore
    plus the sums)."""

    partial: float | None  # Spearman(C, R | excursion): the headline
    spearman: float | None  # plain Spearman(C, R)
    r2: float | None  # rank-space R² of R on C
    r2_gain: float | None  # rank-space R² of R on (baseline, C) − on the baseline alone
    n: int  # pairs scored
    partial_ci: tuple[float, float] | None  # 90% block-bootstrap interval (days resampled)
    rho: float | None  # ΣR / ΣC (a lower bound from throttled feeds)
    sum_c: float  # Σ C (E consumed)
    sum_r: float  # Σ R (realized)

    @classmethod
    def of(cls, score: MapScore, sum_c: float, sum_r: float) -> Metrics:
        return cls(
            partial=score.partial,
            spearman=score.spearman,
            r2=score.r2,
            r2_gain=score.r2_gain,
            n=score.n,
            partial_ci=score.partial_ci,
            rho=sum_r / sum_c if sum_c > 0 and sum_r > 0 else None,
            sum_c=sum_c,
            sum_r=sum_r,
        )


@dataclass(frozen=True)
class WindowRow:
    """One scored window and side, as `--format json` lists them."""

    start_ms: int
    end_ms: int
    side: str  # "long" | "short"
    model_usd: float
    naive_usd: float
    baseline_usd: float  # OI × excursion
    realized_usd: float
    excursion: float  # (open − low)/open for longs, (high − open)/open for shorts
    oi_usd: float  # open interest at the window's start, compared exchanges


@dataclass(frozen=True)
class WeightFit:
    weights: tuple[float, ...]  # normalized to sum 1 (per LEVERAGE_TIERS)
    rho: float | None  # ΣR / Σ(fitted C)
    partial: float | None  # Spearman(fitted C, R | excursion), in-sample
    spearman: float | None
    n: int


def _fit_weights(p: WindowPairs, keep: NDArray[np.bool_]) -> WeightFit | None:
    """Non-negative leverage weights with R ≈ Σ_tier w·C_tier over the scored pairs (in-sample:
    an indication, not a validated fit)."""
    a, b = p.model_tiers[keep], p.realized[keep]
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
        partial=partial_spearman(fitted_c, b, p.excursion[keep]),
        spearman=spearman(fitted_c, b),
        n=int(keep.sum()),
    )


@dataclass(frozen=True)
class CalibrationResult:
    symbol: str
    preset: str
    tier_filter: str
    window_ms: int
    first_ms: int | None
    last_ms: int | None
    scored_from_ms: int | None
    exchanges: tuple[str, ...]  # compared (map and prints)
    throttled: tuple[str, ...]  # of those, feeds that send at most one print per second
    prints: int
    n_pairs: int  # (window, side) pairs scored, the same for every map
    n_windows: int
    excluded_realized_usd: dict[str, float]  # prints from exchanges without a map
    model_c_all_exchanges_usd: float  # C over the scored period, every exchange (E)
    naive_c_all_exchanges_usd: float
    end_map: dict[str, float]  # E at the end: totals and within 1/2/5/10% of the price
    model: Metrics
    naive: Metrics
    baseline: Metrics  # the map-free OI × excursion
    # 90% block-bootstrap intervals of partial(model) − partial(naive / baseline)
    lead_over_naive_ci: tuple[float, float] | None
    lead_over_baseline_ci: tuple[float, float] | None
    fit: WeightFit | None
    windows: tuple[WindowRow, ...] = ()
    not_comparable_reason: str | None = None  # why the map cannot be scored (None: it can)

    @property
    def comparable(self) -> bool:
        return self.prints > 0 and self.model.sum_c > 0
