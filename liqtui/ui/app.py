"""The liqtui terminal UI.

Data flow: the source (live feed, replay, demo) runs in a worker and mutates the `Engine`; the
UI never repaints per event. A timer at `fps` pulls an immutable snapshot of the current market
and hands it to the widgets, which redraw only the lines whose content changed. Pausing stops
the drawing, not the collecting.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Footer
from textual.worker import Worker, WorkerState

from liqtui.feeds.base import Source
from liqtui.ladder import LONG_MARK, SHORT_MARK, LadderView
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.resources import data_path
from liqtui.ui.screens.help import HelpScreen, help_entries
from liqtui.ui.themes import BUILTIN_DARK, DEFAULT_THEME, LIQ_VARIABLE_DEFAULTS, load_themes
from liqtui.ui.widgets.ladder import LadderHeader, LadderWidget
from liqtui.ui.widgets.status import StatusBar

ZOOM_STEP = 1.5
MIN_FPS, MAX_FPS = 0.2, 30.0
SSH_CHECK_S = 5.0

# Help-screen groups by action name.
ACTION_GROUPS: dict[str, str] = {
    "quit": "General",
    "help": "General",
    "toggle_pause": "General",
    "command_palette": "General",
    "next_symbol": "Symbols",
    "previous_symbol": "Symbols",
    "slot": "Symbols",
    "recentre": "Ladder",
    "scroll": "Ladder",
    "page": "Ladder",
    "zoom_in": "Ladder",
    "zoom_out": "Ladder",
}
# Actions about the main view: disabled while a modal screen (help) is on top.
_MAIN_VIEW_ACTIONS = frozenset(ACTION_GROUPS) - {"quit", "command_palette"}

HELP_LEGEND = (
    f"E = estimated liquidation levels (model, relative scale); R = realized liquidations "
    f"printed by exchanges in the window. {LONG_MARK} long positions, {SHORT_MARK} short; "
    f"● marks a large R row. Intensity ░▒▓█ grows with E."
)


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except (ValueError, OSError):  # closed or detached stdin
        return False


class LiqApp(App[None]):
    """Live liquidation ladder for a watchlist of markets."""

    CSS_PATH = "liqtui.tcss"
    TITLE = "liqtui"

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
            "space",
            "toggle_pause",
            "Pause",
            tooltip="Pause / resume drawing (data keeps being collected)",
            id="pause",
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
        Binding("m", "recentre", "Centre", tooltip="Re-centre the ladder on price", id="recentre"),
        Binding("up,k", "scroll(1)", "Up", tooltip="Scroll up one row", show=False, id="scroll_up"),
        Binding(
            "down,j",
            "scroll(-1)",
            "Down",
            tooltip="Scroll down one row",
            show=False,
            id="scroll_down",
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
    ) -> None:
        super().__init__()
        self.engine = engine
        self.source = source
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
        self.feed_error: str | None = None
        self.theme_problems: list[str] = []
        self._paused = False
        self._snapshot: MarketSnapshot | None = None  # last snapshot drawn (frozen while paused)
        self._stdin_was_tty = _stdin_is_tty()
        self._ui_errors: set[str] = set()

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
    def paused(self) -> bool:
        return self._paused

    @paused.setter
    def paused(self, value: bool) -> None:
        if value == self._paused:
            return
        self._paused = value
        if value:
            self._draw_status()  # the PAUSED badge; the ladder keeps the frozen snapshot
        else:
            self.refresh_now()  # unpausing shows current data at once

    @property
    def snapshot(self) -> MarketSnapshot | None:
        """The snapshot on screen."""
        return self._snapshot

    def refresh_now(self) -> None:
        """Pull the current symbol's snapshot and draw it now. While paused, redraw the frozen
        snapshot instead (a view change), unless it belongs to another symbol."""
        if not self.is_running:
            return
        snap = self._snapshot
        if not (self._paused and snap is not None and snap.symbol == self.current_symbol):
            snap = self.engine.snapshot(self.current_symbol, window_ms=self.window_ms)
            self._snapshot = snap
        with self.batch_update():
            self.ladder.show(snap)
            self._draw_status()

    def switch_symbol(self, symbol: str) -> None:
        """Show another market: reset the ladder view and draw it at once (even when paused)."""
        if symbol != self.current_symbol:
            self.current_symbol = symbol
            self.ladder.reset_view()
            self._snapshot = None
        self.refresh_now()

    # -- lifecycle ------------------------------------------------------------------------------
    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(LIQ_VARIABLE_DEFAULTS)

    def compose(self) -> ComposeResult:
        header = LadderHeader(id="ladder-header")
        yield StatusBar(id="status")
        yield header
        yield LadderWidget(
            realized_mark_usd=self.realized_mark_usd,
            header=header,
            view=LadderView(span_pct=self.ladder_span_pct),
            id="ladder",
        )
        yield Footer()

    def on_mount(self) -> None:
        self._load_themes()
        self.refresh_now()
        self.set_interval(1 / self.fps, self._tick, name="pull-snapshot")
        self.set_interval(SSH_CHECK_S, self._check_terminal, name="ssh-guard")
        if self.source is not None:
            self.run_worker(
                self.source.run(self.engine),
                name=f"feed:{getattr(self.source, 'name', 'source')}",
                exclusive=True,
                group="feed",
                exit_on_error=False,
            )

    def _load_themes(self) -> None:
        self.register_theme(BUILTIN_DARK)
        try:
            shipped: Path | None = data_path("themes")
        except FileNotFoundError:
            shipped = None
        themes, problems = load_themes([shipped, self.user_themes_dir])
        for theme in themes.values():
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
        snap = self._snapshot
        if snap is None or snap.symbol != self.current_symbol:
            snap = self.engine.snapshot(self.current_symbol, window_ms=self.window_ms)
        self.status.show(
            snap,
            slot=self._slot_of(self.current_symbol),
            paused=self._paused,
            error=self.feed_error,
        )

    # -- actions --------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # While a modal screen is on top, its keys win over the main view's.
        return not (action in _MAIN_VIEW_ACTIONS and len(self.screen_stack) > 1)

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

    def action_recentre(self) -> None:
        self.ladder.view.recentre()
        self.refresh_now()

    def action_scroll(self, rows: int) -> None:
        self.ladder.view.scroll(rows)
        self.refresh_now()

    def action_page(self, direction: int) -> None:
        self.ladder.view.scroll(direction * self.ladder.page_rows)
        self.refresh_now()

    def _zoom(self, factor: float) -> None:
        """Zoom until the row step changes (row steps are rounded to "nice" prices, so one
        factor may not be enough), at most a few steps."""
        ladder = self.ladder
        before = ladder.row_step
        for _ in range(4):
            ladder.view.zoom(factor)
            self.refresh_now()
            if before is None or ladder.row_step != before:
                break

    def action_zoom_in(self) -> None:
        self._zoom(1 / ZOOM_STEP)

    def action_zoom_out(self) -> None:
        self._zoom(ZOOM_STEP)
