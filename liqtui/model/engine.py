"""The engine: routes normalized events to per-market models and hands out immutable snapshots.

It is the one object sources write to (`EventSink`) and views read from (`snapshot`). Time is the
*source* clock (event and receive times), never the wall clock, so a replay reproduces a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from liqtui.events import (
    EXCHANGES,
    BookDepth,
    Liquidation,
    MarketEvent,
    MarkPrice,
    OpenInterest,
    TradeFlow,
)
from liqtui.feeds.base import FeedHealth
from liqtui.model.density import (
    EXCHANGE_INDEX,
    LONG,
    SHORT,
    MarketModel,
    ModelParams,
    preset_weights,
)
from liqtui.model.grid import PriceGrid


def _frozen(a: NDArray[np.float64]) -> NDArray[np.float64]:
    a.flags.writeable = False
    return a


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """Everything a view needs about one market at one moment. Arrays are read-only."""

    symbol: str
    as_of_ms: int
    price: float | None
    price_source: str | None  # "mark", "mark (stale)", "last liquidation" or None
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

    @property
    def skipped_messages(self) -> int:
        return sum(f.skipped for f in self.feeds)

    @property
    def ignored_messages(self) -> int:
        return sum(f.ignored for f in self.feeds)

    @property
    def has_estimate(self) -> bool:
        return bool(self.estimated_long.any() or self.estimated_short.any())


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
    events_by_market: dict[str, int] = field(default_factory=dict)
    _next_step_ms: int = 0

    # -- EventSink --------------------------------------------------------------------------------
    def feed(self, name: str) -> FeedHealth:
        health = self.feeds.get(name)
        if health is None:
            health = self.feeds[name] = FeedHealth(name)
        return health

    def market(self, symbol: str) -> MarketModel:
        model = self.markets.get(symbol)
        if model is None:
            model = self.markets[symbol] = MarketModel(symbol, self.params)
        return model

    def apply(self, event: MarketEvent) -> None:
        model = self.market(event.symbol)
        if isinstance(event, Liquidation):
            model.on_liquidation(event)
        elif isinstance(event, MarkPrice):
            model.on_mark(event)
        elif isinstance(event, OpenInterest):
            model.on_open_interest(event)
        elif isinstance(event, TradeFlow):
            model.on_trade_flow(event)
        elif isinstance(event, BookDepth):
            pass  # consumed by the cascade-risk measures (not part of the density model)
        self.events_applied += 1
        self.events_by_market[event.symbol] = self.events_by_market.get(event.symbol, 0) + 1

    def advance(self, now_ms: int) -> None:
        if now_ms < self.clock_ms:
            return  # the source clock never runs backwards
        self.clock_ms = now_ms
        if now_ms < self._next_step_ms:
            return  # cheap path: called once per message
        for model in self.markets.values():
            model.step(now_ms)
        step = self.params.step_ms
        self._next_step_ms = now_ms - now_ms % step + step

    # -- reading ----------------------------------------------------------------------------
    def symbols(self) -> list[str]:
        """Markets with data, busiest first."""
        return sorted(self.markets, key=lambda s: -self.events_by_market.get(s, 0))

    def snapshot(
        self,
        symbol: str,
        *,
        window_ms: int | None = None,
        exchange: str | None = None,
        preset: str | None = None,
        tier_filter: str | None = None,
    ) -> MarketSnapshot:
        preset = preset or self.preset
        tier_filter = tier_filter or self.tier_filter
        window = min(window_ms or self.params.window_ms, self.params.window_ms)
        now = self.clock_ms
        model = self.markets.get(symbol)
        feeds = tuple(f.frozen() for f in self.feeds.values())
        if model is None or model.grid is None:
            empty = _frozen(np.zeros(0))
            return MarketSnapshot(
                symbol, now, None, None, None, empty, empty, empty, empty, 0.0, 0.0, 0, window,
                preset, tier_filter, exchange, {}, {}, {}, {}, feeds, 0,
            )  # fmt: skip
        grid = model.grid
        n = grid.n_bins
        price, source = model.price(now)
        ex_mask = np.ones(len(EXCHANGES), dtype=bool)
        if exchange is not None:
            ex_mask[:] = False
            ex_mask[EXCHANGE_INDEX[exchange]] = True

        est_by_ex: dict[str, tuple[float, float]] = {}
        if model.estimated is not None:
            weights = preset_weights(preset, tier_filter)
            # (exchange, side, bin): tier axis collapsed with the preset's weights.
            weighted = np.einsum("esbn,b->esn", model.estimated, weights)
            per_ex = weighted.sum(axis=2)
            for name, i in EXCHANGE_INDEX.items():
                if per_ex[i].any():
                    est_by_ex[name] = (float(per_ex[i, LONG]), float(per_ex[i, SHORT]))
            est = weighted[ex_mask].sum(axis=0)
            est_long, est_short = est[LONG].copy(), est[SHORT].copy()
        else:
            est_long, est_short = np.zeros(n), np.zeros(n)

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
        return MarketSnapshot(
            symbol=symbol,
            as_of_ms=now,
            price=price,
            price_source=source,
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
        )
