"""The app at start: one mapping from settings to the app (TUI start, SVG export, reload), the
ladder centred on the current price, and no alert for what happened before the app started
(warm-up, backfill, replay catch-up)."""

from __future__ import annotations

import argparse
import asyncio
import html
import re
from pathlib import Path

import pytest
from support.engines import SEED_T0, demo_engine_and_history

from liqtui.cli import build_parser, main
from liqtui.commands.tui import TuiOptions, make_app, start_options
from liqtui.config import load_settings
from liqtui.events import Liquidation, MarkPrice
from liqtui.model.engine import Engine
from liqtui.source import EventSink
from liqtui.ui.alerts import AlertMonitor, AlertRules
from liqtui.ui.app import LiqApp
from liqtui.ui.options import AppOptions

# -- one mapping from settings to the app ---------------------------------------------------------


def svg_text(svg: str) -> str:
    return html.unescape("".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg))).replace(
        "\xa0", " "
    )


def svg_snapshot(capsys: pytest.CaptureFixture[str], config: Path, *flags: str) -> str:
    argv = [*flags, "snapshot", "--demo", "--symbol", "BTC", "--format", "svg", "--config"]
    assert main([*argv, str(config), "--width", "80", "--height", "24"]) == 0
    return svg_text(capsys.readouterr().out)


def test_svg_snapshot_draws_the_configured_view_and_color_scale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[general]\nview = "cascade"\n')
    assert "Cascade risk BTC" in svg_snapshot(capsys, config)
    config.write_text('[general]\nview = "ladder"\ncolor_scale = "absolute"\n')
    ladder = svg_snapshot(capsys, config)
    assert "absolute ░" in ladder and "relative" not in ladder  # the legend under the ladder
    assert "Cascade risk" not in ladder
    # a flag wins over the config, as in the TUI
    assert "Cascade risk BTC" in svg_snapshot(capsys, config, "--view", "cascade")


def test_options_from_settings_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text(
        '[general]\nview = "heatmap"\ncolor_scale = "absolute"\nfps = 2.0\n'
        'watchlist = ["ETH"]\n[ladder]\nspan_pct = 0.04\n[alerts]\nrealized_usd_per_min = 5e6\n'
    )
    settings = load_settings(config)
    options = AppOptions.from_settings(settings)
    assert (options.view, options.color_scale, options.fps) == ("heatmap", "absolute", 2.0)
    assert options.watchlist == ("ETH",) and options.ladder_span_pct == 0.04
    assert options.alerts.realized_usd_per_min == 5e6
    flags = argparse.Namespace(symbol=["SOL"], fps=8.0, theme="liqtui-light", view="chart")
    flagged = AppOptions.from_settings(settings, flags, theme_override="liqtui-ansi")
    assert (flagged.watchlist, flagged.fps, flagged.theme, flagged.view) == (
        ("SOL",),
        8.0,
        "liqtui-light",  # a named theme beats the color mode's
        "chart",
    )
    assert AppOptions.from_settings(settings, theme_override="liqtui-ansi").theme == "liqtui-ansi"


