"""The command palette: every liqtui action, generated from the app's live key bindings and
the option lists the keys cycle through (`setting_choices`: so the keys and the palette cannot
drift apart); a palette screen that stays safe under a key storm, and the app base that opens
only those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from textual import work
from textual.app import App
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.command import (
    CommandList,
    CommandListItem,
    CommandPalette,
    DiscoveryHit,
    Hit,
    Hits,
    Provider,
    SimpleCommand,
    SimpleProvider,
)
from textual.css.query import NoMatches
from textual.markup import escape

from liqtui.keys import VIEWS
from liqtui.output.tape import threshold_label, thresholds
from liqtui.ui.scale import SCALES
from liqtui.ui.views import VIEW_TITLES
from liqtui.ui.widgets.chart import CHART_MODES, CHART_TITLES
from liqtui.ui.widgets.heatmap import LOOKBACKS
from liqtui.ui.widgets.overview import COLUMN_IDS, SORT_TITLES

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.widget import AwaitMount
    from textual.worker import Worker

    from liqtui.ui.app import LiqApp


@dataclass(frozen=True, slots=True)
class Choice:
    """A setting the palette can set directly: `action(value)` for each (value, label)."""

    title: str  # "Leverage preset"
    action: str  # "set_preset": an app action taking one value
    options: Sequence[tuple[str, str]]  # (value, label)
    current: str  # the value in effect
    cycled_by: str | None = None  # the bound action that steps through the same options


def next_in(options: Sequence[object], current: object, step: int = 1) -> object:
    """The option after `current` (the first when `current` is not one): what a key that
    cycles through a setting sets."""
    try:
        i = options.index(current)
    except ValueError:
        i = -1
    return options[(i + step) % len(options)]


def setting_choices(app: LiqApp) -> list[Choice]:
    """What the palette can set directly: every value the app's keys cycle through."""
    return [
        Choice("View", "show", [(v, VIEW_TITLES[v]) for v in VIEWS], app.view_name, "next_view"),
        Choice(
            "Market",
            "market",
            [(s, f"{s} (slot {i})") for i, s in enumerate(app.watchlist, 1)],
            app.current_symbol,
            "slot",
        ),
        *app.filters.choices(),
        Choice(
            "Chart",
            "set_chart_mode",
            [(m, CHART_TITLES.get(m, m)) for m in CHART_MODES],
            app.chart.mode,
            "chart_mode",
        ),
        Choice(
            "Color scale", "set_scale", [(s, s) for s in SCALES], app.color_scale, "toggle_scale"
        ),
        Choice(
            "Lookback",
            "set_lookback",
            [(lb, lb if lb != "auto" else "auto (window / minutes)") for lb in LOOKBACKS],
            app.heatmap.lookback,
            "cycle_lookback",
        ),
        Choice(
            "Overview sort",
            "set_sort",
            [(c, SORT_TITLES[c]) for c in COLUMN_IDS],
            app.overview.sort_column,
            "cycle_sort",
        ),
        Choice(
            "Tape size",
            "set_tape_min",
            [(f"{t:g}", threshold_label(t)) for t in thresholds(app.tape.configured_min_usd)],
            f"{app.tape.min_usd:g}",
            "tape_threshold",
        ),
    ]


def market_commands(app: LiqApp) -> list[SimpleCommand]:
    """The market picker's entries: every market the app offers, with its watchlist slot, its
    event count and the exchanges listing it."""
    commands = []
    for symbol in app.markets():
        slot = app.slot_of(symbol)
        n = app.engine.events_by_market.get(symbol, 0)
        where = f"watchlist {slot}" if slot else "not in the watchlist"
        listed = ", ".join(app.universe.get(symbol, ()))
        commands.append(
            SimpleCommand(
                symbol,
                lambda s=symbol: app.switch_symbol(s),
                f"{where}; {n} events" + (f"; on {listed}" if listed else ""),
            )
        )
    return commands


class CommandSource(Protocol):
    """What the provider needs from the app (LiqApp)."""

    def offered_in_view(self, action: str) -> bool: ...

    def setting_choices(self) -> list[Choice]: ...

    def get_key_display(self, binding: Binding) -> str: ...


# Bound actions the palette does not list: the palette itself (and, in palette_commands,
# those that cycle through a Choice: each of its values is a command of its own).
HIDDEN_ACTIONS = frozenset({"command_palette"})


@dataclass(frozen=True, slots=True)
class PaletteCommand:
    title: str
    help: str
    action: str  # an action string run on the app, e.g. "zoom_in" or "set_preset('balanced')"


def _action_name(action: str) -> str:
    return action.removeprefix("app.").split("(", 1)[0]


