"""The engine: routes normalized events to per-market models and hands out immutable snapshots.

It is the one object sources write to (`EventSink`) and views read from (`snapshot`). Time is the
*source* clock (event and receive times), never the wall clock, so a replay reproduces a run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from liqtui.events import (
    MAX_OPEN_INTEREST_USD,
    BookDepth,
    Liquidation,
    MarketEvent,
    MarkPrice,
    OpenInterest,
    TradeFlow,
    implausible,
)
from liqtui.fitted import MarketFit
from liqtui.health import FeedHealth
from liqtui.model.density import (
    EXCHANGE_INDEX,
    LONG,
    PRICE_STALE_AFTER_MS,
    SHORT,
    MarketModel,
    ModelParams,
    preset_weights,
)
from liqtui.model.grid import PriceGrid
from liqtui.model.history import ActivityStats, HistoryView, pick_ring
from liqtui.model.mechanics import TierTables, shipped_tier_tables
from liqtui.presets import LEVERAGE_TIERS

if TYPE_CHECKING:
    from liqtui.config import Settings

# What an uncalibrated map's USD figures are: a scale, not a forecast.
SCALE_RELATIVE = "relative"


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    a.flags.writeable = False
    return a


def history_confidence(
    history_ms: Mapping[str, int], open_interest: Mapping[str, float], half_life_ms: int
) -> float:
    """The map's confidence, 0 to 1: the share of a fully built map its history can hold.

    The map only learns positions from changes in open interest (the first reading is a
    baseline, not new positions), and decays what it learned with half-life h. Positions
    opened at a steady rate then weigh, after T of history, 1 − 2^(−T/h) of what they weigh
    in a map built from unlimited history: 0 at a cold start, ½ after one half-life, 94%
    after four. Per exchange with T its open-interest history, weighted by its share of the
    market's open interest; exchanges without open interest carry no E and do not count;
    none at all: 0.
    """
    if half_life_ms <= 0:
        return 0.0
    total = weighted = 0.0
    for exchange, span in history_ms.items():
        oi = max(float(open_interest.get(exchange, 0.0)), 0.0)
        total += oi
        weighted += oi * (1.0 - 0.5 ** (max(span, 0) / half_life_ms))
    return weighted / total if total > 0 else 0.0


@dataclass(frozen=True, slots=True)
class RealizedPrints:
    """Realized prints of one market since a time, oldest first, columnar and read-only."""

    time_ms: NDArray[np.int64]
    side: NDArray[np.int8]  # LONG (0) or SHORT (1)
    exchange: NDArray[np.int8]  # EXCHANGE_INDEX
    price: NDArray[np.float64]
    usd: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.time_ms.size)


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Everything a view needs about one market at one moment. Arrays are read-only.

    Labels: `estimated_*` and `consumed_*` are E (the model), `realized_*` are R (exchange
    prints). E in USD is relative unless `calibrated`; then `scale` is ρ = ΣR/ΣC from
    `liqtui calibrate`, the share of estimated notional that actually liquidates.
    """

    symbol: str
    as_of_ms: int
    price: float | None
    price_source: str | None  # "mark", "kline", "trades", "liquidation" (PRICE_SOURCES) or None
    grid: PriceGrid | None
    estimated_long: NDArray[np.float64]  # E per bin, USD (preset weights and filters applied)
    estimated_short: NDArray[np.float64]
    realized_long: NDArray[np.float64]  # R per bin in the window, USD
    realized_short: NDArray[np.float64]
    realized_long_usd: float  # R totals over the window (all prints, also off the grid)
    realized_short_usd: float
    realized_count: int
    window_ms: int
    preset: str
    tier_filter: str
    exchange_filter: str | None  # None: all exchanges
    estimated_by_exchange: dict[str, tuple[float, float]]  # exchange → (E long, E short) USD
    realized_by_exchange: dict[str, tuple[float, float]]
    open_interest: dict[str, float]  # exchange → base units
    funding: dict[str, float]
    feeds: tuple[FeedHealth, ...]
    duplicates: int
    last_event_ms: int | None = None
    calibrated: bool = False  # True: `scale` (ρ) was fitted for this preset by liqtui calibrate
    scale: float | None = None  # ρ when calibrated, else None (E is relative)
    consumed_long: NDArray[np.float64] | None = None  # C per bin since consumed_since_ms (E)
    consumed_short: NDArray[np.float64] | None = None
    consumed_since_ms: int | None = None
    depth: tuple[BookDepth, ...] = ()  # latest order-book depth per exchange (for risk)
    half_life_ms: int = 0  # decay half-life in effect
    activity: ActivityStats | None = None  # live cascade detector inputs (R per minute, moves)
    history: HistoryView | None = None  # time × price H (all exchanges), when asked for
    price_time_ms: int | None = None  # when the price was observed (exchange clock)
    price_exchanges: tuple[str, ...] = ()  # where it was observed (several: median of marks)
    risk_rho: float = 1.0  # ρ the risk figures apply (model.risk_rho; 1: every position forced)
    # exchange → how much open-interest history the map holds (as_of − first OI reading), for
    # the exchanges the snapshot covers (`exchange_filter`); see `history_confidence`
    oi_history_ms: dict[str, int] = field(default_factory=dict)
    # E per leverage tier: [tier, bin] for the tiers in `tiers` (LEVERAGE_TIERS), weights,
    # filters and scale applied; summed over tiers they are estimated_long / estimated_short.
    tiers: tuple[int, ...] = ()
    tier_weights: tuple[float, ...] = ()  # the preset's weight per tier, the tier filter applied
    estimated_long_tiers: NDArray[np.float64] | None = None
    estimated_short_tiers: NDArray[np.float64] | None = None
    prints: RealizedPrints | None = None  # the window's prints since a time, when asked for

    @property
    def skipped_messages(self) -> int:
        return sum(f.skipped for f in self.feeds)

    @property
    def ignored_messages(self) -> int:
        return sum(f.ignored for f in self.feeds)

    @property
    def price_age_ms(self) -> int | None:
        """How long before `as_of_ms` the price was observed (None without a price)."""
        if self.price_time_ms is None:
            return None
        return max(self.as_of_ms - self.price_time_ms, 0)

    @property
    def price_stale(self) -> bool:
        """The price is older than PRICE_STALE_AFTER_MS: shown, but marked as stale."""
        age = self.price_age_ms
        return age is not None and age > PRICE_STALE_AFTER_MS

    @property
    def has_estimate(self) -> bool:
        return bool(self.estimated_long.any() or self.estimated_short.any())

    @property
    def confidence(self) -> float:
        """How much of a fully built map the history holds, 0 to 1 (`history_confidence`)."""
        return history_confidence(self.oi_history_ms, self.open_interest, self.half_life_ms)

    @property
    def scale_label(self) -> str:
        """How to read E in USD: "relative", or "calibrated ρ=0.12"."""
        if self.calibrated and self.scale is not None:
            return f"calibrated ρ={self.scale:.3g}"
        return SCALE_RELATIVE


