"""Pilot tests of the views and of every key beyond the ladder's: views, filters, scale, fps,
pickers, reload, screenshot, alerts, SIGHUP; plus the pure helpers behind them."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import pytest
from support.app import TrickleSource, make_app
from support.engines import demo_engine_and_history, seed_engine
from textual.command import CommandPalette

from liqtui.config import ConfigError, Settings, load_settings
from liqtui.events import Liquidation
from liqtui.keys import (
    ACTION_GROUPS,
    BINDING_IDS,
    KEYS,
    SETTERS,
    VIEW_ACTIONS,
    check_keymap,
)
from liqtui.model.engine import Engine
from liqtui.model.risk import DISTANCES, NO_ESTIMATE, NO_PRICE, e_within
from liqtui.output.ladder import compact_usd
from liqtui.output.snapshot import render_json
from liqtui.ui.alerts import Alert, AlertMonitor, AlertRules, command_args, run_command
from liqtui.ui.app import VIEWS, LiqApp
from liqtui.ui.options import AppOptions
from liqtui.ui.scale import absolute_legend, absolute_level, apply_scale
from liqtui.ui.screens.help import HelpScreen
from liqtui.ui.terminal import ANSI_THEME, apply_color_setup, color_setup
from liqtui.ui.widgets.cascade import cascade_lines, risk_view
from liqtui.ui.widgets.status import fit_line


@functools.cache
def _demo() -> tuple[Engine, object]:
    return demo_engine_and_history()


def demo_app(**kw) -> LiqApp:  # type: ignore[no-untyped-def]
    """An app over the (shared, read-only) demo engine and its history; no source."""
    engine, history = _demo()
    kw.setdefault("watchlist", ["BTC", "ETH"])
    return LiqApp(engine, None, history=history, **kw)  # type: ignore[arg-type]


def fresh_demo_app(**kw) -> LiqApp:  # type: ignore[no-untyped-def]
    """Like demo_app, on an engine of its own (for keys that change the engine)."""
    engine, history = demo_engine_and_history()
    kw.setdefault("watchlist", ["BTC", "ETH"])
    return LiqApp(engine, None, history=history, **kw)  # type: ignore[arg-type]


# -- bindings and keymap -----------------------------------------------------------------------


def test_every_binding_has_a_known_id() -> None:
    ids = [b.id for b in LiqApp.BINDINGS]  # type: ignore[union-attr]
    assert None not in ids
    assert sorted(ids) == sorted(BINDING_IDS)  # type: ignore[arg-type]


def test_every_key_table_action_is_an_app_action() -> None:
    """The key table (liqtui.keys) names only actions the app has, and every setter the
    palette offers shares the group and the views of the key that cycles it."""
    for key in KEYS:
        assert callable(getattr(LiqApp, f"action_{key.action_name}", None)), key.id
    for setter, cycler in SETTERS.items():
        assert callable(getattr(LiqApp, f"action_{setter}", None)), setter
        assert ACTION_GROUPS[setter] == ACTION_GROUPS[cycler]
        for actions in VIEW_ACTIONS.values():
            assert (setter in actions) == (cycler in actions), setter


def test_keys_config_is_checked(tmp_path: Path) -> None:
    assert check_keymap({"pause": "p,space"}) is None
    assert "unknown binding id" in (check_keymap({"paws": "p"}) or "")
    path = tmp_path / "keys.toml"
    path.write_text('[keys]\npause = "p"\nreload = "f5"\n')
    assert load_settings(path).keys == {"pause": "p", "reload": "f5"}
    path.write_text('[keys]\nnope = "x"\n')
    with pytest.raises(ConfigError, match=r"keys\.nope: unknown binding id"):
        load_settings(path)
    path.write_text("[keys]\npause = 3\n")
    with pytest.raises(ConfigError, match=r"keys\.pause: expected keys"):
        load_settings(path)


def test_new_config_options_have_documented_defaults() -> None:
    import tomllib

    from liqtui.resources import data_path

    shipped = tomllib.loads(data_path("config.toml").read_text())
    defaults = Settings()
    for key, value in shipped["alerts"].items():
        assert getattr(defaults.alerts, key) == value, key
    assert {f.name for f in msgspec.structs.fields(defaults.alerts)} == set(shipped["alerts"])
    assert shipped["keys"] == {} == defaults.keys


async def test_keymap_from_config_remaps_and_shows_in_help() -> None:
    app = demo_app(keymap={"next_view": "n", "pause": "p"})
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("n")
        assert app.view_name == "heatmap"
        await pilot.press("v")  # the old key is gone
        assert app.view_name == "heatmap"
        await pilot.press("p")
        assert app.paused
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = {e.description: e.keys for e in app.screen.entries}
        assert keys["Next view"] == "n"
        groups = {e.group for e in app.screen.entries}
        assert {"General", "Symbols", "Ladder", "Views", "Model"} <= groups
        descriptions = set(keys)
        for wanted in (
            "Command palette (every command, themes, keys)",
            "Redraw more often (+fps)",
            "Find a market (fuzzy, every market with data)",
            "Leverage preset: high / balanced / observed-low",
            "Tier filter: next (all / 10x+ / 25x+ / 50x+ / one tier)",
            "Tier filter: previous",
            "Theme picker",
            "Reload config and themes",
            "Save an SVG screenshot",
            "To the highest level on the map",
        ):
            assert wanted in descriptions, wanted


# -- views ---------------------------------------------------------------------------------------


async def test_v_cycles_every_view_and_each_draws() -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        seen = [app.view_name]
        for _ in VIEWS:
            await pilot.press("v")
            await pilot.pause()
            seen.append(app.view_name)
            assert app.query_one("#views").current == f"view-{app.view_name}"
        assert seen == [*VIEWS, "ladder"]
        app.show_view("heatmap")
        await pilot.pause()
        rows = app.heatmap.rows_text
        assert sum("•" in r for r in rows) > 3  # the price line
        assert any("▓" in r or "█" in r for r in rows)
        assert "└" in rows[-1]  # the time axis
        app.show_view("cascade")
        await pilot.pause()
        text = "\n".join(app.cascade.lines_text)
        assert "Cascade risk BTC" in text and "not forecasts" in text
        assert "▼ longs" in text and "▲ shorts" in text and "detector" in text
        app.show_view("exchanges")
        await pilot.pause()
        rows = app.exchanges_table.rows_text
        assert "binance" in rows[0] and "bybit" in rows[0] and "okx" in rows[0]
        assert "total E" in rows[0]
        assert any("▶" in r for r in rows)
        assert rows[-2].startswith("E binance") and "%" in rows[-2]
        assert "demo: simulated market" in rows[-1]
        app.show_view("chart")
        await pilot.pause()
        assert app.chart.builds >= 1
        assert "BTC price (k USD)" in "\n".join(app.chart.rows_text)
        assert "open interest" in "\n".join(app.chart.rows_text)
        await pilot.press("c")
        await pilot.pause()
        assert app.chart.mode == "realized"
        assert "R ▼ longs liquidated" in "\n".join(app.chart.rows_text)


async def test_hidden_views_and_modals_are_not_drawn() -> None:
    app = demo_app(fps=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        assert app.heatmap.updates == 0 and app.chart.builds == 0  # never visible
        app.show_view("heatmap")
        await pilot.pause()
        updates = app.heatmap.updates
        await pilot.pause(0.3)  # same data: nothing to redraw
        assert app.heatmap.updates == updates
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        ladder_updates = app.ladder.updates
        await pilot.pause(0.3)
        assert app.heatmap.updates == updates and app.ladder.updates == ladder_updates
        await pilot.press("escape")
        assert len(app.screen_stack) == 1


async def _until(pilot, condition, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    """Let the app run until `condition()` holds (True) or `timeout_s` passes (False)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            return False
        await pilot.pause(0.05)
    return True


