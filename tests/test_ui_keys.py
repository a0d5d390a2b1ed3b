"""Every key in every view, key storms over the pickers, the command palette's liqtui commands,
and feedback for the model keys. Views and keys come from the app itself (its VIEWS and its
live bindings), so a view or key added later is covered without touching these tests."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.engines import demo_engine_and_history
from textual import events
from textual.command import CommandInput, CommandList, CommandPalette
from textual.widgets import ContentSwitcher

from liqtui.demo import DemoSource
from liqtui.keys import PRICE_VIEWS
from liqtui.model.engine import Engine
from liqtui.ui.app import VIEW_ACTIONS, VIEWS, LiqApp
from liqtui.ui.commands import HIDDEN_ACTIONS, palette_commands
from liqtui.ui.screens.help import HelpScreen
from liqtui.ui.widgets.status import model_settings

SIZES = [(80, 24), (160, 50)]
QUIT_ACTIONS = {"quit", "app.quit"}


@functools.cache
def _demo() -> tuple[Engine, object]:
    return demo_engine_and_history()


@pytest.fixture
def demo() -> Iterator[tuple[Engine, object]]:
    """The shared demo engine and history; the model settings keys change are put back."""
    engine, history = _demo()
    preset, tier = engine.preset, engine.tier_filter
    yield engine, history
    engine.preset, engine.tier_filter = preset, tier


def app_over(demo: tuple[Engine, object], **kw: object) -> LiqApp:
    engine, history = demo
    kw.setdefault("watchlist", ["BTC", "ETH"])
    return LiqApp(engine, None, history=history, **kw)  # type: ignore[arg-type]


def live_keys(app: LiqApp) -> dict[str, list[str]]:
    """Every key bound anywhere in the current binding chain (focused widget, screen, app;
    enabled or not, keymap applied) → the actions it is bound to."""
    keys: dict[str, list[str]] = {}
    for _node, bindings in app.screen._binding_chain:
        for key, key_bindings in bindings.key_to_bindings.items():
            keys.setdefault(key, []).extend(b.action for b in key_bindings)
    return keys


def offered_actions(app: LiqApp) -> set[str]:
    """The app's actions the footer, help and palette offer now (enabled active bindings)."""
    return {
        b.binding.action.split("(", 1)[0]
        for b in app.screen.active_bindings.values()
        if b.node is app and b.enabled
    }


# -- every key in every view ------------------------------------------------------------------


def test_views_are_the_apps_views() -> None:
    """VIEWS (which the key test walks) is every view the app composes, each with its keys."""

    async def composed() -> set[str]:
        app = LiqApp(Engine(), None, watchlist=["BTC"])
        async with app.run_test(size=(80, 24)):
            switcher = app.query_one("#views", ContentSwitcher)
            return {str(child.id) for child in switcher.children}

    assert asyncio.run(composed()) == {f"view-{v}" for v in VIEWS}
    assert set(VIEW_ACTIONS) == set(VIEWS)


async def press(app: LiqApp, key: str) -> None:
    """Send a key as the terminal would and wait until the app has handled it (quicker than
    Pilot.press, which also waits for the whole process to go idle)."""
    char = key if len(key) == 1 else None
    app.post_message(events.Key(key, char))
    handled = asyncio.Event()
    app.call_later(handled.set)  # runs after the key: its action has run by then
    with contextlib.suppress(TimeoutError):  # the app ended on the key: the caller sees it
        await asyncio.wait_for(handled.wait(), 10)