async def test_tui_start_and_reload_use_the_same_mapping(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[general]\nview = "heatmap"\ncolor_scale = "absolute"\n')
    args = build_parser().parse_args(["--config", str(config), "--symbol", "BTC"])
    options = TuiOptions.from_args(args, load_settings(config))
    engine, history = demo_engine_and_history()
    app = make_app(start_options(load_settings(config), options.screen), options, engine, None)
    app.history = history
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.view_name == "heatmap" and app.color_scale == "absolute"
        assert app.ladder.scale == "absolute" and app.heatmap.absolute_top_usd == 10_000_000.0
        await pilot.press("s")  # the user's own choice...
        assert app.color_scale == "relative"
        config.write_text(
            '[general]\nview = "heatmap"\ncolor_scale = "absolute"\n'
            "[ladder]\nspan_pct = 0.04\nrealized_mark_usd = 5e5\n"
        )
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.color_scale == "relative"  # ...survives a reload that did not change it
        assert app.ladder.view.span_pct == pytest.approx(0.04)  # what changed is applied
        assert app.heatmap.view.span_pct == pytest.approx(0.04)
        assert app.ladder.realized_mark_usd == 5e5
        config.write_text('[general]\nview = "cascade"\ncolor_scale = "relative"\n')
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.view_name == "cascade" and app.color_scale == "relative"
        assert app.options == AppOptions.from_settings(load_settings(config), args)


# -- centred on the current price at start --------------------------------------------------------


class WarmupSource:
    """Warm-up events (older than its `live_from_ms`) around `warm_price`, then, once `gate` is
    set, the present: `present` events (callables of the start time)."""

    name = "warmup"

    def __init__(self, warm: list[object], present: list[object]) -> None:
        self.live_from_ms = SEED_T0 + 3_600_000
        self.warm, self.present = warm, present
        self.warm_done = asyncio.Event()
        self.gate = asyncio.Event()
        self.done = asyncio.Event()

    async def run(self, sink: EventSink) -> None:
        health = sink.feed("binance")
        health.state = "connected"
        for event in self.warm:
            sink.apply(event)  # type: ignore[arg-type]
            sink.advance(event.time_ms)  # type: ignore[attr-defined]
        self.warm_done.set()
        await self.gate.wait()
        for event in self.present:
            sink.apply(event)  # type: ignore[arg-type]
            sink.advance(event.time_ms)  # type: ignore[attr-defined]
        self.done.set()
        await asyncio.Event().wait()


def marks(price: float, start_ms: int, end_ms: int, step_ms: int = 60_000) -> list[MarkPrice]:
    return [MarkPrice("binance", "BTC", t, price) for t in range(start_ms, end_ms, step_ms)]


def price_row(app: LiqApp) -> int:
    rows = app.ladder.rows_text
    at = [y for y, row in enumerate(rows) if "▶" in row]
    assert len(at) == 1, rows
    return at[0]


async def _first_frame_then_present(app: LiqApp, source: WarmupSource) -> None:
    await asyncio.wait_for(source.warm_done.wait(), 5)
    app.refresh_now()  # the first frame: drawn while the source is still in its warm-up
    source.gate.set()
    await asyncio.wait_for(source.done.wait(), 5)
    app.refresh_now()


async def test_ladder_centres_on_the_price_once_warm_up_is_over() -> None:
    start = SEED_T0 + 3_600_000
    source = WarmupSource(
        warm=marks(90_000.0, SEED_T0, start),  # the warm-up starts far from today's price
        present=marks(97_000.0, start, start + 1),
    )
    app = LiqApp(Engine(), source, watchlist=["BTC"], fps=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await _first_frame_then_present(app, source)
        await pilot.pause()
        height = app.ladder.size.height
        assert app.ladder.rows_text and price_row(app) == height // 2
        # from then on the view follows the price only near an edge (rows keep their prices)
        top = app.ladder.rows[0].price_low
        step = app.ladder.rows[0].price_high - app.ladder.rows[0].price_low
        app.engine.apply(MarkPrice("binance", "BTC", start + 2_000, 97_000.0 + 2 * step))
        app.engine.advance(start + 2_000)
        app.refresh_now()
        assert app.ladder.rows[0].price_low == top and price_row(app) == height // 2 - 2


async def test_ladder_recentres_when_a_mark_price_replaces_an_old_print() -> None:
    start = SEED_T0 + 3_600_000
    print_only = Liquidation("binance", "BTC", start - 1, "long", 90_000.0, 1.0, 90_000.0)
    source = WarmupSource(warm=[print_only], present=marks(97_000.0, start, start + 1))
    source.live_from_ms = start - 1  # the print is of the present, but no market price yet
    app = LiqApp(Engine(), source, watchlist=["BTC"], fps=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(source.warm_done.wait(), 5)
        app.refresh_now()
        assert app.snapshot is not None and app.snapshot.price_source == "liquidation"
        source.gate.set()
        await asyncio.wait_for(source.done.wait(), 5)
        app.refresh_now()
        await pilot.pause()
        assert app.snapshot is not None and app.snapshot.price == 97_000.0
        assert price_row(app) == app.ladder.size.height // 2


async def test_a_view_the_user_moved_during_warm_up_stays_put() -> None:
    start = SEED_T0 + 3_600_000
    source = WarmupSource(
        warm=marks(90_000.0, SEED_T0, start), present=marks(90_500.0, start, start + 1)
    )
    app = LiqApp(Engine(), source, watchlist=["BTC"], fps=0.2)
    async with app.run_test(size=(80, 24)) as pilot:
        await asyncio.wait_for(source.warm_done.wait(), 5)
        app.refresh_now()
        await pilot.press("pageup")  # the user scrolls: the app does not take the view back
        top = app.ladder.rows[0].price_low
        source.gate.set()
        await asyncio.wait_for(source.done.wait(), 5)
        app.refresh_now()
        assert app.ladder.rows[0].price_low == top


# -- no alert for what happened before the app's start ---------------------------------------------


async def test_warm_up_prints_fire_no_alert_and_new_ones_do() -> None:
    start = SEED_T0 + 3_600_000
    burst = [  # 5M of longs liquidated in the last 30 s of the warm-up
        Liquidation("binance", "BTC", start - 30_000 + i, "long", 96_000.0, 10.0, 960_000.0)
        for i in range(6)
    ]
    source = WarmupSource(
        warm=[*marks(97_000.0, SEED_T0, start), *burst],
        present=[
            MarkPrice("binance", "BTC", start, 97_000.0),
            MarkPrice("binance", "BTC", start + 2_000, 96_900.0),
        ],
    )
    rules = AlertRules(realized_usd_per_min=2_000_000.0, bell=False)
    app = LiqApp(Engine(), source, watchlist=["BTC"], alerts=rules, fps=0.2)
    async with app.run_test(size=(80, 24)):
        await asyncio.wait_for(source.warm_done.wait(), 5)
        assert app.check_alerts() == []  # during the warm-up: recorded, not alerted
        source.gate.set()
        await asyncio.wait_for(source.done.wait(), 5)
        assert app.check_alerts() == []  # 5M in the last minute, but all before the start
        t = start + 3_000
        for i in range(3):
            app.engine.apply(
                Liquidation("binance", "BTC", t + i, "long", 96_800.0, 10.0, 968_000.0)
            )
        app.engine.advance(t + 3)
        fired = app.check_alerts()
        assert [(a.kind, a.symbol) for a in fired] == [("realized", "BTC")]
        assert "R 2.9M" in fired[0].message  # only the prints since the start


def test_alert_monitor_records_the_past_and_the_first_look_without_alerting(
    seeded_engine: Engine,
) -> None:
    snap = seeded_engine.snapshot("BTC")
    mon = AlertMonitor(AlertRules(realized_usd_per_min=1e6, dense_zone_usd=1.0))
    # a cascade and a dense zone that were on before the app started
    before = mon.check(snap, realized_last_min_usd=0, cascade_firing=True, present=False)
    assert before == []
    assert mon.check(snap, realized_last_min_usd=0, cascade_firing=True) == []  # still on
    # the first look at another market: its state is recorded, nothing fires
    eth = seeded_engine.snapshot("ETH")
    assert mon.check(eth, realized_last_min_usd=5e6, cascade_firing=True) == []
    # a new edge in the present fires
    mon.check(snap, realized_last_min_usd=0, cascade_firing=False)
    fired = mon.check(snap, realized_last_min_usd=0, cascade_firing=True)
    assert [a.kind for a in fired] == ["cascade"]