async def test_chart_is_rebuilt_at_most_twice_a_second() -> None:
    # The chart's own clock is driven, so a loaded machine (slow frames) cannot change the count.
    engine = seed_engine(Engine())
    source = TrickleSource(engine.clock_ms)
    app = make_app(engine, source, fps=30, view="chart")
    async with app.run_test(size=(100, 30)) as pilot:
        chart = app.chart
        # the first chart needs two points of history (drawn on the real clock)
        assert await _until(pilot, lambda: app.engine.events_applied > 100 and chart.builds >= 1)
        now = [1e12]  # far past the last real build: a build is due
        chart.clock = lambda: now[0]
        start_applied, start_builds = app.engine.events_applied, chart.builds
        assert await _until(pilot, lambda: chart.builds == start_builds + 1)
        # 30 fps pulls with new data every frame, while the chart's clock stands still
        assert await _until(pilot, lambda: app.engine.events_applied > start_applied + 50)
        assert chart.builds == start_builds + 1
        now[0] += chart.min_interval_s * 0.99  # still inside the interval
        await pilot.pause(0.3)
        assert chart.builds == start_builds + 1
        now[0] += chart.min_interval_s * 0.02  # the interval has passed
        assert await _until(pilot, lambda: chart.builds == start_builds + 2)
        app.show_view("ladder")
        builds = chart.builds
        now[0] += 10.0
        await pilot.pause(0.6)
        assert chart.builds == builds  # hidden: never rebuilt