def palette_commands(app: App[object], screen: Screen[object]) -> list[PaletteCommand]:
    """Every command the palette offers over `screen`, in binding order, then the choices.

    One command per bound app action (keys from the live bindings, so a [keys] remap shows),
    skipping those the current view does not offer (the same rule that disables their keys);
    then, instead of a key that cycles through a setting, one command per value."""
    source: CommandSource = app  # type: ignore[assignment]
    choices = [c for c in source.setting_choices() if source.offered_in_view(c.action)]
    hidden = HIDDEN_ACTIONS | {c.cycled_by for c in choices if c.cycled_by}
    by_action: dict[str, tuple[Binding, list[str]]] = {}
    keys_of: dict[str, list[str]] = {}  # action name → keys, for the choices' help
    # the calling screen's chain (its active_bindings would say "disabled": a palette is open)
    for node, bindings in screen._binding_chain:
        if node is not app:
            continue
        for key_bindings in bindings.key_to_bindings.values():
            for binding in key_bindings:
                name = _action_name(binding.action)
                if not (binding.tooltip or binding.description):
                    continue
                if not source.offered_in_view(name):
                    continue
                shown = source.get_key_display(binding)
                if name in hidden:
                    keys_of.setdefault(name, []).append(shown)
                    continue
                first, keys = by_action.setdefault(binding.action, (binding, []))
                if first.id is None and binding.id is not None:  # liqtui's words, not Textual's
                    by_action[binding.action] = (binding, keys)
                if shown not in keys:
                    keys.append(shown)
    commands = [
        PaletteCommand(
            binding.tooltip or binding.description,
            f"key {', '.join(keys)}" if len(keys) == 1 else f"keys {', '.join(keys)}",
            binding.action.removeprefix("app."),
        )
        for binding, keys in by_action.values()
    ]
    for choice in choices:
        keys = keys_of.get(choice.cycled_by or "", [])
        cycles = f"; key {keys[0]} cycles" if len(keys) == 1 else f"; keys {', '.join(keys)} cycle"
        if not keys:
            cycles = ""
        for value, label in choice.options:
            state = "in effect" if value == choice.current else f"set the {choice.title.lower()}"
            commands.append(
                PaletteCommand(
                    f"{choice.title}: {label}", state + cycles, f"{choice.action}({value!r})"
                )
            )
    return commands


class LiqCommands(Provider):
    """The palette's liqtui commands (see `palette_commands`)."""

    def _run(self, action: str) -> Callable[[], object]:
        # Runs after the palette is dismissed, through the app's own action dispatch (and so
        # through the same check_action as the key).
        return lambda: self.app.run_action(action)

    async def discover(self) -> Hits:
        for command in palette_commands(self.app, self.screen):
            yield DiscoveryHit(
                escape(command.title), self._run(command.action), help=escape(command.help)
            )

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in palette_commands(self.app, self.screen):
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(command.title),
                    self._run(command.action),
                    help=escape(command.help),
                )


class LiqPalette(CommandPalette):
    """Textual's command palette, safe to open and close in a key storm.

    Textual 8.2.8's palette does work that can outlive its widgets: a keystroke typed just
    before escape leaves an `Input.Changed` in its queue which, handled after the dismissal,
    starts a new search worker on the closing palette; quitting tears an open palette down
    while its first search runs. That worker then queries the removed `CommandList`, and its
    `NoMatches` error (the worker exits the app on error) ended liqtui. Here a palette that is
    not live (on top, its widgets in place) starts no search, a search that finds its widgets
    gone ends quietly, dismissing stops the countdowns, and the watchers leave removed widgets
    alone."""

    def _live(self) -> bool:
        return self.is_active and not self._closing and bool(self.query(CommandList))

    def _gather_commands(self, search_value: str) -> Worker[None] | None:  # type: ignore[override]
        if not self._live():
            return None
        return self._gather_while_live(search_value)

    @work(exclusive=True, group=CommandPalette._GATHER_COMMANDS_GROUP)
    async def _gather_while_live(self, search_value: str) -> None:
        try:
            await CommandPalette._gather_commands.__wrapped__(self, search_value)  # type: ignore[attr-defined]
        except NoMatches:
            if self._live():
                raise  # a real bug, not a palette going away

    def dismiss(self, result: None = None) -> AwaitComplete:
        self._stop_busy_countdown()
        self._stop_no_matches_countdown()
        self._cancel_gather_commands()
        return super().dismiss(result)

    def _watch__list_visible(self) -> None:
        if self._live():
            super()._watch__list_visible()

    async def _watch__show_busy(self) -> None:
        if self._live():
            await super()._watch__show_busy()


class PaletteApp(App[None]):
    """An app whose every palette (commands, themes, a list of choices) is a LiqPalette."""

    def action_command_palette(self) -> None:
        if self.use_command_palette and not CommandPalette.is_open(self):  # type: ignore[arg-type]
            self.push_screen(LiqPalette(id="--command-palette"))

    def search_commands(
        self, commands: Sequence[CommandListItem], placeholder: str = "Search for commands…"
    ) -> AwaitMount:
        provider = SimpleProvider(self.screen, list(commands))
        return self.push_screen(
            LiqPalette(providers=[provider], placeholder=placeholder)  # type: ignore[list-item]
        )

    def search_themes(self) -> None:
        from textual.theme import ThemeProvider

        self.push_screen(LiqPalette(providers=[ThemeProvider], placeholder="Search for themes…"))
