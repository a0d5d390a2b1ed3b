"""Pilot tests of the overview view: every watchlist market, its keys (s, S, ↑/↓, enter), the
palette's sort choices, how often its rows are computed, and the ladder's distance column and
cluster header."""

from __future__ import annotations

import functools

import pytest
from support.engines import demo_engine_and_history

from liqtui.model.clusters import nearest_clusters
from liqtui.model.engine import Engine
from liqtui.output.ladder import cluster_distance, distance_decimals, distance_text, format_price
from liqtui.output.render import price_decimals
from liqtui.ui.app import LiqApp
from liqtui.ui.commands import palette_commands
from liqtui.ui.history import History
from liqtui.ui.widgets.overview import COLUMN_IDS, REFRESH_S, ROWS_BUDGET


@functools.cache
def _demo() -> tuple[Engine, History]:
    return demo_engine_and_history()


def overview_app(**kw: object) -> LiqApp:
    engine, history = _demo()
    kw.setdefault("watchlist", ["BTC", "ETH", "SOL"])
    return LiqApp(engine, None, history=history, view="overview", **kw)  # type: ignore[arg-type]


def market_order(app: LiqApp) -> list[str]:
    """The markets in the table, top to bottom (after the slot, which only 1–9 show)."""
    names = {r.symbol for r in app.overview.rows}
    order = []
    for line in app.overview.rows_text[1:]:
        found = [w for w in line.split()[:2] if w in names]
        order.extend(found[:1])
    return order


async def test_the_overview_shows_every_watchlist_market() -> None:
    app = overview_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        lines = app.overview.rows_text
        header = lines[0]
        for title in ("market", "price", "24h", "R1h▼", "R24h▲", "▲ cluster", "▼ cluster"):
            assert title in header, title
        assert "R_X2%" in header and "feeds" in header
        assert market_order(app) == ["BTC", "ETH", "SOL"]
        btc = next(line for line in lines if " BTC " in line)
        snap = app.engine.snapshot("BTC")
        above = nearest_clusters(snap).above
        assert above is not None and f"{above.distance_pct:+.2f}%" in btc
        assert format_price(snap.price, price_decimals(snap.price)) in btc  # type: ignore[arg-type]
        assert "ok 1/1" in btc
        sol = next(line for line in lines if " SOL " in line)
        assert "no data" in sol  # the demo engine has no SOL
        assert "sort market ↑" in lines[-1] and "enter" in lines[-1]
        assert "24h change over the" in lines[-2]  # 3 h of demo: the change is over those
        assert not app._ui_errors


async def test_s_cycles_the_sort_column_and_shift_s_reverses_it() -> None:
    app = overview_app()
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.overview
        seen = [table.sort_column]
        for _ in COLUMN_IDS:
            await pilot.press("s")
            seen.append(table.sort_column)
        assert seen == [*COLUMN_IDS, COLUMN_IDS[0]]
        r24 = {r.symbol: r.realized_24h for r in table.rows}
        biggest = sorted(("BTC", "ETH"), key=lambda m: -r24[m][0])
        app.action_set_sort("r24h_long")  # biggest R first, SOL (no data) last
        await pilot.pause()
        assert table.descending and "R24h▼↓" in table.rows_text[0]
        assert market_order(app) == [*biggest, "SOL"]
        await pilot.press("S")
        assert not table.descending and "R24h▼↑" in table.rows_text[0]
        assert market_order(app) == [*biggest[::-1], "SOL"]  # no data stays last
        await pilot.press("s")  # R24h▲: biggest first
        top = max(("BTC", "ETH"), key=lambda m: r24[m][1])
        assert table.sort_column == "r24h_short" and market_order(app)[0] == top
        assert "sort R24h▲ ↓" in table.rows_text[-1]


async def test_cursor_and_enter_open_the_market_in_the_ladder() -> None:
    app = overview_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.overview
        assert table.selected == "BTC"  # the current market
        await pilot.press("down")
        assert table.selected == "ETH"
        await pilot.press("j", "j", "j")  # stops at the last row
        assert table.selected == "SOL"
        await pilot.press("up")
        assert table.selected == "ETH"
        await pilot.press("enter")
        await pilot.pause()
        assert app.view_name == "ladder" and app.current_symbol == "ETH"
        assert app.snapshot is not None and app.snapshot.symbol == "ETH"
        app.show_view("overview")  # back: the cursor stayed on ETH
        await pilot.pause()
        assert table.selected == "ETH"
        app.action_set_sort("r24h_short")  # the cursor follows the market, not the row
        await pilot.pause()
        assert table.selected == "ETH"
        await pilot.press("pageup")
        assert table.selected == market_order(app)[0]
        assert not app._ui_errors


async def test_sort_keys_are_the_overviews_and_s_keeps_its_ladder_meaning() -> None:
    app = overview_app(watchlist=["BTC", "ETH"])
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        commands = {c.title: c for c in palette_commands(app, app.screen)}
        assert "Overview sort: R24h▼" in commands
        assert "Overview: reverse the sort order" in commands
        assert "Overview: open the market under the cursor in the ladder" in commands
        app.show_view("ladder")
        await pilot.pause()
        assert not any(
            t.startswith("Overview") for t in {c.title for c in palette_commands(app, app.screen)}
        )
        scale = app.color_scale
        await pilot.press("s")  # the ladder's color scale, not a sort
        assert app.color_scale != scale and app.overview.sort_column == "market"
        await pilot.press("enter")  # nothing in the ladder
        assert app.view_name == "ladder"


