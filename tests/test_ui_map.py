"""The cumulative liquidation map: its data function (pure), its rows, and the view in the app
(cursor readout, keys, --color none)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from support.engines import demo_engine_and_history

from liqtui.model.engine import Engine
from liqtui.model.grid import PriceGrid
from liqtui.output.ladder import compact_usd
from liqtui.ui.app import LiqApp
from liqtui.ui.history import History
from liqtui.ui.scale import cumulative_to
from liqtui.ui.widgets.liqmap import (
    MONO_GLYPHS,
    MapLayout,
    cumulative_map,
    map_row,
    stacked_bar,
)

GRID = PriceGrid(origin=90.0, width=0.5, n_bins=40)  # 90 … 110
PRICE = 100.2
CENTRES = GRID.origin + (np.arange(GRID.n_bins) + 0.5) * GRID.width


def _arrays(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {
        ex: (rng.exponential(1e5, GRID.n_bins), rng.exponential(1e5, GRID.n_bins))
        for ex in ("binance", "bybit", "okx", "hyperliquid")
    }


def _rows(top: float, n: int, step: float) -> tuple[np.ndarray, np.ndarray]:
    lows = top - step * np.arange(n)
    return lows, lows + step


def _brute(values: np.ndarray, low: float, high: float) -> float:
    """The side's E between a row and the price, bin by bin (the definition)."""
    c = CENTRES
    if low > PRICE:
        return float(values[(c > PRICE) & (c < high)].sum())
    if high <= PRICE:
        return float(values[(c >= low) & (c < PRICE)].sum())
    return 0.0


# -- the data function --------------------------------------------------------------------------


def test_per_exchange_stacks_sum_to_the_totals_and_match_the_definition() -> None:
    est = _arrays(1)
    lows, highs = _rows(108.0, 16, 1.0)
    cols = cumulative_map(GRID, PRICE, est, lows, highs)
    assert cols.exchanges == ("binance", "bybit", "okx", "hyperliquid")
    np.testing.assert_allclose(cols.cum.sum(axis=0), cols.total)
    for e, (longs, shorts) in enumerate(est.values()):
        for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
            values = shorts if lo > PRICE else longs
            assert cols.cum[e, i] == pytest.approx(_brute(values, lo, hi), rel=1e-12, abs=1e-6)
    # the totals are what the sum of the exchanges' arrays gives
    all_long = sum(a for a, _ in est.values())
    all_short = sum(b for _, b in est.values())
    for i, (lo, hi) in enumerate(zip(lows, highs, strict=True)):
        values = all_short if lo > PRICE else all_long
        assert cols.total[i] == pytest.approx(_brute(values, lo, hi), rel=1e-12)


def test_sides_grow_away_from_the_price_and_the_price_row_is_empty() -> None:
    lows, highs = _rows(108.0, 16, 1.0)
    cols = cumulative_map(GRID, PRICE, _arrays(2), lows, highs)
    price_row = int(np.flatnonzero(cols.side == 0)[0])
    assert lows[price_row] <= PRICE < highs[price_row]
    assert cols.total[price_row] == 0.0
    assert (cols.side[:price_row] == 1).all() and (cols.side[price_row + 1 :] == -1).all()
    assert (np.diff(cols.total[:price_row]) <= 0).all()  # shorts: larger further up
    assert (np.diff(cols.total[price_row + 1 :]) >= 0).all()  # longs: larger further down
    assert cols.peak == cols.total.max()


def test_rows_beyond_the_grid_keep_the_grids_total() -> None:
    est = _arrays(3)
    cols = cumulative_map(GRID, PRICE, est, [200.0, 100.0, 1.0], [201.0, 101.0, 2.0])
    shorts = sum(b for _, b in est.values())
    longs = sum(a for a, _ in est.values())
    assert cols.total[0] == pytest.approx(shorts[CENTRES > PRICE].sum())
    assert cols.total[2] == pytest.approx(longs[CENTRES < PRICE].sum())


