"""The model filters the keys l, f and e cycle through (and the palette sets): the leverage
preset and the tier filter, which the engine holds, and the exchange filter, which narrows every
snapshot the app pulls. A change pulls a fresh snapshot (even when paused) and names the new
value in a brief toast; the status line keeps showing it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App

from liqtui.exchanges import ids as exchange_ids
from liqtui.model.engine import Engine
from liqtui.presets import FITTED, PRESETS, TIER_FILTERS
from liqtui.ui.commands import Choice, next_in

EXCHANGES = exchange_ids()
EXCHANGE_CYCLE: tuple[str | None, ...] = (None, *EXCHANGES)
_TOASTS = ("leverage preset: ", "tier filter: ", "exchange filter: ")


def tier_label(tier: str) -> str:
    return "all tiers" if tier == "all" else f"{tier} only"


class ModelFilters:
    """The model filters in effect; `changed` runs after each change (the app pulls again)."""

    def __init__(self, app: App[Any], engine: Engine, changed: Callable[[], None]) -> None:
        self.app = app
        self.engine = engine
        self.changed = changed
        self.exchange: str | None = None  # None: all exchanges

    def preset_options(self) -> tuple[str, ...]:
        """The leverage presets `l` cycles through ("fitted": each market's fitted mix, else
        the default one, liqtui.fitted)."""
        return (*PRESETS, FITTED)

    def cycle_preset(self) -> None:
        self.set_preset(str(next_in(self.preset_options(), self.engine.preset)))

    def set_preset(self, preset: str) -> None:
        if preset not in self.preset_options():
            return
        self.engine.preset = preset
        self.changed()
        self._announce("leverage preset", preset)

    def cycle_tier(self) -> None:
        self.set_tier(str(next_in(TIER_FILTERS, self.engine.tier_filter)))

    def set_tier(self, tier: str) -> None:
        if tier not in TIER_FILTERS:
            return
        self.engine.tier_filter = tier
        self.changed()
        self._announce("tier filter", tier_label(tier))

    def cycle_exchange(self) -> None:
        self.set_exchange(str(next_in(EXCHANGE_CYCLE, self.exchange) or "all"))

    def set_exchange(self, exchange: str) -> None:
        """One exchange's data only, or "all"."""
        if exchange != "all" and exchange not in EXCHANGES:
            return
        self.exchange = None if exchange == "all" else exchange
        self.changed()
        self._announce("exchange filter", exchange if exchange != "all" else "all exchanges")

    def choices(self) -> list[Choice]:
        """The three filters as settings the palette can set directly."""
        return [
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
                [(t, tier_label(t)) for t in TIER_FILTERS],
                self.engine.tier_filter,
                "cycle_tier",
            ),
            Choice(
                "Exchange filter",
                "set_exchange",
                [(e or "all", e or "all exchanges") for e in EXCHANGE_CYCLE],
                self.exchange or "all",
                "cycle_exchange",
            ),
        ]

    def _announce(self, setting: str, value: str) -> None:
        """A brief toast naming the setting a key just changed (the status line keeps it). It
        replaces the previous one, so a quick run of l/f/e does not stack toasts."""
        app = self.app
        for shown in list(app._notifications):  # Textual 8.2.8 has no public "replace"
            if shown.message.startswith(_TOASTS):
                app._unnotify(shown, refresh=False)
        app.notify(f"{setting}: {value}", timeout=2.5, markup=False)
