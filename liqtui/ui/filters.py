"""The model filters the keys l, f and e cycle through (and the palette sets): the leverage
preset and the tier filter, which the engine holds, and the exchange filter, which narrows every
snapshot the app pulls. A change pulls a fresh snapshot (even when paused) and names the new
value in a brief toast; the status line keeps showing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from textual.app import App

from liqtui.exchanges import ids as exchange_ids
from liqtui.model.density import preset_weights
from liqtui.model.engine import Engine
from liqtui.presets import FITTED, LEVERAGE_TIERS, PRESETS, TIER_FILTERS, filter_tiers
from liqtui.ui.commands import Choice, next_in

EXCHANGES = exchange_ids()
EXCHANGE_CYCLE: tuple[str | None, ...] = (None, *EXCHANGES)
_TOASTS = ("leverage preset: ", "tier filter: ", "exchange filter: ")


def tier_label(tier: str) -> str:
    """ "all tiers", "25x+ only" (25x and up), "25x only" (that tier alone)."""
    return "all tiers" if tier == "all" else f"{tier} only"


def tier_cycle(weights: Sequence[float]) -> tuple[str, ...]:
    """The tier filters `f` steps through under a preset's weights (one per LEVERAGE_TIERS):
    each one that shows something the earlier ones do not, so every press changes the map
    ("5x+" is "all" under a preset without 2x; "2x" alone is empty there). The palette still
    offers every filter."""
    weighted = {t for t, w in zip(LEVERAGE_TIERS, weights, strict=True) if w > 0}
    seen: set[frozenset[int]] = set()
    out = []
    for tier in TIER_FILTERS:
        kept = frozenset(filter_tiers(tier)) & weighted
        if tier == "all" or (kept and kept not in seen):
            out.append(tier)
            seen.add(kept)
    return tuple(out)


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

    def tier_options(self) -> tuple[str, ...]:
        """The tier filters the keys cycle through under the preset in effect."""
        fitted = getattr(self.engine, "fitted_weights", None)
        try:
            weights = preset_weights(self.engine.preset, "all", fitted)
        except ValueError:  # no fitted weights: every tier counts
            return TIER_FILTERS
        return tier_cycle([float(w) for w in weights])

    def cycle_tier(self, step: int = 1) -> None:
        """The next (step 1) or previous (-1) tier filter; from a filter not in the cycle
        (set in the palette), the next one in the full list that is."""
        options, current = self.tier_options(), self.engine.tier_filter
        if current not in options:
            later = TIER_FILTERS[TIER_FILTERS.index(current) :] if current in TIER_FILTERS else ()
            current = next((t for t in later if t in options), options[0])
            if step > 0 and current != self.engine.tier_filter:
                self.set_tier(current)
                return
        self.set_tier(str(next_in(options, current, step)))

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
