"""The help overlay: a modal list of the keys, generated from the app's live bindings and
grouped as the key table (`liqtui.keys`) says."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from liqtui.keys import ACTION_GROUPS, GROUP_ORDER
from liqtui.output.ladder import LONG_MARK, SHORT_MARK

LEGEND = (
    f"E = estimated liquidation levels (model; relative until calibrated); R = realized "
    f"liquidations printed by exchanges in the window. {LONG_MARK} long positions (below the "
    f"price), {SHORT_MARK} short (above); ● marks a large R row; ◆ is the cursor, and the line "
    f"under the ladder gives E from the price to the cursor. Intensity ░▒▓█ grows with E "
    f"(relative: percentile on screen; absolute: USD, see the legend). Views: ladder, "
    f"time×price heat map, cascade risk, per exchange, chart. Cascade figures are indicators "
    f"and scenarios, not forecasts."
)


@dataclass(frozen=True, slots=True)
class HelpEntry:
    group: str
    keys: str  # "q, ctrl+c"
    description: str


def _join_keys(keys: list[str]) -> str:
    """ "1, 2, …, 9" → "1-9" (a run of single digits); otherwise comma-separated."""
    if len(keys) >= 3 and all(len(k) == 1 and k.isdigit() for k in keys):
        digits = sorted(int(k) for k in keys)
        if digits == list(range(digits[0], digits[-1] + 1)):
            return f"{digits[0]}-{digits[-1]}"
    return ", ".join(keys)


def help_entries(
    active: Mapping[str, ActiveBinding],
    *,
    key_display: Callable[[Binding], str],
    namespace: object | None = None,
) -> list[HelpEntry]:
    """One entry per (group, description), listing every key bound to it, in binding order.

    `active` is a screen's `active_bindings` (so keymaps are applied), `key_display` formats
    a Binding's key (`App.get_key_display`); with `namespace`, only the bindings of that node
    (the app) are listed. Groups come from the key table. A binding's tooltip is its long
    description; the footer shows the short one.
    """
    merged: dict[tuple[str, str], list[str]] = {}
    by_action: dict[str, tuple[str, str]] = {}  # bindings of one action share one entry
    for item in active.values():
        if namespace is not None and item.node is not namespace:
            continue
        binding = item.binding
        description = binding.tooltip or binding.description
        if not description:
            continue
        action = binding.action.removeprefix("app.").removeprefix("screen.")
        group = ACTION_GROUPS.get(action.split("(", 1)[0], "Other")
        entry = by_action.setdefault(action, (group, description))
        keys = merged.setdefault(entry, [])
        shown = key_display(binding)
        if shown not in keys:
            keys.append(shown)
    entries = [HelpEntry(g, _join_keys(k), d) for (g, d), k in merged.items()]
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    return sorted(entries, key=lambda e: rank.get(e.group, len(rank)))  # stable within a group


class HelpScreen(ModalScreen[None]):
    """Keys, grouped; esc (or ? / q / F1) closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
        background: $background 60%;
    }
    HelpScreen > #help-body {
        width: 64;
        max-width: 100%;
        height: auto;
        max-height: 100%;
        border: round $liq-price;
        border-title-color: $liq-price;
        border-subtitle-color: $text-muted;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen .help-group {
        color: $liq-price;
        text-style: bold;
    }
    HelpScreen .help-legend {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,f1,q", "dismiss", "Close help", show=False),
    ]

    def __init__(self, entries: list[HelpEntry], *, legend: str = LEGEND) -> None:
        super().__init__()
        self.entries = entries
        self.legend = legend

    def compose(self) -> ComposeResult:
        body = VerticalScroll(id="help-body")
        body.border_title = "liqtui keys"
        body.border_subtitle = "esc closes"
        with body:
            width = min(max((len(e.keys) for e in self.entries), default=4), 22)
            groups: dict[str, list[HelpEntry]] = {}
            for entry in self.entries:
                groups.setdefault(entry.group, []).append(entry)
            for group, entries in groups.items():
                yield Static(group, classes="help-group")
                table = Table.grid(padding=(0, 2))
                table.add_column(justify="right", no_wrap=True, min_width=width, style="bold")
                table.add_column(ratio=1)
                for entry in entries:
                    table.add_row(Text(entry.keys), Text(entry.description))
                yield Static(table, classes="help-entries")
            if self.legend:
                yield Static(Text(self.legend), classes="help-legend")
