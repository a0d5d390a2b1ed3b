"""The one mapping from settings (config files and flags) to the app's options.

The TUI at start, `snapshot --format svg` and ctrl+r (reload) all build the app's options here,
so a setting cannot be honoured by one of them and ignored by another. Imports no Textual.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from liqtui.ui.alerts import AlertRules

if TYPE_CHECKING:
    from liqtui.config import Settings


@dataclass(frozen=True, slots=True)
class AppOptions:
    """What the app is told by settings and flags (its keyword arguments of the same names)."""

    watchlist: tuple[str, ...] = ("BTC", "ETH", "SOL")
    fps: float = 4.0
    theme: str = "liqtui-dark"
    realized_mark_usd: float = 100_000.0
    window_ms: int | None = None
    user_themes_dir: Path | None = None
    ladder_span_pct: float = 0.08
    view: str = "ladder"
    color_scale: str = "relative"
    lookback: str = "auto"  # the time × price view's lookback at start
    absolute_top_usd: float = 10_000_000.0
    keymap: Mapping[str, str] = field(default_factory=dict)
    alerts: AlertRules = field(default_factory=AlertRules)
    screenshot_dir: Path | None = None
    tape_min_usd: float = 0.0  # the tape's size threshold at start
    tape_large_usd: float = 100_000.0  # tape prints at or above this are marked

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        flags: argparse.Namespace | None = None,
        *,
        theme_override: str | None = None,
    ) -> AppOptions:
        """Options from `settings`; `flags` (the command line: --symbol, --fps, --theme,
        --view, --window) win over them, and `theme_override` (the theme a color mode asks
        for, e.g. liqtui-ansi for --color 16) wins over the configured theme only."""
        from liqtui.config import user_themes_dir

        g = settings.general
        f = flags if flags is not None else argparse.Namespace()
        return cls(
            watchlist=tuple(getattr(f, "symbol", None) or g.watchlist),
            fps=getattr(f, "fps", None) or g.fps,
            theme=getattr(f, "theme", None) or theme_override or g.theme,
            realized_mark_usd=settings.ladder.realized_mark_usd,
            window_ms=getattr(f, "window", None),
            user_themes_dir=user_themes_dir(settings),
            ladder_span_pct=settings.ladder.span_pct,
            view=getattr(f, "view", None) or g.view,
            color_scale=g.color_scale,
            lookback=g.lookback,
            absolute_top_usd=g.absolute_top_usd,
            keymap=dict(settings.keys),
            alerts=rules_from_settings(settings),
            screenshot_dir=Path(g.screenshot_dir).expanduser() if g.screenshot_dir else None,
            tape_min_usd=settings.tape.min_usd,
            tape_large_usd=settings.tape.large_usd,
        )

    def changed(self, other: AppOptions) -> set[str]:
        """Names of the options that differ from `other`."""
        return {
            f.name
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }


def rules_from_settings(settings: Settings) -> AlertRules:
    from liqtui.config import parse_duration

    a = settings.alerts
    return AlertRules(
        enabled=a.enabled,
        bell=a.bell,
        realized_usd_per_min=a.realized_usd_per_min,
        dense_zone_usd=a.dense_zone_usd,
        dense_zone_pct=a.dense_zone_pct,
        cascade=a.cascade,
        command=tuple(a.command),
        min_interval_ms=parse_duration(a.min_interval),
    )
