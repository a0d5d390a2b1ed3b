"""The model core: realized window and dedupe, estimated levels, consumption, decay, re-centring."""

from __future__ import annotations

import numpy as np
import pytest

from liqtui.events import Liquidation, MarkPrice, OpenInterest, TradeFlow
from liqtui.fitted import MarketFit
from liqtui.model.density import LONG, SHORT, ModelParams, preset_weights
from liqtui.model.engine import Engine, history_confidence
from liqtui.model.mechanics import liquidation_price
from liqtui.presets import DEFAULT_FITTED_WEIGHTS, DEFAULT_HALF_LIFE_MS, LEVERAGE_TIERS

T0 = 1_767_225_600_000  # aligned to the minute
# No decay, no turnover: the exact notional of each deposit stays where it was put.
FROZEN_PARAMS_PROPORTIONAL = ModelParams(
    turnover=0.0, half_life_ms=10**15, oi_decrease="proportional"
)
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
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15), preset="high")
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
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))
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


def test_funding_does_not_tilt_new_notional() -> None:
    # The funding tilt was dropped: it made no measurable difference (docs/model.md).
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))
    for m in range(3):
        t = T0 + m * MIN
        engine.apply(MarkPrice("binance", "BTC", t, 100_000.0, funding_rate=0.0003))
        engine.apply(OpenInterest("binance", "BTC", t, 1_000.0 + 10 * m))
        engine.advance(t)
    snap = engine.snapshot("BTC")
    total = snap.estimated_long.sum() + snap.estimated_short.sum()
    assert snap.estimated_long.sum() / total == pytest.approx(0.5)


def test_decay_halves_mass_in_one_half_life() -> None:
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=60 * MIN))
    _grow_open_interest(engine, minutes=2)
    model = engine.markets["BTC"]
    assert model.estimated is not None
    total = model.estimated.sum()
    t_last = T0 + 2 * MIN
    engine.advance(t_last + 60 * MIN)  # one interval spanning a whole half-life, nothing else
    assert model.estimated.sum() == pytest.approx(total / 2)


def test_open_interest_decrease_removes_proportionally() -> None:
    engine = Engine(
        params=ModelParams(turnover=0.0, half_life_ms=10**15, oi_decrease="proportional")
    )
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
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))
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
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))
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
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))
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


def test_price_carries_its_source_exchange_and_time() -> None:
    engine = Engine()
    engine.apply(liq(T0, price=95_000.0, ex="okx"))
    engine.advance(T0)
    snap = engine.snapshot("BTC")
    where = (snap.price, snap.price_source, snap.price_exchanges)
    assert where == (95_000.0, "liquidation", ("okx",))
    assert (snap.price_time_ms, snap.price_age_ms, snap.price_stale) == (T0, 0, False)
    engine.apply(MarkPrice("binance", "BTC", T0, 96_000.0))
    engine.apply(MarkPrice("bybit", "BTC", T0 + 1_000, 96_100.0))
    engine.apply(MarkPrice("okx", "BTC", T0 + 2_000, 96_050.0))
    engine.advance(T0 + 3_000)
    snap = engine.snapshot("BTC")
    assert (snap.price, snap.price_source) == (96_050.0, "mark")  # the median of fresh marks
    assert snap.price_exchanges == ("binance", "bybit", "okx")
    assert (snap.price_time_ms, snap.price_age_ms) == (T0, 3_000)  # its oldest mark
    # Ten minutes later, nothing new: the newest observation, marked stale with its own age.
    engine.advance(T0 + 10 * MIN)
    snap = engine.snapshot("BTC")
    assert (snap.price, snap.price_source, snap.price_exchanges) == (96_050.0, "mark", ("okx",))
    assert (snap.price_age_ms, snap.price_stale) == (10 * MIN - 2_000, True)
    # A newer traded price (a kline close) wins over the stale marks; it is fresh.
    flow = TradeFlow("binance", "BTC", T0 + 10 * MIN, MIN, 1.0, 1.0, 96_500.0, close=96_600.0,
                     source="kline")  # fmt: skip
    engine.apply(flow)
    snap = engine.snapshot("BTC")
    where = (snap.price, snap.price_source, snap.price_exchanges)
    assert where == (96_600.0, "kline", ("binance",))
    assert snap.price_age_ms == 0 and not snap.price_stale
    # A fresh mark again: marks first.
    engine.apply(MarkPrice("bybit", "BTC", T0 + 10 * MIN, 96_700.0))
    snap = engine.snapshot("BTC")
    assert (snap.price, snap.price_source, snap.price_exchanges) == (96_700.0, "mark", ("bybit",))