async def test_switching_market_in_other_views_never_shows_the_old_market() -> None:
    app = demo_app()
    async with app.run_test(size=(100, 30)) as pilot:
        for view in ("heatmap", "exchanges", "cascade"):
            app.show_view(view)
            await pilot.press("1")
            await pilot.pause()
            await pilot.press("2")
            assert app.snapshot.symbol == "ETH"
            if view == "heatmap":
                rows = app.heatmap.rows_text[:-2]  # the readout line and the time axis below
                labels = [float(r.split()[0].replace(",", "")) for r in rows]
                assert all(2_000 < p < 5_000 for p in labels)
            elif view == "exchanges":
                prices = [r.split()[0] for r in app.exchanges_table.rows_text[1:-2]]
                assert all(2_000 < float(p.replace(",", "")) < 5_000 for p in prices)
            else:
                assert "Cascade risk ETH" in app.cascade.lines_text[0]


async def test_heatmap_appends_a_column_without_redrawing_the_rest() -> None:
    engine, history = demo_engine_and_history()
    app = LiqApp(engine, None, watchlist=["BTC"], history=history, view="heatmap")
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        heat = app.heatmap
        n_cells = heat.size.width * heat.size.height
        # one more period of data: a new column
        from liqtui.ui.history import HistorySink

        sink = HistorySink(engine, history, lambda: ["BTC"])
        t = engine.clock_ms
        sink.advance(t)
        sink.advance(t + 60_000)
        app.refresh_now()
        await pilot.pause()
        assert 0 < heat.last_dirty_cells < n_cells // 10


async def test_every_view_survives_tiny_sizes_and_resizes_with_data() -> None:
    engine = seed_engine(Engine())
    app = make_app(engine, TrickleSource(engine.clock_ms), fps=30)
    async with app.run_test(size=(80, 24)) as pilot:
        for view in VIEWS:
            app.show_view(view)
            for size in [(40, 12), (1, 1), (160, 50)]:
                await pilot.resize_terminal(*size)
                await pilot.pause(0.03)
                assert app.is_running
        assert not app._ui_errors


# -- model filters, scale, fps -----------------------------------------------------------------


