"""The one table of liqtui's keys: pure data (no Textual), read by the UI and the config.

Each `Key` is one binding: its id (the name a [keys] table in the config remaps), the action it
runs, its default keys, the words shown in the footer and in the help screen and palette, its
help group, the views where it applies (None: every view) and whether the footer shows it.
From this table `liqtui.ui.app` builds its `BINDINGS`, the help screen its groups, the palette
and the footer what the current view offers, and `liqtui.config` checks a user's [keys] table.

Keys of the price views (cursor, scroll, zoom, centre) are bound on the app, so they work
wherever the focus is; the app hands them to the visible view, which owns that state
(`liqtui.ui.widgets.axis.PriceAxisView`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VIEWS = ("ladder", "heatmap", "cascade", "exchanges", "chart", "map", "tape", "overview")
PRICE_VIEWS = frozenset({"ladder", "heatmap", "exchanges", "map"})  # views of price levels
_ROWS = PRICE_VIEWS | {"overview"}  # views with rows the cursor keys move through
_SCALED = frozenset({"ladder", "heatmap"})  # views with a color scale (relative / absolute)

# Help-screen groups, in the order the help screen lists them (then any other group).
GROUP_ORDER = ("General", "Symbols", "Ladder", "Other")


@dataclass(frozen=True, slots=True)
class Key:
    id: str  # binding id: what a [keys] table remaps
    action: str  # the app action, with its parameters: "cursor(1)"
    keys: str  # default keys, as Textual writes them: "q", "question_mark,f1"
    description: str  # short, for the footer
    tooltip: str  # long, for the help screen and the palette
    group: str  # help-screen group
    views: frozenset[str] | None = None  # views where it applies; None: every view
    show: bool = False  # shown in the footer
    priority: bool = False  # wins over the focused widget's and the screen's own keys

    @property
    def action_name(self) -> str:
        return self.action.split("(", 1)[0]


KEYS: tuple[Key, ...] = (
    Key("quit", "quit", "q", "Quit", "Quit liqtui", "General", show=True),
    Key("quit_ctrl_c", "quit", "ctrl+c", "Quit", "Quit liqtui", "General", priority=True),
    Key("help", "help", "question_mark,f1", "Help", "This help", "General", show=True),
    Key(
        "command_palette",
        "command_palette",
        "ctrl+p",
        "Palette",
        "Command palette (every command, themes, keys)",
        "General",
        priority=True,
    ),
    Key(
        "pause",
        "toggle_pause",
        "space",
        "Pause",
        "Pause / resume drawing (data keeps being collected)",
        "General",
        show=True,
    ),
    Key("faster", "faster", "plus,equals_sign", "Faster", "Redraw more often (+fps)", "General"),
    Key("slower", "slower", "minus", "Slower", "Redraw less often (-fps)", "General"),
    # tab/shift+tab are the screen's focus keys by default: priority makes them ours.
    Key(
        "next_symbol",
        "next_symbol",
        "tab,right_square_bracket",
        "Next",
        "Next symbol in the watchlist",
        "Symbols",
        show=True,
        priority=True,
    ),
    Key(
        "previous_symbol",
        "previous_symbol",
        "shift+tab,left_square_bracket",
        "Previous",
        "Previous symbol in the watchlist",
        "Symbols",
        priority=True,
    ),
    *(
        Key(f"slot_{n}", f"slot({n})", str(n), f"Slot {n}", "Jump to watchlist slot N", "Symbols")
        for n in range(1, 10)
    ),
    Key(
        "pick_market",
        "pick_market",
        "slash",
        "Market",
        "Find a market (fuzzy, every market with data)",
        "Symbols",
        show=True,
    ),
    Key("next_view", "next_view", "v", "View", "Next view", "Views", show=True),
    Key("cursor_up", "cursor(1)", "up,k", "Up", "Cursor / view up a row", "Ladder", _ROWS),
    Key(
        "cursor_down",
        "cursor(-1)",
        "down,j",
        "Down",
        "Cursor / view down a row",
        "Ladder",
        _ROWS,
    ),
    Key("page_up", "page(1)", "pageup", "Page up", "Scroll up a page", "Ladder", _ROWS),
    Key(
        "page_down",
        "page(-1)",
        "pagedown",
        "Page down",
        "Scroll down a page",
        "Ladder",
        _ROWS,
    ),
    Key(
        "top", "edge(1)", "g,home", "Top", "To the highest level on the map", "Ladder", PRICE_VIEWS
    ),
    Key(
        "bottom",
        "edge(-1)",
        "G,end",
        "Bottom",
        "To the lowest level on the map",
        "Ladder",
        PRICE_VIEWS,
    ),
    Key(
        "recentre",
        "recentre",
        "m,0",
        "Centre",
        "Re-centre on the price",
        "Ladder",
        PRICE_VIEWS,
        show=True,
    ),
    Key(
        "zoom_in",
        "zoom_in",
        "z,less_than_sign",
        "Zoom",
        "Zoom in (narrower price span)",
        "Ladder",
        PRICE_VIEWS,
        show=True,
    ),
    Key(
        "zoom_out",
        "zoom_out",
        "Z,greater_than_sign",
        "Zoom out",
        "Zoom out (wider price span)",
        "Ladder",
        PRICE_VIEWS,
    ),
    Key(
        "color_scale",
        "toggle_scale",
        "s",
        "Scale",
        "Color scale: relative (percentile on screen) / absolute (USD)",
        "Ladder",
        _SCALED,
    ),
    Key(
        "preset",
        "cycle_preset",
        "l",
        "Leverage",
        "Leverage preset: high / balanced / observed-low",
        "Model",
    ),
    Key(
        "tier_filter",
        "cycle_tier(1)",
        "f",
        "Tiers",
        "Tier filter: next (all / 10x+ / 25x+ / 50x+ / one tier)",
        "Model",
    ),
    Key(
        "tier_filter_back",
        "cycle_tier(-1)",
        "F",
        "Tiers back",
        "Tier filter: previous",
        "Model",
    ),
    Key(
        "exchange_filter",
        "cycle_exchange",
        "e",
        "Exchange",
        "Exchange filter: all / binance / bybit / okx / hyperliquid",
        "Model",
    ),
    Key(
        "chart_mode",
        "chart_mode",
        "c",
        "Chart",
        "Chart: price and open interest / realized liquidations",
        "Views",
        frozenset({"chart"}),
    ),
    Key(
        "lookback",
        "cycle_lookback",
        "w",
        "Lookback",
        "Time × price lookback: auto / 12h / 24h / 3d / 7d / 30d",
        "Views",
        frozenset({"heatmap"}),
    ),
    Key(
        "sort_column",
        "cycle_sort",
        "s",
        "Sort",
        "Overview: sort by the next column",
        "Views",
        frozenset({"overview"}),
        show=True,
    ),
    Key(
        "sort_reverse",
        "reverse_sort",
        "S",
        "Reverse",
        "Overview: reverse the sort order",
        "Views",
        frozenset({"overview"}),
    ),
    Key(
        "open_market",
        "open_market",
        "enter",
        "Open",
        "Overview: open the market under the cursor in the ladder",
        "Views",
        frozenset({"overview"}),
    ),
    Key(
        "tape_threshold",
        "tape_threshold",
        "u",
        "Size",
        "Tape: minimum print size (every size / $1k / $10k / $50k / $100k / $1M)",
        "Views",
        frozenset({"tape"}),
        show=True,
    ),
    # Replay controls: offered only while a recording is replayed (REPLAY_ACTIONS).
    Key(
        "replay_pause",
        "replay_pause",
        "p",
        "Play/pause",
        "Replay: pause / resume",
        "Replay",
        show=True,
    ),
    Key(
        "replay_faster",
        "replay_speed(1)",
        "right_curly_bracket",
        "Speed+",
        "Replay: faster (0.25× … 5000×, max)",
        "Replay",
    ),
    Key(
        "replay_slower",
        "replay_speed(-1)",
        "left_curly_bracket",
        "Speed-",
        "Replay: slower",
        "Replay",
    ),
    Key(
        "seek_minute_forward",
        "seek(60000)",
        "full_stop",
        "+1m",
        "Replay: seek forward 1 minute",
        "Replay",
    ),
    Key(
        "seek_minute_back",
        "seek(-60000)",
        "comma",
        "-1m",
        "Replay: seek back 1 minute (rebuilt from the recording's start)",
        "Replay",
    ),
    Key(
        "seek_hour_forward",
        "seek(3600000)",
        "shift+right",
        "+1h",
        "Replay: seek forward 1 hour",
        "Replay",
    ),
    Key(
        "seek_hour_back",
        "seek(-3600000)",
        "shift+left",
        "-1h",
        "Replay: seek back 1 hour (rebuilt from the recording's start)",
        "Replay",
    ),
    Key("theme", "pick_theme", "t", "Theme", "Theme picker", "General"),
    Key("reload", "reload", "ctrl+r", "Reload", "Reload config and themes", "General"),
    Key("screenshot", "save_svg", "ctrl+s", "Screenshot", "Save an SVG screenshot", "General"),
    Key(
        "cursor_left",
        "cursor_time(-1)",
        "left",
        "Earlier",
        "Cursor to the earlier column (time × price)",
        "Ladder",
        frozenset({"heatmap"}),
    ),
    Key(
        "cursor_right",
        "cursor_time(1)",
        "right",
        "Later",
        "Cursor to the later column (time × price)",
        "Ladder",
        frozenset({"heatmap"}),
    ),
    Key(
        "escape",
        "clear_cursor",
        "escape",
        "Back",
        "Close an overlay; put the cursor away (back on the price in the ladder)",
        "Ladder",
        frozenset({"ladder", "heatmap", "map"}),
    ),
)

# Palette commands that set a value directly (no key of their own) → the key action that cycles
# through the same values: they share its help group and its views.
SETTERS: dict[str, str] = {
    "show": "next_view",
    "market": "slot",
    "set_preset": "cycle_preset",
    "set_tier": "cycle_tier",
    "set_exchange": "cycle_exchange",
    "set_chart_mode": "chart_mode",
    "set_scale": "toggle_scale",
    "set_lookback": "cycle_lookback",
    "set_sort": "cycle_sort",
    "set_tape_min": "tape_threshold",
}

BINDING_IDS: tuple[str, ...] = tuple(k.id for k in KEYS)

# Actions offered only while a recording is replayed (the replay's controls).
REPLAY_ACTIONS: frozenset[str] = frozenset(k.action_name for k in KEYS if k.group == "Replay")

_BY_ACTION: dict[str, Key] = {}
for _key in KEYS:
    _BY_ACTION.setdefault(_key.action_name, _key)

# Action name → help group (the bound actions and the setters).
ACTION_GROUPS: dict[str, str] = {
    **{name: key.group for name, key in _BY_ACTION.items()},
    **{setter: _BY_ACTION[cycler].group for setter, cycler in SETTERS.items()},
}


def _views_of(action: str) -> frozenset[str] | None:
    return _BY_ACTION[SETTERS.get(action, action)].views


# View → the actions about that view's content it offers (footer, help, palette); in the other
# views these actions are not offered and their keys do nothing.
VIEW_ACTIONS: dict[str, frozenset[str]] = {
    view: frozenset(a for a in ACTION_GROUPS if view in (_views_of(a) or ())) for view in VIEWS
}
VIEW_ONLY_ACTIONS: frozenset[str] = frozenset(a for a in ACTION_GROUPS if _views_of(a) is not None)

# A key list as Textual writes it: "q", "ctrl+c", "question_mark,f1", "shift+tab".
_KEYS_RE = re.compile(r"^[A-Za-z0-9_+\-]+(,[A-Za-z0-9_+\-]+)*$")


def check_keymap(keymap: dict[str, object]) -> str | None:
    """The first problem in a [keys] table (id → "key,key"), or None."""
    for binding_id, keys in keymap.items():
        if binding_id not in BINDING_IDS:
            return f"keys.{binding_id}: unknown binding id (known: {', '.join(BINDING_IDS)})"
        if not isinstance(keys, str) or not _KEYS_RE.match(keys.replace(" ", "")):
            return f'keys.{binding_id}: expected keys like "p" or "ctrl+r,f5", got {keys!r}'
    return None