async def test_rows_are_computed_at_most_once_per_refresh_unless_their_inputs_change() -> None:
    app = overview_app(fps=30)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        table = app.overview
        computed = table.computed
        for _ in range(5):
            app.refresh_now()
        assert table.computed == computed  # the same rows, laid out again
        assert table.last_dirty_rows == 0
        await pilot.press("e")  # a filter changes the rows: computed at once
        assert table.computed == computed + 1
        assert app.snapshot is not None and app.snapshot.exchange_filter == "binance"
        table._at -= REFRESH_S  # as if a second had passed
        app.refresh_now()
        assert table.computed == computed + 2
        table.set_rows(table.rows, table.inputs, cost_s=0.1)  # 100 ms of rows: every 5 s
        assert table.interval == pytest.approx(0.1 / ROWS_BUDGET) == pytest.approx(5.0)
        table._at -= REFRESH_S
        app.refresh_now()
        assert table.computed == computed + 3  # not due yet
        table._at -= 5.0
        app.refresh_now()
        assert table.computed == computed + 4 and table.interval < 5.0
        computed += 2
        await pilot.press("space")  # paused: frozen
        table._at -= REFRESH_S
        app.refresh_now()
        assert table.computed == computed + 2


@pytest.mark.parametrize("width", [80, 160])
async def test_ladder_distance_column_and_cluster_header(width: int) -> None:
    engine, history = _demo()
    app = LiqApp(engine, None, history=history, watchlist=["BTC"])
    async with app.run_test(size=(width, 30)) as pilot:
        await pilot.pause()
        snap = app.snapshot
        assert snap is not None and snap.price is not None
        clusters = nearest_clusters(snap)
        above, below = clusters.above, clusters.below
        assert above is not None and below is not None
        header = app.header.lines_text[0]
        assert cluster_distance(above.distance_pct) in header
        assert cluster_distance(below.distance_pct) in header
        assert cluster_distance(0.4249) == "+0.42%" and cluster_distance(-4.249) == "-4.2%"
        for row, text in zip(app.ladder.rows, app.ladder.rows_text, strict=True):
            if row.is_price_row:
                continue
            pct = (row.price_low / snap.price - 1) * 100
            assert f"{pct:+.1f}%" in text, text  # rows over 0.1% apart: one decimal
        if width >= 160:  # the full form, with the cluster's price
            assert f"nearest ▲ {above.price:,.0f} {above.distance_pct:+.1f}% E" in header


async def test_overview_without_color_keeps_the_cursor_row_and_signs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--color none (NO_COLOR): no color anywhere in the table; the cursor row is reverse
    video, and direction stays in the signs and marks (+/-, ▲/▼), not in hue."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = overview_app(theme="liqtui-ansi")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.overview
        segs = [seg for y in range(table.size.height) for seg in table.render_line(y)]
        styles = [s.style for s in segs if s.style is not None]
        assert styles and all(s.color is None and s.bgcolor is None for s in styles)
        cursor_line = next(i for i, t in enumerate(table.rows_text) if " BTC " in t)
        cursor = [s for s in table.render_line(cursor_line) if s.text.strip()]
        assert cursor and all(s.style is not None and s.style.reverse for s in cursor)
        other = next(i for i, t in enumerate(table.rows_text) if " ETH " in t)
        assert not any(s.style and s.style.reverse for s in table.render_line(other))
        text = "\n".join(table.rows_text)
        change = next(r.change_pct for r in table.rows if r.symbol == "BTC")
        assert "▲cluster" in text and "▼cluster" in text and f"{change:+.1f}%*" in text


def test_distance_figures_keep_to_their_column() -> None:
    assert distance_text(101_000, 100_000) == "+1.00%"
    assert distance_text(101_000, 100_000, distance_decimals(1_000, 100_000)) == "+1.0%"
    assert distance_decimals(50, 100_000) == 2  # rows 0.05% apart need the second decimal
    assert distance_text(88_000, 100_000) == "-12.0%"
    assert distance_text(250_000, 100_000) == "+150%"
    assert all(len(distance_text(p, 100.0)) <= 6 for p in (0.01, 50.0, 99.99, 150.0, 999.0))


async def test_a_watchlist_longer_than_the_screen_scrolls_with_the_cursor() -> None:
    symbols = ["BTC", "ETH", *(f"M{i:02d}" for i in range(30))]
    app = overview_app(watchlist=symbols)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        table = app.overview
        assert market_order(app)[:2] == ["BTC", "ETH"] and len(market_order(app)) < len(symbols)
        for key in ("pagedown", "pagedown", "j"):
            await pilot.press(key)
            shown = market_order(app)
            assert table.selected in shown, (key, table.selected, shown)
        for _ in range(40):
            await pilot.press("j")
        assert table.selected == "M29" and market_order(app)[-1] == "M29"
        await pilot.press("pageup", "pageup", "pageup")
        assert table.selected == "BTC" and market_order(app)[0] == "BTC"
        assert not app._ui_errors