def test_a_market_priced_only_by_an_old_print_is_stale() -> None:
    """Issue 11 item 6: the age is the market's price's, not the feeds' last message."""
    engine = Engine()
    engine.apply(liq(T0, price=95_000.0, ex="bybit"))
    engine.apply(MarkPrice("binance", "ETH", T0 + 10 * MIN, 3_400.0))  # data keeps coming
    engine.advance(T0 + 10 * MIN)
    snap = engine.snapshot("BTC")
    assert (snap.price, snap.price_source) == (95_000.0, "liquidation")
    assert (snap.price_age_ms, snap.price_stale) == (10 * MIN, True)
    assert engine.snapshot("ETH").price_age_ms == 0


def test_many_markets_step_in_one_advance() -> None:
    engine = Engine()
    for i, sym in enumerate(["BTC", "ETH", "SOL"]):
        engine.apply(Liquidation("binance", sym, T0, "short", 10.0 + i, 1.0, 10.0 + i))
    engine.advance(T0 + 5 * MIN)
    assert all(m.steps >= 1 for m in engine.markets.values())
    assert engine.symbols()[0] in {"BTC", "ETH", "SOL"}
    assert np.isclose(engine.snapshot("SOL").realized_short_usd, 12.0)


# -- issue 5: scale-factor state, extents, slots, history, detector inputs, calibration flags --

DAY = 86_400_000


def test_half_life_is_a_model_parameter_not_the_views() -> None:
    for window in (DAY, 7 * DAY, 30 * DAY):
        assert ModelParams(window_ms=window).half_life == DEFAULT_HALF_LIFE_MS
        assert Engine(params=ModelParams(window_ms=window)).snapshot("X").half_life_ms == (
            DEFAULT_HALF_LIFE_MS
        )
    assert ModelParams(window_ms=30 * DAY, half_life_ms=5).half_life == 5


def _varied_market(engine: Engine, minutes: int = 240) -> None:
    """Four hours of a moving market: OI grows and shrinks, price crosses earlier levels."""
    rng = np.random.default_rng(7)
    price, oi = 100_000.0, 1_000.0
    for m in range(minutes):
        t = T0 + m * MIN
        price *= 1.0 + 0.004 * rng.standard_normal()
        oi = max(oi + 8.0 * rng.standard_normal(), 100.0)
        buy = 50.0 + 20.0 * rng.standard_normal()
        engine.apply(MarkPrice("binance", "BTC", t, price, funding_rate=1e-4))
        engine.apply(OpenInterest("binance", "BTC", t, oi))
        engine.apply(TradeFlow("binance", "BTC", t, MIN, abs(buy), 50.0, price, price, price))
        engine.advance(t)


def test_changing_the_view_window_does_not_change_the_model() -> None:
    # The same events under a 1 h, 24 h and 7 d view: the same E, half-life and consumption
    # path (C differs only by when the window rolls it over, which is the view's).
    maps = []
    for window in (3_600_000, DAY, 7 * DAY):
        engine = Engine(params=ModelParams(window_ms=window))
        _varied_market(engine)
        snap = engine.snapshot("BTC", window_ms=window)
        assert snap.half_life_ms == DEFAULT_HALF_LIFE_MS
        assert engine.markets["BTC"].estimated is not None
        maps.append((snap.estimated_long, snap.estimated_short))
        assert snap.estimated_long.sum() > 0 and snap.estimated_short.sum() > 0
    for long_e, short_e in maps[1:]:
        np.testing.assert_array_equal(long_e, maps[0][0])
        np.testing.assert_array_equal(short_e, maps[0][1])