async def _close_overlays(pilot, app: LiqApp, why: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        if len(app.screen_stack) == 1:
            return
        await pilot.press("escape")
    assert len(app.screen_stack) == 1, f"{why}: esc does not close {app.screen!r}"


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("view", VIEWS)
async def test_every_bound_key_in_every_view(
    view: str, size: tuple[int, int], demo, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Press every key bound in the view (quit keys last); after each, the app still runs,
    logged no display error, and any overlay it opened closes with esc."""
    app = app_over(demo, view=view, screenshot_dir=tmp_path)
    where = f"view={view} size={size[0]}x{size[1]}"
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        keys = live_keys(app)
        quit_keys = sorted(k for k, actions in keys.items() if QUIT_ACTIONS & set(actions))
        assert quit_keys, "no quit key bound"
        for key in (k for k in keys if k not in quit_keys):
            await press(app, key)
            await pilot.pause(0)  # lay out and paint now: a drawing error fails on its key
            what = f"{where} key={key}"
            assert app.is_running, f"{what}: the app stopped"
            assert not app._ui_errors, f"{what}: {app._ui_errors}"
            await _close_overlays(pilot, app, what)
            if app.view_name != view:  # v: back to the view under test
                app.show_view(view)
        # still responsive: a key still acts, and the view still draws
        paused = app.paused
        await pilot.press("space")
        assert app.paused != paused, f"{where}: no longer responsive"
        app.paused = False
        app.refresh_now()
        assert app.snapshot is not None and app.status.lines_text[0].strip(), where
        assert not app._ui_errors and app.return_code is None, where
        # one quit key per (view, size), in turn: every quit key ends the app cleanly
        index = VIEWS.index(view) * len(SIZES) + SIZES.index(size)
        quit_key = quit_keys[index % len(quit_keys)]
        await pilot.press(quit_key)
        await pilot.pause()
        assert not app.is_running and app.return_code == 0, f"{where} key={quit_key}"


async def test_view_keys_are_offered_only_where_they_work(demo) -> None:  # type: ignore[no-untyped-def]
    """Footer, help and palette follow the view: zoom and scrolling in the price views only,
    the chart mode in the chart only; in the other views their keys do nothing."""
    app = app_over(demo)
    async with app.run_test(size=(160, 50)) as pilot:
        for view in VIEWS:
            app.show_view(view)
            await pilot.pause()
            offered = offered_actions(app)
            for action in ("zoom_in", "zoom_out", "cursor", "page", "edge", "recentre"):
                assert (action in offered) == (action in VIEW_ACTIONS[view]), (view, action)
            assert ("chart_mode" in offered) == (view == "chart")
            footer_keys = {
                b.binding.action
                for b in app.screen.active_bindings.values()
                if b.binding.show and b.enabled
            }
            assert ("zoom_in" in footer_keys) == (view in PRICE_VIEWS)
            palette = {c.action.split("(", 1)[0] for c in palette_commands(app, app.screen)}
            assert ("zoom_in" in palette) == ("zoom_in" in offered), view
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            described = {e.description for e in app.screen.entries}
            assert ("Zoom in (narrower price span)" in described) == ("zoom_in" in offered)
            await pilot.press("escape")
        # a hidden key does nothing: z in the cascade view leaves every price view alone
        app.show_view("cascade")
        spans = [w.view.span_pct for w in (app.ladder, app.heatmap, app.exchanges_table)]
        await pilot.press("z", "Z", "g", "G", "less_than_sign")
        assert [w.view.span_pct for w in (app.ladder, app.heatmap, app.exchanges_table)] == spans


async def test_zoom_scroll_and_edges_work_in_the_time_price_view(demo) -> None:  # type: ignore[no-untyped-def]
    app = app_over(demo, view="heatmap")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        heat = app.heatmap

        def step() -> float:
            return heat.rows[0].price_high - heat.rows[0].price_low

        before = step()
        await pilot.press("z")
        assert step() < before
        await pilot.press("Z", "Z")
        assert step() > before
        top = heat.rows[0].price_low
        await pilot.press("pageup")
        assert heat.rows[0].price_low > top  # scrolled up a page
        await pilot.press("m", "k")  # the cursor: a row above the price
        assert heat.cursor_group == heat.price_group() + 1 and heat.readout is not None
        await pilot.press("escape")
        assert heat.cursor_group is None
        await pilot.press("G")  # the lowest level with E or R is on the bottom row
        snap = app.snapshot
        mass = snap.estimated_long + snap.estimated_short + snap.realized_long + snap.realized_short
        lowest = snap.grid.origin + (int(mass.nonzero()[0][0]) + 0.5) * snap.grid.width
        assert heat.rows[-1].price_low <= lowest < heat.rows[-1].price_high
        await pilot.press("m")
        assert heat.view.following


# -- key storm over the palette and the pickers -----------------------------------------------

STORM_CHARS = {"ctrl+p": None, "t": "t", "escape": "\x1b", "slash": "/"}


async def test_key_storm_over_palette_and_pickers_never_ends_the_app() -> None:
    """Open the palette, the theme picker or the market picker, type into it and close it,
    keys arriving faster than the app handles them (as from a terminal), while the demo warms
    up: the race is a keystroke still queued in a palette that escape has just dismissed.
    Before the fix this ended the app with NoMatches('CommandList') within 80 rounds (8 runs
    of 8)."""
    source = DemoSource(["BTC", "ETH"], seed=1, warmup_ms=30 * 60_000, speed=20)
    app = LiqApp(Engine(), source, watchlist=["BTC", "ETH"], fps=30)
    rnd = random.Random(7)

    def post(key: str) -> None:
        app.post_message(events.Key(key, STORM_CHARS[key]))  # no waiting for the app

    async with app.run_test(size=(80, 24)) as pilot:
        for round_ in range(100):
            post(rnd.choice(("ctrl+p", "t", "slash")))
            await asyncio.sleep(rnd.choice((0, 0.002, 0.005, 0.01, 0.02, 0.04)))
            post("t")
            post("escape")
            await asyncio.sleep(rnd.choice((0, 0.005, 0.02)))
            assert app.is_running, f"the app ended in storm round {round_}"
        drained = asyncio.Event()
        app.call_later(drained.set)  # runs after every key queued before it
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained.wait(), 30)
        assert app.is_running, "the app ended at the end of the storm"
        await _close_overlays(pilot, app, "after the storm")
        await pilot.press("v")
        assert app.view_name == "heatmap"  # still answering keys
        assert not app._ui_errors
        await pilot.press("ctrl+c")  # and quits cleanly
        assert app.return_code == 0


# -- the command palette ----------------------------------------------------------------------


async def _palette(pilot, app: LiqApp, query: str = "") -> list[str]:  # type: ignore[no-untyped-def]
    """Open the palette (ctrl+p), type `query`; the prompts it lists."""
    await pilot.press("ctrl+p")
    assert isinstance(app.screen, CommandPalette)
    if query:
        app.screen.query_one(CommandInput).value = query
    await pilot.pause(0.4)  # the palette gathers hits in batches
    options = app.screen.query_one(CommandList)
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def _run_command(pilot, app: LiqApp, query: str, expected: str, screens: int = 1) -> None:  # type: ignore[no-untyped-def]
    """Type `query` in the palette, check the top hit and run it (enter)."""
    prompts = await _palette(pilot, app, query)
    assert prompts and prompts[0].startswith(expected), prompts[:3]
    await pilot.press("enter")
    await pilot.pause()
    assert len(app.screen_stack) == screens


async def test_palette_offers_every_liqtui_action(demo) -> None:  # type: ignore[no-untyped-def]
    """Every bound action the view offers is a palette command, or (for a key that cycles
    through a setting) each of the setting's values is."""
    app = app_over(demo, keymap={"pause": "p"})
    async with app.run_test(size=(120, 40)) as pilot:
        commands = palette_commands(app, app.screen)
        actions = {c.action for c in commands}
        cycled = {c.cycled_by: c for c in app.setting_choices()}
        for active in app.screen.active_bindings.values():
            binding = active.binding
            name = binding.action.split("(", 1)[0]
            if active.node is not app or name in HIDDEN_ACTIONS or not active.enabled:
                continue
            if not (binding.tooltip or binding.description):
                continue
            if name in cycled:
                choice = cycled[name]
                for value, _label in choice.options:
                    assert f"{choice.action}({value!r})" in actions, (name, value)
            else:
                assert binding.action in actions, binding.action
        help_of = {c.title: c.help for c in commands}
        assert help_of["Pause / resume drawing (data keeps being collected)"] == "key p"
        assert help_of["Leverage preset: high"] == "in effect; key l cycles"
        for wanted in (
            "View: ladder",
            "View: time×price",
            "View: cascade risk",
            "Market: BTC (slot 1)",
            "Market: ETH (slot 2)",
            "Leverage preset: observed-low",
            "Tier filter: 25x+ only",
            "Tier filter: 10x+ only",
            "Tier filter: 2x only",
            "Tier filter: 100x only",
            "Tier filter: all tiers",
            "Exchange filter: okx",
            "Exchange filter: all exchanges",
            "Color scale: absolute",
            "Zoom in (narrower price span)",
            "Save an SVG screenshot",
            "Theme picker",
            "Re-centre on the price",
            "Reload config and themes",
            "Next symbol in the watchlist",
        ):
            assert wanted in help_of, wanted
        assert not any(t.startswith("Chart:") for t in help_of)  # the chart view's own
        prompts = await _palette(pilot, app)  # shown with nothing typed
        assert any(p.startswith("Zoom in") for p in prompts)
        assert any(p.startswith("Leverage preset: balanced") for p in prompts)
        await pilot.press("escape")


async def test_palette_commands_perform_their_actions(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = app_over(demo, screenshot_dir=tmp_path)
    engine = demo[0]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        step = app.ladder.row_step
        await _run_command(pilot, app, "zoom in", "Zoom in")
        assert app.ladder.row_step < step
        await _run_command(pilot, app, "leverage preset balanced", "Leverage preset: balanced")
        assert engine.preset == "balanced" and app.snapshot.preset == "balanced"
        await _run_command(pilot, app, "exchange filter okx", "Exchange filter: okx")
        assert app.filters.exchange == "okx"
        await _run_command(pilot, app, "market eth", "Market: ETH")
        assert app.current_symbol == "ETH"
        await _run_command(pilot, app, "view time", "View: time×price")
        assert app.view_name == "heatmap"
        await _run_command(pilot, app, "pause", "Pause")
        assert app.paused
        await _run_command(pilot, app, "svg screenshot", "Save an SVG screenshot")
        assert app.last_screenshot and Path(app.last_screenshot).parent == tmp_path
        await _run_command(pilot, app, "theme picker", "Theme picker", screens=2)
        assert isinstance(app.screen, CommandPalette)  # the picker opened
        await pilot.press("escape")
        assert app.is_running and not app._ui_errors


# -- feedback for the model keys and the settings in the status line --------------------------


async def test_model_keys_notify_the_new_setting(demo) -> None:  # type: ignore[no-untyped-def]
    app = app_over(demo)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, message in (
            ("l", "leverage preset: balanced"),
            ("f", "tier filter: 10x+ only"),  # under "balanced": 5x+ is all of its tiers
            ("f", "tier filter: 25x+ only"),
            ("F", "tier filter: 10x+ only"),
            ("F", "tier filter: all tiers"),
            ("F", "tier filter: 100x only"),
            ("f", "tier filter: all tiers"),
            ("e", "exchange filter: binance"),
            ("e", "exchange filter: bybit"),
        ):
            await pilot.press(key)
            last = list(app._notifications)[-1]
            assert last.message == message and last.timeout <= 3, (key, last)
        # a quick run replaces the toast instead of stacking them
        assert [n.message for n in app._notifications] == ["exchange filter: bybit"]


@pytest.mark.parametrize("width", [80, 120, 160])
async def test_model_settings_stay_in_the_status_line(width: int, demo) -> None:  # type: ignore[no-untyped-def]
    """Preset, tier filter and exchange filter are on screen at 80, 120 and 160 columns, for
    every setting the keys reach (abbreviated when narrow, never cut off), paused or stale."""
    app = app_over(demo)
    async with app.run_test(size=(width, 24)) as pilot:

        def check() -> None:
            part = model_settings(app.snapshot)
            line = app.status.lines_text[0]
            forms = (part.segs[0][0], part.short[0][0])  # type: ignore[index]
            assert any(f in line for f in forms), (width, line)
            if width >= 120:
                assert forms[0] in line, (width, line)  # in full

        for _preset in app.filters.preset_options():
            for tier in app.filters.tier_options():  # every tier filter f reaches
                assert app.snapshot.tier_filter == tier
                for _exchange in range(5 if tier in ("all", "25x+") else 1):
                    check()
                    await pilot.press("e")
                await pilot.press("f")
            await pilot.press("l")
        await pilot.press("space")  # PAUSED takes room too
        assert "PAUSED" in app.status.lines_text[0]
        assert "model" in app.status.lines_text[0] or "·" in app.status.lines_text[0]


def test_model_settings_part() -> None:
    engine, _ = _demo()
    snap = engine.snapshot("BTC", exchange="hyperliquid")
    part = model_settings(snap)
    assert part.segs[0][0] == f"model {snap.preset} · all tiers · hyperliquid"
    assert part.short is not None and part.short[0][0] == f"{snap.preset}·all tiers·hyperliq"


async def test_every_bound_key_in_every_view_while_replaying(tmp_path: Path) -> None:
    """Over a paced replay the replay controls are offered too: each of their keys (pause,
    speed, seeks; back: a rebuild) in every view at 80x24 (the other keys: the walk above),
    then the app still draws."""
    from support.tape_recording import write_tape_recording

    from liqtui.feeds.replay import ReplaySource
    from liqtui.keys import REPLAY_ACTIONS

    source = ReplaySource(write_tape_recording(tmp_path / "r.jsonl"), speed=50.0)
    source.playback.hold_at_end = True
    app = LiqApp(Engine(), source, watchlist=["BTC", "ETH"], screenshot_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.2)
        for view in VIEWS:
            app.show_view(view)
            await pilot.pause()
            assert offered_actions(app) >= REPLAY_ACTIONS, view
            keys = live_keys(app)
            replay_keys = [
                k
                for k, actions in keys.items()
                if {a.split("(")[0] for a in actions} & REPLAY_ACTIONS
            ]
            assert len(replay_keys) >= len(REPLAY_ACTIONS), view
            for key in replay_keys:
                await press(app, key)
                await pilot.pause(0)
                what = f"replay view={view} key={key}"
                assert app.is_running and not app._ui_errors, what
                await _close_overlays(pilot, app, what)
                if app.view_name != view:
                    app.show_view(view)
        app.paused = False
        app.refresh_now()
        app.draw_replay_bar()
        assert app.replay_bar.lines_text[0].strip() and not app._ui_errors