@dataclass
class Engine:
    """Sink for every source; owner of every market model."""

    params: ModelParams = field(default_factory=ModelParams)
    preset: str = "high"
    tier_filter: str = "all"
    markets: dict[str, MarketModel] = field(default_factory=dict)
    feeds: dict[str, FeedHealth] = field(default_factory=dict)
    clock_ms: int = 0
    events_applied: int = 0
    events_rejected: int = 0  # implausible events never applied (feeds skip them before)
    events_by_market: dict[str, int] = field(default_factory=dict)
    tiers: TierTables = field(default_factory=shipped_tier_tables)
    rho: float = 0.0  # ΣR/ΣC from liqtui calibrate; 0: not calibrated
    calibrated_preset: str = ""  # the preset ρ was fitted for
    fitted_weights: tuple[float, ...] | None = None  # the "fitted" preset's weights (config)
    # Per market, what `liqtui calibrate --fit --write` found (liqtui.fitted): its half-life
    # unless the config sets one, its leverage mix as the "fitted" preset.
    fits: dict[str, MarketFit] = field(default_factory=dict)
    # ρ the risk figures apply (model.risk_rho): never the calibrated one above (throttled feeds)
    risk_rho: float = 1.0
    _next_step_ms: int = 0

    def params_for(self, symbol: str) -> ModelParams:
        """The model parameters of one market: the engine's, with the market's fitted
        half-life and turnover where the config leaves them on "auto"."""
        fit, p = self.fits.get(symbol), self.params
        if fit is None:
            return p
        if p.half_life_ms == 0 and fit.half_life_ms is not None:
            p = replace(p, half_life_ms=fit.half_life_ms)
        if p.turnover < 0 and fit.turnover is not None:
            p = replace(p, turnover=fit.turnover)
        return p

    def fitted_for(self, symbol: str) -> tuple[float, ...] | None:
        """The "fitted" preset's weights for one market: its fit's, else the config's."""
        fit = self.fits.get(symbol)
        if fit is not None and fit.leverage_weights is not None:
            return fit.leverage_weights
        return self.fitted_weights

    def weights(self, symbol: str, preset: str, tier_filter: str) -> NDArray[np.float64]:
        """Weight per leverage tier of a preset for one market (the tier filter applied)."""
        return preset_weights(preset, tier_filter, self.fitted_for(symbol))

    # -- EventSink --------------------------------------------------------------------------------
    def feed(self, name: str) -> FeedHealth:
        health = self.feeds.get(name)
        if health is None:
            health = self.feeds[name] = FeedHealth(name)
        return health

    def market(self, symbol: str) -> MarketModel:
        model = self.markets.get(symbol)
        if model is None:
            model = self.markets[symbol] = MarketModel(symbol, self.params_for(symbol), self.tiers)
        return model

    def apply(self, event: MarketEvent) -> bool:
        """Apply one event; False (and nothing changes) for an implausible one: an absurd
        value must neither overflow the sums nor move the grid (the feeds also skip these)."""
        symbol = event.symbol
        model = self.markets.get(symbol)
        if implausible(event) is not None or (
            type(event) is OpenInterest
            and model is not None
            and model.grid is not None
            and event.open_interest * model.grid.centre >= MAX_OPEN_INTEREST_USD
        ):
            self.events_rejected += 1
            return False
        if model is None:
            model = self.market(symbol)
        kind = type(event)
        if kind is MarkPrice:
            model.on_mark(event)  # type: ignore[arg-type]
        elif kind is Liquidation:
            model.on_liquidation(event)  # type: ignore[arg-type]
        elif kind is OpenInterest:
            model.on_open_interest(event)  # type: ignore[arg-type]
        elif kind is TradeFlow:
            model.on_trade_flow(event)  # type: ignore[arg-type]
        elif kind is BookDepth:
            model.on_depth(event)  # type: ignore[arg-type]
        self.events_applied += 1
        self.events_by_market[symbol] = self.events_by_market.get(symbol, 0) + 1
        return True

    def advance(self, now_ms: int) -> None:
        if now_ms < self.clock_ms:
            return  # the source clock never runs backwards
        self.clock_ms = now_ms
        if now_ms < self._next_step_ms:
            return  # cheap path: called once per message
        # Step at the interval boundary, not at the time that noticed it: a live run (woken by
        # a clock tick) and its replay (woken by the next message) then compute the same map.
        step = self.params.step_ms
        boundary = now_ms - now_ms % step
        for model in self.markets.values():
            model.step(boundary)
        self._next_step_ms = boundary + step

    def start_over(self) -> Engine:
        """An empty engine to rebuild this one's state in (a replay seeking back: the clock
        never runs backwards), off to the side; `take_over` then swaps it in."""
        return self.fork()

    def copy_state(self) -> Engine:
        """A copy of this engine to move forward off to the side (a replay seeking forward
        in a worker thread), sharing the immutable parameters and tier tables."""
        import copy

        memo: dict[int, object] = {id(self.params): self.params, id(self.tiers): self.tiers}
        return copy.deepcopy(self, memo)

    def take_over(self, other: Engine) -> None:
        """Take every market, feed and the clock of `other` (from `start_over`), in one step:
        whoever reads this engine sees the old state or the new one, never a mix."""
        self.markets = other.markets
        self.feeds = other.feeds
        self.events_by_market = other.events_by_market
        self.clock_ms = other.clock_ms
        self.events_applied, self.events_rejected = other.events_applied, other.events_rejected
        self._next_step_ms = other._next_step_ms

    # -- a market's past, built off to the side -----------------------------------------------
    def fork(self) -> Engine:
        """An empty engine with the same parameters, tier tables and calibration, on a clock
        of its own. This engine's clock is one for every market and never runs backwards, so
        once live data moved it to the present, a market's past (the local store, a backfill)
        cannot be applied here: it is applied to a fork the way a replay applies it (advance
        to each event's time, then apply) and the market is then `adopt`ed."""
        return Engine(
            params=self.params,
            preset=self.preset,
            tier_filter=self.tier_filter,
            tiers=self.tiers,
            rho=self.rho,
            calibrated_preset=self.calibrated_preset,
            fitted_weights=self.fitted_weights,
            fits=self.fits,
            risk_rho=self.risk_rho,
        )

    def adopt(self, symbol: str, fork: object) -> bool:
        """Put `symbol`'s model built in `fork` (an engine from `fork()`) in place of this
        engine's; False (nothing changes) when the fork has no data of it. The model steps
        with this engine's clock from its next interval boundary on."""
        model = fork.markets.get(symbol) if isinstance(fork, Engine) else None
        if model is None:
            return False
        assert isinstance(fork, Engine)
        self.markets[symbol] = model
        self.events_by_market[symbol] = fork.events_by_market.get(symbol, 0)
        return True

    # -- reading ----------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """Markets with data, busiest first."""
        return sorted(self.markets, key=lambda s: -self.events_by_market.get(s, 0))

    def prints(self, symbol: str, since_ms: int) -> RealizedPrints:
        """The market's realized prints after `since_ms` (within the window kept; every
        exchange), oldest first, as read-only arrays."""
        model = self.markets.get(symbol)
        if model is None:
            t = np.zeros(0, dtype=np.int64)
            side = exch = np.zeros(0, dtype=np.int8)
            prices = notional = np.zeros(0)
        else:
            t, side, exch, prices, notional = model.realized.columns()
        new = (t > since_ms) & (t >= self.clock_ms - self.params.window_ms)
        order = np.argsort(t[new], kind="stable")
        return RealizedPrints(
            _frozen(t[new][order]),
            _frozen(side[new][order]),
            _frozen(exch[new][order]),
            _frozen(prices[new][order]),
            _frozen(notional[new][order]),
        )

    def is_calibrated(self, preset: str) -> bool:
        return self.rho > 0 and preset == self.calibrated_preset

    def snapshot(
        self,
        symbol: str,
        *,
        window_ms: int | None = None,
        exchange: str | None = None,
        preset: str | None = None,
        tier_filter: str | None = None,
        history: bool = False,
        lookback_ms: int | None = None,
        columns: int | None = None,
        activity: bool = True,
        prints_since_ms: int | None = None,
    ) -> MarketSnapshot:
        """One market's view. `history=True` adds the time × price history H (costs ≈ 1 ms):
        over the window, or with `lookback_ms` over that lookback from the finest ring that
        covers it, on a dense time axis of at most `columns` columns (see HistoryRing.lookback).
        `activity=False` leaves out the cascade detector's inputs (a median over 7 days of
        minutes, ≈ 0.3 ms) for a caller that does not use them (the overview's other markets).
        `prints_since_ms` adds the realized prints after that time (within the window, every
        exchange: what the history's R holds too).
        """
        preset = preset or self.preset
        tier_filter = tier_filter or self.tier_filter
        window = min(window_ms or self.params.window_ms, self.params.window_ms)
        now = self.clock_ms
        model = self.markets.get(symbol)
        feeds = tuple(f.frozen() for f in self.feeds.values())
        calibrated = self.is_calibrated(preset)
        rho = self.rho if calibrated else None
        if model is None or model.grid is None:
            empty = _frozen(np.zeros(0))
            return MarketSnapshot(
                symbol, now, None, None, None, empty, empty, empty, empty, 0.0, 0.0, 0, window,
                preset, tier_filter, exchange, {}, {}, {}, {}, feeds, 0,
                calibrated=calibrated, scale=rho, half_life_ms=self.params_for(symbol).half_life,
                risk_rho=self.risk_rho,
            )  # fmt: skip
        grid = model.grid
        n = grid.n_bins
        quote = model.price_quote(now)
        weights = self.weights(symbol, preset, tier_filter)

        est_by_ex: dict[str, tuple[float, float]] = {}
        by_tier = np.zeros((2, len(weights), n))  # [side, tier, bin]
        con_long, con_short = np.zeros(n), np.zeros(n)
        stored, consumed = model.stored, model.window_consumed
        if stored is not None and consumed is not None:
            # (slot, side, tier): the preset's weight times the slot's scale.
            coef = model.scale[:, :, None] * weights[None, None, :]
            per_ex = np.einsum("esbn,esb->es", stored, coef)
            used = np.einsum("esbn,b->esn", consumed, weights)
            chosen = []
            for name, i in model.slots.items():
                if per_ex[i].any():
                    est_by_ex[name] = (float(per_ex[i, LONG]), float(per_ex[i, SHORT]))
                if exchange is None or name == exchange:
                    chosen.append(i)
                    con_long += used[i, LONG]
                    con_short += used[i, SHORT]
            if chosen:
                by_tier = np.einsum("esbn,esb->sbn", stored[chosen], coef[chosen])
        # The totals are the tiers' sums, so a level's tiers add up to the level.
        est_long, est_short = by_tier[LONG].sum(axis=0), by_tier[SHORT].sum(axis=0)

        t, side, exch, prices, notional = model.realized.columns()
        in_window = t >= now - window
        if exchange is not None:
            in_window &= exch == EXCHANGE_INDEX[exchange]
        is_long = side == LONG
        sel_long, sel_short = in_window & is_long, in_window & ~is_long
        idx = grid.index(prices)
        on_grid = (idx >= 0) & (idx < n)
        r_long = np.bincount(idx[sel_long & on_grid], notional[sel_long & on_grid], minlength=n)
        r_short = np.bincount(idx[sel_short & on_grid], notional[sel_short & on_grid], minlength=n)
        real_by_ex: dict[str, tuple[float, float]] = {}
        for name, i in EXCHANGE_INDEX.items():
            mine = exch == i
            if (mine & in_window).any():
                real_by_ex[name] = (
                    float(notional[mine & sel_long].sum()),
                    float(notional[mine & sel_short].sum()),
                )
        last_event = max((f.last_event_ms for f in feeds if f.last_event_ms), default=None)
        depth = tuple(
            d for name, d in sorted(model.depth.items()) if exchange is None or name == exchange
        )
        hist = None
        if history and lookback_ms is not None:
            ring = pick_ring(model.rings, lookback_ms)
            if ring is not None:
                hist = ring.lookback(weights, now - lookback_ms, now, columns)
        elif history and model.history is not None:
            hist = model.history.view(weights, since_ms=now - self.params.window_ms)
        prints = self.prints(symbol, prints_since_ms) if prints_since_ms is not None else None
        return MarketSnapshot(
            symbol=symbol,
            as_of_ms=now,
            price=quote.price if quote is not None else None,
            price_source=quote.source if quote is not None else None,
            grid=grid,
            estimated_long=_frozen(est_long),
            estimated_short=_frozen(est_short),
            realized_long=_frozen(r_long.astype(np.float64)),
            realized_short=_frozen(r_short.astype(np.float64)),
            realized_long_usd=float(notional[sel_long].sum()),
            realized_short_usd=float(notional[sel_short].sum()),
            realized_count=int(in_window.sum()),
            window_ms=window,
            preset=preset,
            tier_filter=tier_filter,
            exchange_filter=exchange,
            estimated_by_exchange=est_by_ex,
            realized_by_exchange=real_by_ex,
            open_interest=dict(model.open_interest),
            funding=dict(model.funding),
            feeds=feeds,
            duplicates=model.realized.duplicates,
            last_event_ms=last_event,
            calibrated=calibrated,
            scale=rho,
            consumed_long=_frozen(con_long),
            consumed_short=_frozen(con_short),
            consumed_since_ms=model.consumed_since_ms,
            depth=depth,
            half_life_ms=model.half_life_ms,
            activity=model.activity.stats(now) if activity else None,
            history=hist,
            price_time_ms=quote.time_ms if quote is not None else None,
            price_exchanges=quote.exchanges if quote is not None else (),
            risk_rho=self.risk_rho,
            oi_history_ms={
                name: max(now - since, 0)
                for name, since in sorted(model.oi_since.items())
                if exchange is None or name == exchange
            },
            tiers=LEVERAGE_TIERS,
            tier_weights=tuple(float(w) for w in weights),
            estimated_long_tiers=_frozen(by_tier[LONG]),
            estimated_short_tiers=_frozen(by_tier[SHORT]),
            prints=prints,
        )