def test_a_markets_fit_sets_its_half_life_and_fitted_mix_unless_the_config_does() -> None:
    fit = MarketFit(half_life_ms=2 * DAY, leverage_weights=(0.0, 0.5, 0.5, 0.0, 0.0, 0.0))
    engine = Engine(params=ModelParams(turnover=0.0), fits={"BTC": fit})
    _grow_open_interest(engine, minutes=2)
    assert engine.markets["BTC"].half_life_ms == 2 * DAY
    assert engine.snapshot("BTC").half_life_ms == 2 * DAY
    assert engine.snapshot("ETH").half_life_ms == DEFAULT_HALF_LIFE_MS  # no fit: the default
    snap = engine.snapshot("BTC", preset="fitted")  # decayed a little over 2 minutes
    assert snap.estimated_long.sum() == pytest.approx(2 * 10 * 100_000 * 0.5 * 1.0, rel=1e-3)
    # Only 5x and 10x carry weight: nothing beyond the 10x liquidation distance (~10%).
    grid = snap.grid
    assert grid is not None
    assert snap.estimated_long[grid.index_of(95_000.0) :].sum() == 0.0
    # An explicit half-life in the config wins over the fit.
    fixed = Engine(params=ModelParams(turnover=0.0, half_life_ms=3_600_000), fits={"BTC": fit})
    _grow_open_interest(fixed, minutes=1)
    assert fixed.markets["BTC"].half_life_ms == 3_600_000


def test_decay_is_exact_across_many_steps_and_renormalization() -> None:
    # Half-life of one minute: 400 steps take the scale below 1e-100 and fold it back in.
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=MIN))
    _grow_open_interest(engine, minutes=2)
    model = engine.markets["BTC"]
    assert model.estimated is not None
    total = model.estimated.sum()
    t = T0 + 2 * MIN
    for k in range(1, 401):
        engine.advance(t + k * MIN)
    assert model.scale.min() > 1e-30  # folded back in on the way (0.5**400 would be 4e-121)
    assert model.estimated.sum() == pytest.approx(total * 0.5**400, rel=1e-9)
    # New notional after the fold lands at full value.
    engine.apply(MarkPrice("binance", "BTC", t + 401 * MIN, 100_000.0))
    before = model.estimated.sum()
    engine.apply(OpenInterest("binance", "BTC", t + 401 * MIN + 1, 1_030.0))  # was 1,020
    engine.advance(t + 402 * MIN)
    added = model.estimated.sum() - before * 0.5
    assert added == pytest.approx(10 * 100_000.0 * len(LEVERAGE_TIERS), rel=1e-9)


def test_consumption_of_shorts_removes_exactly_the_crossed_bins() -> None:
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))
    _grow_open_interest(engine, minutes=3)
    model = engine.markets["BTC"]
    assert model.estimated is not None and model.grid is not None
    before = model.estimated.copy()
    high = 101_500.0  # above the 100x short level (≈100.6k), below the 50x one (≈101.6k)
    t = T0 + 4 * MIN
    engine.apply(MarkPrice("binance", "BTC", t - 30_000, high))
    engine.apply(MarkPrice("binance", "BTC", t - 1, 100_000.0))
    engine.advance(t)
    hi = model.grid.index_of(high)
    after = model.estimated
    crossed = before[0, SHORT, :, : hi + 1].sum()
    assert crossed > 0
    assert after[0, SHORT, :, : hi + 1].sum() == 0
    assert after[0, SHORT, :, hi + 1 :] == pytest.approx(before[0, SHORT, :, hi + 1 :])
    assert after[0, LONG].sum() == pytest.approx(before[0, LONG].sum())
    assert model.consumed is not None
    assert model.consumed[0, SHORT].sum() == pytest.approx(crossed)
    # Crossing the same bins again consumes nothing more.
    engine.apply(MarkPrice("binance", "BTC", t + 30_000, high))
    engine.advance(t + MIN)
    assert model.consumed[0, SHORT].sum() == pytest.approx(crossed)


