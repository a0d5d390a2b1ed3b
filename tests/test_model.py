"""The model core: realized window and dedupe, estimated levels, consumption, decay, re-centring."""

from __future__ import annotations

import numpy as np
import pytest

from liqtui.events import Liquidation, MarkPrice, OpenInterest, TradeFlow
from liqtui.model.density import LEVERAGE_TIERS, LONG, SHORT, ModelParams, preset_weights
from liqtui.model.engine import Engine
from liqtui.model.mechanics import liquidation_price

T0 = 1_767_225_600_000  # aligned to the minute
MIN = 60_000


def liq(
    t: int, side: str = "long", price: float = 100_000.0, qty: float = 0.1, ex: str = "binance"
):
    return Liquidation(ex, "BTC", t, side, price, qty, qty * price)  # type: ignore[arg-type]


def test_duplicates_count_once() -> None:
    engine = Engine()
    engine.apply(liq(T0))
    engine.apply(liq(T0))  # a second collector / a reconnect overlap
    engine.apply(liq(T0, ex="bybit"))  # same fields on another exchange: a different print
    engine.apply(liq(T0, qty=0.2))
    engine.advance(T0 + 1)
    snap = engine.snapshot("BTC")
    assert snap.realized_count == 3
    assert snap.duplicates == 1
    assert snap.realized_long_usd == pytest.approx(10_000 + 10_000 + 20_000)


def test_realized_binned_at_price_per_side() -> None:
    engine = Engine()
    engine.apply(liq(T0, "long", 99_990.0, 1.0))
    engine.apply(liq(T0 + 1, "short", 101_020.0, 2.0))
    engine.advance(T0 + 2)
    snap = engine.snapshot("BTC")
    grid = snap.grid
    assert grid is not None
    assert snap.realized_long[grid.index_of(99_990.0)] == pytest.approx(99_990.0)
    assert snap.realized_short[grid.index_of(101_020.0)] == pytest.approx(202_040.0)
    assert snap.realized_long.sum() == pytest.approx(snap.realized_long_usd)
    assert snap.realized_short_usd == pytest.approx(202_040.0)


def test_window_expiry() -> None:
    engine = Engine(params=ModelParams(window_ms=60 * MIN))
    engine.apply(liq(T0, qty=1.0))
    engine.apply(liq(T0 + 30 * MIN, qty=2.0))
    engine.advance(T0 + 30 * MIN)
    assert engine.snapshot("BTC").realized_count == 2
    engine.advance(T0 + 61 * MIN)  # the first print left the 60-minute window
    snap = engine.snapshot("BTC")
    assert snap.realized_count == 1
    assert snap.realized_long_usd == pytest.approx(200_000.0)
    # A shorter view window than the one kept.
    assert engine.snapshot("BTC", window_ms=10 * MIN).realized_count == 0
    engine.advance(T0 + 200 * MIN)
    assert engine.snapshot("BTC").realized_count == 0
    assert engine.markets["BTC"].realized.size == 0  # compacted, memory released


def _grow_open_interest(engine: Engine, *, price: float = 100_000.0, minutes: int = 5) -> None:
    """Mark price steady; OI rises by 10 BTC a minute with balanced taker flow."""
    oi = 1_000.0
    for m in range(minutes + 1):
        t = T0 + m * MIN
        engine.apply(MarkPrice("binance", "BTC", t, price))
        engine.apply(OpenInterest("binance", "BTC", t, oi))
        engine.apply(TradeFlow("binance", "BTC", t, MIN, 50.0, 50.0, price, price, price))
        engine.advance(t)
        oi += 10.0