async def test_preset_tier_and_exchange_filters() -> None:
    app = fresh_demo_app()
    async with app.run_test(size=(160, 30)) as pilot:
        first = app.status.lines_text[0]
        assert "model high · all tiers · all exchanges" in first
        await pilot.press("l")
        assert app.snapshot.preset == "balanced" and "model balanced" in app.status.lines_text[0]
        await pilot.press("l", "l")  # observed-low, then fitted (always offered: liqtui.fitted)
        assert app.snapshot.preset == "fitted" and "model fitted" in app.status.lines_text[0]
        await pilot.press("l")
        assert app.snapshot.preset == "high"
        # f steps through the filters that change the map under "high" (no 2x, 5x weight)
        seen_tiers = []
        for _ in range(7):
            await pilot.press("f")
            seen_tiers.append(app.snapshot.tier_filter)
            label = "all tiers" if seen_tiers[-1] == "all" else f"{seen_tiers[-1]} only"
            assert f"model high · {label}" in app.status.lines_text[0]
        assert seen_tiers == ["25x+", "50x+", "10x", "25x", "50x", "100x", "all"]
        await pilot.press("F")  # and back
        assert app.snapshot.tier_filter == "100x"
        await pilot.press("f")
        assert app.snapshot.tier_filter == "all"
        seen = []
        for _ in range(5):
            await pilot.press("e")
            seen.append(app.snapshot.exchange_filter)
            shown = app.snapshot.exchange_filter or "all exchanges"
            assert f"· {shown}" in app.status.lines_text[0]
        assert seen == ["binance", "bybit", "okx", "hyperliquid", None]


async def test_color_scale_toggle_and_legend() -> None:
    app = demo_app()
    async with app.run_test(size=(160, 40)) as pilot:
        info = app.query_one("#ladder-info")
        assert "relative ░" in info.lines_text[0]
        await pilot.press("s")
        assert app.ladder.scale == "absolute"
        assert "absolute ░1k ▒10k ▓100k █1M" in info.lines_text[0]
        await pilot.press("s")
        assert "relative" in info.lines_text[0]


async def test_plus_and_minus_set_the_redraw_rate() -> None:
    app = demo_app(fps=4)
    async with app.run_test(size=(160, 24)) as pilot:
        await pilot.press("plus")
        assert app.fps == 8 and "8 fps" in app.status.lines_text[0]
        await pilot.press("minus", "minus", "minus")
        assert app.fps == 1
        for _ in range(10):
            await pilot.press("minus")
        assert app.fps == 0.2
        for _ in range(10):
            await pilot.press("plus")
        assert app.fps == 30


# -- pickers, palette, reload, screenshot, esc ----------------------------------------------------


async def test_market_picker_lists_every_market_and_switches() -> None:
    engine, history = _demo()
    app = LiqApp(engine, None, watchlist=["ETH"], history=history)  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.markets() == ["ETH", "BTC"]  # the watchlist, then markets with data
        await pilot.press("slash")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("B", "T", "C")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_symbol == "BTC"
        assert app.status.lines_text[0].startswith("BTC")  # not in the watchlist: no slot
        await pilot.press("slash")
        await pilot.press("escape")  # esc closes the overlay
        assert len(app.screen_stack) == 1


async def test_theme_picker_and_palette() -> None:
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("t")
        assert isinstance(app.screen, CommandPalette)
        for ch in "liqtui-light":
            await pilot.press(ch if ch != "-" else "minus")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "liqtui-light"
        assert {"liqtui-dark", "liqtui-light", "liqtui-ansi", "liqtui-colorblind"} <= set(
            app.available_themes
        )
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        assert len(app.screen_stack) == 1