def test_realized_in_each_row_and_between_the_row_and_the_price() -> None:
    r_long = np.zeros(GRID.n_bins)
    r_short = np.zeros(GRID.n_bins)
    r_long[GRID.index_of(97.3)] = 5e4  # a long print below the price
    r_long[GRID.index_of(103.1)] = 2e4  # longs printed above (before the price rose)
    r_short[GRID.index_of(104.6)] = 7e4
    lows, highs = _rows(108.0, 16, 1.0)
    cols = cumulative_map(GRID, PRICE, {}, lows, highs, (r_long, r_short))
    assert cols.exchanges == () and cols.cum.shape == (0, 16)
    assert not cols.total.any()
    row_of = {float(lo): i for i, lo in enumerate(lows)}
    assert cols.realized_long[row_of[97.0]] == 5e4
    assert cols.realized_long[row_of[103.0]] == 2e4
    assert cols.realized_short[row_of[104.0]] == 7e4
    assert cols.realized_long.sum() + cols.realized_short.sum() == 14e4
    # between the row and the price, on the row's side: longs below, shorts above
    assert cols.realized_cum[row_of[96.0]] == 5e4
    assert cols.realized_cum[row_of[98.0]] == 0.0
    assert cols.realized_cum[row_of[105.0]] == 7e4
    assert cols.realized_cum[row_of[103.0]] == 0.0  # those were longs


def test_stacked_bar_parts_add_up_to_the_total_length() -> None:
    roles = ["a", "b", "c"]
    glyphs = ["█", "▓", "▒"]
    segs = stacked_bar([10.0, 5.0, 5.0], 40.0, 40, roles, glyphs)
    assert [(len(t), r) for t, r in segs] == [(10, "a"), (5, "b"), (5, "c")]
    assert "".join(t for t, _ in segs) == "█" * 10 + "▓" * 5 + "▒" * 5
    full = stacked_bar([1.0, 2.0, 3.0], 6.0, 17, roles, glyphs)
    assert sum(len(t) for t, _ in full) == 17
    assert stacked_bar([0.0, 0.0, 1e-3], 10.0, 20, roles, glyphs) == [("▒", "c")]
    assert stacked_bar([1.0], 0.0, 20, ["a"], ["█"]) == []


@pytest.mark.parametrize("width", [30, 80, 160])
def test_rows_fill_the_width_exactly(width: int) -> None:
    lows, highs = _rows(108.0, 16, 1.0)
    r = np.full(GRID.n_bins, 1e3)
    cols = cumulative_map(GRID, PRICE, _arrays(4), lows, highs, (r, r))
    layout = MapLayout.for_width(width, 5)
    for i in range(16):
        row = map_row(
            cols, i, layout, decimals=0, price=PRICE, peak=cols.peak,
            roles=["exchange-binance"] * 4, glyphs=list(MONO_GLYPHS),
            realized_mark_usd=1e5, cursor=i == 3,
        )  # fmt: skip
        assert sum(len(t) for t, _ in row) == width


# -- the view in the app --------------------------------------------------------------------------


@functools.cache
def _demo() -> tuple[Engine, History]:
    return demo_engine_and_history()


def _app(**kw: object) -> LiqApp:
    engine, history = _demo()
    return LiqApp(engine, None, watchlist=["BTC", "ETH"], history=history, view="map", **kw)  # type: ignore[arg-type]


async def test_cursor_reads_out_cumulative_longs_and_shorts() -> None:
    app = _app()
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        liqmap = app.liqmap
        assert liqmap.cursor_group is None
        assert "to the edges" in liqmap.rows_text[-1]
        snap = app.snapshot
        assert snap is not None
        for key, side in (("k", "short"), ("j", "long")):
            await pilot.press("escape")
            for _ in range(4):
                await pilot.press(key)
            await pilot.pause()
            i = liqmap.cursor_row
            assert i is not None and liqmap.columns is not None
            row = liqmap.rows[i]
            expected = cumulative_to(app.snapshot, row.price_low, row.price_high)  # type: ignore[arg-type]
            assert expected is not None and expected.side == side
            readout = liqmap.readout_text
            assert f"${compact_usd(expected.usd)} of {side}s between here and the price" in readout
            assert liqmap.columns.total[i] == pytest.approx(expected.usd, rel=1e-9)
            if expected.realized_usd > 0:  # the R printed in the same range, as the ladder's
                assert f"R ${compact_usd(expected.realized_usd)} printed" in readout
            # the split by exchange names each exchange with E on that side
            split = liqmap.rows_text[-1]
            assert split.startswith("by exchange:")
            assert "binance" in split and "hyperliquid" in split
        await pilot.press("escape")
        await pilot.pause()
        assert liqmap.cursor_group is None
        assert "between here and the price" not in liqmap.readout_text
        await pilot.press("k", "k", "m")  # re-centre also puts the cursor back on the price
        await pilot.pause()
        assert liqmap.cursor_group is None