def test_each_exchange_has_its_own_state_and_filter() -> None:
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))
    oi = {"binance": 1_000.0, "okx": 500.0}
    for m in range(3):
        t = T0 + m * MIN
        for ex in oi:
            engine.apply(MarkPrice(ex, "BTC", t, 100_000.0))
            engine.apply(OpenInterest(ex, "BTC", t, oi[ex] + m * (10 if ex == "binance" else 1)))
        engine.advance(t)
    model = engine.markets["BTC"]
    assert model.exchanges == ["binance", "okx"]
    snap = engine.snapshot("BTC", preset="high")
    w = preset_weights("high").sum()
    assert snap.estimated_by_exchange["binance"][0] == pytest.approx(20 * 100_000 * 0.5 * w)
    assert snap.estimated_by_exchange["okx"][0] == pytest.approx(2 * 100_000 * 0.5 * w)
    only_okx = engine.snapshot("BTC", exchange="okx", preset="high")
    assert only_okx.estimated_long.sum() == pytest.approx(2 * 100_000 * 0.5 * w)
    # OKX places its 100x level with its own rate (0.4% + 0.05% taker fee).
    grid = snap.grid
    assert grid is not None
    okx_level = liquidation_price("okx", "long", 100_000.0, 100)
    assert only_okx.estimated_long[grid.index_of(okx_level)] > 0


def test_whole_side_closed_empties_it() -> None:
    engine = Engine(
        params=ModelParams(turnover=0.0, half_life_ms=10**15, oi_decrease="proportional")
    )
    _grow_open_interest(engine, minutes=2)
    model = engine.markets["BTC"]
    t = T0 + 3 * MIN
    engine.apply(OpenInterest("binance", "BTC", t - 1, 0.0))  # everything closed
    engine.advance(t)
    assert model.estimated is not None and model.estimated.sum() == 0
    assert model.scale.tolist() == [[1.0, 1.0]]


def test_history_rows_follow_the_map_and_presets_apply_exactly() -> None:
    params = ModelParams(
        turnover=0.0, half_life_ms=10**15, window_ms=60 * MIN, history_rows=6
    )  # 10-min rows
    engine = Engine(params=params)
    _grow_open_interest(engine, minutes=25)
    model = engine.markets["BTC"]
    h = model.history
    assert h is not None and h.row_ms == 10 * MIN
    view = engine.snapshot("BTC", preset="balanced", history=True).history
    assert view is not None
    assert len(view.times_ms) == 2 and list(view.times_ms) == sorted(view.times_ms)
    # The last row holds the map as it was then: 10 BTC a minute for the minutes before it.
    minutes = (view.times_ms[-1] - T0) // MIN
    w = preset_weights("balanced").sum()
    assert view.long_usd[-1].sum() == pytest.approx(minutes * 10 * 100_000 * 0.5 * w, rel=1e-6)
    high = engine.snapshot("BTC", preset="high", history=True).history
    assert high is not None
    ratio = preset_weights("high").sum() / w
    assert high.long_usd[-1].sum() == pytest.approx(view.long_usd[-1].sum() * ratio, rel=1e-6)
    # Cells are whole grid bins, about history_bin_pct of the price.
    assert model.grid is not None and view.cells.width % model.grid.width == 0


def test_history_keeps_its_mass_when_the_grid_recentres() -> None:
    params = ModelParams(turnover=0.0, half_life_ms=10**15, window_ms=60 * MIN, history_rows=6)
    engine = Engine(params=params)
    _grow_open_interest(engine, minutes=25)
    model = engine.markets["BTC"]
    assert model.history is not None
    mass = float(model.history.data.sum())
    engine.apply(MarkPrice("binance", "BTC", T0 + 26 * MIN, 125_000.0))  # leaves the middle half
    assert model.grid is not None and model.grid.contains(125_000.0)
    assert model.history.cells.contains(125_000.0)
    assert float(model.history.data.sum()) == pytest.approx(mass, rel=1e-6)


