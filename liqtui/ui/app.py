"""The liqtui terminal UI.

Data flow: the source (live feed, replay, demo) runs in a worker and mutates the `Engine`
(through `HistorySink`, which also samples the time × price history on the source clock); the
UI never repaints per event. A timer at `fps` pulls an immutable snapshot of the current market
and hands it to the visible view only, which redraws only the lines (or cells) whose content
changed. Pausing stops the drawing, not the collecting; nothing is drawn while a modal screen
(help, command palette, market or theme picker) covers the views.

Where things live: the keys in `liqtui.keys` (one table: bindings, remappable ids, help groups,
the views each key applies to); each view's data preparation and its own keys beside its widget
(`ui/widgets/`; the price views share `PriceAxisView`); building the views and drawing a frame
on them in `ui/views.py`; the model filters in `ui/filters.py`; the palette's commands and
settable choices in `ui/commands.py`; alert checks in `ui/alerts.py`; themes in `ui/themes.py`;
the options from settings and flags in `ui/options.py`. The app holds the global state (market,
view, pause, fps, the filters) and its keys, which delegate to those.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import ContentSwitcher, Footer
from textual.worker import Worker, WorkerState

from liqtui.keys import (
    ACTION_GROUPS,
    KEYS,
    REPLAY_ACTIONS,
    VIEW_ACTIONS,
    VIEW_ONLY_ACTIONS,
    VIEWS,
    Key,
)
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.output.palette import LIQ_VARIABLE_DEFAULTS
from liqtui.playback import Playback
from liqtui.source import Source
from liqtui.ui.alerts import Alert, AlertMonitor, CommandRunner, sound_alerts
from liqtui.ui.commands import (
    Choice,
    LiqCommands,
    PaletteApp,
    market_commands,
    next_in,
    setting_choices,
)
from liqtui.ui.filters import ModelFilters
from liqtui.ui.history import History, HistorySink
from liqtui.ui.options import AppOptions
from liqtui.ui.scale import SCALES
from liqtui.ui.screens.help import HelpScreen, help_entries
from liqtui.ui.themes import install_themes
from liqtui.ui.views import Frame, compose_views, draw_status, draw_view
from liqtui.ui.widgets.axis import PriceAxisView
from liqtui.ui.widgets.cascade import CascadePanel
from liqtui.ui.widgets.chart import CHART_MODES, ChartWidget
from liqtui.ui.widgets.exchanges import ExchangeTable
from liqtui.ui.widgets.heatmap import LOOKBACKS, HeatmapWidget
from liqtui.ui.widgets.ladder import LadderHeader, LadderWidget
from liqtui.ui.widgets.liqmap import LiqMapWidget
from liqtui.ui.widgets.overview import OverviewTable
from liqtui.ui.widgets.replay import ReplayBar
from liqtui.ui.widgets.status import StatusBar
from liqtui.ui.widgets.tape import TapeWidget

MIN_FPS, MAX_FPS = 0.2, 30.0
FPS_STEPS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
SSH_CHECK_S = 5.0
ALERT_CHECK_S = 1.0
# Actions about the main view: disabled while a modal screen (help, a picker) is on top.
_MAIN_VIEW_ACTIONS = frozenset(ACTION_GROUPS) - {"quit", "command_palette"}


def _binding(key: Key) -> Binding:
    return Binding(
        key.keys,
        key.action,
        key.description,
        show=key.show,
        priority=key.priority,
        tooltip=key.tooltip,
        id=key.id,
    )


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin
        return False


class LiqApp(PaletteApp):
    """Live liquidation views for a watchlist of markets."""

    CSS_PATH = "liqtui.tcss"
    TITLE = "liqtui"
    COMMANDS: ClassVar = {LiqCommands}
    BINDINGS: ClassVar[list[BindingType]] = [_binding(key) for key in KEYS]

    def __init__(
        self,
        engine: Engine,
        source: Source | None,
        options: AppOptions | None = None,
        *,
        title: str = "liqtui",
        options_loader: Callable[[], AppOptions] | None = None,
        history: History | None = None,
        clock: Callable[[], float] = time.time,
        **settings: Any,
    ) -> None:
        """`options` (from `AppOptions.from_settings`), or its fields as keyword `settings`
        (which win over `options`); `options_loader` gives them again on ctrl+r (reload)."""
        # NO_COLOR: Textual picks its color filter here, from the theme in use now (not ours
        # yet). For a non-ANSI theme that is Monochrome, which maps the terminal's default
        # colors to black: black text on black. With ansi_color it is NoColor instead: every
        # cell in the terminal's own foreground and background (the palette adds no color).
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        if "watchlist" in settings:
            settings["watchlist"] = tuple(settings["watchlist"])
        # What settings and flags said (before the app's own adjustments): reload applies
        # only the options that changed since, so it keeps what the user changed with keys.
        self.options = opts = dataclasses.replace(options or AppOptions(watchlist=()), **settings)
        self.engine = engine
        self.source = source
        self.options_loader = options_loader
        self.title = title
        self.history = history or History(period_ms=engine.params.step_ms)
        self.clock = clock
        self.universe: dict[str, tuple[str, ...]] = {}  # market → exchanges listing it (live)
        self.watchlist: list[str] = list(dict.fromkeys(opts.watchlist)) or engine.symbols()[:9]
        if not self.watchlist:
            self.watchlist = ["BTC"]
        self.current_symbol: str = self.watchlist[0]
        self.fps = min(max(opts.fps, MIN_FPS), MAX_FPS) if opts.fps > 0 else 4.0
        self.view_name = opts.view if opts.view in VIEWS else "ladder"
        self.color_scale = opts.color_scale if opts.color_scale in SCALES else "relative"
        self.filters = ModelFilters(self, engine, self._pull_again)  # preset, tiers, exchange
        self.alert_monitor = AlertMonitor(opts.alerts)
        self.alert_commands = CommandRunner()
        self._started_ms = int(clock() * 1000)  # the present of a live feed (wall clock)
        self._engine_start_ms = engine.clock_ms  # without a source: what the engine holds
        self.settled: set[str] = set()  # markets whose views were centred on a real price
        self.feed_error: str | None = None
        self.theme_problems: list[str] = []
        self.last_screenshot: str | None = None
        self._paused = False
        self._frame: Frame | None = None  # what is on screen (frozen while paused)
        self._stdin_was_tty = _stdin_is_tty()
        self._ui_errors: set[str] = set()
        self._tick_timer: Timer | None = None

    # -- widgets --------------------------------------------------------------------------------
    @property
    def ladder(self) -> LadderWidget:
        return self.query_one(LadderWidget)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def header(self) -> LadderHeader:
        return self.query_one(LadderHeader)

    @property
    def heatmap(self) -> HeatmapWidget:
        return self.query_one(HeatmapWidget)

    @property
    def cascade(self) -> CascadePanel:
        return self.query_one(CascadePanel)

    @property
    def exchanges_table(self) -> ExchangeTable:
        return self.query_one(ExchangeTable)

    @property
    def chart(self) -> ChartWidget:
        return self.query_one(ChartWidget)

    @property
    def overview(self) -> OverviewTable:
        return self.query_one(OverviewTable)

    @property
    def tape(self) -> TapeWidget:
        return self.query_one(TapeWidget)

    @property
    def replay_bar(self) -> ReplayBar:
        return self.query_one(ReplayBar)

    @property
    def playback(self) -> Playback | None:
        """The replay's controls (None: not a replay)."""
        pb = getattr(self.source, "playback", None)
        return pb if isinstance(pb, Playback) else None

    @property
    def liqmap(self) -> LiqMapWidget:
        return self.query_one(LiqMapWidget)

    def price_views(self) -> dict[str, PriceAxisView]:
        return {
            "ladder": self.ladder,
            "heatmap": self.heatmap,
            "exchanges": self.exchanges_table,
            "map": self.liqmap,
        }

    # -- state ----------------------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        if value == self._paused:
            return
        self._paused = value
        if value:
            draw_status(self)  # the PAUSED badge; the views keep the frozen snapshot
        else:
            self.refresh_now()  # unpausing shows current data at once

    @property
    def snapshot(self) -> MarketSnapshot | None:
        """The snapshot on screen."""
        return self._frame.snap if self._frame is not None else None

    @property
    def present_from_ms(self) -> int | None:
        """Time on the source clock from which events happen after the app's start. Earlier
        ones are warm-up, backfill or replay catch-up: they fire no alert, and the views keep
        centring on the price until it is reached. None: not known yet (--speed max replay)."""
        if self.source is None:
            return self._engine_start_ms
        if hasattr(self.source, "live_from_ms"):  # demo (after its warm-up), replay
            return self.source.live_from_ms
        return self._started_ms  # live feeds run on the wall clock

    def caught_up(self, snap: MarketSnapshot) -> bool:
        """The snapshot is of the present: the source has reached the app's start."""
        start = self.present_from_ms
        return start is not None and snap.as_of_ms >= start

    def pull(self, symbol: str | None = None) -> MarketSnapshot:
        """A snapshot of `symbol` (the current market) with the app's filters."""
        return self.engine.snapshot(
            symbol or self.current_symbol,
            window_ms=self.options.window_ms,
            exchange=self.filters.exchange,
        )

    def refresh_now(self) -> None:
        """Pull the current symbol's snapshot and draw the visible view now. While paused,
        redraw the frozen snapshot instead (a view change), unless it belongs to another
        symbol."""
        if not self.is_running:
            return
        frame = self._frame
        if not (self._paused and frame is not None and frame.snap.symbol == self.current_symbol):
            frame = Frame(self.pull())
            self._frame = frame
        with self.batch_update():
            draw_view(self, frame)
            draw_status(self)

    def switch_symbol(self, symbol: str) -> None:
        """Show another market: reset the views and draw it at once (even when paused).
        Nothing of the old market stays on screen under the new name."""
        watch = getattr(self.source, "watch", None)
        if callable(watch):
            watch(symbol)  # live: subscribe its streams if they are not followed yet
        if symbol != self.current_symbol:
            self.current_symbol = symbol
            for widget in self.price_views().values():
                widget.reset_view()
            self._frame = None
        self.refresh_now()

    def history_symbols(self) -> list[str]:
        return list(dict.fromkeys([*self.watchlist, self.current_symbol]))

    def markets(self) -> list[str]:
        """Every market the picker offers: the watchlist, every market with data, then every
        market the connected exchanges list."""
        return list(dict.fromkeys([*self.watchlist, *self.engine.symbols(), *self.universe]))

    def slot_of(self, symbol: str) -> int | None:
        try:
            return self.watchlist.index(symbol) + 1
        except ValueError:
            return None

    # -- lifecycle ------------------------------------------------------------------------------
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(LIQ_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        yield from compose_views(self)
        bar = ReplayBar(id="replay-bar")
        bar.display = self.playback is not None
        yield bar
        yield Footer()

    def on_mount(self) -> None:
        if self._exit:  # asked to exit while composing (hang-up, SIGTERM): Textual mounted nothing
            return
        self._load_themes()
        if self.options.keymap:
            self.set_keymap(self.options.keymap)
        self.refresh_now()
        if self.view_name == "heatmap":  # a lookback fits its columns to the view's size
            self.call_after_refresh(self.refresh_now)
        self._tick_timer = self.set_interval(1 / self.fps, self._tick, name="pull-snapshot")
        self.set_interval(SSH_CHECK_S, self._check_terminal, name="ssh-guard")
        self.set_interval(ALERT_CHECK_S, self.check_alerts, name="alerts")
        if self.source is not None:
            sink = HistorySink(self.engine, self.history, self.history_symbols)
            self.run_worker(
                self.source.run(sink),
                name=f"feed:{getattr(self.source, 'name', 'source')}",
                exclusive=True,
                group="feed",
                exit_on_error=False,
            )
            if hasattr(self.source, "list_markets"):  # live: what the exchanges list
                self.run_worker(self._load_universe(), group="universe", exit_on_error=False)

    async def _load_universe(self) -> None:
        universe = await self.source.list_markets()  # type: ignore[union-attr]
        self.universe = dict(universe.markets)
        if universe.errors:
            missing = ", ".join(sorted(universe.errors))
            self.log.warning("market lists unavailable", missing)

    def _load_themes(self) -> None:
        opts = self.options
        self.theme_problems = install_themes(self, opts.user_themes_dir, opts.theme)

    def _tick(self) -> None:
        self.draw_replay_bar()  # the replay's time also moves while drawing is paused
        if self._paused or len(self.screen_stack) > 1:
            return
        try:
            self.refresh_now()
        except Exception as exc:  # a drawing bug must not take the monitor down
            self._report_ui_error(exc)

    def _report_ui_error(self, exc: Exception) -> None:
        text = f"{type(exc).__name__}: {exc}"
        self.log.error("refresh failed", text)
        if text not in self._ui_errors:
            self._ui_errors.add(text)
            self.notify(text, title="Display error", severity="error", markup=False)

    def _check_terminal(self) -> None:
        """SSH guard (dolphie): exit when the terminal that started us has gone away."""
        if self._stdin_was_tty and not _stdin_is_tty():
            self.exit(return_code=1, message="terminal closed")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if worker.group != "feed":
            return
        if event.state == WorkerState.ERROR:
            err = worker.error
            self.feed_error = f"{type(err).__name__}: {err}" if err is not None else "failed"
            self.notify(
                self.feed_error, title="Feed stopped", severity="error", timeout=15, markup=False
            )
            draw_status(self)

    # -- alerts ---------------------------------------------------------------------------------
    def check_alerts(self) -> list[Alert]:
        """Check every followed market against the alert thresholds (also while paused or
        behind a modal: collecting goes on); notify, ring and run the command for each."""
        rules = self.alert_monitor.rules
        if not rules.enabled or not self.is_running:
            return []
        try:
            fired = self.alert_monitor.scan(
                self.engine,
                self.history_symbols(),
                window_ms=self.options.window_ms,
                exchange=self.filters.exchange,
                present_from_ms=self.present_from_ms,
            )
        except Exception as exc:
            self._report_ui_error(exc)
            return []
        sound_alerts(self, fired, rules, self.alert_commands)
        return fired

    # -- which actions are offered --------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a modal screen is on top, its keys win over the main view's.
        if action in _MAIN_VIEW_ACTIONS and len(self.screen_stack) > 1:
            return False
        return self.offered_in_view(action)

    def offered_in_view(self, action: str) -> bool:
        """Whether the current view offers `action` (an action name without parameters)."""
        if action in REPLAY_ACTIONS and self.playback is None:
            return False  # the replay controls: only while replaying
        return action not in VIEW_ONLY_ACTIONS or action in VIEW_ACTIONS[self.view_name]

    def setting_choices(self) -> list[Choice]:
        """What the palette can set directly: every value the keys cycle through."""
        return setting_choices(self)

    # -- general keys ---------------------------------------------------------------------------
    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        entries = help_entries(
            self.screen.active_bindings, key_display=self.get_key_display, namespace=self
        )
        self.push_screen(HelpScreen(entries), callback=self._after_modal)

    def _after_modal(self, _result: object = None) -> None:
        self.refresh_now()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused

    def set_fps(self, fps: float) -> None:
        self.fps = min(max(fps, MIN_FPS), MAX_FPS)
        if self._tick_timer is not None:
            self._tick_timer.stop()
        self._tick_timer = self.set_interval(1 / self.fps, self._tick, name="pull-snapshot")
        draw_status(self)

    def action_faster(self) -> None:
        higher = [f for f in FPS_STEPS if f > self.fps + 1e-9]
        self.set_fps(higher[0] if higher else MAX_FPS)

    def action_slower(self) -> None:
        lower = [f for f in FPS_STEPS if f < self.fps - 1e-9]
        self.set_fps(lower[-1] if lower else MIN_FPS)

    def action_pick_theme(self) -> None:
        self.search_themes()

    def action_save_svg(self) -> None:
        stamp = datetime.fromtimestamp(self.clock(), tz=UTC).strftime("%Y%m%d-%H%M%S")
        name = f"liqtui-{self.current_symbol}-{self.view_name}-{stamp}.svg"
        folder = self.options.screenshot_dir or Path.cwd()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            path = self.save_screenshot(filename=name, path=str(folder))
        except OSError as exc:
            self.notify(
                f"{folder}: {exc.strerror or exc}",
                title="Screenshot failed",
                severity="error",
                markup=False,
            )
            return
        self.last_screenshot = path
        self.notify(f"saved to {path}", title="Screenshot", timeout=8, markup=False)

    # -- replay controls (only offered while replaying) ------------------------------------------
    def draw_replay_bar(self) -> None:
        pb = self.playback
        if pb is not None and self.is_running:
            self.replay_bar.show(pb, self._replay_keys())

    def _replay_keys(self) -> str:
        """The replay keys as bound now (a [keys] remap shows), for the replay bar."""
        ids = {k.id: k.keys for k in KEYS if k.action_name in REPLAY_ACTIONS}
        ids.update({i: keys for i, keys in self.options.keymap.items() if i in ids})

        def show(binding_id: str) -> str:
            first = ids[binding_id].split(",")[0].strip()
            return self.get_key_display(Binding(first, ""))

        return (
            f"{show('replay_pause')} pause  {show('replay_slower')}{show('replay_faster')} "
            f"speed  {show('seek_minute_back')}{show('seek_minute_forward')} ±1m  "
            f"{show('seek_hour_back')} {show('seek_hour_forward')} ±1h"
        )

    def action_replay_pause(self) -> None:
        if (pb := self.playback) is not None:
            pb.toggle_pause()
            self.draw_replay_bar()

    def action_replay_speed(self, direction: int) -> None:
        if (pb := self.playback) is not None:
            pb.faster() if direction > 0 else pb.slower()
            self.draw_replay_bar()

    def action_seek(self, delta_ms: int) -> None:
        """Seek the replay by `delta_ms` of recorded time (back: rebuilt from its start)."""
        pb = self.playback
        if pb is None:
            return
        if pb.seek(delta_ms) is None:
            self.bell()  # nothing replayed yet: no time to seek from
        self.draw_replay_bar()

    # -- markets --------------------------------------------------------------------------------
    def action_slot(self, n: int) -> None:
        if 1 <= n <= len(self.watchlist):
            self.switch_symbol(self.watchlist[n - 1])
        else:
            self.bell()

    def _step_symbol(self, delta: int) -> None:
        try:
            i = self.watchlist.index(self.current_symbol)
        except ValueError:
            i = -1 if delta > 0 else 0
        self.switch_symbol(self.watchlist[(i + delta) % len(self.watchlist)])

    def action_next_symbol(self) -> None:
        self._step_symbol(1)

    def action_previous_symbol(self) -> None:
        self._step_symbol(-1)

    def action_market(self, symbol: str) -> None:
        self.switch_symbol(symbol)

    def action_pick_market(self) -> None:
        self.search_commands(market_commands(self), placeholder="Market (fuzzy)…")

    # -- views ----------------------------------------------------------------------------------
    def action_next_view(self) -> None:
        self.show_view(str(next_in(VIEWS, self.view_name)))

    def action_show(self, view: str) -> None:
        self.show_view(view)

    def show_view(self, view: str) -> None:
        if view not in VIEWS:
            return
        self.view_name = view
        self.query_one("#views", ContentSwitcher).current = f"view-{view}"
        self.refresh_bindings()  # the footer, help and palette follow the view
        if self._frame is not None and not self._paused:
            self._frame.extras.clear()
        self.call_after_refresh(self.refresh_now)  # after the layout gives the view its size
        self.refresh_now()

    def action_chart_mode(self) -> None:
        self.action_set_chart_mode(str(next_in(CHART_MODES, self.chart.mode)))

    def action_set_chart_mode(self, mode: str) -> None:
        if mode not in CHART_MODES:
            return
        self.chart.set_mode(mode)
        if self.view_name == "chart":
            self.refresh_now()

    def action_tape_threshold(self) -> None:
        """The tape's next size threshold: pulled again even when paused."""
        self.tape.cycle_threshold()
        if self.view_name == "tape":
            self._pull_again()

    def action_set_tape_min(self, min_usd: str) -> None:
        """The tape's size threshold (a palette choice): pulled again even when paused."""
        try:
            value = float(min_usd)
        except ValueError:
            return
        if value >= 0:
            self.tape.min_usd = value
            if self.view_name == "tape":
                self._pull_again()

    def action_toggle_scale(self) -> None:
        self.action_set_scale(str(next_in(SCALES, self.color_scale)))

    def action_set_scale(self, scale: str) -> None:
        if scale not in SCALES:
            return
        self.set_color_scale(scale)
        self.refresh_now()

    def set_color_scale(self, scale: str) -> None:
        """Relative or absolute intensity, for the ladder and the heat map."""
        self.color_scale = scale if scale in SCALES else "relative"
        self.ladder.scale = self.color_scale
        top = self.options.absolute_top_usd
        self.heatmap.absolute_top_usd = top if self.color_scale == "absolute" else None

    def action_cycle_lookback(self) -> None:
        self.action_set_lookback(str(next_in(LOOKBACKS, self.heatmap.lookback)))

    def action_set_lookback(self, lookback: str) -> None:
        """The time × price view's lookback (auto, 12h … 30d): pulled again even when paused."""
        if lookback not in LOOKBACKS:
            return
        self.heatmap.set_lookback(lookback)
        if self.view_name == "heatmap":
            self._pull_again()

    # -- the overview's keys -------------------------------------------------------------------
    def action_cycle_sort(self) -> None:
        self.overview.cycle_sort()

    def action_set_sort(self, column: str) -> None:
        self.overview.set_sort(column)

    def action_reverse_sort(self) -> None:
        self.overview.reverse_sort()

    def action_open_market(self) -> None:
        """The market under the overview's cursor, in the ladder."""
        symbol = self.overview.selected
        if symbol is None:
            return
        self.switch_symbol(symbol)
        self.show_view("ladder")

    # -- keys of the price views: handled by the visible one (PriceAxisView) ---------------------
    def _on_price_view(self, action: str, *args: int) -> None:
        widget = self.price_views().get(self.view_name)
        if widget is not None:
            getattr(widget, f"action_{action}")(*args)
            self.refresh_now()

    def action_cursor(self, rows: int) -> None:
        if self.view_name == "overview":
            self.overview.move(-rows)  # up (positive) is the row above
            return
        self._on_price_view("cursor", rows)

    def action_page(self, direction: int) -> None:
        if self.view_name == "overview":
            self.overview.page(-direction)
            return
        self._on_price_view("page", direction)

    def action_edge(self, direction: int) -> None:
        self._on_price_view("edge", direction)

    def action_zoom_in(self) -> None:
        self._on_price_view("zoom_in")

    def action_zoom_out(self) -> None:
        self._on_price_view("zoom_out")

    def action_cursor_time(self, columns: int) -> None:
        """The time × price view's cursor to an earlier (negative) or later column."""
        if self.view_name == "heatmap":
            self.heatmap.action_cursor_time(columns)
            self.refresh_now()

    def action_recentre(self) -> None:
        self.ladder.clear_cursor()
        self.liqmap.clear_cursor()
        self.heatmap.clear_cursor()
        self._on_price_view("recentre")

    def action_clear_cursor(self) -> None:
        widget: LadderWidget | LiqMapWidget | HeatmapWidget = self.ladder
        if self.view_name == "map":
            widget = self.liqmap
        elif self.view_name == "heatmap":
            widget = self.heatmap
        if widget.cursor_group is not None:
            widget.clear_cursor()
            self.refresh_now()

    # -- model settings -------------------------------------------------------------------------
    def _pull_again(self) -> None:
        """A model filter changed: pull a fresh snapshot even when paused."""
        self._frame = None
        self.refresh_now()

    def action_cycle_preset(self) -> None:
        self.filters.cycle_preset()

    def action_set_preset(self, preset: str) -> None:
        self.filters.set_preset(preset)

    def action_cycle_tier(self, step: int = 1) -> None:
        self.filters.cycle_tier(step)

    def action_set_tier(self, tier: str) -> None:
        self.filters.set_tier(tier)

    def action_cycle_exchange(self) -> None:
        self.filters.cycle_exchange()

    def action_set_exchange(self, exchange: str) -> None:
        self.filters.set_exchange(exchange)

    # -- settings reload ------------------------------------------------------------------------
    def action_reload(self) -> None:
        """Read the config files and the theme folders again and apply what changed."""
        if self.options_loader is not None:
            from liqtui.config import ConfigError

            try:
                options = self.options_loader()
            except ConfigError as exc:
                self.notify(str(exc), title="Config not reloaded", severity="error", markup=False)
                return
            self.apply_options(options)
        self._load_themes()
        self.refresh_now()
        self.notify("config and themes reloaded", title="Reloaded", timeout=4)

    def apply_options(self, options: AppOptions) -> None:
        """Apply the options that differ from the ones in effect (see `self.options`); the
        ones read where they are used (theme, window, screenshot folder) need nothing more."""
        changed = options.changed(self.options)
        self.options = options
        if "watchlist" in changed:
            self.watchlist = list(dict.fromkeys(options.watchlist)) or self.watchlist
        if "realized_mark_usd" in changed:
            self.ladder.realized_mark_usd = options.realized_mark_usd
            self.heatmap.realized_mark_usd = options.realized_mark_usd
        if "ladder_span_pct" in changed:
            for widget in self.price_views().values():
                widget.view.zoom(options.ladder_span_pct / widget.view.span_pct)
        if "color_scale" in changed:
            self.set_color_scale(options.color_scale)
        if "absolute_top_usd" in changed:
            self.ladder.absolute_top_usd = options.absolute_top_usd
            self.set_color_scale(self.color_scale)
        if "alerts" in changed:
            self.alert_monitor.rules = options.alerts
        if "keymap" in changed:
            self.set_keymap(options.keymap)
        if "fps" in changed and options.fps != self.fps:
            self.set_fps(options.fps)
        if "lookback" in changed:
            self.action_set_lookback(options.lookback)
        if "view" in changed:
            self.show_view(options.view)


__all__ = ["VIEWS", "LiqApp"]