async def test_cursor_scrolls_the_view_and_page_keys_move_it() -> None:
    app = _app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        liqmap = app.liqmap
        top_before = liqmap.rows[0].price_low
        for _ in range(30):
            await pilot.press("k")
        await pilot.pause()
        assert liqmap.rows[0].price_low > top_before  # scrolled up with the cursor
        assert liqmap.cursor_row is not None
        assert "of shorts between here and the price" in liqmap.readout_text
        await pilot.press("pagedown", "pagedown", "pagedown")
        await pilot.pause()
        assert "of longs between here and the price" in liqmap.readout_text


async def test_v_reaches_the_map_and_it_is_labelled_cumulative() -> None:
    engine, history = _demo()
    app = LiqApp(engine, None, watchlist=["BTC"], history=history)
    async with app.run_test(size=(160, 50)) as pilot:
        for _ in range(10):
            if app.view_name == "map":
                break
            await pilot.press("v")
        await pilot.pause()
        assert app.view_name == "map"
        assert app.liqmap.rows_text[0].startswith("Cumulative E from the price")
        assert "cumulative liq map" in "".join(app.status.lines_text)


async def test_a_quiet_frame_repaints_no_row() -> None:
    app = _app()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        app.refresh_now()
        await pilot.pause()
        assert app.liqmap.last_dirty_rows == 0


async def test_without_color_exchanges_have_their_own_glyphs(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")  # what --color none sets before the app starts
    app = _app(theme="liqtui-ansi")
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        text = "\n".join(app.liqmap.rows_text)
        assert app.no_color
        for glyph in MONO_GLYPHS:  # binance █ bybit ▓ okx ▒ hyperliquid ░
            assert glyph in text
        assert "░░ hyperliquid" in app.liqmap.rows_text[0]


async def test_exchange_filter_draws_one_exchange() -> None:
    app = _app()
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.pause()
        app.action_set_exchange("bybit")
        await pilot.pause()
        assert app.liqmap.columns is not None
        assert app.liqmap.columns.exchanges == ("bybit",)
        app.action_set_exchange("all")
        await pilot.pause()
        assert len(app.liqmap.columns.exchanges) > 1


def test_map_data_is_reused_until_the_model_steps() -> None:
    from liqtui.events import MarkPrice
    from liqtui.ui.widgets.liqmap import map_data

    engine, _ = demo_engine_and_history(symbols=("BTC",))
    snap = engine.snapshot("BTC")
    first = map_data(engine, snap, window_ms=None, exchange=None)
    assert set(first.estimated) == {"binance", "bybit", "okx", "hyperliquid"}
    for ex, (longs, shorts) in first.estimated.items():
        one = engine.snapshot("BTC", exchange=ex)
        np.testing.assert_array_equal(longs, one.estimated_long)
        np.testing.assert_array_equal(shorts, one.estimated_short)
    total = sum(a for a, _ in first.estimated.values())
    np.testing.assert_allclose(total, snap.estimated_long, rtol=1e-9, atol=1e-6)
    # a mark within the interval changes no E: the same input comes back
    price = snap.price or 1.0
    engine.apply(MarkPrice("binance", "BTC", engine.clock_ms + 1_000, price, 0.0001))
    engine.advance(engine.clock_ms + 1_000)
    again = map_data(engine, engine.snapshot("BTC"), window_ms=None, exchange=None, previous=first)
    assert again is first
    # the next interval steps the model: computed again
    engine.advance(engine.clock_ms + engine.params.step_ms)
    later = map_data(engine, engine.snapshot("BTC"), window_ms=None, exchange=None, previous=first)
    assert later is not first
    only = map_data(engine, engine.snapshot("BTC"), window_ms=None, exchange="okx", previous=later)
    assert set(only.estimated) == {"okx"}