def test_latest_book_depth_per_exchange_is_in_the_snapshot() -> None:
    from liqtui.events import BookDepth

    engine = Engine()
    engine.apply(MarkPrice("binance", "BTC", T0, 100_000.0))
    d = (0.005, 0.01, 0.02, 0.05)
    old = BookDepth("binance", "BTC", T0, 100_000.0, d, (1, 2, 3, 4), (1, 2, 3, 4), 0.01, 0.01)
    new = BookDepth("binance", "BTC", T0 + 5, 100_000.0, d, (5, 6, 7, 8), (5, 6, 7, 8), 0.02, 0.02)
    okx = BookDepth("okx", "BTC", T0 + 1, 100_000.0, d, (9, 9, 9, 9), (9, 9, 9, 9), 0.01, 0.01)
    for ev in (old, okx, new):
        engine.apply(ev)
    engine.advance(T0 + 10)
    snap = engine.snapshot("BTC")
    assert snap.depth == (new, okx)
    assert engine.snapshot("BTC", exchange="okx").depth == (okx,)


def test_detector_inputs_per_minute() -> None:
    engine = Engine()
    price = 100_000.0
    for m in range(62):
        t = T0 + m * MIN
        engine.apply(MarkPrice("binance", "BTC", t, price * (1 - 0.004 * max(0, m - 45))))
        if m < 60 and m % 2 == 0:
            engine.apply(liq(t + 1, price=price, qty=0.01))  # $1k every other minute
        if m == 60:
            for i in range(20):  # a burst: $20k × 20
                engine.apply(liq(t + i, price=price, qty=0.2))
        engine.advance(t + 1)
    engine.advance(T0 + 61 * MIN + 30_000)  # minute 60 is the last complete one
    stats = engine.snapshot("BTC").activity
    assert stats is not None
    assert stats.minute_long_usd == pytest.approx(20 * 20_000)
    assert stats.baseline_usd == pytest.approx(1_000)
    # 15 minutes of −0.4% a minute: 0.94 / 1.0 (minute 60 against minute 45).
    assert stats.move_15m == pytest.approx((1 - 0.004 * 15) - 1)


def test_calibration_flags_follow_the_preset() -> None:
    engine = Engine(rho=0.2, calibrated_preset="balanced")
    engine.apply(liq(T0))
    engine.advance(T0)
    cal = engine.snapshot("BTC", preset="balanced")
    assert cal.calibrated and cal.scale == 0.2 and cal.scale_label == "calibrated ρ=0.2"
    other = engine.snapshot("BTC", preset="high")
    assert not other.calibrated and other.scale is None and other.scale_label == "relative"
    assert not Engine().snapshot("BTC").calibrated


def test_fitted_preset_uses_the_configured_weights() -> None:
    weights = (0.0, 0.0, 0.5, 0.5, 0.0, 0.0)
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15), fitted_weights=weights)
    _grow_open_interest(engine, minutes=2)
    snap = engine.snapshot("BTC", preset="fitted")
    assert snap.estimated_long.sum() == pytest.approx(2 * 10 * 100_000 * 0.5 * 1.0)
    plain = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))  # no fit: the default mix
    _grow_open_interest(plain, minutes=2)
    default = plain.snapshot("BTC", preset="fitted").estimated_long.sum()
    assert default == pytest.approx(2 * 10 * 100_000 * 0.5 * sum(DEFAULT_FITTED_WEIGHTS))


def test_consumed_in_the_window_is_in_the_snapshot_and_rolls() -> None:
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15, window_ms=30 * MIN))
    _grow_open_interest(engine, minutes=3)
    t = T0 + 4 * MIN
    engine.apply(MarkPrice("binance", "BTC", t - 30_000, 98_500.0))
    engine.apply(MarkPrice("binance", "BTC", t - 1, 100_000.0))
    engine.advance(t)
    model = engine.markets["BTC"]
    assert model.consumed is not None
    snap = engine.snapshot("BTC", preset="high")
    assert snap.consumed_long is not None and snap.consumed_since_ms == T0 + MIN  # first map
    expected = np.einsum("stn,t->sn", model.consumed[0], preset_weights("high"))
    assert snap.consumed_long.sum() == pytest.approx(expected[LONG].sum())
    assert snap.consumed_long.sum() > 0
    engine.advance(T0 + 31 * MIN)  # the window rolls
    assert engine.snapshot("BTC").consumed_long.sum() == 0  # type: ignore[union-attr]