def engine_from_settings(
    settings: Settings, *, window_ms: int | None = None, preset: str | None = None
) -> Engine:
    """An engine with the model settings, the tier tables (shipped + refreshed), the
    calibration (ρ, its preset, fitted weights) from the config and the fitted parameters
    per market (liqtui.fitted; a broken file is a warning, and no fit is used)."""
    import sys

    from liqtui.fitted import FittedFileError, fitted_path, load_fits
    from liqtui.model.mechanics import TierDataError, load_tier_tables

    m = settings.model
    try:
        tiers = load_tier_tables(settings.tiers_path())
    except (TierDataError, OSError) as exc:
        print(f"liqtui: warning: {exc}; using the shipped tier tables", file=sys.stderr)
        tiers = shipped_tier_tables()
    try:
        fits = load_fits(fitted_path(m.fitted_file))
    except FittedFileError as exc:
        print(f"liqtui: warning: {exc}; using no fitted parameters", file=sys.stderr)
        fits = {}
    return Engine(
        params=ModelParams.from_settings(settings.model, window_ms),
        preset=preset or m.preset,
        tier_filter=m.tier_filter,
        tiers=tiers,
        rho=m.rho,
        calibrated_preset=m.calibrated_preset,
        fitted_weights=tuple(m.fitted_weights) or None,
        fits=fits,
        risk_rho=m.risk_rho,
    )
