"""The heat map's lookbacks (12h … 30d) from the model's rings of H: filled in time order over
days of synthetic events, each lookback's columns cover its span at the finest ring that holds
it, with the price path, in a fixed amount of memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqtui.events import MarkPrice, OpenInterest, TradeFlow
from liqtui.model.density import ModelParams
from liqtui.model.engine import Engine
from liqtui.model.history import pick_ring

MIN, HOUR, DAY = 60_000, 3_600_000, 86_400_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % DAY
LOOKBACKS = {"12h": 12 * HOUR, "24h": DAY, "3d": 3 * DAY, "7d": 7 * DAY, "30d": 30 * DAY}


def price_at(t: int) -> float:
    return 100_000.0 * (1.0 + 0.05 * math.sin((t - T0) / DAY * math.pi))


@pytest.fixture(scope="module")
def eight_days() -> tuple[Engine, int, int]:
    engine = Engine(params=ModelParams(step_ms=5 * MIN))
    run(engine, T0, T0 + 4 * DAY, 5 * MIN)
    after_4d_bytes = engine.markets["BTC"].nbytes
    now = run(engine, T0 + 4 * DAY, T0 + 8 * DAY, 5 * MIN)
    return engine, now, after_4d_bytes


def run(engine: Engine, start: int, end: int, step_ms: int) -> int:
    """Events every step (a mark, a kline, growing open interest), in time order."""
    oi = 1_000.0 + 5.0 * (start - T0) / step_ms
    t = start
    while t < end:
        p = price_at(t)
        engine.advance(t)
        engine.apply(MarkPrice("binance", "BTC", t, p))
        engine.apply(TradeFlow("binance", "BTC", t, step_ms, 3.0, 2.0, p, p * 1.001, p * 0.999, p))
        oi += 5.0
        engine.apply(OpenInterest("binance", "BTC", t, oi))
        t += step_ms
    engine.advance(t)
    return t


@pytest.mark.parametrize("name", list(LOOKBACKS))
def test_each_lookback_covers_its_span(eight_days: tuple[Engine, int, int], name: str) -> None:
    engine, now, _ = eight_days
    lookback = LOOKBACKS[name]
    view = engine.snapshot("BTC", history=True, lookback_ms=lookback, columns=70).history
    assert view is not None
    times = view.times_ms
    assert 0 < len(times) <= 70
    assert list(times) == sorted(times) and times[-1] <= now
    # the columns start within one column of the lookback's start and reach the present
    assert times[0] - (now - lookback) <= view.row_ms
    assert now - times[-1] <= view.row_ms
    model = engine.markets["BTC"]
    ring = pick_ring(model.rings, lookback)
    assert ring is not None
    assert view.row_ms % ring.row_ms == 0  # whole rows per column
    expected_row = {"12h": 15 * MIN, "24h": 15 * MIN, "3d": 2 * HOUR, "7d": 2 * HOUR}
    assert ring.row_ms == expected_row.get(name, 8 * HOUR)
    # columns with data carry E and the price path over it
    assert view.price is not None and view.price_low is not None and view.price_high is not None
    have = np.isfinite(view.price)
    have_data = (times > T0 + ring.row_ms) & (times <= now)
    assert have[have_data].all()
    assert (view.long_usd[have].sum(axis=1) > 0).all()
    for t, p, lo, hi in zip(times[have], view.price[have], view.price_low[have],
                            view.price_high[have], strict=True):  # fmt: skip
        assert lo <= p <= hi
        assert p == pytest.approx(price_at(int(t)), rel=0.01)
    if name == "30d":
        # only 8 days of data: the older columns are empty, on the same time axis
        assert times[0] < T0
        empty = times < T0
        assert not have[empty].any() and not view.long_usd[empty].any()


@pytest.mark.parametrize("columns", [5, 17, 47, 48, 49, 96, 97, 200])
def test_columns_fit_and_stay_aligned(eight_days: tuple[Engine, int, int], columns: int) -> None:
    engine, now, _ = eight_days
    view = engine.snapshot("BTC", history=True, lookback_ms=DAY, columns=columns).history
    assert view is not None and 0 < len(view.times_ms) <= columns
    g = view.row_ms // (15 * MIN)
    assert len(view.times_ms) >= min(columns, 96 // g) - 1  # fills the width it is given
    assert now - view.times_ms[-1] <= view.row_ms
    # group boundaries are whole multiples of the column time: stable as time goes on
    assert all(int(t) % view.row_ms == 0 for t in view.times_ms[:-1])


def test_memory_is_bounded(eight_days: tuple[Engine, int, int]) -> None:
    engine, _, after_4d = eight_days
    model = engine.markets["BTC"]
    assert model.nbytes == after_4d  # full rings: a fixed size, whatever the days kept
    h = model.history
    assert h is not None
    cells = h.cells.n_bins
    rows = h.rows + sum(r.rows for r in model.lookback_history)
    assert rows == 96 + 84 + 90
    ring_bytes = sum(r.nbytes for r in model.rings)
    open_rows = 3 * (2 * cells * 8 + h._index.nbytes)  # each ring's row being filled
    assert ring_bytes <= rows * (2 * (6 + 1) * cells * 4 + 32) + open_rows
    assert ring_bytes < 5_000_000  # ≈ 4.4 MB a market with the defaults, R included


def test_window_view_is_unchanged_without_a_lookback(eight_days: tuple[Engine, int, int]) -> None:
    engine, now, _ = eight_days
    view = engine.snapshot("BTC", history=True).history
    assert view is not None and len(view.times_ms) == 96
    assert view.row_ms == 15 * MIN and view.times_ms[0] > now - DAY


# -- the heat map: the key w cycles the lookbacks, the time axis names the one shown ----------


@pytest.mark.parametrize("size", [(80, 24), (160, 50)], ids=["80x24", "160x50"])
def test_key_cycles_the_lookbacks_and_the_axis_names_it(size: tuple[int, int]) -> None:
    import asyncio

    from support.engines import demo_engine_and_history

    from liqtui.ui.app import LiqApp
    from liqtui.ui.commands import palette_commands
    from liqtui.ui.widgets.heatmap import LOOKBACKS

    engine, history = demo_engine_and_history()

    async def run() -> None:
        app = LiqApp(engine, None, watchlist=["BTC"], history=history, view="heatmap")
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            seen = []
            for _ in LOOKBACKS:
                heatmap = app.heatmap
                seen.append(heatmap.lookback)
                axis = heatmap.rows_text[-1]
                assert axis.rstrip().endswith(f"lookback {heatmap.lookback}"), axis
                if heatmap.lookback != "auto":
                    # the whole span across the width: the newest data at the right edge
                    assert any(row[-1] != " " for row in heatmap.rows_text[:-1])
                await pilot.press("w")
                await pilot.pause()
            assert seen == list(LOOKBACKS)
            assert app.heatmap.lookback == "auto"  # round the cycle
            # the palette sets each one by name, in the heat map only
            actions = {c.action for c in palette_commands(app, app.screen)}
            assert "set_lookback('7d')" in actions and "cycle_lookback" not in actions
            app.action_set_lookback("7d")
            await pilot.pause()
            assert app.heatmap.rows_text[-1].rstrip().endswith("lookback 7d")
            await pilot.press("v")  # the next view: w is not offered and does nothing
            await pilot.pause()
            assert not app.offered_in_view("cycle_lookback")
            await pilot.press("w")
            await pilot.pause()
            assert app.heatmap.lookback == "7d"
            actions = {c.action for c in palette_commands(app, app.screen)}
            assert not any(a.startswith("set_lookback") for a in actions)

    asyncio.run(run())


def test_lookback_setting_starts_the_heat_map_there() -> None:
    import asyncio

    from support.engines import demo_engine_and_history

    from liqtui.config import Settings
    from liqtui.ui.app import LiqApp
    from liqtui.ui.options import AppOptions

    assert Settings().general.lookback == "auto"
    engine, history = demo_engine_and_history()

    async def run() -> None:
        opts = AppOptions(watchlist=("BTC",), view="heatmap", lookback="3d")
        app = LiqApp(engine, None, opts, history=history)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert app.heatmap.lookback == "3d"
            assert app.heatmap.rows_text[-1].rstrip().endswith("lookback 3d")

    asyncio.run(run())


def test_a_preset_change_redraws_the_lookback_columns() -> None:
    """The lookback's columns are rebuilt with the same times under another preset: the map
    after `l` equals a map started with that preset (no column sums kept from the old one)."""
    import asyncio

    from support.engines import demo_engine_and_history

    from liqtui.ui.app import LiqApp
    from liqtui.ui.options import AppOptions

    engine, history = demo_engine_and_history()
    opts = AppOptions(
        watchlist=("BTC",),
        view="heatmap",
        lookback="24h",
        color_scale="absolute",
        absolute_top_usd=1e9,
    )

    async def rows(press: list[str]) -> list[str]:
        app = LiqApp(engine, None, opts, history=history)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            for key in press:
                await pilot.press(key)
                await pilot.pause()
            return app.heatmap.rows_text

    before = asyncio.run(rows([]))
    after_key = asyncio.run(rows(["l"]))
    assert after_key != before
    started_there = asyncio.run(rows([]))  # the engine keeps the preset `l` chose
    assert after_key == started_there


def test_a_cold_start_backfill_fills_the_long_lookbacks(tmp_path: object) -> None:
    """8 days of exchange history, loaded the way a live start loads it (liqtui.feeds.preload:
    built off to the side in time order, then adopted): the 7d lookback has E and a price
    over the whole week at once."""
    import asyncio
    from pathlib import Path

    from support.fake_backfill import DAY_MS, FakeBackfill

    from liqtui.config import Settings
    from liqtui.feeds.preload import HistoryOptions, Preloader

    now = 1_767_225_600_000 + 10 * DAY_MS
    fake = FakeBackfill(print_every=20)
    options = HistoryOptions(
        store_dir=Path(str(tmp_path)),
        backfill_ms=8 * DAY_MS,
        retention_ms=3650 * DAY_MS,
        window_ms=DAY_MS,
        make_backfill=fake.factory(),
    )

    async def start() -> Engine:
        pre = Preloader(Settings(), options, warn=lambda _w: None, now_ms=lambda: now)
        engine = Engine()
        await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
        await pre.wait_idle()
        await pre.stop()
        engine.advance(now)
        return engine

    engine = asyncio.run(start())
    view = engine.snapshot("BTC", history=True, lookback_ms=7 * DAY, columns=70).history
    assert view is not None and view.price is not None
    assert view.row_ms == 2 * HOUR * 2  # 84 rows of 2 h merged in pairs to fit 70 columns
    filled = np.isfinite(view.price) & (view.long_usd.sum(axis=1) > 0)
    assert filled[1:].all(), f"{int(filled.sum())} of {len(filled)} columns"  # a whole week
    assert now - view.times_ms[-1] <= view.row_ms