def test_state_is_bounded_and_stated() -> None:
    engine = Engine()
    _grow_open_interest(engine, minutes=2)
    model = engine.markets["BTC"]
    assert model.history is not None
    # E and C for one exchange, H (96 rows) and its lookback rings (7 d of 2 h rows, 30 d of
    # 8 h rows) with their realized prints R, the 7-day detector ring: under 5 MB.
    assert model.nbytes < 5_000_000
    assert [r.rows for r in model.lookback_history] == [84, 90]
    assert model.history.data.dtype == np.float32 and model.history.data.shape[0] == 96


def test_an_exchange_heard_before_its_first_mark_gets_a_real_price_range() -> None:
    """Open interest and flow of an exchange that has no mark yet, an interval closes, then its
    marks come (history answers in another order than a live feed): the next interval's range
    is the marks', not NaN (which made the deposit raise and replay exit 70)."""
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15), preset="high")
    engine.apply(MarkPrice("binance", "BTC", T0, 100_000.0))  # the market has a grid
    engine.apply(OpenInterest("okx", "BTC", T0, 1_000.0))  # okx: no mark yet
    engine.advance(T0 + MIN)  # okx's interval closes without a mark
    engine.apply(MarkPrice("okx", "BTC", T0 + MIN + 1_000, 100_000.0))
    engine.apply(MarkPrice("okx", "BTC", T0 + MIN + 2_000, 100_500.0))
    engine.apply(OpenInterest("okx", "BTC", T0 + MIN + 3_000, 1_010.0))
    engine.advance(T0 + 2 * MIN)
    snap = engine.snapshot("BTC")
    assert "okx" in snap.estimated_by_exchange
    assert snap.estimated_long.sum() > 0 and np.isfinite(snap.estimated_long).all()


def test_map_confidence_follows_the_open_interest_history() -> None:
    """Issue 13: the snapshot says how much open-interest history the map holds per exchange,
    and its confidence is 1 − 2^(−T/h) per exchange, weighted by open interest."""
    hour = 3_600_000
    assert history_confidence({}, {}, 12 * hour) == 0.0
    assert history_confidence({"binance": 0}, {"binance": 5.0}, 12 * hour) == 0.0
    assert history_confidence({"binance": 12 * hour}, {"binance": 5.0}, 12 * hour) == 0.5
    # OI-weighted: 3/4 of the market at one half-life, 1/4 at none.
    both = history_confidence({"a": 12 * hour, "b": 0}, {"a": 3.0, "b": 1.0}, 12 * hour)
    assert both == pytest.approx(0.375)
    engine = Engine(params=ModelParams(half_life_ms=12 * hour))
    t0 = 1_767_225_600_000
    engine.apply(MarkPrice("binance", "BTC", t0, 100_000.0))
    assert engine.snapshot("BTC").oi_history_ms == {} and engine.snapshot("BTC").confidence == 0
    for m in range(0, 24 * 60 + 1, 5):
        t = t0 + m * 60_000
        engine.apply(MarkPrice("binance", "BTC", t, 100_000.0))
        engine.apply(OpenInterest("binance", "BTC", t, 1_000.0 + m))
        if m >= 18 * 60:
            engine.apply(OpenInterest("okx", "BTC", t, 1_000.0))
        engine.advance(t)
    snap = engine.snapshot("BTC")
    assert snap.oi_history_ms == {"binance": 24 * hour, "okx": 6 * hour}
    expected = (1_000 + 24 * 60) * 0.75 + 1_000 * (1 - 0.5**0.5)
    assert snap.confidence == pytest.approx(expected / (2_000 + 24 * 60))
    assert engine.snapshot("BTC", exchange="okx").oi_history_ms == {"okx": 6 * hour}