async def test_ctrl_r_reloads_config_and_themes(tmp_path: Path) -> None:
    config = tmp_path / "liqtui.toml"
    config.write_text("[general]\nfps = 2.0\n")
    app = demo_app(options_loader=lambda: AppOptions.from_settings(load_settings(config)))
    async with app.run_test(size=(80, 24)) as pilot:
        config.write_text(
            '[general]\nfps = 8.0\ntheme = "liqtui-colorblind"\n'
            '[keys]\nnext_view = "n"\n[alerts]\nrealized_usd_per_min = 5e6\n'
        )
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.fps == 8.0 and app.theme == "liqtui-colorblind"
        assert app.alert_monitor.rules.realized_usd_per_min == 5e6
        await pilot.press("n")
        assert app.view_name == "heatmap"
        assert any("reloaded" in n.message for n in app._notifications)
        config.write_text("[general]\nfps = -1\n")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.fps == 8.0  # a bad file changes nothing
        assert any(n.severity == "error" and "general.fps" in n.message for n in app._notifications)


async def test_ctrl_s_saves_an_svg_and_says_where(tmp_path: Path) -> None:
    app = demo_app(screenshot_dir=tmp_path / "shots", clock=lambda: 1_767_225_600.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+s")
        await pilot.pause()
        path = Path(app.last_screenshot or "")
        assert path == tmp_path / "shots" / "liqtui-BTC-ladder-20260101-000000.svg"
        assert path.read_text().startswith("<svg")
        assert any(str(path) in n.message for n in app._notifications)


# -- one "E within X%" for the panel, the JSON and the alerts -----------------------------------


async def test_cascade_panel_and_json_report_the_same_e_within() -> None:
    """Issue 11 item 8: one definition (liqtui.model.risk.e_within) for every view."""
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        app.show_view("cascade")
        await pilot.pause()
        view = app.cascade.view
        assert view is not None and view.cum_long is not None and view.cum_short is not None
        panel = app.cascade.lines_text
        engine_snap = app.engine.snapshot("BTC")
    doc = json.loads(render_json(engine_snap))
    bands = doc["risk"]["bands"]
    assert [b["distance_pct"] for b in bands] == [x * 100 for x in DISTANCES]
    assert [b["long_usd_below"] for b in bands] == [round(v, 2) for v in view.cum_long]
    assert [b["short_usd_above"] for b in bands] == [round(v, 2) for v in view.cum_short]
    assert max(view.cum_long) > 0 and max(view.cum_short) > 0  # the demo has E on both sides
    within = e_within(engine_snap, DISTANCES)
    assert (view.cum_long, view.cum_short) == (within.long_usd, within.short_usd)
    # What the panel prints is those figures.
    longs = next(line for line in panel if line.startswith("▼ longs"))
    assert longs.split()[2:6] == [compact_usd(b["long_usd_below"]) for b in bands]
    shorts = next(line for line in panel if line.startswith("▲ shorts"))
    assert shorts.split()[2:6] == [compact_usd(b["short_usd_above"]) for b in bands]
    # The dense-zone alert fires on the same figure (longs below + shorts above within 1%).
    zone = within.total(1)
    assert zone is not None and zone > 0

    def fires_at(threshold_usd: float) -> list[str]:
        # An alert is an edge: a first look with the zone off, then the threshold applies.
        mon = AlertMonitor(AlertRules(dense_zone_usd=1e15, dense_zone_pct=0.01, cascade=False))
        assert mon.check(engine_snap, realized_last_min_usd=0.0, cascade_firing=False) == []
        mon.rules = dataclasses.replace(mon.rules, dense_zone_usd=threshold_usd)
        alerts = mon.check(engine_snap, realized_last_min_usd=0.0, cascade_firing=False)
        return [a.kind for a in alerts]

    assert fires_at(zone) == ["dense-zone"]
    assert fires_at(zone * 1.001) == []


def test_cascade_panel_without_estimate_says_why() -> None:
    engine = Engine()
    engine.apply(Liquidation("binance", "BTC", 1_767_225_600_000, "long", 95_000.0, 1.0, 95_000.0))
    engine.advance(1_767_225_600_000)
    view = risk_view(engine.snapshot("BTC"))
    assert view.cum_long is None and view.within_reason == NO_ESTIMATE
    text = "\n".join("".join(t for t, _ in fit_line(line, 80)) for line in cascade_lines(view))
    assert "▼ longs" in text and "—" in text and "needs open interest" in text
    empty = risk_view(Engine().snapshot("BTC"))
    assert empty.cum_long is None and empty.within_reason == NO_PRICE


# -- alerts --------------------------------------------------------------------------------------


def test_alert_monitor_fires_on_edges_and_rate_limits(seeded_engine) -> None:
    snap = seeded_engine.snapshot("BTC")
    mon = AlertMonitor(
        AlertRules(realized_usd_per_min=1e6, dense_zone_usd=1e12, min_interval_ms=60_000)
    )
    assert mon.check(snap, realized_last_min_usd=0, cascade_firing=False) == []  # first look
    mon.rules = dataclasses.replace(mon.rules, dense_zone_usd=1.0)
    first = mon.check(snap, realized_last_min_usd=2e6, cascade_firing=True, cascade_reason="x")
    assert [a.kind for a in first] == ["realized", "dense-zone", "cascade"]
    assert "R 2M liquidated in the last minute" in first[0].message
    assert mon.check(snap, realized_last_min_usd=2e6, cascade_firing=True) == []  # still on
    mon.check(snap, realized_last_min_usd=0, cascade_firing=False)  # off again
    later = dataclasses.replace(snap, as_of_ms=snap.as_of_ms + 10_000)
    again = mon.check(later, realized_last_min_usd=2e6, cascade_firing=False)
    assert again == []  # back on within min_interval: rate-limited
    much_later = dataclasses.replace(snap, as_of_ms=snap.as_of_ms + 120_000)
    mon.check(much_later, realized_last_min_usd=0, cascade_firing=False)
    fired = mon.check(much_later, realized_last_min_usd=2e6, cascade_firing=False)
    assert [a.kind for a in fired] == ["realized"]
    off = AlertMonitor(AlertRules(enabled=False, realized_usd_per_min=1.0))
    assert off.check(snap, realized_last_min_usd=5.0, cascade_firing=True) == []


def test_alert_command_is_an_argument_list() -> None:
    alert = Alert("realized", "BTC", "BTC: R 2M; $(rm -rf ~)", 0)
    argv = command_args(["notify", "{kind}", "{symbol}: {message}"], alert)
    assert argv == ["notify", "realized", "BTC: BTC: R 2M; $(rm -rf ~)"]


async def test_alert_command_runs_without_a_shell(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    code = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"
    status = await run_command([sys.executable, "-c", code, str(out), "a; echo b > x"])
    assert status == 0
    assert out.read_text() == "a; echo b > x"  # passed as one argument, not interpreted
    assert await run_command(["/no/such/program"]) is None


async def test_alerts_notify_ring_and_run_the_command(tmp_path: Path) -> None:
    engine = seed_engine(Engine())
    out = tmp_path / "alert.txt"
    code = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"
    rules = AlertRules(
        realized_usd_per_min=100_000.0,
        command=(sys.executable, "-c", code, str(out), "{kind} {symbol}"),
    )
    app = make_app(engine, alerts=rules, watchlist=["BTC", "ETH"])
    bells = []
    app.bell = lambda: bells.append(1)  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        app.check_alerts()
        t = engine.clock_ms
        engine.apply(Liquidation("binance", "ETH", t, "long", 3_300.0, 100.0, 330_000.0))
        fired = app.check_alerts()
        assert [(a.kind, a.symbol) for a in fired] == [("realized", "ETH")]
        assert bells == [1]
        for _ in range(50):
            await pilot.pause(0.05)
            if out.exists():
                break
        assert out.read_text() == "realized ETH\n"
        assert any(n.title == "Alert: realized" for n in app._notifications)
        assert app.check_alerts() == []  # still above: no repeat


# -- terminal, SIGHUP ----------------------------------------------------------------------------


def test_color_setup() -> None:
    env: dict[str, str] = {}
    assert color_setup("auto", env, theme_given=False).color_system is None
    s = color_setup("16", env, theme_given=False)
    assert s.color_system == "standard" and s.theme == ANSI_THEME
    assert color_setup("16", env, theme_given=True).theme is None
    assert color_setup("256", env, theme_given=False).color_system == "256"
    s = color_setup("auto", {"NO_COLOR": "1"}, theme_given=False)
    assert s.mode == "none" and s.no_color and s.theme == ANSI_THEME
    assert not color_setup("truecolor", {"NO_COLOR": "1"}, theme_given=False).no_color
    assert color_setup("auto", {"NO_COLOR": ""}, theme_given=False).mode == "auto"
    env = {"NO_COLOR": "1"}
    apply_color_setup(color_setup("truecolor", env, theme_given=False), env)
    assert env == {"TEXTUAL_COLOR_SYSTEM": "truecolor"}
    env = {}
    apply_color_setup(color_setup("none", env, theme_given=False), env)
    assert env == {"NO_COLOR": "1"}
    with pytest.raises(ValueError):
        color_setup("rainbow", env, theme_given=False)


def test_absolute_scale_and_relative_percentiles(seeded_engine) -> None:
    assert absolute_level(10_000_000, 10_000_000) == 8
    assert absolute_level(1_000, 10_000_000) == 1
    assert absolute_level(0, 10_000_000) == 0
    assert absolute_legend(1e7).bounds == (1e3, 1e4, 1e5, 1e6)
    from liqtui.output.ladder import LadderView

    rows = LadderView().rows(seeded_engine.snapshot("BTC"), 20)
    scaled, legend = apply_scale(rows, "relative")
    levels = [r.long_level for r in scaled if r.long_usd > 0] + [
        r.short_level for r in scaled if r.short_usd > 0
    ]
    assert max(levels) == 8 and legend.mode == "relative"
    assert list(legend.bounds) == sorted(legend.bounds)


async def test_picker_offers_listed_markets_and_picking_one_subscribes_it() -> None:
    from liqtui.feeds.universe import MarketUniverse

    class ListingSource:
        """A live-like source: lists markets and follows the ones the user picks."""

        name = "live"

        def __init__(self) -> None:
            self.watched: list[str] = []

        async def run(self, sink) -> None:  # type: ignore[no-untyped-def]
            await asyncio.sleep(3600)

        async def list_markets(self) -> MarketUniverse:
            return MarketUniverse(markets={"DOGE": ("binance", "bybit"), "BTC": ("okx",)})

        def watch(self, symbol: str) -> bool:
            self.watched.append(symbol)
            return True

    engine, history = _demo()
    source = ListingSource()
    app = LiqApp(engine, source, watchlist=["ETH"], history=history)  # type: ignore[arg-type]
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        assert "DOGE" in app.markets()
        await pilot.press("slash", "D", "O", "G", "E")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_symbol == "DOGE" and source.watched[-1] == "DOGE"
        # No data yet for the new market: it says so rather than showing another's rows.
        assert app.snapshot is not None and app.snapshot.symbol == "DOGE"
        assert app.ladder.message == "waiting for data for DOGE…"


# -- the time × price cursor and the realized marks --------------------------------------------


async def test_heatmap_cursor_reads_out_a_cell() -> None:  # type: ignore[no-untyped-def]
    """↑↓ put the cursor on a price band of the live column, ←→ walk the periods; the line
    above the time axis reads out the cell: its period, its band, E and R in it, the figures
    computed again here from the snapshot, the UI's columns and the engine's prints. A cell
    with prints shows the realized mark. esc puts the cursor away."""
    app = demo_app(view="heatmap")
    engine = app.engine
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        heat = app.heatmap
        assert heat.readout is None and "cursor" in heat.rows_text[-2]
        await pilot.press("k")
        snap = app.snapshot
        step = heat.rows[0].price_high - heat.rows[0].price_low
        assert heat.cursor_group == math.floor(snap.price / step) + 1
        r = heat.readout
        assert r is not None and r.live and r.price_low > snap.price
        lows = snap.grid.origin + np.arange(snap.grid.n_bins) * snap.grid.width
        band = (lows >= r.price_low - 1e-6) & (lows < r.price_high - 1e-6)
        assert r.e_short == pytest.approx(float(snap.estimated_short[band].sum()))
        line = heat.rows_text[-2]
        low, high = (f"{p:,.0f}" for p in (r.price_low, r.price_high))
        assert "–now" in line and f"{low}–{high}" in line and "E ▼" in line
        # the cell of a print: its period among the UI's columns, its band on screen
        columns = app.history.columns("BTC")
        newest = engine.prints("BTC", columns[-40].t_ms)
        early = newest.time_ms <= columns[-3].t_ms  # room for → → below
        t, price = int(newest.time_ms[early][-1]), float(newest.price[early][-1])
        col = next(c for c in columns if c.t_ms >= t)
        heat.action_cursor(math.floor(price / step) - heat.cursor_group)
        heat.cursor_t = col.t_ms
        app.refresh_now()
        await pilot.pause()
        r = heat.readout
        assert r is not None and not r.live and r.end_ms == col.t_ms
        assert r.start_ms == col.t_ms - col.period_ms and r.price_low <= price < r.price_high
        prints = engine.prints("BTC", col.t_ms - col.period_ms)
        mine = (prints.time_ms <= col.t_ms) & (prints.price >= r.price_low)
        mine &= prints.price < r.price_high
        r_long = float(prints.usd[mine & (prints.side == 0)].sum())
        r_short = float(prints.usd[mine & (prints.side == 1)].sum())
        assert (r.r_long, r.r_short) == (pytest.approx(r_long), pytest.approx(r_short))
        assert r_long + r_short > 0
        y = next(i for i, row in enumerate(heat.rows) if row.price_low == r.price_low)
        # the cell (after the band's label, which the cursor highlights too)
        glyph, role = [c for c in heat._cells[y] if c[1] == "cursor"][-1]
        # a print's mark; a small print on the column's last price leaves the price glyph
        big = max(r_long, r_short) >= heat.realized_mark_usd
        assert glyph in ("▼▲" if big else "▼▲▾▴•") and role == "cursor"
        assert "R ▼" in heat.rows_text[-2]
        stamp = datetime.fromtimestamp(col.t_ms / 1000, tz=UTC).strftime("%H:%M")
        assert f"–{stamp}" in heat.rows_text[-2]
        # ← and → walk the columns by one period
        await pilot.press("left")
        assert heat.readout is not None and heat.readout.end_ms == col.t_ms - col.period_ms
        await pilot.press("right", "right")
        assert heat.readout is not None and heat.readout.end_ms == col.t_ms + col.period_ms
        # a lookback: the cursor on its newest period, its column's period read out
        await pilot.press("w")  # 12h
        await pilot.press("left")
        r = heat.readout
        assert r is not None and not r.live and r.start_ms is not None
        assert r.end_ms - r.start_ms >= engine.params.history_row_ms
        await pilot.press("escape")
        assert heat.cursor_group is None and heat.readout is None
        assert "cursor" in heat.rows_text[-2]
        assert not app._ui_errors


def test_heatmap_marks_realized_prints_where_and_when() -> None:
    """Every print of the UI's columns is marked in its column and band: the columns' marks
    hold exactly the engine's prints of their periods."""
    engine, history = _demo()
    columns = history.columns("BTC")
    start = columns[0].t_ms - columns[0].period_ms
    prints = engine.prints("BTC", start)  # type: ignore[attr-defined]
    in_columns = prints.time_ms <= columns[-1].t_ms
    marked = sum(float(c.marks.usd.sum()) for c in columns if c.marks is not None)
    assert marked == pytest.approx(float(prints.usd[in_columns].sum()))
    assert all(c.period_ms == columns[1].t_ms - columns[0].t_ms for c in columns[1:])