def test_open_interest_growth_creates_levels_at_exchange_liquidation_prices() -> None:
    engine = Engine(params=ModelParams(half_life_ms=10**15), preset="high")
    _grow_open_interest(engine, minutes=5)
    snap = engine.snapshot("BTC")
    grid = snap.grid
    assert grid is not None and snap.price == 100_000.0
    # 5 intervals × 10 BTC × $100k, half long, half short (balanced flow, no funding).
    new_notional = 5 * 10 * 100_000.0
    weights = preset_weights("high")
    assert snap.estimated_long.sum() + snap.estimated_short.sum() == pytest.approx(
        new_notional * weights.sum()
    )
    assert snap.estimated_long.sum() == pytest.approx(new_notional * 0.5)
    # Longs sit below the price, shorts above.
    below = grid.lows() < 100_000.0
    assert snap.estimated_long[~below].sum() == 0
    assert snap.estimated_short[below].sum() == 0
    # The 100x long level is where Binance's formula puts it (tier-1 MMR 0.4%).
    lp = liquidation_price("binance", "long", 100_000.0, 100)
    per_tier = engine.markets["BTC"].estimated[0, LONG]  # type: ignore[index]
    tier = LEVERAGE_TIERS.index(100)
    assert per_tier[tier, grid.index_of(lp)] == pytest.approx(new_notional * 0.5)


def test_consumption_removes_exactly_the_crossed_bins() -> None:
    engine = Engine(params=ModelParams(half_life_ms=10**15))
    _grow_open_interest(engine, minutes=3)
    model = engine.markets["BTC"]
    assert model.estimated is not None and model.consumed is not None and model.grid is not None
    before = model.estimated.copy()
    low = 98_500.0  # crosses the 100x long level (≈99.4k) but not the 50x one (≈98.39k)
    t = T0 + 4 * MIN
    engine.apply(MarkPrice("binance", "BTC", t - 30_000, low))
    engine.apply(MarkPrice("binance", "BTC", t - 1, 100_000.0))
    engine.advance(t)
    lo = model.grid.index_of(low)
    crossed = before[0, LONG, :, lo:].sum()
    assert crossed > 0
    assert model.estimated[0, LONG, :, lo:].sum() == 0
    assert model.estimated[0, LONG, :, :lo] == pytest.approx(before[0, LONG, :, :lo])
    assert model.consumed[0, LONG].sum() == pytest.approx(crossed)
    # Shorts above 100k were not crossed (the high stayed at 100k).
    assert model.estimated[0, SHORT].sum() == pytest.approx(before[0, SHORT].sum())


def test_positive_funding_tilts_new_notional_toward_longs() -> None:
    engine = Engine(params=ModelParams(half_life_ms=10**15, funding_tilt=0.05))
    for m in range(3):
        t = T0 + m * MIN
        engine.apply(MarkPrice("binance", "BTC", t, 100_000.0, funding_rate=0.0003))
        engine.apply(OpenInterest("binance", "BTC", t, 1_000.0 + 10 * m))
        engine.advance(t)
    snap = engine.snapshot("BTC")
    total = snap.estimated_long.sum() + snap.estimated_short.sum()
    assert snap.estimated_long.sum() / total == pytest.approx(0.55)


def test_decay_halves_mass_in_one_half_life() -> None:
    engine = Engine(params=ModelParams(half_life_ms=60 * MIN))
    _grow_open_interest(engine, minutes=2)
    model = engine.markets["BTC"]
    assert model.estimated is not None
    total = model.estimated.sum()
    t_last = T0 + 2 * MIN
    engine.advance(t_last + 60 * MIN)  # one interval spanning a whole half-life, nothing else
    assert model.estimated.sum() == pytest.approx(total / 2)


def test_open_interest_decrease_removes_proportionally() -> None:
    engine = Engine(params=ModelParams(half_life_ms=10**15, oi_decrease="proportional"))
    _grow_open_interest(engine, minutes=2)
    model = engine.markets["BTC"]
    assert model.estimated is not None
    total = model.estimated.sum()
    oi_now = model.open_interest["binance"]
    t = T0 + 3 * MIN
    engine.apply(OpenInterest("binance", "BTC", t - 1, oi_now * 0.9))  # 10% of OI closed
    engine.advance(t)
    assert model.estimated.sum() == pytest.approx(total * 0.9)


