"""The liqtui terminal UI.

Data flow: the source (live feed, replay, demo) runs in a worker and mutates the `Engine`
(through `HistorySink`, which also samples the time × price history on the source clock); the
UI never repaints per event. A timer at `fps` pulls an immutable snapshot of the current market
and hands it to the visible view only, which redraws only the lines (or cells) whose content
changed. Pausing stops the drawing, not the collecting; nothing is drawn while a modal screen
(help, command palette, market or theme picker) covers the views.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import CommandListItem, CommandPalette, SimpleCommand, SimpleProvider
from textual.containers import Vertical
from textual.geometry import Size
from textual.theme import BUILTIN_THEMES
from textual.widget import AwaitMount
from textual.widgets import ContentSwitcher, Footer
from textual.worker import Worker, WorkerState

from liqtui.exchanges import ids as exchange_ids
from liqtui.feeds.base import Source
from liqtui.ladder import LONG_MARK, SHORT_MARK, LadderRow, LadderView, compact_usd
from liqtui.model.density import FITTED, PRESETS, TIER_FILTERS
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.ui.alerts import Alert, AlertMonitor, AlertRules, command_args, run_command
from liqtui.ui.commands import Choice, LiqCommands, LiqPalette
from liqtui.ui.history import Column, History, HistorySink, columns_from_model
from liqtui.ui.options import AppOptions, rules_from_settings
from liqtui.ui.risk import RiskView, risk_view
from liqtui.ui.scale import SCALES
from liqtui.ui.screens.help import HelpScreen, help_entries
from liqtui.ui.themes import DEFAULT_THEME, LIQ_VARIABLE_DEFAULTS, available_themes
from liqtui.ui.widgets.cascade import CascadePanel
from liqtui.ui.widgets.chart import CHART_MODES, ChartWidget, Series
from liqtui.ui.widgets.exchanges import ExchangeData, ExchangeTable
from liqtui.ui.widgets.heatmap import HeatmapWidget
from liqtui.ui.widgets.ladder import LadderHeader, LadderInfo, LadderWidget
from liqtui.ui.widgets.status import StatusBar

ZOOM_STEP = 1.5
MIN_FPS, MAX_FPS = 0.2, 30.0
FPS_STEPS = (0.2, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
SSH_CHECK_S = 5.0
ALERT_CHECK_S = 1.0
VIEWS = ("ladder", "heatmap", "cascade", "exchanges", "chart")
VIEW_TITLES = {
    "ladder": "ladder",
    "heatmap": "time×price",
    "cascade": "cascade risk",
    "exchanges": "per exchange",
    "chart": "chart",
}
EXCHANGES = exchange_ids()
EXCHANGE_CYCLE: tuple[str | None, ...] = (None, *EXCHANGES)
CHART_TITLES = {"price": "price and open interest", "realized": "realized liquidations"}

# Actions about one view's content. Each view lists the ones it supports; in the other views
# they are not offered (footer, help, palette) and their keys do nothing.
_PRICE_LEVEL_ACTIONS = frozenset({"cursor", "page", "edge", "recentre", "zoom_in", "zoom_out"})
VIEW_ACTIONS: dict[str, frozenset[str]] = {
    "ladder": _PRICE_LEVEL_ACTIONS | {"clear_cursor", "toggle_scale", "set_scale"},
    "heatmap": _PRICE_LEVEL_ACTIONS | {"toggle_scale", "set_scale"},
    "cascade": frozenset(),
    "exchanges": _PRICE_LEVEL_ACTIONS,
    "chart": frozenset({"chart_mode", "set_chart_mode"}),
}
_VIEW_ONLY_ACTIONS = frozenset().union(*VIEW_ACTIONS.values())

# Help-screen groups by action name.
ACTION_GROUPS: dict[str, str] = {
    "quit": "General",
    "help": "General",
    "toggle_pause": "General",
    "command_palette": "General",
    "faster": "General",
    "slower": "General",
    "pick_theme": "General",
    "reload": "General",
    "save_svg": "General",
    "next_symbol": "Symbols",
    "previous_symbol": "Symbols",
    "slot": "Symbols",
    "pick_market": "Symbols",
    "cursor": "Ladder",
    "page": "Ladder",
    "edge": "Ladder",
    "recentre": "Ladder",
    "clear_cursor": "Ladder",
    "zoom_in": "Ladder",
    "zoom_out": "Ladder",
    "toggle_scale": "Ladder",
    "next_view": "Views",
    "show": "Views",
    "market": "Symbols",
    "chart_mode": "Views",
    "set_chart_mode": "Views",
    "set_scale": "Ladder",
    "cycle_preset": "Model",
    "cycle_tier": "Model",
    "cycle_exchange": "Model",
    "set_preset": "Model",
    "set_tier": "Model",
    "set_exchange": "Model",
}
# Actions about the main view: disabled while a modal screen (help, a picker) is on top.
_MAIN_VIEW_ACTIONS = frozenset(ACTION_GROUPS) - {"quit", "command_palette"}

HELP_LEGEND = (
    f"E = estimated liquidation levels (model; relative until calibrated); R = realized "
    f"liquidations printed by exchanges in the window. {LONG_MARK} long positions (below the "
    f"price), {SHORT_MARK} short (above); ● marks a large R row; ◆ is the cursor, and the line "
    f"under the ladder gives E from the price to the cursor. Intensity ░▒▓█ grows with E "
    f"(relative: percentile on screen; absolute: USD, see the legend). Views: ladder, "
    f"time×price heat map, cascade risk, per exchange, chart. Cascade figures are indicators "
    f"and scenarios, not forecasts."
)


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin
        return False


def _next_in(options: tuple, current: object, step: int = 1) -> object:  # type: ignore[type-arg]
    try:
        i = options.index(current)
    except ValueError:
        i = -1
    return options[(i + step) % len(options)]


_SETTING_TOASTS = ("leverage preset: ", "tier filter: ", "exchange filter: ")


class PriceLevels(Protocol):
    """A view of price levels (ladder, time × price, per exchange): scroll, zoom, edges."""

    view: LadderView
    rows: list[LadderRow]  # the levels on screen, top first

    @property
    def size(self) -> Size: ...


@dataclass
class _Frame:
    """What is on screen: the market's snapshot and what each view pulled with it (frozen
    together while paused)."""

    snap: MarketSnapshot
    extras: dict[str, object] = field(default_factory=dict)


class LiqApp(App[None]):
    """Live liquidation views for a watchlist of markets."""

    CSS_PATH = "liqtui.tcss"
    TITLE = "liqtui"
    COMMANDS: ClassVar = {LiqCommands}  # type: ignore[assignment]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit", tooltip="Quit liqtui", id="quit"),
        Binding(
            "ctrl+c",
            "quit",
            "Quit",
            tooltip="Quit liqtui",
            show=False,
            priority=True,
            id="quit_ctrl_c",
        ),
        Binding("question_mark,f1", "help", "Help", tooltip="This help", id="help"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Palette",
            tooltip="Command palette (every command, themes, keys)",
            show=False,
            priority=True,
            id="command_palette",
        ),
        Binding(
            "space",
            "toggle_pause",
            "Pause",
            tooltip="Pause / resume drawing (data keeps being collected)",
            id="pause",
        ),
        Binding(
            "plus,equals_sign",
            "faster",
            "Faster",
            tooltip="Redraw more often (+fps)",
            show=False,
            id="faster",
        ),
        Binding(
            "minus", "slower", "Slower", tooltip="Redraw less often (-fps)", show=False, id="slower"
        ),
        # tab/shift+tab are the screen's focus keys by default: priority makes them ours.
        Binding(
            "tab,right_square_bracket",
            "next_symbol",
            "Next",
            tooltip="Next symbol in the watchlist",
            priority=True,
            id="next_symbol",
        ),
        Binding(
            "shift+tab,left_square_bracket",
            "previous_symbol",
            "Previous",
            tooltip="Previous symbol in the watchlist",
            show=False,
            priority=True,
            id="previous_symbol",
        ),
        *(
            Binding(
                str(n),
                f"slot({n})",
                f"Slot {n}",
                tooltip="Jump to watchlist slot N",
                show=False,
                id=f"slot_{n}",
            )
            for n in range(1, 10)
        ),
        Binding(
            "slash",
            "pick_market",
            "Market",
            tooltip="Find a market (fuzzy, every market with data)",
            id="pick_market",
        ),
        Binding("v", "next_view", "View", tooltip="Next view", id="next_view"),
        Binding(
            "up,k", "cursor(1)", "Up", tooltip="Cursor / view up a row", show=False, id="cursor_up"
        ),
        Binding(
            "down,j",
            "cursor(-1)",
            "Down",
            tooltip="Cursor / view down a row",
            show=False,
            id="cursor_down",
        ),
        Binding(
            "pageup", "page(1)", "Page up", tooltip="Scroll up a page", show=False, id="page_up"
        ),
        Binding(
            "pagedown",
            "page(-1)",
            "Page down",
            tooltip="Scroll down a page",
            show=False,
            id="page_down",
        ),
        Binding(
            "g,home",
            "edge(1)",
            "Top",
            tooltip="To the highest level on the map",
            show=False,
            id="top",
        ),
        Binding(
            "G,end",
            "edge(-1)",
            "Bottom",
            tooltip="To the lowest level on the map",
            show=False,
            id="bottom",
        ),
        Binding("m,0", "recentre", "Centre", tooltip="Re-centre on the price", id="recentre"),
        Binding(
            "z,less_than_sign",
            "zoom_in",
            "Zoom",
            tooltip="Zoom in (narrower price span)",
            id="zoom_in",
        ),
        Binding(
            "Z,greater_than_sign",
            "zoom_out",
            "Zoom out",
            tooltip="Zoom out (wider price span)",
            show=False,
            id="zoom_out",
        ),
        Binding(
            "s",
            "toggle_scale",
            "Scale",
            tooltip="Color scale: relative (percentile on screen) / absolute (USD)",
            show=False,
            id="color_scale",
        ),
        Binding(
            "l",
            "cycle_preset",
            "Leverage",
            tooltip="Leverage preset: high / balanced / observed-low",
            show=False,
            id="preset",
        ),
        Binding(
            "f",
            "cycle_tier",
            "Tiers",
            tooltip="Tier filter: all / 25x+ only",
            show=False,
            id="tier_filter",
        ),
        Binding(
            "e",
            "cycle_exchange",
            "Exchange",
            tooltip="Exchange filter: all / binance / bybit / okx / hyperliquid",
            show=False,
            id="exchange_filter",
        ),
        Binding(
            "c",
            "chart_mode",
            "Chart",
            tooltip="Chart: price and open interest / realized liquidations",
            show=False,
            id="chart_mode",
        ),
        Binding("t", "pick_theme", "Theme", tooltip="Theme picker", show=False, id="theme"),
        Binding(
            "ctrl+r",
            "reload",
            "Reload",
            tooltip="Reload config and themes",
            show=False,
            id="reload",
        ),
        Binding(
            "ctrl+s",
            "save_svg",
            "Screenshot",
            tooltip="Save an SVG screenshot",
            show=False,
            id="screenshot",
        ),
        Binding(
            "escape",
            "clear_cursor",
            "Back",
            tooltip="Close an overlay; put the cursor back on the price",
            show=False,
            id="escape",
        ),
    ]

    def __init__(
        self,
        engine: Engine,
        source: Source | None,
        *,
        watchlist: list[str],
        fps: float = 4.0,
        theme: str = DEFAULT_THEME,
        realized_mark_usd: float = 100_000.0,
        window_ms: int | None = None,
        user_themes_dir: Path | None = None,
        title: str = "liqtui",
        ladder_span_pct: float = 0.08,
        view: str = "ladder",
        color_scale: str = "relative",
        absolute_top_usd: float = 10_000_000.0,
        keymap: Mapping[str, str] | None = None,
        alerts: AlertRules | None = None,
        screenshot_dir: Path | None = None,
        options_loader: Callable[[], AppOptions] | None = None,
        history: History | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # NO_COLOR: Textual picks its color filter here, from the theme in use now (not ours
        # yet). For a non-ANSI theme that is Monochrome, which maps the terminal's default
        # colors to black: black text on black. With ansi_color it is NoColor instead: every
        # cell in the terminal's own foreground and background (the palette adds no color).
        super().__init__(ansi_color=True if "NO_COLOR" in os.environ else None)
        self.engine = engine
        self.source = source
        self.universe: dict[str, tuple[str, ...]] = {}  # market → exchanges listing it (live)
        self.watchlist: list[str] = list(dict.fromkeys(watchlist)) or engine.symbols()[:9]
        if not self.watchlist:
            self.watchlist = ["BTC"]
        self.current_symbol: str = self.watchlist[0]
        self.fps = min(max(fps, MIN_FPS), MAX_FPS) if fps > 0 else 4.0
        self.requested_theme = theme
        self.realized_mark_usd = realized_mark_usd
        self.window_ms = window_ms
        self.user_themes_dir = user_themes_dir
        self.ladder_span_pct = ladder_span_pct
        self.title = title
        self.view_name = view if view in VIEWS else "ladder"
        self.color_scale = color_scale if color_scale in SCALES else "relative"
        self.absolute_top_usd = absolute_top_usd
        self.exchange_filter: str | None = None
        self.keymap_config: dict[str, str] = dict(keymap or {})
        self.alert_monitor = AlertMonitor(alerts or AlertRules())
        self.screenshot_dir = screenshot_dir
        self.options_loader = options_loader  # ctrl+r: the options from the files again
        # What settings and flags said (before the app's own adjustments): reload applies
        # only the options that changed since, so it keeps what the user changed with keys.
        self.options = AppOptions(
            watchlist=tuple(watchlist),
            fps=fps,
            theme=theme,
            realized_mark_usd=realized_mark_usd,
            window_ms=window_ms,
            user_themes_dir=user_themes_dir,
            ladder_span_pct=ladder_span_pct,
            view=view,
            color_scale=color_scale,
            absolute_top_usd=absolute_top_usd,
            keymap=dict(keymap or {}),
            alerts=alerts or AlertRules(),
            screenshot_dir=screenshot_dir,
        )
        self.history = history or History(period_ms=engine.params.step_ms)
        self.clock = clock
        self._started_ms = int(clock() * 1000)  # the present of a live feed (wall clock)
        self._engine_start_ms = engine.clock_ms  # without a source: what the engine holds
        self._settled: set[str] = set()  # markets whose views were centred on a real price
        self.feed_error: str | None = None
        self.theme_problems: list[str] = []
        self.last_screenshot: str | None = None
        self._paused = False
        self._frame: _Frame | None = None  # what is on screen (frozen while paused)
        self._stdin_was_tty = _stdin_is_tty()
        self._ui_errors: set[str] = set()
        self._tick_timer = None
        self._alert_tasks: set[asyncio.Task[object]] = set()
        self.alert_commands_run = 0

    # -- public helpers -------------------------------------------------------------------------
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
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        if value == self._paused:
            return
        self._paused = value
        if value:
            self._draw_status()  # the PAUSED badge; the views keep the frozen snapshot
        else:
            self.refresh_now()  # unpausing shows current data at once

    @property
    def snapshot(self) -> MarketSnapshot | None:
        """The snapshot on screen."""
        return self._frame.snap if self._frame is not None else None

    @property
    def _snapshot(self) -> MarketSnapshot | None:  # older name
        return self.snapshot

    @property
    def preset(self) -> str:
        return self.engine.preset

    @property
    def tier_filter(self) -> str:
        return self.engine.tier_filter

    @property
    def present_from_ms(self) -> int | None:
        """Time on the source clock from which events happen after the app's start. Earlier
        ones are warm-up, backfill or replay catch-up: they fire no alert, and the views keep
        centring on the price until it is reached. None: not known yet (--speed max replay)."""
        if self.source is None:
            return self._engine_start_ms
        if hasattr(self.source, "live_from_ms"):  # demo (after its warm-up), replay
            return self.source.live_from_ms  # type: ignore[no-any-return]
        return self._started_ms  # live feeds run on the wall clock

    def caught_up(self, snap: MarketSnapshot) -> bool:
        """The snapshot is of the present: the source has reached the app's start."""
        start = self.present_from_ms
        return start is not None and snap.as_of_ms >= start

    def pull(self, symbol: str | None = None, **kw: object) -> MarketSnapshot:
        """A snapshot of `symbol` (the current market) with the app's filters."""
        return self.engine.snapshot(
            symbol or self.current_symbol,
            window_ms=kw.get("window_ms", self.window_ms),  # type: ignore[arg-type]
            exchange=kw.get("exchange", self.exchange_filter),  # type: ignore[arg-type]
        )

    def refresh_now(self) -> None:
        """Pull the current symbol's snapshot and draw the visible view now. While paused,
        redraw the frozen snapshot instead (a view change), unless it belongs to another
        symbol."""
        if not self.is_running:
            return
        frame = self._frame
        if not (self._paused and frame is not None and frame.snap.symbol == self.current_symbol):
            frame = _Frame(self.pull())
            self._frame = frame
        with self.batch_update():
            self._draw_view(frame)
            self._draw_status()

    def switch_symbol(self, symbol: str) -> None:
        """Show another market: reset the views and draw it at once (even when paused).
        Nothing of the old market stays on screen under the new name."""
        watch = getattr(self.source, "watch", None)
        if callable(watch):
            watch(symbol)  # live: subscribe its streams if they are not followed yet
        if symbol != self.current_symbol:
            self.current_symbol = symbol
            self.ladder.reset_view()
            self.heatmap.reset_view()
            self.exchanges_table.reset_view()
            self._frame = None
        self.refresh_now()

    def history_symbols(self) -> list[str]:
        return list(dict.fromkeys([*self.watchlist, self.current_symbol]))

    # -- lifecycle ------------------------------------------------------------------------------
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(LIQ_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with ContentSwitcher(initial=f"view-{self.view_name}", id="views"):
            with Vertical(id="view-ladder"):
                header = LadderHeader(id="ladder-header")
                info = LadderInfo(id="ladder-info")
                yield header
                yield LadderWidget(
                    realized_mark_usd=self.realized_mark_usd,
                    header=header,
                    info=info,
                    view=LadderView(span_pct=self.ladder_span_pct),
                    scale=self.color_scale,
                    absolute_top_usd=self.absolute_top_usd,
                    id="ladder",
                )
                yield info
            yield HeatmapWidget(
                span_pct=self.ladder_span_pct,
                absolute_top_usd=self.absolute_top_usd if self.color_scale == "absolute" else None,
                id="view-heatmap",
            )
            yield CascadePanel(id="view-cascade")
            yield ExchangeTable(span_pct=self.ladder_span_pct, id="view-exchanges")
            yield ChartWidget(id="view-chart")
        yield Footer()

    def on_mount(self) -> None:
        if self._exit:  # asked to exit while composing (hang-up, SIGTERM): Textual mounted nothing
            return
        self._load_themes()
        if self.keymap_config:
            self.set_keymap(self.keymap_config)
        self.refresh_now()
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
        themes, problems = available_themes(self.user_themes_dir)
        for theme in themes.values():
            if theme is not BUILTIN_THEMES.get(theme.name):  # Textual's own are there already
                self.register_theme(theme)
        wanted = self.requested_theme
        if wanted not in self.available_themes:
            problems.append(f"theme {wanted!r} is not available; using {DEFAULT_THEME}")
            wanted = DEFAULT_THEME
        self.theme = wanted
        self.theme_problems = problems
        if problems:
            self.notify(
                "\n".join(problems),
                title="Theme problem" if len(problems) == 1 else "Theme problems",
                severity="warning",
                timeout=12,
                markup=False,
            )

    def _tick(self) -> None:
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
            self._draw_status()

    def _slot_of(self, symbol: str) -> int | None:
        try:
            return self.watchlist.index(symbol) + 1
        except ValueError:
            return None

    def _draw_status(self) -> None:
        if not self.is_running:
            return
        frame = self._frame
        snap = frame.snap if frame is not None else None
        if snap is None or snap.symbol != self.current_symbol:
            snap = self.pull()
        self.status.show(
            snap,
            slot=self._slot_of(self.current_symbol),
            paused=self._paused,
            error=self.feed_error,
            view=VIEW_TITLES[self.view_name],
            fps=self.fps,
        )

    # -- the views ------------------------------------------------------------------------------
    def _keep_centred(self, snap: MarketSnapshot) -> None:
        """Until a market's data is of the present and priced by a mark (not a warm-up price,
        not an old liquidation print), its price views centre on the latest price on every
        frame, unless the user moved them; from then on they follow the price near an edge."""
        if snap.symbol in self._settled or snap.price is None:
            return
        for widget in (self.ladder, self.heatmap, self.exchanges_table):
            if widget.view.following:
                widget.view.recentre()
        if self.caught_up(snap) and (snap.price_source or "").startswith("mark"):
            self._settled.add(snap.symbol)

    def _draw_view(self, frame: _Frame) -> None:
        view = self.view_name
        snap = frame.snap
        self._keep_centred(snap)
        if view == "ladder":
            self.ladder.show(snap)
        elif view == "heatmap":
            if "heatmap" not in frame.extras or not self._paused:
                frame.extras["heatmap"] = self.heatmap_columns(snap)
            cols, version = frame.extras["heatmap"]  # type: ignore[misc]
            self.heatmap.show(snap, cols, version)
        elif view == "cascade":
            if "cascade" not in frame.extras or not self._paused:
                frame.extras["cascade"] = self._risk_view(snap)
            self.cascade.show(frame.extras["cascade"])  # type: ignore[arg-type]
        elif view == "exchanges":
            if "exchanges" not in frame.extras or not self._paused:
                frame.extras["exchanges"] = self._exchange_data(snap)
            self.exchanges_table.show(snap, frame.extras["exchanges"])  # type: ignore[arg-type]
        elif view == "chart":
            self._draw_chart(snap)

    def heatmap_columns(self, snap: MarketSnapshot) -> tuple[list[Column], object]:
        """The heat map's columns: the model's history H when it covers more time than the
        UI's own per-minute samples (e.g. a long replay), else the samples."""
        ui = self.history.columns(snap.symbol)
        try:
            model_view = self.engine.snapshot(
                snap.symbol, window_ms=self.window_ms, exchange=self.exchange_filter, history=True
            ).history  # type: ignore[call-arg]
        except TypeError:  # an engine without H
            model_view = None
        model = columns_from_model(model_view, ui) if model_view is not None else []

        def span(cols: list[Column]) -> int:
            return cols[-1].t_ms - cols[0].t_ms if len(cols) > 1 else 0

        if model and span(model) > span(ui) * 1.5:
            return model, ("model", len(model), model[-1].t_ms)
        return ui, ("ui", self.history.version)

    def _risk_view(self, snap: MarketSnapshot) -> RiskView:
        last_min = self.pull(snap.symbol, window_ms=60_000)
        return risk_view(
            snap, realized_last_min_usd=last_min.realized_long_usd + last_min.realized_short_usd
        )

    def _exchange_data(self, snap: MarketSnapshot) -> list[ExchangeData]:
        notes = {f.name: f.remarks() for f in snap.feeds}
        names = [
            ex
            for ex in EXCHANGES
            if ex in snap.estimated_by_exchange or ex in snap.realized_by_exchange or ex in notes
        ]
        if self.exchange_filter is not None:
            names = [ex for ex in names if ex == self.exchange_filter]
        return [
            ExchangeData(ex, self.pull(snap.symbol, exchange=ex), notes.get(ex, "")) for ex in names
        ]

    def chart_series(self, snap: MarketSnapshot) -> tuple[object, list[Series], str]:
        """The chart's key (changes when its data does), series and a message if empty."""
        cols = self.history.columns(snap.symbol)
        if self.chart.mode == "price":
            pts = [(c.t_ms, c.price, c.oi_usd) for c in cols if c.price]
            if snap.price:
                oi = sum(snap.open_interest.values()) * snap.price
                pts.append((snap.as_of_ms, snap.price, oi))
            now = snap.as_of_ms
            x = tuple((t - now) / 60_000 for t, _, _ in pts)
            prices = [p for _, p, _ in pts]
            punit, pdiv = ("k", 1e3) if prices and max(prices) >= 10_000 else ("", 1.0)
            title = f"{snap.symbol} price{f' ({punit} USD)' if punit else ''}, minutes ago"
            series = [Series(title, x, tuple(p / pdiv for p in prices), "price")]
            ois = [o for _, _, o in pts]
            if any(ois):
                unit, div = _unit(max(ois))
                series.append(
                    Series(f"open interest ({unit} USD)", x, tuple(o / div for o in ois), "text")
                )
            key = ("price", snap.symbol, self.history.version, snap.price)
            return key, series, f"{snap.symbol}: collecting price history…"
        # realized liquidations over time, from the realized log (the window's prints)
        model = self.engine.markets.get(snap.symbol)
        if model is None:
            return (
                ("realized", snap.symbol, None),
                [],
                f"no realized liquidations for {snap.symbol}",
            )
        t, side, exch, _prices, notional = model.realized.columns()
        window = snap.window_ms
        span = min(window, 6 * 3600 * 1000)
        n_buckets = 60
        bucket = max(span // n_buckets, 60_000)
        now = snap.as_of_ms
        start = now - bucket * n_buckets
        series = []
        mask = t >= start
        if self.exchange_filter is not None:
            mask &= exch == EXCHANGES.index(self.exchange_filter)
        idx = ((t[mask] - start) // bucket).clip(0, n_buckets - 1)
        x = tuple(-(n_buckets - i - 0.5) * bucket / 60_000 for i in range(n_buckets))
        for label, s, role in (
            (f"{LONG_MARK} longs", 0, "long"),
            (f"{SHORT_MARK} shorts", 1, "short"),
        ):
            sel = side[mask] == s
            sums = np.bincount(idx[sel], weights=notional[mask][sel], minlength=n_buckets)
            unit, div = _unit(float(sums.max(initial=0.0)))
            title = f"R {label} liquidated per {bucket // 60_000}m ({unit} USD, minutes ago)"
            series.append(Series(title, x, tuple(float(v) / div for v in sums), role, "bar"))
        key = ("realized", snap.symbol, int(mask.sum()), now // bucket, self.exchange_filter)
        return key, series, f"no realized liquidations for {snap.symbol}"

    def _draw_chart(self, snap: MarketSnapshot) -> None:
        key, series, message = self.chart_series(snap)
        self.chart.show(key, series, message)

    # -- alerts ---------------------------------------------------------------------------------
    def check_alerts(self) -> list[Alert]:
        """Check every followed market against the alert thresholds (also while paused or
        behind a modal: collecting goes on)."""
        if not self.alert_monitor.rules.enabled or not self.is_running:
            return []
        fired: list[Alert] = []
        start = self.present_from_ms
        try:
            for symbol in self.history_symbols():
                snap = self.engine.snapshot(symbol, window_ms=self.window_ms)
                if snap.price is None:
                    continue
                risk = self._risk_view(snap)
                fired += self.alert_monitor.check(
                    snap,
                    realized_last_min_usd=self._realized_since(snap, start),
                    cascade_firing=risk.firing,
                    cascade_reason="; ".join(risk.detector_reasons),
                    present=self.caught_up(snap),
                )
        except Exception as exc:
            self._report_ui_error(exc)
            return fired
        for alert in fired:
            self.notify(
                alert.message,
                title=f"Alert: {alert.kind}",
                severity="warning",
                timeout=10,
                markup=False,
            )
            if self.alert_monitor.rules.bell:
                self.bell()
            if self.alert_monitor.rules.command:
                argv = command_args(self.alert_monitor.rules.command, alert)
                task = asyncio.get_running_loop().create_task(run_command(argv))
                self._alert_tasks.add(task)
                task.add_done_callback(self._alert_tasks.discard)
                self.alert_commands_run += 1
        return fired

    def _realized_since(self, snap: MarketSnapshot, start_ms: int | None) -> float:
        """R in the last minute, counting only prints from `start_ms` on (not a backfill)."""
        if start_ms is not None and snap.as_of_ms < start_ms:
            return 0.0
        # (a window of 0 would mean the whole window; 1 ms counts the prints at start_ms)
        window = 60_000 if start_ms is None else max(1, min(60_000, snap.as_of_ms - start_ms))
        recent = self.pull(snap.symbol, window_ms=window)
        return recent.realized_long_usd + recent.realized_short_usd

    # -- actions --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a modal screen is on top, its keys win over the main view's.
        if action in _MAIN_VIEW_ACTIONS and len(self.screen_stack) > 1:
            return False
        return self.offered_in_view(action)

    def offered_in_view(self, action: str) -> bool:
        """Whether the current view offers `action` (an action name without parameters)."""
        return action not in _VIEW_ONLY_ACTIONS or action in VIEW_ACTIONS[self.view_name]

    # Every palette of the app is a LiqPalette (safe to close in a key storm).
    def action_command_palette(self) -> None:
        if self.use_command_palette and not CommandPalette.is_open(self):
            self.push_screen(LiqPalette(id="--command-palette"))

    def search_commands(
        self, commands: Sequence[CommandListItem], placeholder: str = "Search for commands…"
    ) -> AwaitMount:
        provider = SimpleProvider(self.screen, commands)
        return self.push_screen(LiqPalette(providers=[provider], placeholder=placeholder))

    def search_themes(self) -> None:
        from textual.theme import ThemeProvider

        self.push_screen(LiqPalette(providers=[ThemeProvider], placeholder="Search for themes…"))

    def setting_choices(self) -> list[Choice]:
        """What the palette can set directly: every value the keys cycle through."""
        return [
            Choice(
                "View", "show", [(v, VIEW_TITLES[v]) for v in VIEWS], self.view_name, "next_view"
            ),
            Choice(
                "Market",
                "market",
                [(s, f"{s} (slot {i})") for i, s in enumerate(self.watchlist, 1)],
                self.current_symbol,
                "slot",
            ),
            Choice(
                "Leverage preset",
                "set_preset",
                [(p, p) for p in self.preset_options()],
                self.engine.preset,
                "cycle_preset",
            ),
            Choice(
                "Tier filter",
                "set_tier",
                [(t, _tier_label(t)) for t in TIER_FILTERS],
                self.tier_filter,
                "cycle_tier",
            ),
            Choice(
                "Exchange filter",
                "set_exchange",
                [(e or "all", e or "all exchanges") for e in EXCHANGE_CYCLE],
                self.exchange_filter or "all",
                "cycle_exchange",
            ),
            Choice(
                "Chart",
                "set_chart_mode",
                [(m, CHART_TITLES.get(m, m)) for m in CHART_MODES],
                self.chart.mode,
                "chart_mode",
            ),
            Choice(
                "Color scale",
                "set_scale",
                [(s, s) for s in SCALES],
                self.color_scale,
                "toggle_scale",
            ),
        ]

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        entries = help_entries(
            self.screen.active_bindings,
            key_display=self.get_key_display,
            groups=ACTION_GROUPS,
            namespace=self,
        )
        self.push_screen(HelpScreen(entries, legend=HELP_LEGEND), callback=self._after_modal)

    def _after_modal(self, _result: object = None) -> None:
        self.refresh_now()

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused

    def set_fps(self, fps: float) -> None:
        self.fps = min(max(fps, MIN_FPS), MAX_FPS)
        if self._tick_timer is not None:
            self._tick_timer.stop()
        self._tick_timer = self.set_interval(1 / self.fps, self._tick, name="pull-snapshot")
        self._draw_status()

    def action_faster(self) -> None:
        higher = [f for f in FPS_STEPS if f > self.fps + 1e-9]
        self.set_fps(higher[0] if higher else MAX_FPS)

    def action_slower(self) -> None:
        lower = [f for f in FPS_STEPS if f < self.fps - 1e-9]
        self.set_fps(lower[-1] if lower else MIN_FPS)

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

    def markets(self) -> list[str]:
        """Every market the picker offers: the watchlist, every market with data, then every
        market the connected exchanges list."""
        return list(dict.fromkeys([*self.watchlist, *self.engine.symbols(), *self.universe]))

    def action_pick_market(self) -> None:
        commands = []
        for symbol in self.markets():
            slot = self._slot_of(symbol)
            n = self.engine.events_by_market.get(symbol, 0)
            where = f"watchlist {slot}" if slot else "not in the watchlist"
            listed = ", ".join(self.universe.get(symbol, ()))
            commands.append(
                SimpleCommand(
                    symbol,
                    lambda s=symbol: self.switch_symbol(s),
                    f"{where}; {n} events" + (f"; on {listed}" if listed else ""),
                )
            )
        self.search_commands(commands, placeholder="Market (fuzzy)…")

    def action_pick_theme(self) -> None:
        self.search_themes()

    def action_next_view(self) -> None:
        self.show_view(str(_next_in(VIEWS, self.view_name)))

    def action_show(self, view: str) -> None:
        self.show_view(view)

    def action_market(self, symbol: str) -> None:
        self.switch_symbol(symbol)

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
        self.action_set_chart_mode(str(_next_in(CHART_MODES, self.chart.mode)))

    def action_set_chart_mode(self, mode: str) -> None:
        if mode not in CHART_MODES:
            return
        self.chart.mode = mode
        self.chart._data_key = None  # draw the new mode at once
        self.chart._built_at = -1e9
        if self.view_name == "chart":
            self.refresh_now()

    def action_toggle_scale(self) -> None:
        self.action_set_scale(str(_next_in(SCALES, self.color_scale)))

    def action_set_scale(self, scale: str) -> None:
        if scale not in SCALES:
            return
        self.set_color_scale(scale)
        self.refresh_now()

    def set_color_scale(self, scale: str) -> None:
        """Relative or absolute intensity, for the ladder and the heat map."""
        self.color_scale = scale if scale in SCALES else "relative"
        self.ladder.scale = self.color_scale
        self.heatmap.absolute_top_usd = (
            self.absolute_top_usd if self.color_scale == "absolute" else None
        )

    def _pull_again(self) -> None:
        """A model filter changed: pull a fresh snapshot even when paused."""
        self._frame = None
        self.refresh_now()

    def preset_options(self) -> tuple[str, ...]:
        """The leverage presets `l` cycles through (with "fitted" once calibrate fitted it)."""
        fitted = (FITTED,) if getattr(self.engine, "fitted_weights", None) else ()
        return (*PRESETS, *fitted)

    def _announce(self, setting: str, value: str) -> None:
        """A brief toast naming a model setting a key just changed (the status line keeps it).
        It replaces the previous one, so a quick run of l/f/e does not stack toasts."""
        for shown in list(self._notifications):  # Textual 8.2.8 has no public "replace"
            if shown.message.startswith(_SETTING_TOASTS):
                self._unnotify(shown, refresh=False)
        self.notify(f"{setting}: {value}", timeout=2.5, markup=False)

    def action_cycle_preset(self) -> None:
        self.action_set_preset(str(_next_in(self.preset_options(), self.engine.preset)))

    def action_set_preset(self, preset: str) -> None:
        if preset not in self.preset_options():
            return
        self.engine.preset = preset
        self._pull_again()
        self._announce("leverage preset", preset)

    def action_cycle_tier(self) -> None:
        self.action_set_tier(str(_next_in(TIER_FILTERS, self.engine.tier_filter)))

    def action_set_tier(self, tier: str) -> None:
        if tier not in TIER_FILTERS:
            return
        self.engine.tier_filter = tier
        self._pull_again()
        self._announce("tier filter", _tier_label(tier))

    def action_cycle_exchange(self) -> None:
        self.action_set_exchange(str(_next_in(EXCHANGE_CYCLE, self.exchange_filter) or "all"))

    def action_set_exchange(self, exchange: str) -> None:
        """One exchange's data only, or "all"."""
        if exchange != "all" and exchange not in EXCHANGES:
            return
        self.exchange_filter = None if exchange == "all" else exchange
        self._pull_again()
        self._announce("exchange filter", exchange if exchange != "all" else "all exchanges")

    def _price_widget(self) -> PriceLevels | None:
        """The current view's price levels, if it shows any."""
        widgets: dict[str, PriceLevels] = {
            "ladder": self.ladder,
            "heatmap": self.heatmap,
            "exchanges": self.exchanges_table,
        }
        return widgets.get(self.view_name)

    def action_cursor(self, rows: int) -> None:
        if self.view_name == "ladder":
            self.ladder.move_cursor(rows)
        elif (w := self._price_widget()) is not None:
            w.view.scroll(rows)
        self.refresh_now()

    def action_page(self, direction: int) -> None:
        w = self._price_widget()
        if w is None:
            return
        if isinstance(w, LadderWidget):
            page = w.page_rows
            start = w.cursor_group if w.cursor_group is not None else w.price_group()
            w.view.scroll(direction * page)
            if start is not None:
                w.cursor_group = start + direction * page
        else:
            w.view.scroll(direction * max(1, w.size.height - 3))
        self.refresh_now()

    def action_edge(self, direction: int) -> None:
        """To the highest (1) or lowest (-1) price with E or R on the map."""
        w = self._price_widget()
        snap = self.snapshot
        if w is None or snap is None or snap.grid is None or not w.rows:
            return
        mass = snap.estimated_long + snap.estimated_short
        if snap.realized_long.size == mass.size:
            mass = mass + snap.realized_long + snap.realized_short
        nz = np.flatnonzero(mass > 0)
        if nz.size == 0:
            return
        b = int(nz[-1] if direction > 0 else nz[0])
        price = snap.grid.origin + (b + 0.5) * snap.grid.width
        step = w.rows[0].price_high - w.rows[0].price_low
        group = int(price // step)
        if isinstance(w, LadderWidget):
            w.cursor_to(group)
        else:
            top = round(w.rows[0].price_low / step)
            target_top = group + (0 if direction > 0 else len(w.rows) - 1)
            w.view.scroll(target_top - top)
        self.refresh_now()

    def action_recentre(self) -> None:
        w = self._price_widget()
        if w is not None:
            w.view.recentre()
        self.ladder.clear_cursor()
        self.refresh_now()

    def action_clear_cursor(self) -> None:
        if self.ladder.cursor_group is not None:
            self.ladder.clear_cursor()
            self.refresh_now()

    def _zoom(self, factor: float) -> None:
        """Zoom until the row step changes (row steps are rounded to "nice" prices, so one
        factor may not be enough), at most a few steps."""
        w = self._price_widget()
        if w is None:
            return

        def step() -> float | None:
            rows = w.rows
            return rows[0].price_high - rows[0].price_low if rows else None

        before = step()
        for _ in range(4):
            w.view.zoom(factor)
            self.refresh_now()
            if before is None or step() != before:
                break

    def action_zoom_in(self) -> None:
        self._zoom(1 / ZOOM_STEP)

    def action_zoom_out(self) -> None:
        self._zoom(ZOOM_STEP)

    def action_save_svg(self) -> None:
        stamp = datetime.fromtimestamp(self.clock(), tz=UTC).strftime("%Y%m%d-%H%M%S")
        name = f"liqtui-{self.current_symbol}-{self.view_name}-{stamp}.svg"
        folder = self.screenshot_dir or Path.cwd()
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
        """Apply the options that differ from the ones in effect (see `self.options`)."""
        changed = options.changed(self.options)
        self.options = options
        if "watchlist" in changed:
            self.watchlist = list(dict.fromkeys(options.watchlist)) or self.watchlist
        if "theme" in changed:
            self.requested_theme = options.theme
        if "user_themes_dir" in changed:
            self.user_themes_dir = options.user_themes_dir
        if "realized_mark_usd" in changed:
            self.realized_mark_usd = self.ladder.realized_mark_usd = options.realized_mark_usd
        if "window_ms" in changed:
            self.window_ms = options.window_ms
        if "ladder_span_pct" in changed:
            self.ladder_span_pct = options.ladder_span_pct
            for widget in (self.ladder, self.heatmap, self.exchanges_table):
                widget.view.zoom(options.ladder_span_pct / widget.view.span_pct)
        if "color_scale" in changed:
            self.set_color_scale(options.color_scale)
        if "absolute_top_usd" in changed:
            self.absolute_top_usd = self.ladder.absolute_top_usd = options.absolute_top_usd
            self.set_color_scale(self.color_scale)
        if "screenshot_dir" in changed:
            self.screenshot_dir = options.screenshot_dir
        if "alerts" in changed:
            self.alert_monitor.rules = options.alerts
        if "keymap" in changed:
            self.keymap_config = dict(options.keymap)
            self.set_keymap(self.keymap_config)
        if "fps" in changed and options.fps != self.fps:
            self.set_fps(options.fps)
        if "view" in changed:
            self.show_view(options.view)


def _tier_label(tier: str) -> str:
    return "all tiers" if tier == "all" else f"{tier} only"


def _unit(peak: float) -> tuple[str, float]:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if peak >= div:
            return unit, div
    return "", 1.0


__all__ = ["VIEWS", "LiqApp", "compact_usd", "rules_from_settings"]
