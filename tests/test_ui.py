"""Pilot tests of the TUI: no network, deterministic data, fixed terminal sizes."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from support.app import TrickleSource, make_app

from liqtui.events import Liquidation, MarkPrice
from liqtui.feeds.replay import ReplaySource
from liqtui.model.engine import Engine
from liqtui.output.palette import DEFAULT_THEME
from liqtui.source import EventSink
from liqtui.ui.app import LiqApp
from liqtui.ui.screens.help import HelpScreen


class GateSource:
    """Applies a big BTC liquidation when `gate` is set, then idles like a live feed."""

    name = "gate"

    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self.gate = asyncio.Event()
        self.done = asyncio.Event()

    async def run(self, sink: EventSink) -> None:
        health = sink.feed("binance")
        await self.gate.wait()
        t = self.start_ms + 2_000
        sink.apply(Liquidation("binance", "BTC", t, "long", 96_020.0, 5.0, 480_100.0))
        sink.advance(t)
        health.last_event_ms = t
        self.done.set()
        await asyncio.Event().wait()


class FailingSource:
    name = "failing"

    async def run(self, sink: EventSink) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("boom")


def screen_text(app: LiqApp) -> str:
    """The screen as plain text, as the compositor would draw it."""
    console = Console(record=True, width=app.size.width, file=io.StringIO(), color_system=None)
    console.print(app.screen._compositor)
    return console.export_text()


def top_price(app: LiqApp) -> float:
    return float(app.ladder.rows_text[0].split()[0].replace(",", ""))


def row_step(app: LiqApp) -> float:
    row = app.ladder.rows[0]
    return row.price_high - row.price_low


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_starts_and_draws_the_ladder(size, recording, seeded_engine) -> None:
    rec = recording(60, start_ms=seeded_engine.clock_ms)  # continues where the seed ends
    app = make_app(seeded_engine, ReplaySource(rec, speed=None))
    async with app.run_test(size=size) as pilot:
        await app.workers.wait_for_complete()
        app.refresh_now()
        await pilot.pause()
        ladder = app.ladder
        # status 2, column header 1, cursor/legend and tier lines 2, replay bar 1 (a replay),
        # footer 1
        assert ladder.size.height == size[1] - 7
        rows = ladder.rows_text
        assert len(rows) == ladder.size.height
        assert all(len(r) == size[0] for r in rows)
        price_rows = [y for y, r in enumerate(rows) if "▶" in r]
        assert len(price_rows) == 1
        # what is drawn is what was laid out, and the price row is highlighted
        strip = ladder.render_line(price_rows[0])
        assert strip.text == rows[price_rows[0]]
        assert any(seg.style and seg.style.bgcolor for seg in strip)
        drawn = screen_text(app).splitlines()
        assert drawn[3 + price_rows[0]].rstrip() == rows[price_rows[0]].rstrip()
        assert "relative" in app.query_one("#ladder-info").lines_text[0]  # the legend
        assert any("█" in r or "▓" in r for r in rows)  # E heat bars
        assert any("●" in r for r in rows)  # large realized prints
        header = app.header.lines_text[0]
        assert "price" in header and all(
            col in header for col in ("E▼usd", "E▲usd", "R▼usd", "R▲usd")
        )
        first, second = app.status.lines_text
        assert re.match(r"1:BTC  9\d,\d{3}\.\d mark 0s  ", first)  # its source, its own age
        assert second.startswith("R ▼") and "relative" in second
        assert "binance finished" in second
        assert app.current_symbol == "BTC" and not app.paused


@pytest.mark.parametrize("size", [(80, 24), (160, 50)])
async def test_a_market_priced_by_an_old_print_looks_stale(size) -> None:
    """Issue 11 item 6: the status shows the price's own age and source, not the feed's."""
    t0 = 1_767_225_600_000
    engine = Engine()
    engine.apply(Liquidation("bybit", "BTC", t0, "long", 95_000.0, 1.0, 95_000.0))
    engine.apply(MarkPrice("binance", "ETH", t0 + 600_000, 3_400.0))
    engine.advance(t0 + 600_000)
    health = engine.feed("binance")
    health.state, health.last_event_ms = "connected", t0 + 600_000  # the feed is current
    app = make_app(engine, watchlist=["BTC", "ETH"])
    async with app.run_test(size=size) as pilot:
        app.refresh_now()
        await pilot.pause()
        first = app.status.lines_text[0]
        assert len(first) == size[0]
        roles = dict(app.status._shown[0])
        assert roles["95,000.0"] == "stale"  # dimmed, not the bright price style
        if size[0] >= 120:
            assert first.startswith("1:BTC  95,000.0   STALE  10m00s old: liquidation print bybit")
            assert roles[" STALE "] == "stale-badge"
        else:  # 80 columns: the badge and the age stay, the origin gives way to the model settings
            assert first.startswith("1:BTC  95,000.0  STALE 10m00s  "), first
            assert roles["STALE"] == "stale-badge"
        await pilot.press("2")
        await pilot.pause()
        first = app.status.lines_text[0]
        assert "STALE" not in first and first.startswith("2:ETH  3,400.00 mark 0s  "), first
        if size[0] >= 160:
            assert first.startswith("2:ETH  3,400.00 mark 0s  binance  ")


async def test_symbol_switching_keys(seeded_engine) -> None:
    app = make_app(seeded_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        seen = []
        for key in ("2", "tab", "shift+tab", "right_square_bracket", "left_square_bracket", "1"):
            await pilot.press(key)
            seen.append(app.current_symbol)
            status = app.status.lines_text[0]
            assert status.startswith(f"{app.watchlist.index(app.current_symbol) + 1}:")
            assert app.current_symbol in status
            if app.current_symbol == "ETH":  # the new market's rows, never the old one's
                assert app.ladder.snapshot.symbol == "ETH"
                assert 2_000 < top_price(app) < 5_000
        assert seen == ["ETH", "SOL", "ETH", "SOL", "ETH", "BTC"]
        await pilot.press("9")  # empty slot: nothing happens
        assert app.current_symbol == "BTC"
        await pilot.press("3")
        assert app.current_symbol == "SOL"
        assert app.status.lines_text[0].startswith("3:SOL")
        assert any("waiting for data for SOL…" in r for r in app.ladder.rows_text)
        assert not any("│" in r or "▶" in r for r in app.ladder.rows_text)


async def test_pause_keeps_collecting_but_stops_drawing(seeded_engine) -> None:
    engine = seeded_engine
    start = engine.clock_ms
    source = GateSource(start)
    app = make_app(engine, source, fps=25)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        await pilot.press("space")
        assert app.paused
        assert "PAUSED" in app.status.lines_text[0]
        await pilot.pause()
        assert "PAUSED" in screen_text(app).splitlines()[0]
        updates, rows = app.ladder.updates, app.ladder.rows_text
        applied = engine.events_applied
        source.gate.set()
        await asyncio.wait_for(source.done.wait(), 2)
        await pilot.pause(0.25)  # several timer ticks
        assert engine.events_applied == applied + 1  # still collecting
        assert engine.clock_ms == start + 2_000
        assert app.ladder.updates == updates  # not drawing
        assert app.ladder.rows_text == rows
        await pilot.press("space")
        assert not app.paused
        assert "PAUSED" not in app.status.lines_text[0]
        assert app.ladder.rows_text != rows  # current data at once
        assert any("●▼" in r and "630k" in r for r in app.ladder.rows_text)


async def test_help_screen_lists_bindings_and_closes(seeded_engine) -> None:
    app = make_app(seeded_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        descriptions = {e.description for e in app.screen.entries}
        assert {"Quit liqtui", "Jump to watchlist slot N", "Zoom in (narrower price span)"} <= (
            descriptions
        )
        keys = {e.description: e.keys for e in app.screen.entries}
        assert keys["Jump to watchlist slot N"] == "1-9"
        assert "q" in keys["Quit liqtui"]
        await pilot.pause()
        shown = screen_text(app)
        assert "liqtui keys" in shown
        assert "space  Pause / resume drawing" in shown
        assert "tab, ]  Next symbol in the watchlist" in shown
        updates = app.ladder.updates
        await pilot.press("tab")  # the main view's keys are off while help is open
        await pilot.pause(0.3)
        assert app.current_symbol == "BTC"
        assert app.ladder.updates == updates  # no drawing under a modal screen
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert len(app.screen_stack) == 1


async def test_help_follows_keymap(seeded_engine) -> None:
    app = make_app(seeded_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        app.set_keymap({"pause": "p"})
        await pilot.press("p")
        assert app.paused
        await pilot.press("question_mark")
        keys = {e.description: e.keys for e in app.screen.entries}
        assert keys["Pause / resume drawing (data keeps being collected)"] == "p"


@pytest.mark.parametrize("key", ["q", "ctrl+c"])
async def test_quit(key, seeded_engine) -> None:
    app = make_app(seeded_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(key)
        await pilot.pause()
    assert app.return_code == 0


async def test_ladder_navigation_keys(seeded_engine) -> None:
    app = make_app(seeded_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        ladder = app.ladder
        top, step = top_price(app), row_step(app)
        price_group = ladder.price_group()
        assert ladder.cursor_group is None
        await pilot.press("k")  # the cursor moves; the view stays while the cursor is inside
        assert ladder.cursor_group == price_group + 1
        assert top_price(app) == top
        assert any("◆" in r for r in ladder.rows_text)
        info = app.query_one("#ladder-info").lines_text[0]
        assert info.startswith("▲ above") and "shorts liquidated" in info
        await pilot.press("j", "j", "down")
        assert ladder.cursor_group == price_group - 2
        assert app.query_one("#ladder-info").lines_text[0].startswith("▼ below")
        for _ in range(ladder.size.height):  # past the bottom edge: the view follows
            await pilot.press("j")
        assert top_price(app) < top
        assert any("◆" in r for r in ladder.rows_text)
        await pilot.press("m")
        assert ladder.cursor_group is None and top_price(app) == top
        assert any("▶" in r for r in ladder.rows_text)
        page = ladder.page_rows
        await pilot.press("pageup")
        assert top_price(app) == top + page * step
        assert not any("▶" in r for r in ladder.rows_text)  # price scrolled out of view
        assert ladder.cursor_group == price_group + page
        await pilot.press("pagedown", "pagedown")
        assert top_price(app) == top - page * step
        await pilot.press("0")  # 0 re-centres too
        assert top_price(app) == top
        await pilot.press("k", "escape")  # esc puts the cursor back on the price
        assert ladder.cursor_group is None
        await pilot.press("g")  # the highest level on the map
        assert ladder.cursor_group is not None and ladder.cursor_group > price_group
        assert any("◆" in r for r in ladder.rows_text)
        await pilot.press("G")
        assert ladder.cursor_group < price_group
        await pilot.press("m")
        await pilot.press("z")
        assert row_step(app) < step
        await pilot.press("Z")
        assert row_step(app) == step
        await pilot.press("greater_than_sign")  # each press changes the row step
        assert row_step(app) > step
        await pilot.press("less_than_sign")
        assert row_step(app) == step


async def test_only_changed_rows_are_refreshed(seeded_engine) -> None:
    engine = seeded_engine
    app = make_app(engine, fps=0.5)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        ladder, status = app.ladder, app.status
        height = ladder.size.height
        app.refresh_now()
        app.refresh_now()
        assert ladder.last_dirty_rows == 0
        assert status.last_dirty_lines == 0
        total = ladder.total_dirty_rows
        # one new realized print at one price level
        t = engine.clock_ms
        engine.apply(Liquidation("binance", "BTC", t, "long", 93_400.0, 1.0, 93_400.0))
        app.refresh_now()
        assert 1 <= ladder.last_dirty_rows <= 2 < height
        assert ladder.total_dirty_rows == total + ladder.last_dirty_rows
        assert status.last_dirty_lines == 1  # the R totals line only
        app.refresh_now()
        assert ladder.last_dirty_rows == 0
        # a theme change rebuilds the palette and repaints everything
        before = ladder.palette["price-row"]
        app.theme = "textual-light"
        await pilot.pause()
        assert ladder.palette["price-row"] != before
        assert ladder.last_dirty_rows == height


async def test_resizes_while_data_arrives(seeded_engine) -> None:
    source = TrickleSource(seeded_engine.clock_ms)
    app = make_app(seeded_engine, source, fps=30)
    async with app.run_test(size=(80, 24)) as pilot:
        for size in [(40, 12), (20, 5), (1, 1), (2, 3), (120, 40), (40, 12), (80, 24)]:
            await pilot.resize_terminal(*size)
            await pilot.pause(0.05)
            assert app.is_running
            if size == (40, 12):
                assert app.ladder.size.height == 6
                assert sum("▶" in r for r in app.ladder.rows_text) == 1
                assert all(len(r) == 40 for r in app.ladder.rows_text)
                assert app.status.lines_text[0].startswith("1:BTC")
        await pilot.press("2", "1", "z", "k")
        await pilot.pause(0.05)
        assert app.engine.events_applied > 100
        assert len(app.ladder.rows_text) == 18
        assert app.ladder.rows_text[0].strip()


async def test_broken_theme_falls_back_with_one_notification(tmp_path: Path, seeded_engine) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "broken.toml").write_text('name = "broken"\nprimary = "not-a-color"\n')
    (themes / "garbage.toml").write_text("name = [unclosed\n")
    app = make_app(seeded_engine, theme="broken", user_themes_dir=themes)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.is_running
        assert app.theme == DEFAULT_THEME
        notes = list(app._notifications)
        assert len(notes) == 1
        assert "broken.toml" in notes[0].message and "garbage.toml" in notes[0].message
        assert "'broken' is not available" in notes[0].message
        assert notes[0].severity == "warning"
        assert app.theme_variables["liq-long"] == "#26d07c"
        assert any("▶" in r for r in app.ladder.rows_text)


async def test_partial_user_theme_gets_default_variables(tmp_path: Path, seeded_engine) -> None:
    themes = tmp_path / "themes"
    themes.mkdir()
    (themes / "mine.toml").write_text(
        'name = "mine"\nprimary = "#ff8800"\nbackground = "#000000"\n'
        '[variables]\nliq-long = "#00ff00"\n'
    )
    app = make_app(seeded_engine, theme="mine", user_themes_dir=themes)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "mine"
        assert len(app._notifications) == 0
        assert app.theme_variables["liq-long"] == "#00ff00"
        assert app.theme_variables["liq-short"] == "#ff4d6a"  # default
        app.refresh_now()
        await pilot.pause()
        assert any("▶" in r for r in app.ladder.rows_text)


async def test_unknown_theme_name_falls_back(seeded_engine) -> None:
    app = make_app(seeded_engine, theme="no-such-theme")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == DEFAULT_THEME
        (note,) = list(app._notifications)
        assert "no-such-theme" in note.message


async def test_failing_source_is_reported_not_fatal(seeded_engine) -> None:
    app = make_app(seeded_engine, FailingSource())
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running
        assert "feed error: RuntimeError: boom" in app.status.lines_text[1]
        assert any(n.severity == "error" and "boom" in n.message for n in app._notifications)
        await pilot.press("2")
        assert app.current_symbol == "ETH"


async def test_ssh_guard_exits_when_the_terminal_goes_away(monkeypatch, seeded_engine) -> None:
    app = make_app(seeded_engine)
    async with app.run_test(size=(80, 24)) as pilot:
        app._check_terminal()  # stdin was not a TTY at start (pytest): nothing to guard
        await pilot.pause()
        assert app.is_running
        app._stdin_was_tty = True
        monkeypatch.setattr("liqtui.ui.app._stdin_is_tty", lambda: False)
        app._check_terminal()
        await pilot.pause()
    assert app.return_code == 1


def test_snapshot_80x24(snap_compare, seeded_engine) -> None:
    """The whole screen on a fixed engine (no source; the clock is the data's own)."""
    app = make_app(seeded_engine, watchlist=["BTC", "ETH"])
    assert snap_compare(app, terminal_size=(80, 24))