def test_side_aware_removal_hits_the_covering_side() -> None:
    engine = Engine(params=ModelParams(half_life_ms=10**15))
    _grow_open_interest(engine, minutes=2)
    model = engine.markets["BTC"]
    assert model.estimated is not None
    longs, shorts = model.estimated[0, LONG].sum(), model.estimated[0, SHORT].sum()
    t = T0 + 3 * MIN
    oi = model.open_interest["binance"]
    # OI falls 10% while takers buy (shorts covering): shorts lose more than longs.
    engine.apply(OpenInterest("binance", "BTC", t - 1, oi * 0.9))
    engine.apply(TradeFlow("binance", "BTC", t - 1, MIN, 90.0, 10.0, 100_000.0))
    engine.advance(t)
    assert model.estimated[0, SHORT].sum() / shorts < model.estimated[0, LONG].sum() / longs


def test_presets_and_tier_filter_switch_without_recomputing() -> None:
    engine = Engine(params=ModelParams(half_life_ms=10**15))
    _grow_open_interest(engine, minutes=2)
    high = engine.snapshot("BTC", preset="high").estimated_long.sum()
    low = engine.snapshot("BTC", preset="observed-low").estimated_long.sum()
    both = engine.snapshot("BTC", preset="observed-low", tier_filter="25x+")
    # Every tier got the full notional, so totals follow the weight sums.
    assert high == pytest.approx(
        low * preset_weights("high").sum() / preset_weights("observed-low").sum()
    )
    assert both.estimated_long.sum() == pytest.approx(low * 0.08 / 1.0)
    assert both.tier_filter == "25x+"


def test_recentre_keeps_mass() -> None:
    engine = Engine(params=ModelParams(half_life_ms=10**15))
    _grow_open_interest(engine, minutes=2)
    model = engine.markets["BTC"]
    assert model.estimated is not None and model.grid is not None
    total, old_grid = model.estimated.sum(), model.grid
    # Price jumps far above the grid's middle: the grid re-centres, mass is conserved.
    engine.apply(MarkPrice("binance", "BTC", T0 + 2 * MIN + 1, 125_000.0))
    assert model.grid is not old_grid and model.grid.contains(125_000.0)
    assert model.estimated.sum() == pytest.approx(total, rel=1e-12)


def test_snapshot_is_read_only_and_unknown_market_is_empty() -> None:
    engine = Engine()
    engine.apply(liq(T0))
    engine.advance(T0)
    snap = engine.snapshot("BTC")
    with pytest.raises(ValueError):
        snap.realized_long[0] = 1.0
    empty = engine.snapshot("NOPE")
    assert empty.grid is None and empty.realized_count == 0 and empty.price is None


def test_price_falls_back_to_last_liquidation_and_prefers_fresh_marks() -> None:
    engine = Engine()
    engine.apply(liq(T0, price=95_000.0))
    engine.advance(T0)
    snap = engine.snapshot("BTC")
    assert (snap.price, snap.price_source) == (95_000.0, "last liquidation")
    engine.apply(MarkPrice("binance", "BTC", T0, 96_000.0))
    engine.apply(MarkPrice("bybit", "BTC", T0, 96_100.0))
    engine.apply(MarkPrice("okx", "BTC", T0, 96_050.0))
    snap = engine.snapshot("BTC")
    assert (snap.price, snap.price_source) == (96_050.0, "mark")
    engine.advance(T0 + 10 * MIN)
    assert engine.snapshot("BTC").price_source == "mark (stale)"


def test_many_markets_step_in_one_advance() -> None:
    engine = Engine()
    for i, sym in enumerate(["BTC", "ETH", "SOL"]):
        engine.apply(Liquidation("binance", sym, T0, "short", 10.0 + i, 1.0, 10.0 + i))
    engine.advance(T0 + 5 * MIN)
    assert all(m.steps >= 1 for m in engine.markets.values())
    assert engine.symbols()[0] in {"BTC", "ETH", "SOL"}
    assert np.isclose(engine.snapshot("SOL").realized_short_usd, 12.0)
